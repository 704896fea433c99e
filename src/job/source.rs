//! One `[sources.NAME]` table: its kind and format options, the files it names, and how
//! its headers map to the canonical columns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use toml::Spanned;

use super::odbc_source::is_column_name;
use super::raw::{Blank, CorrectionFormat};
use super::raw::{RawColumns, RawSource, RawUnpivot, Role, SourceKind};
use super::types::{Encoding, Format, Layout, Pattern, Placeholder, Source, Unpivot};
use crate::columns::Field;
use crate::diag::Diagnostics;

pub(super) fn compile(
    name: &str,
    raw: RawSource,
    dir: &Path,
    diags: &mut Diagnostics,
) -> Option<Source> {
    // Destructured so that a new option is a compile error until it is handled here.
    let RawSource {
        kind,
        preset,
        skip_when,
        sku_pattern,
        role,
        as_of,
        path,
        connection,
        table,
        query,
        params,
        columns,
        delimiter,
        encoding,
        decimal_comma,
        header_row,
        skip_rows,
        sheet,
        location,
        location_names,
        unpivot,
        placeholders,
        blank,
        corrections,
        write_back,
        parallel,
    } = raw;
    let before = diags.items.len();
    let ctx = format!("source `{name}`");
    let preset_span = preset.as_ref().map_or(0..0, Spanned::span);
    let preset = preset.and_then(|p| match super::preset::find(p.get_ref()) {
        Some(found) => Some(found),
        None => {
            diags.hint(
                p.span(),
                format!("{ctx}: unknown preset {:?}", p.get_ref()),
                format!(
                    "presets: {} (docs/presets.md)",
                    super::preset::PRESETS
                        .iter()
                        .map(|p| p.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            None
        }
    });
    // Without `kind`, a preset's source is a database with a connection, a spreadsheet by
    // its extension, else a CSV file.
    let kind = match kind {
        Some(k) => k,
        None => {
            let guess = if connection.is_some() {
                SourceKind::Odbc
            } else if path.as_ref().is_some_and(|p| {
                let lower = p.get_ref().to_lowercase();
                [".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"]
                    .iter()
                    .any(|e| lower.ends_with(e))
            }) {
                SourceKind::Excel
            } else if path
                .as_ref()
                .is_some_and(|p| p.get_ref().to_lowercase().ends_with(".parquet"))
            {
                SourceKind::Parquet
            } else {
                SourceKind::Csv
            };
            if preset.is_none() {
                diags.hint(
                    0..0,
                    format!("{ctx}: no `kind`"),
                    "kind = \"csv\", \"excel\", \"parquet\" or \"odbc\" (or name a preset, which implies it)",
                );
            }
            Spanned::new(preset_span.clone(), guess)
        }
    };
    let has_write_back = write_back.is_some();
    // Database options given to a file source, to be reported below.
    let stray_db_options: Vec<(std::ops::Range<usize>, &str)> = [
        (connection.as_ref().map(Spanned::span), "connection"),
        (write_back.as_ref().map(Spanned::span), "write_back"),
        (table.as_ref().map(Spanned::span), "table"),
        (query.as_ref().map(Spanned::span), "query"),
        (parallel.as_ref().map(Spanned::span), "parallel"),
    ]
    .into_iter()
    .filter_map(|(span, what)| span.map(|s| (s, what)))
    .collect();

    let format = match kind.get_ref() {
        SourceKind::Csv => {
            if let Some(sheet) = &sheet {
                diags.hint(
                    sheet.span(),
                    format!("{ctx}: `sheet` applies to excel sources only"),
                    "remove it",
                );
            }
            let delimiter = match delimiter {
                None => b',',
                Some(d) => match d.get_ref().as_bytes() {
                    [b] if b.is_ascii() => *b,
                    _ => {
                        diags.hint(
                            d.span(),
                            format!(
                                "{ctx}: delimiter must be one ASCII character, got {:?}",
                                d.get_ref()
                            ),
                            "use \",\", \";\", \"|\" or \"\\t\"",
                        );
                        b','
                    }
                },
            };
            let encoding = match encoding {
                None => Encoding::UTF8,
                Some(label) => Encoding::for_label(label.get_ref()).unwrap_or_else(|| {
                    diags.hint(
                        label.span(),
                        format!("{ctx}: unknown encoding {:?}", label.get_ref()),
                        "any label of the WHATWG Encoding Standard: utf-8, windows-1252, \
                         macintosh, iso-8859-15, utf-16le, utf-16be, shift_jis, gbk ...",
                    );
                    Encoding::UTF8
                }),
            };
            Format::Csv {
                delimiter,
                encoding,
            }
        }
        SourceKind::Odbc => {
            refuse(
                diags,
                &ctx,
                "odbc",
                "an odbc source has connection, and table or query",
                [
                    (path.as_ref().map(Spanned::span), "path"),
                    (delimiter.as_ref().map(Spanned::span), "delimiter"),
                    (encoding.as_ref().map(Spanned::span), "encoding"),
                    (sheet.as_ref().map(Spanned::span), "sheet"),
                    (header_row.as_ref().map(Spanned::span), "header_row"),
                ],
            );
            super::odbc_source::compile(
                super::odbc_source::RawOdbc {
                    connection,
                    table,
                    query,
                    params,
                    write_back,
                    parallel,
                },
                kind.span(),
                dir,
                &ctx,
                diags,
            )
        }
        SourceKind::Excel => {
            if let Some(d) = &delimiter {
                diags.hint(
                    d.span(),
                    format!("{ctx}: `delimiter` applies to csv sources only"),
                    "remove it",
                );
            }
            if let Some(e) = &encoding {
                diags.hint(
                    e.span(),
                    format!("{ctx}: `encoding` applies to csv sources only"),
                    "spreadsheets carry their own encoding; remove it",
                );
            }
            Format::Excel {
                sheet: sheet.map(Spanned::into_inner),
            }
        }
        SourceKind::Parquet => {
            refuse(
                diags,
                &ctx,
                "parquet",
                "a Parquet file names and types its own columns; remove it",
                [
                    (delimiter.as_ref().map(Spanned::span), "delimiter"),
                    (encoding.as_ref().map(Spanned::span), "encoding"),
                    (sheet.as_ref().map(Spanned::span), "sheet"),
                    (header_row.as_ref().map(Spanned::span), "header_row"),
                ],
            );
            Format::Parquet
        }
    };

    let (files, pattern) = match (&format, path) {
        (Format::Odbc(_), _) => (Vec::new(), String::new()),
        (_, Some(path)) => (resolve_files(dir, &path, &ctx, diags), path.into_inner()),
        (_, None) => {
            diags.hint(
                kind.span(),
                format!("{ctx}: no `path`"),
                "path = \"exports/stock.csv\" (relative to the job file; globs allowed)",
            );
            (Vec::new(), String::new())
        }
    };
    if !matches!(format, Format::Odbc(_)) {
        for (span, what) in stray_db_options {
            diags.hint(
                span,
                format!("{ctx}: `{what}` applies to odbc sources only"),
                "set kind = \"odbc\", or remove it",
            );
        }
    }

    let header_given = header_row.is_some();
    let header_row = match header_row {
        None => 1,
        Some(h) if *h.get_ref() >= 1 => *h.get_ref() as usize,
        Some(h) => {
            diags.hint(
                h.span(),
                format!("{ctx}: header_row must be 1 or more"),
                "rows count from 1",
            );
            1
        }
    };
    let skip_rows = match skip_rows {
        None => 0,
        Some(s) if *s.get_ref() >= 0 => *s.get_ref() as usize,
        Some(s) => {
            diags.at(s.span(), format!("{ctx}: skip_rows cannot be negative"));
            0
        }
    };

    let role_span = role.as_ref().map(Spanned::span).unwrap_or(kind.span());
    let role = role.map(Spanned::into_inner).unwrap_or(Role::Snapshot);
    let user_unpivot = unpivot.is_some();
    let unpivot = match (unpivot, preset.and_then(|p| p.unpivot.map(|u| (p, u)))) {
        (Some(u), _) => compile_unpivot(u, &ctx, diags),
        (None, Some((p, (qty, cost)))) => Some(Unpivot {
            qty: Pattern::parse(qty).expect("a preset's pattern has {location}"),
            unit_cost: cost.map(|c| Pattern::parse(c).expect("a preset's pattern has {location}")),
            only: None,
            exclude: p.unpivot_exclude.iter().map(|h| h.to_string()).collect(),
        }),
        (None, None) => None,
    };
    // A database source's column names go into SQL: each must be a validated name.
    let sql_names = *kind.get_ref() == SourceKind::Odbc;
    let (mut columns, sku_parts) = compile_columns(columns, &ctx, sql_names, diags);
    // A preset's columns fill in what the job does not map; their other known headers
    // and whether a file may lack them come along.
    let (mut alternatives, mut optional) = (BTreeMap::new(), BTreeSet::new());
    if let Some(p) = preset {
        for c in p.columns {
            let fixed_here = c.field == Field::Location && location.is_some();
            let wide_here = user_unpivot && c.field == Field::Qty;
            if columns.contains_key(&c.field) || fixed_here || wide_here {
                continue;
            }
            columns.insert(c.field, c.headers[0].to_string());
            if c.headers.len() > 1 {
                alternatives.insert(
                    c.field,
                    c.headers[1..]
                        .iter()
                        .map(|h| h.to_string())
                        .collect::<Vec<_>>(),
                );
            }
            if c.optional {
                optional.insert(c.field);
            }
        }
    }
    let skip_when: Vec<(String, String)> = if skip_when.is_empty() {
        preset
            .map(|p| {
                p.skip_when
                    .iter()
                    .map(|(h, v)| (h.to_string(), v.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        skip_when
            .into_iter()
            .map(|(h, v)| (h, v.trim().to_string()))
            .collect()
    };
    let sku_pattern = match sku_pattern {
        Some(p) => match regex::Regex::new(p.get_ref()) {
            Ok(re) if re.captures_len() >= 2 => Some(re),
            Ok(_) => {
                diags.hint(
                    p.span(),
                    format!("{ctx}: sku_pattern {:?} has no group", p.get_ref()),
                    "the SKU is group 1, e.g. sku_pattern = '^\\[([^\\]]+)\\]'",
                );
                None
            }
            Err(e) => {
                diags.at(
                    p.span(),
                    format!("{ctx}: sku_pattern {:?} is not a regex: {e}", p.get_ref()),
                );
                None
            }
        },
        None => preset
            .and_then(|p| p.sku_pattern)
            .map(|p| regex::Regex::new(p).expect("a preset's pattern compiles")),
    };
    // A title block before the header: found per file (header_row given wins).
    let header_marker = preset
        .and_then(|p| p.header_marker)
        .filter(|_| !header_given)
        .map(|(h, d)| (h.to_string(), d.to_string()));
    if role == Role::Snapshot {
        check_required(
            &columns,
            unpivot.is_some(),
            location.as_ref(),
            &ctx,
            kind.span(),
            diags,
        );
    } else {
        check_reference(
            role,
            &columns,
            location.is_some(),
            &ctx,
            role_span.clone(),
            diags,
        );
        for (given, what) in [
            (unpivot.is_some(), "unpivot"),
            (has_write_back, "write_back"),
            (corrections.is_some(), "corrections"),
            (as_of.is_some(), "as_of"),
        ] {
            if given {
                diags.hint(
                    role_span.clone(),
                    format!(
                        "{ctx}: `{what}` does not apply to a {} source",
                        role.as_str()
                    ),
                    "only inventory snapshots take it",
                );
            }
        }
    }
    let as_of = as_of.and_then(|a| match crate::values::parse_time(a.get_ref()) {
        Some(t) => Some(t),
        None => {
            diags.hint(
                a.span(),
                format!(
                    "{ctx}: as_of {:?} is not a time with an offset",
                    a.get_ref()
                ),
                "write RFC 3339, e.g. as_of = \"2026-11-26T21:00:00-05:00\"",
            );
            None
        }
    });

    let mut compiled_placeholders = BTreeMap::new();
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
                compiled_placeholders.insert(text.trim().to_lowercase(), p);
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
        compiled_placeholders
            .entry(text.to_lowercase())
            .or_insert(Placeholder::Absent);
    }
    let blank = blank
        .map(Spanned::into_inner)
        .or_else(|| preset.filter(|p| p.blank_absent).map(|_| Blank::Absent));
    let corrections = corrections.map(Spanned::into_inner).or_else(|| {
        preset
            .filter(|p| p.erpnext_corrections)
            .map(|_| CorrectionFormat::Erpnext)
    });

    if diags.items.len() > before {
        return None;
    }
    Some(Source {
        name: name.to_string(),
        role,
        as_of,
        format,
        pattern,
        files,
        layout: Layout {
            columns,
            alternatives,
            optional,
            sku_parts,
            skip_when,
            sku_pattern,
            header_marker,
            preset: preset.map(|p| p.name),
            precision: Default::default(),
            header_row,
            skip_rows,
            decimal_comma,
            fixed_location: location.map(Spanned::into_inner),
            location_names,
            // A wide export leaves a location's cell blank when the item is not kept
            // there (Square); a long file's blank is a row that lost its number.
            blank: blank.unwrap_or(if unpivot.is_some() {
                Blank::Absent
            } else {
                Blank::Invalid
            }),
            unpivot,
            placeholders: compiled_placeholders,
        },
        corrections: corrections.unwrap_or(CorrectionFormat::Generic),
    })
}

/// Options given to a source of a kind they do not apply to: one hint each.
fn refuse<const N: usize>(
    diags: &mut Diagnostics,
    ctx: &str,
    kind: &str,
    hint: &str,
    given: [(Option<std::ops::Range<usize>>, &str); N],
) {
    for (span, what) in given {
        if let Some(span) = span {
            diags.hint(
                span,
                format!("{ctx}: `{what}` does not apply to {kind} sources"),
                hint,
            );
        }
    }
}

fn resolve_files(
    dir: &Path,
    path: &Spanned<String>,
    ctx: &str,
    diags: &mut Diagnostics,
) -> Vec<PathBuf> {
    let full = dir.join(path.get_ref());
    let pattern = full.to_string_lossy();
    let mut files: Vec<PathBuf> = match glob::glob(&pattern) {
        Ok(paths) => paths
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect(),
        Err(e) => {
            diags.at(
                path.span(),
                format!("{ctx}: invalid path pattern {:?}: {e}", path.get_ref()),
            );
            return Vec::new();
        }
    };
    files.sort();
    // A glob through a symlink (a loop, or two links to one folder) finds one file under
    // many names: each file is read once, under the first of its names.
    let mut seen = BTreeSet::new();
    files.retain(|f| seen.insert(std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    if files.is_empty() {
        diags.hint(
            path.span(),
            format!("{ctx}: no file matches {}", full.display()),
            "paths are relative to the job file; check the name or the export step",
        );
    }
    files
}

fn compile_unpivot(
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
fn compile_columns(
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
fn check_reference(
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

fn check_required(
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
