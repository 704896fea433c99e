//! How a source's headers and cells map to the canonical columns: the `columns` table
//! (one header, or several joined into the SKU), a wide export's `unpivot`, what its
//! placeholder texts mean, and which columns each role needs.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use toml::Spanned;

use super::odbc_source::is_column_name;
use super::preset::Preset;
use super::raw::{RawColumns, RawUnpivot, Role};
use super::types::{Pattern, Placeholder, Unpivot};
use crate::columns::Field;
use crate::diag::Diagnostics;

pub(super) fn compile_unpivot(
    raw: Spanned<RawUnpivot>,
    ctx: &str,
    diags: &mut Diagnostics,
) -> Option<Unpivot> {
    let span = raw.span();
    let RawUnpivot {
        qty,
        unit_cost,
        columns,
        exclude,
    } = raw.into_inner();
    let mut parse = |text: &str| {
        let p = Pattern::parse(text);
        if p.is_none() {
            diags.hint(
                span.clone(),
                format!("{ctx}: unpivot pattern {text:?} must contain `{{location}}` exactly once"),
                "e.g. unpivot = { qty = \"Current Quantity {location}\" }",
            );
        }
        p
    };
    let qty_pattern = parse(&qty);
    let unit_cost = unit_cost.map(|c| parse(&c));
    // A bare `{location}` fits every header: the location columns must be told apart.
    if qty_pattern
        .as_ref()
        .is_some_and(|p| p.prefix.is_empty() && p.suffix.is_empty())
        && columns.is_none()
        && exclude.is_empty()
    {
        diags.hint(
            span.clone(),
            format!("{ctx}: unpivot qty = \"{{location}}\" would take every column for a location"),
            "list the location columns (columns = [\"Back Bay\", \"SoHo\"]) or the others \
             (exclude = [\"Handle\", \"Title\", ...])",
        );
        return None;
    }
    let only = columns.map(|c| c.into_iter().collect::<BTreeSet<_>>());
    let exclude: BTreeSet<String> = exclude.into_iter().collect();
    match (qty_pattern, unit_cost) {
        (Some(qty), None) => Some(Unpivot {
            qty,
            unit_cost: None,
            only,
            exclude,
        }),
        (Some(qty), Some(Some(c))) => Some(Unpivot {
            qty,
            unit_cost: Some(c),
            only,
            exclude,
        }),
        _ => None,
    }
}

/// The mapping, and the item key's parts when `sku` names several columns.
pub(super) fn compile_columns(
    raw: Option<Spanned<RawColumns>>,
    ctx: &str,
    sql_names: bool,
    diags: &mut Diagnostics,
) -> (BTreeMap<Field, String>, Vec<String>) {
    let Some(raw) = raw else {
        return (BTreeMap::new(), Vec::new());
    };
    let RawColumns {
        location,
        sku,
        gtin,
        description,
        category,
        bin,
        recount_of,
        qty,
        uom,
        unit_cost,
        as_of,
        item,
        factor,
        movement,
    } = raw.into_inner();
    // `sku = ["Handle", "Option1 Value"]`: the first part stands for the field; all of
    // them make the key.
    let mut sku_parts = Vec::new();
    let sku = sku.and_then(|s| {
        let span = s.span();
        let parts = s.into_inner().into_vec();
        match parts.as_slice() {
            [] => {
                diags.at(span, format!("{ctx}: `sku` names no column"));
                None
            }
            [one] => Some(Spanned::new(span, one.clone())),
            [first, ..] => {
                if sql_names {
                    diags.hint(
                        span.clone(),
                        format!("{ctx}: an item key of several columns is for files"),
                        "for a database, compose it in the query (… || '/' || … AS item)",
                    );
                }
                let first = first.clone();
                sku_parts = parts;
                Some(Spanned::new(span, first))
            }
        }
    });
    let pairs = [
        (Field::Location, location),
        (Field::Sku, sku),
        (Field::Gtin, gtin),
        (Field::Description, description),
        (Field::Category, category),
        (Field::Bin, bin),
        (Field::RecountOf, recount_of),
        (Field::Qty, qty),
        (Field::Uom, uom),
        (Field::UnitCost, unit_cost),
        (Field::AsOf, as_of),
        (Field::Item, item),
        (Field::Factor, factor),
        (Field::Movement, movement),
    ];
    let mut out = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for (field, header) in pairs {
        if let Some(h) = header {
            if h.get_ref().trim().is_empty() {
                diags.at(
                    h.span(),
                    format!("{ctx}: the header for `{}` is empty", field.column()),
                );
            } else if !seen.insert(h.get_ref().clone()) && !sku_as_barcode(field, &out, h.get_ref())
            {
                diags.at(
                    h.span(),
                    format!("{ctx}: header {:?} is mapped twice", h.get_ref()),
                );
            } else if sql_names && !is_column_name(h.get_ref()) {
                diags.hint(
                    h.span(),
                    format!(
                        "{ctx}: column {:?} (for `{}`) is not a column name",
                        h.get_ref(),
                        field.column()
                    ),
                    "a database column: letters, digits, _, $ and spaces; to select an \
                     expression, write a `query` and name it with AS",
                );
            }
            out.insert(field, h.into_inner());
        }
    }
    (out, sku_parts)
}

/// One column may be both the SKU and the barcode (item codes that are EANs).
fn sku_as_barcode(field: Field, mapped: &BTreeMap<Field, String>, header: &str) -> bool {
    field == Field::Gtin && mapped.get(&Field::Sku).map(String::as_str) == Some(header)
}

