//! Frames for unit tests: snapshot rows written as tuples.

use polars::prelude::*;

use crate::columns::*;

/// One snapshot row: (location, sku, qty, unit cost). `item_key` is the SKU upper-cased.
pub type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>);

/// A keyed snapshot frame as `normalize::key` leaves it.
pub fn snapshot(source: &str, rows: &[Row]) -> DataFrame {
    let n = rows.len();
    let mut df = df![
        LOCATION => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
        SKU => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        ITEM_KEY => rows.iter().map(|r| r.1.trim().to_uppercase()).collect::<Vec<_>>(),
        GTIN => vec![None::<&str>; n],
        DESCRIPTION => rows.iter().map(|r| format!("item {}", r.1)).collect::<Vec<_>>(),
        CATEGORY => vec!["General"; n],
        QTY => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
        UOM => vec![None::<&str>; n],
        UNIT_COST => rows.iter().map(|r| r.3).collect::<Vec<_>>(),
        AS_OF => vec![None::<&str>; n],
        SOURCE => vec![source; n],
        FILE => vec![format!("{source}.csv"); n],
        ROW => (2..n as u64 + 2).collect::<Vec<u64>>(),
        INVALID => vec![None::<&str>; n],
        ABSENT => vec![false; n],
    ]
    .expect("a valid frame");
    for (name, dtype) in [(QTY, qty_type()), (UNIT_COST, cost_type())] {
        let cast = df.column(name).unwrap().cast(&dtype).unwrap();
        df.with_column(cast).unwrap();
    }
    df
}

/// A column's values as text ("" for null), as people read them (precision.rs: values at
/// the default money scale, quantities and costs exact), for comparing with expected lists.
pub fn text(df: &DataFrame, col: &str) -> Vec<String> {
    let one = df.select([col]).unwrap();
    crate::precision::Precision::default()
        .for_people(&one)
        .unwrap()
        .column(col)
        .unwrap()
        .cast(&DataType::String)
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap_or("").to_string())
        .collect()
}

/// A rules set for unit tests: no rules, the default chain, and undecided lines to a
/// person (high, review); tests change what they test with `..rule_set()`.
pub fn rule_set() -> crate::rules::RuleSet {
    use crate::discrepancy::{Resolution, Severity};
    crate::rules::RuleSet {
        path: std::path::PathBuf::from("rules.toml"),
        reasons: vec![],
        approval_above: None,
        guard: Default::default(),
        key: Default::default(),
        sku_steps: vec![],
        chain: vec![
            crate::rules::MatchStep::Alias,
            crate::rules::MatchStep::Gtin,
        ],
        units: Default::default(),
        precision: Default::default(),
        rules: vec![],
        default: crate::rules::Decision {
            severity: Severity::High,
            resolution: Resolution::Review,
        },
    }
}
