//! The chain's steps on frames: each rule kind, and the properties across them.

use rust_decimal::Decimal;

use super::*;
use crate::classify;
use crate::discrepancy::Resolution;
use crate::matching::reconcile;
use crate::rules::RuleSet;
use crate::rules::alias::{Alias, CrossReference};
use crate::rules::cutoff::{Movement, Movements};
use crate::rules::units::Conversions;
use crate::testing::{snapshot, text};
use crate::values::parse_time;

fn rules(chain: &[MatchStep]) -> RuleSet {
    RuleSet {
        chain: chain.to_vec(),
        units: [("each", "count"), ("case", "count"), ("kg", "mass")]
            .into_iter()
            .map(|(u, d)| (u.to_string(), d.to_string()))
            .collect(),
        ..crate::testing::rule_set()
    }
}

/// Ground without declared as-of times.
fn plain<'a>(rules: &'a RuleSet, refs: &'a References) -> Ground<'a> {
    Ground {
        rules,
        as_of: BTreeMap::new(),
        refs,
    }
}

fn with(mut frame: DataFrame, name: &str, values: &[Option<&str>]) -> DataFrame {
    frame
        .with_column(Column::new(name.into(), values.to_vec()))
        .unwrap();
    frame
}

/// Prepares, matches and classifies; the lines as (kind, item_key, match_step,
/// qty_delta) text, plus both sides' tallies.
fn lines_of(
    book: DataFrame,
    observed: DataFrame,
    ground: &Ground,
) -> (DataFrame, crate::matching::Matched) {
    let (book, observed) = prepare(book, observed, ground).unwrap();
    let m = reconcile(book, observed).unwrap();
    let lines = classify::finish(
        classify::decide(classify::lines(&m, "p", None).unwrap(), ground.rules).unwrap(),
    )
    .unwrap();
    (lines, m)
}

fn alias(item: &str, uom: Option<&str>) -> Alias {
    Alias {
        item_key: item.into(),
        uom: uom.map(str::to_string),
        place: "xref.csv:2".into(),
    }
}

#[test]
fn gtin_pairs_rows_whose_skus_differ_and_an_invalid_gtin_is_a_finding() {
    let book = with(
        snapshot("erp", &[("S1", "A", "5", None), ("S1", "B", "2", None)]),
        GTIN,
        &[Some("00850001000109"), None],
    );
    // The POS knows A by its own id, with the UPC-A form of A's barcode; B's barcode
    // has a bad check digit, but B still matches on its SKU.
    let observed = with(
        snapshot(
            "pos",
            &[("S1", "POS-77", "4", None), ("S1", "B", "2", None)],
        ),
        GTIN,
        &[Some("850001000109"), Some("850001000207 ")],
    );
    let refs = References::default();
    let r = rules(&[MatchStep::Alias, MatchStep::Gtin]);
    let ground = plain(&r, &refs);
    let (lines, m) = lines_of(book, observed, &ground);
    assert_eq!(text(&lines, "kind"), ["qty_mismatch", "invalid_gtin"]);
    assert_eq!(text(&lines, "item_key"), ["A", "B"]);
    assert_eq!(text(&lines, "match_step"), ["gtin", ""]);
    assert_eq!(text(&lines, "observed_sku"), ["POS-77", "B"]);
    assert!(text(&lines, "detail")[1].contains("check digit 7, expected 8"));
    assert_eq!(m.observed.matched, 2, "both rows matched");
    assert_eq!(m.observed.invalid_gtin, 1);
    assert!(m.observed.ties_out());

    // Without the GTIN step the two A rows stay apart.
    let r = rules(&[MatchStep::Alias]);
    let ground = plain(&r, &refs);
    let book = with(
        snapshot("erp", &[("S1", "A", "5", None)]),
        GTIN,
        &[Some("00850001000109")],
    );
    let observed = with(
        snapshot("pos", &[("S1", "POS-77", "4", None)]),
        GTIN,
        &[Some("850001000109")],
    );
    let (lines, _) = lines_of(book, observed, &ground);
    assert_eq!(
        text(&lines, "kind"),
        ["missing_in_observed", "missing_in_book"]
    );
}