/// The columns a table of rules data needs; snapshot-only columns are refused.
pub(super) fn check_reference(
    role: Role,
    columns: &BTreeMap<Field, String>,
    fixed_location: bool,
    ctx: &str,
    span: std::ops::Range<usize>,
    diags: &mut Diagnostics,
) {
    let (required, allowed, example): (&[Field], &[Field], &str) = match role {
        Role::Snapshot => unreachable!("snapshots are checked by check_required"),
        Role::CrossReference => (
            &[Field::Item],
            &[Field::Sku, Field::Gtin, Field::Item, Field::Uom],
            "columns = { sku = \"Supplier Part No\", gtin = \"Barcode\", item = \"Item Code\", uom = \"UOM\" }",
        ),
        Role::Conversions => (
            &[Field::Item, Field::Uom, Field::Factor],
            &[Field::Item, Field::Uom, Field::Factor],
            "columns = { item = \"parent\", uom = \"uom\", factor = \"conversion_factor\" }",
        ),
        Role::Movements => (
            &[Field::Sku, Field::Qty, Field::AsOf],
            &[
                Field::Location,
                Field::Sku,
                Field::Qty,
                Field::AsOf,
                Field::Movement,
            ],
            "columns = { location = \"warehouse\", sku = \"item_code\", qty = \"actual_qty\", as_of = \"posted_at\", movement = \"voucher_type\" }",
        ),
    };
    let role_name = role.as_str();
    for field in required {
        if !columns.contains_key(field) {
            diags.hint(
                span.clone(),
                format!(
                    "{ctx}: a {role_name} source needs columns.{}",
                    field.column()
                ),
                example,
            );
        }
    }
    for field in columns.keys().filter(|f| !allowed.contains(f)) {
        diags.hint(
            span.clone(),
            format!(
                "{ctx}: columns.{} does not apply to a {role_name} source",
                field.column()
            ),
            format!(
                "a {role_name} source maps: {}",
                allowed
                    .iter()
                    .map(|f| f.column())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    if role == Role::CrossReference
        && !columns.contains_key(&Field::Sku)
        && !columns.contains_key(&Field::Gtin)
    {
        diags.hint(
            span.clone(),
            format!("{ctx}: a cross_reference source needs the code: columns.sku or columns.gtin"),
            example,
        );
    }
    if role == Role::Movements && !columns.contains_key(&Field::Location) && !fixed_location {
        diags.hint(
            span,
            format!("{ctx}: the movements have no location"),
            "map columns.location, or set location = \"STORE-CODE\"",
        );
    }
}

pub(super) fn check_required(
    columns: &BTreeMap<Field, String>,
    unpivot: bool,
    fixed_location: Option<&Spanned<String>>,
    ctx: &str,
    span: std::ops::Range<usize>,
    diags: &mut Diagnostics,
) {
    // A scanner count sheet has a barcode and no SKU (matched with [match] key = gtin).
    if !columns.contains_key(&Field::Sku) && !columns.contains_key(&Field::Gtin) {
        diags.hint(
            span.clone(),
            format!("{ctx}: no column is mapped to `sku` (or `gtin`)"),
            "add columns.sku = \"<header>\" (or columns.gtin for a barcode, with [match] key = [\"location\", \"gtin\"])",
        );
    }
    if unpivot {
        for field in [Field::Qty, Field::Location] {
            if columns.contains_key(&field) {
                diags.hint(
                    span.clone(),
                    format!("{ctx}: `columns.{}` and `unpivot` both give the {}", field.column(), field.column()),
                    "a wide export takes location and quantity from the unpivoted headers; remove one",
                );
            }
        }
    } else if !columns.contains_key(&Field::Qty) {
        diags.hint(
            span.clone(),
            format!("{ctx}: no column is mapped to `qty`"),
            "add columns.qty = \"<header>\", or unpivot = { qty = \"... {location}\" } for wide exports",
        );
    }
    match (
        fixed_location,
        columns.contains_key(&Field::Location) || unpivot,
    ) {
        (Some(loc), true) => diags.hint(
            loc.span(),
            format!("{ctx}: a fixed `location` and a location column are both given"),
            "keep the fixed location only for single-store files",
        ),
        (None, false) => diags.hint(
            span,
            format!("{ctx}: the rows have no location"),
            "map columns.location, or set location = \"STORE-CODE\" for a single-store file",
        ),
        _ => {}
    }
}

/// What the source's placeholder texts mean, with those of its preset's system.
pub(super) fn compile_placeholders(
    placeholders: BTreeMap<String, Spanned<String>>,
    preset: Option<&Preset>,
    ctx: &str,
    diags: &mut Diagnostics,
) -> BTreeMap<String, Placeholder> {
    let mut compiled = BTreeMap::new();
    for (text, meaning) in placeholders {
        // A blank cell never reaches the placeholder table (blanks are what `blank` says).
        if text.trim().is_empty() {
            diags.hint(
                meaning.span(),
                format!("{ctx}: a placeholder for a blank cell would never take effect"),
                "say what a blank quantity means with blank = \"absent\" | \"zero\" | \"invalid\"",
            );
            continue;
        }
        let p = match meaning.get_ref().trim() {
            "absent" => Some(Placeholder::Absent),
            number => Decimal::from_str_exact(number).ok().map(Placeholder::Value),
        };
        match p {
            Some(p) => {
                compiled.insert(text.trim().to_lowercase(), p);
            }
            None => diags.hint(
                meaning.span(),
                format!(
                    "{ctx}: placeholder {text:?} must mean \"absent\" or a number, got {:?}",
                    meaning.get_ref()
                ),
                "e.g. placeholders = { \"Not stocked\" = \"absent\", \"-\" = \"0\" }",
            ),
        }
    }

    // The texts a preset's system writes for "not stocked", unless the job says otherwise.
    for text in preset.map_or(&[][..], |p| p.absent) {
        compiled
            .entry(text.to_lowercase())
            .or_insert(Placeholder::Absent);
    }
    compiled
}
