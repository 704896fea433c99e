//! The file kinds' own options: a CSV's delimiter and encoding, a workbook's sheet, and
//! what a Parquet file needs none of. An odbc source is compiled in `odbc_source.rs`.

use std::ops::Range;

use toml::Spanned;

use super::raw::SourceKind;
use super::types::{Encoding, Format};
use crate::diag::Diagnostics;

/// The options a file source may give; each kind takes its own and refuses the others'.
pub(super) struct FileOptions<'a> {
    pub delimiter: &'a Option<Spanned<String>>,
    pub encoding: &'a Option<Spanned<String>>,
    pub sheet: Option<Spanned<String>>,
    pub header_row: Option<Range<usize>>,
}

/// Without `kind`, a preset's source is a database with a connection, a spreadsheet by
/// its extension, else a CSV file.
pub(super) fn implied_kind(has_connection: bool, path: Option<&str>) -> SourceKind {
    let lower = path.map(str::to_lowercase).unwrap_or_default();
    if has_connection {
        SourceKind::Odbc
    } else if [".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        SourceKind::Excel
    } else if lower.ends_with(".parquet") {
        SourceKind::Parquet
    } else {
        SourceKind::Csv
    }
}

pub(super) fn csv(options: FileOptions, ctx: &str, diags: &mut Diagnostics) -> Format {
    if let Some(sheet) = &options.sheet {
        diags.hint(
            sheet.span(),
            format!("{ctx}: `sheet` applies to excel sources only"),
            "remove it",
        );
    }
    let delimiter = match options.delimiter {
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
    let encoding = match options.encoding {
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

pub(super) fn excel(options: FileOptions, ctx: &str, diags: &mut Diagnostics) -> Format {
    if let Some(d) = options.delimiter {
        diags.hint(
            d.span(),
            format!("{ctx}: `delimiter` applies to csv sources only"),
            "remove it",
        );
    }
    if let Some(e) = options.encoding {
        diags.hint(
            e.span(),
            format!("{ctx}: `encoding` applies to csv sources only"),
            "spreadsheets carry their own encoding; remove it",
        );
    }
    Format::Excel {
        sheet: options.sheet.map(Spanned::into_inner),
    }
}

pub(super) fn parquet(options: FileOptions, ctx: &str, diags: &mut Diagnostics) -> Format {
    refuse(
        diags,
        ctx,
        "parquet",
        "a Parquet file names and types its own columns; remove it",
        [
            (options.delimiter.as_ref().map(Spanned::span), "delimiter"),
            (options.encoding.as_ref().map(Spanned::span), "encoding"),
            (options.sheet.as_ref().map(Spanned::span), "sheet"),
            (options.header_row, "header_row"),
        ],
    );
    Format::Parquet
}

/// Options given to a source of a kind they do not apply to: one hint each.
pub(super) fn refuse<const N: usize>(
    diags: &mut Diagnostics,
    ctx: &str,
    kind: &str,
    hint: &str,
    given: [(Option<Range<usize>>, &str); N],
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