/// A GTIN two book items share at a location decides nothing there; the same code at
/// another location, where one item has it, does. A code seen on many rows is checked
/// once, and each row with a bad one is a finding.
#[test]
fn a_gtin_shared_by_two_book_items_decides_nothing() {
    let book = with(
        snapshot(
            "erp",
            &[
                ("S1", "A", "5", None),
                ("S1", "A-OLD", "1", None),
                ("S2", "A", "5", None),
            ],
        ),
        GTIN,
        &[
            Some("00850001000109"),
            Some("850001000109"),
            Some("00850001000109"),
        ],
    );
    let observed = with(
        snapshot(
            "pos",
            &[
                ("S1", "POS-77", "4", None),
                ("S2", "POS-77", "4", None),
                ("S1", "X", "1", None),
                ("S2", "X", "1", None),
            ],
        ),
        GTIN,
        &[
            Some("850001000109"),
            Some("850001000109"),
            Some("124"),
            Some("124"),
        ],
    );
    let refs = References::default();
    let r = rules(&[MatchStep::Gtin]);
    let (lines, m) = lines_of(book, observed, &plain(&r, &refs));
    let at = |loc: &str, key: &str| {
        let (l, k, s) = (
            text(&lines, "location"),
            text(&lines, "item_key"),
            text(&lines, "match_step"),
        );
        (0..lines.height())
            .filter(|i| l[*i] == loc && k[*i] == key)
            .map(|i| (text(&lines, "kind")[i].clone(), s[i].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        at("S1", "POS-77"),
        [("missing_in_book".to_string(), String::new())],
        "two items share the code at S1"
    );
    assert_eq!(
        at("S2", "A"),
        [("qty_mismatch".to_string(), "gtin".to_string())]
    );
    assert_eq!(m.observed.invalid_gtin, 2, "each row with the bad code");
}

/// Barcodes on one side only (a POS export against an ERP without them): nothing to pair,
/// but every bad code is still a finding on its row.
#[test]
fn codes_on_one_side_are_checked_without_pairing() {
    let book = snapshot("erp", &[("S1", "A", "5", None), ("S2", "A", "5", None)]);
    let observed = with(
        snapshot(
            "pos",
            &[
                ("S1", "A", "5", None),
                ("S2", "A", "5", None),
                ("S3", "A", "1", None),
            ],
        ),
        GTIN,
        &[
            Some(" 850001000207"),
            Some("850001000109"),
            Some(" 850001000207"),
        ],
    );
    let refs = References::default();
    let r = rules(&[MatchStep::Alias, MatchStep::Gtin]);
    let (lines, m) = lines_of(book, observed, &plain(&r, &refs));
    assert_eq!(
        text(&lines, "kind"),
        ["invalid_gtin", "invalid_gtin", "missing_in_book"]
    );
    assert_eq!(text(&lines, "location"), ["S1", "S3", "S3"]);
    assert!(text(&lines, "detail")[0].contains("check digit 7, expected 8"));
    assert_eq!(m.observed.invalid_gtin, 2);
    assert!(m.observed.ties_out());
}

#[test]
fn alias_keys_unmatched_rows_only_and_the_chain_order_decides() {
    let mut xref = CrossReference::default();
    xref.insert("V-1", false, alias("A", None));
    // "B" is a real item on both sides: its own key wins over any alias.
    xref.insert("B", false, alias("A", None));
    xref.insert("00850001000109", true, alias("C", None));
    let refs = References {
        cross_reference: Some(xref),
        ..Default::default()
    };
    let book = with(
        snapshot(
            "erp",
            &[
                ("S1", "A", "5", None),
                ("S1", "B", "1", None),
                ("S1", "C", "3", None),
            ],
        ),
        GTIN,
        &[None, None, Some("00850001000109")],
    );
    let observed = with(
        snapshot(
            "pos",
            &[
                ("S1", "V-1", "5", None),
                ("S1", "B", "2", None),
                ("S1", "X", "4", None),
            ],
        ),
        GTIN,
        &[None, None, Some("00850001000109")],
    );
    for (chain, step) in [
        ([MatchStep::Alias, MatchStep::Gtin], "alias"),
        ([MatchStep::Gtin, MatchStep::Alias], "gtin"),
    ] {
        let r = rules(&chain);
        let ground = plain(&r, &refs);
        let (lines, m) = lines_of(book.clone(), observed.clone(), &ground);
        assert_eq!(m.observed.matched, 3, "{chain:?}");
        // A (via V-1) is equal; B differs, on its own key; C via the alias or GTIN.
        assert_eq!(text(&lines, "item_key"), ["B", "C"], "{chain:?}");
        assert_eq!(text(&lines, "match_step"), ["exact", step], "{chain:?}");
    }
}

#[test]
fn a_case_barcode_counts_cases_and_a_missing_conversion_is_a_finding() {
    let mut xref = CrossReference::default();
    xref.insert("10850001000014", true, alias("A", Some("case")));
    xref.insert("CASE-B", false, alias("B", Some("case")));
    let mut conversions = Conversions::default();
    conversions.insert("A", "each", Decimal::ONE);
    conversions.insert("A", "case", Decimal::from(12));
    conversions.insert("B", "each", Decimal::ONE);
    conversions.insert("K", "kg", Decimal::ONE);
    let refs = References {
        cross_reference: Some(xref),
        conversions: Some(conversions),
        ..Default::default()
    };
    let book = with(
        snapshot(
            "erp",
            &[
                ("S1", "A", "26", Some("1.0000")),
                ("S1", "B", "4", None),
                ("S1", "K", "2.5", None),
            ],
        ),
        UOM,
        &[Some("each"), Some("each"), Some("kg")],
    );
    let observed = with(
        with(
            snapshot(
                "pos",
                &[
                    ("S1", "LS-1", "2", Some("12.0000")),
                    ("S1", "CASE-B", "1", None),
                    ("S1", "K", "3", None),
                ],
            ),
            GTIN,
            &[Some("10850001000014"), None, None],
        ),
        UOM,
        &[None, None, Some("each")],
    );
    let r = rules(&[MatchStep::Alias, MatchStep::Gtin]);
    let ground = plain(&r, &refs);
    let (lines, m) = lines_of(book, observed, &ground);
    assert_eq!(
        text(&lines, "kind"),
        [
            "qty_mismatch",
            "missing_in_observed",
            "unknown_unit",
            "missing_in_observed",
            "unknown_unit"
        ]
    );
    assert_eq!(text(&lines, "item_key"), ["A", "B", "B", "K", "K"]);
    // 2 cases = 24 each against 26: −2, at the book's cost per each.
    assert_eq!(text(&lines, "observed_stated_qty")[0], "2");
    assert_eq!(text(&lines, "observed_uom")[0], "case");
    assert_eq!(text(&lines, "observed_factor")[0], "12");
    assert_eq!(text(&lines, "observed_qty")[0], "24");
    assert_eq!(text(&lines, "qty_delta")[0], "-2");
    assert_eq!(text(&lines, "value_delta")[0], "-2.0000");
    assert_eq!(text(&lines, "match_step")[0], "alias");
    let details = text(&lines, "detail");
    assert!(
        details[2].contains("no conversion from \"case\" to \"each\""),
        "{details:?}"
    );
    assert!(
        details[4].contains("each (count) cannot convert to kg (mass)"),
        "{details:?}"
    );
    assert_eq!(m.observed.rejected.unknown_unit, 2);
    assert!(m.observed.ties_out() && m.book.ties_out());
}

#[test]
fn a_correction_to_a_row_counted_in_packs_goes_to_a_person() {
    let mut xref = CrossReference::default();
    xref.insert("CASE-A", false, alias("A", Some("case")));
    let mut conversions = Conversions::default();
    conversions.insert("A", "each", Decimal::ONE);
    conversions.insert("A", "case", Decimal::from(12));
    let refs = References {
        cross_reference: Some(xref),
        conversions: Some(conversions),
        ..Default::default()
    };
    let mut r = rules(&[MatchStep::Alias]);
    r.default.resolution = Resolution::CorrectObserved;
    let ground = plain(&r, &refs);
    let (lines, _) = lines_of(
        snapshot("erp", &[("S1", "A", "26", None)]),
        snapshot("pos", &[("S1", "CASE-A", "2", None)]),
        &ground,
    );
    assert_eq!(text(&lines, "resolution"), ["review"]);
    assert_eq!(
        text(&lines, "detail"),
        ["the observed counts this item in case (× 12): a person decides the count to write"]
    );
    // The book side counts in its base unit: correcting it is fine.
    r.default.resolution = Resolution::CorrectBook;
    let ground = plain(&r, &refs);
    let (lines, _) = lines_of(
        snapshot("erp", &[("S1", "A", "26", None)]),
        snapshot("pos", &[("S1", "CASE-A", "2", None)]),
        &ground,
    );
    assert_eq!(text(&lines, "resolution"), ["correct_book"]);
}

#[test]
fn conversions_across_dimensions_are_refused() {
    let mut c = Conversions::default();
    c.insert("A", "each", Decimal::ONE);
    c.insert("A", "kg", Decimal::from(2));
    let e = c
        .check(&rules(&[]).units, std::path::Path::new("rules.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kg (mass) cannot convert to each (count)"),
        "{e}"
    );
}

#[test]
fn movements_roll_the_older_snapshot_forward() {
    let t = |s: &str| parse_time(s).unwrap();
    let mut movements = Movements::default();
    for (item, at, qty) in [
        ("A", "2026-11-25T21:15:00-05:00", -2),
        ("B", "2026-11-25T22:00:00-05:00", -1),
        // After the book's as-of time: neither snapshot holds it yet.
        ("B", "2026-11-25T23:30:00-05:00", -5),
        // Before the POS count: already in both.
        ("C", "2026-11-25T19:00:00-05:00", 4),
    ] {
        movements.insert(
            "S1",
            item,
            Movement {
                at: t(at),
                qty: Decimal::from(qty),
                movement: Some("sale".into()),
                place: String::new(),
            },
        );
    }
    let refs = References {
        movements: Some(movements),
        ..Default::default()
    };
    let r = rules(&[]);
    let ground = Ground {
        rules: &r,
        as_of: [
            ("erp".to_string(), t("2026-11-25T23:00:00-05:00")),
            ("pos".to_string(), t("2026-11-25T18:00:00-07:00")),
        ]
        .into_iter()
        .collect(),
        refs: &refs,
    };
    let book = snapshot(
        "erp",
        &[
            ("S1", "A", "10", None),
            ("S1", "B", "5", None),
            ("S1", "C", "7", None),
        ],
    );
    let observed = snapshot(
        "pos",
        &[
            ("S1", "A", "12", None),
            ("S1", "B", "8", None),
            ("S1", "C", "7", None),
        ],
    );
    let (lines, m) = lines_of(book.clone(), observed.clone(), &ground);
    assert_eq!(text(&lines, "kind"), ["explained", "qty_mismatch"]);
    assert_eq!(text(&lines, "observed_stated_qty"), ["12", "8"]);
    assert_eq!(text(&lines, "observed_moved"), ["-2", "-1"]);
    assert_eq!(text(&lines, "qty_delta"), ["0", "2"]);
    assert_eq!(text(&lines, "rule")[0], classify::EXPLAINED_RULE);
    assert_eq!(text(&lines, "resolution")[0], "ignore");
    assert_eq!(m.equal, 1, "C is equal and moved before both");

    // Swapped sides: the same story with every sign mirrored.
    let (swapped, _) = lines_of(observed, book, &ground);
    assert_eq!(text(&swapped, "kind"), ["explained", "qty_mismatch"]);
    assert_eq!(text(&swapped, "qty_delta"), ["0", "-2"]);
    assert_eq!(text(&swapped, "book_moved"), ["-2", "-1"]);
}

#[test]
fn a_snapshot_against_itself_yields_nothing_with_every_step_on() {
    let mut xref = CrossReference::default();
    xref.insert("V-1", false, alias("A", Some("case")));
    let mut conversions = Conversions::default();
    conversions.insert("A", "each", Decimal::ONE);
    conversions.insert("A", "case", Decimal::from(12));
    conversions.insert("B", "each", Decimal::ONE);
    let mut movements = Movements::default();
    movements.insert(
        "S1",
        "A",
        Movement {
            at: parse_time("2026-11-25T21:00:00Z").unwrap(),
            qty: Decimal::from(-1),
            movement: None,
            place: String::new(),
        },
    );
    let refs = References {
        cross_reference: Some(xref),
        conversions: Some(conversions),
        movements: Some(movements),
        inputs: vec![],
    };
    let r = rules(&[MatchStep::Alias, MatchStep::Gtin]);
    let at = parse_time("2026-11-25T20:00:00Z").unwrap();
    let ground = Ground {
        rules: &r,
        as_of: [("a".to_string(), at), ("b".to_string(), at)]
            .into_iter()
            .collect(),
        refs: &refs,
    };
    let rows = &[("S1", "V-1", "2", None), ("S1", "B", "3", Some("1.5000"))];
    let (lines, m) = lines_of(
        with(snapshot("a", rows), GTIN, &[None, Some("00850001000109")]),
        with(snapshot("b", rows), GTIN, &[None, Some("00850001000109")]),
        &ground,
    );
    assert_eq!(lines.height(), 0, "{lines}");
    assert_eq!(m.equal, 2);
}
