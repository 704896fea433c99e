//! One `[sources.NAME]` table: its kind and format options, the files it names, and how
//! its headers map to the canonical columns.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::formats::{self, FileOptions, refuse};
use super::mapping::{
    check_reference, check_required, compile_columns, compile_placeholders, compile_unpivot,
};
use super::raw::{Blank, CorrectionFormat};
use super::raw::{RawSource, Role, SourceKind};
use super::types::{Format, Layout, Pattern, Source, Unpivot};
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
    let kind = match kind {
        Some(k) => k,
        None => {
            let guess = formats::implied_kind(
                connection.is_some(),
                path.as_ref().map(|p| p.get_ref().as_str()),
            );
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

    let file_options = FileOptions {
        delimiter: &delimiter,
        encoding: &encoding,
        sheet,
        header_row: header_row.as_ref().map(Spanned::span),
    };
    let format = match kind.get_ref() {
        SourceKind::Csv => formats::csv(file_options, &ctx, diags),
        SourceKind::Excel => formats::excel(file_options, &ctx, diags),
        SourceKind::Parquet => formats::parquet(file_options, &ctx, diags),
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
                    (file_options.sheet.as_ref().map(Spanned::span), "sheet"),
                    (file_options.header_row, "header_row"),
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

    let compiled_placeholders = compile_placeholders(placeholders, preset, &ctx, diags);
    let blank = blank
        .map(Spanned::into_inner)
        .or_else(|| preset.filter(|p| p.blank_absent).map(|_| Blank::Absent));
    let corrections = corrections
        .map(Spanned::into_inner)
        .or_else(|| preset.map(|p| p.corrections));

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
