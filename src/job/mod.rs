//! The job: which sources to read, how their columns map to the canonical ones, which
//! sources are paired as book and observed, the rules, and where runs go.
//!
//! `load` turns the TOML (see `raw`) into these validated types, reporting every problem
//! at once (see `diag`). Paths in a job file are relative to the job file.

pub mod raw;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use toml::Spanned;

use crate::columns::Field;
use crate::diag::{ConfigErrors, Diagnostic, Diagnostics};
use crate::rules::RuleSet;
use crate::toml_doc;
pub use raw::{CorrectionFormat, Encoding};
use raw::{OneOrMany, RawColumns, RawPairing, RawSource, RawUnpivot, SourceKind};

#[derive(Debug)]
pub struct Job {
    pub path: PathBuf,
    pub sources: Vec<Source>,
    pub pairings: Vec<Pairing>,
    pub rules: RuleSet,
    pub output: PathBuf,
}

impl Job {
    pub fn source(&self, name: &str) -> &Source {
        self.sources
            .iter()
            .find(|s| s.name == name)
            .expect("pairings reference validated sources")
    }
}

#[derive(Debug, Clone)]
pub struct Source {
    pub name: String,
    pub format: Format,
    /// The path or glob as written, for messages.
    pub pattern: String,
    /// The files the pattern matched when the job was loaded, sorted.
    pub files: Vec<PathBuf>,
    pub layout: Layout,
    pub corrections: CorrectionFormat,
}

#[derive(Debug, Clone)]
pub enum Format {
    Csv { delimiter: u8, encoding: Encoding },
    Excel { sheet: Option<String> },
}

/// Where the data sits in a file and how its cells read.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Canonical field → the source's header.
    pub columns: BTreeMap<Field, String>,
    /// 1-based line (CSV) or row (sheet) of the header.
    pub header_row: usize,
    /// Non-data rows right after the header (units lines, separators).
    pub skip_rows: usize,
    pub decimal_comma: bool,
    pub fixed_location: Option<String>,
    pub location_names: BTreeMap<String, String>,
    pub unpivot: Option<Unpivot>,
    pub placeholders: BTreeMap<String, Placeholder>,
}

/// Wide exports: one quantity (and optionally cost) column per location.
#[derive(Debug, Clone)]
pub struct Unpivot {
    pub qty: Pattern,
    pub unit_cost: Option<Pattern>,
}

/// A header pattern such as `Current Quantity {location}`.
#[derive(Debug, Clone)]
pub struct Pattern {
    pub prefix: String,
    pub suffix: String,
}

impl Pattern {
    fn parse(text: &str) -> Option<Pattern> {
        let (prefix, suffix) = text.split_once("{location}")?;
        if suffix.contains("{location}") {
            return None;
        }
        Some(Pattern {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        })
    }

    /// The location a header names, if the header fits the pattern.
    pub fn location<'h>(&self, header: &'h str) -> Option<&'h str> {
        let rest = header.strip_prefix(self.prefix.as_str())?;
        let loc = rest.strip_suffix(self.suffix.as_str())?;
        (!loc.trim().is_empty()).then(|| loc.trim())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placeholder {
    /// The item is not stocked at that location: the row is left out of matching.
    Absent,
    /// The text stands for a number (e.g. `"-" = "0"`).
    Value(Decimal),
}

#[derive(Debug, Clone)]
pub struct Pairing {
    pub name: String,
    pub book: Vec<String>,
    pub observed: Vec<String>,
    /// When not empty, only these locations are reconciled in this pairing.
    pub locations: Vec<String>,
}

/// Reads and validates a job file and the rules file it names.
pub fn load(path: &Path) -> Result<Job, ConfigErrors> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![Diagnostic {
            file: path.to_path_buf(),
            line: 0,
            message: format!("cannot read the job file: {e}"),
            hint: None,
        }])
    })?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut diags = Diagnostics::new(path, &text);
    let mut errors = Vec::new();

    let mut sources = Vec::new();
    // Every name under [sources], valid or not, so that pairings are checked against
    // what the user declared rather than against what compiled.
    let mut declared = BTreeSet::new();
    let mut pairings = Vec::new();
    let mut rules_path: Option<Spanned<String>> = None;
    let mut output = None;

    if let Some(doc) = toml_doc::parse(&text, &mut diags) {
        let mut saw_sources = false;
        let mut saw_pairings = false;
        for (key, value) in doc.get_ref().iter() {
            match key.get_ref().as_ref() {
                "rules" => rules_path = toml_doc::decode(value, &mut diags, "rules"),
                "output" => output = toml_doc::decode::<String>(value, &mut diags, "output"),
                "sources" => {
                    saw_sources = true;
                    for (name, value) in toml_doc::entries(value, &mut diags, "sources") {
                        declared.insert(name.get_ref().to_string());
                        let context = format!("source `{}`", name.get_ref());
                        if let Some(raw) =
                            toml_doc::decode::<RawSource>(value, &mut diags, &context)
                            && let Some(src) = compile_source(name.get_ref(), raw, &dir, &mut diags)
                        {
                            sources.push(src);
                        }
                    }
                }
                "pairings" => {
                    saw_pairings = true;
                    for (i, value) in toml_doc::items(value, &mut diags, "pairings")
                        .into_iter()
                        .enumerate()
                    {
                        let context = format!("pairing #{}", i + 1);
                        if let Some(raw) =
                            toml_doc::decode::<RawPairing>(value, &mut diags, &context)
                        {
                            pairings.push(raw);
                        }
                    }
                }
                other => diags.hint(
                    key.span(),
                    format!("unknown key `{other}` in the job file"),
                    "the job file takes: rules, output, [sources.NAME], [[pairings]]",
                ),
            }
        }
        if !saw_sources {
            diags.hint(
                0..0,
                "the job declares no sources",
                "add at least two: [sources.erp] and [sources.pos]",
            );
        }
        if !saw_pairings {
            diags.hint(
                0..0,
                "the job declares no pairings",
                "add [[pairings]] with name, book and observed",
            );
        }
        if rules_path.is_none() && !diags.items.iter().any(|d| d.message.starts_with("rules")) {
            diags.hint(
                0..0,
                "the job names no rules file",
                "add rules = \"rules/default.toml\"",
            );
        }
    }

    let pairings = compile_pairings(pairings, &declared, &mut diags);
    errors.append(&mut diags.items);

    let rules = match &rules_path {
        Some(p) => {
            let rules_file = dir.join(p.get_ref());
            match crate::rules::load(&rules_file) {
                Ok(rules) => Some(rules),
                Err(mut errs) => {
                    errors.append(&mut errs);
                    None
                }
            }
        }
        None => None,
    };

    match rules {
        Some(rules) if errors.is_empty() => Ok(Job {
            path: path.to_path_buf(),
            sources,
            pairings,
            rules,
            output: dir.join(output.unwrap_or_else(|| "runs".to_string())),
        }),
        _ => Err(ConfigErrors(errors)),
    }
}

fn compile_source(
    name: &str,
    raw: RawSource,
    dir: &Path,
    diags: &mut Diagnostics,
) -> Option<Source> {
    // Destructured so that a new option is a compile error until it is handled here.
    let RawSource {
        kind,
        path,
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
        corrections,
    } = raw;
    let before = diags.items.len();
    let ctx = format!("source `{name}`");

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
            Format::Csv {
                delimiter,
                encoding: encoding.map(|e| *e.get_ref()).unwrap_or(Encoding::Utf8),
            }
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
    };

    let files = resolve_files(dir, &path, &ctx, diags);

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

    let unpivot = unpivot.and_then(|u| compile_unpivot(u, &ctx, diags));
    let columns = compile_columns(columns, &ctx, diags);
    check_required(
        &columns,
        unpivot.is_some(),
        location.as_ref(),
        &ctx,
        kind.span(),
        diags,
    );

    let mut compiled_placeholders = BTreeMap::new();
    for (text, meaning) in placeholders {
        let p = match meaning.get_ref().trim() {
            "absent" => Some(Placeholder::Absent),
            number => Decimal::from_str_exact(number).ok().map(Placeholder::Value),
        };
        match p {
            Some(p) => {
                compiled_placeholders.insert(text.trim().to_string(), p);
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

    if diags.items.len() > before {
        return None;
    }
    Some(Source {
        name: name.to_string(),
        format,
        pattern: path.into_inner(),
        files,
        layout: Layout {
            columns,
            header_row,
            skip_rows,
            decimal_comma,
            fixed_location: location.map(Spanned::into_inner),
            location_names,
            unpivot,
            placeholders: compiled_placeholders,
        },
        corrections: corrections
            .map(Spanned::into_inner)
            .unwrap_or(CorrectionFormat::Generic),
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
    let RawUnpivot { qty, unit_cost } = raw.into_inner();
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
    let qty = parse(&qty);
    let unit_cost = unit_cost.map(|c| parse(&c));
    match (qty, unit_cost) {
        (Some(qty), None) => Some(Unpivot {
            qty,
            unit_cost: None,
        }),
        (Some(qty), Some(Some(c))) => Some(Unpivot {
            qty,
            unit_cost: Some(c),
        }),
        _ => None,
    }
}

fn compile_columns(
    raw: Option<Spanned<RawColumns>>,
    ctx: &str,
    diags: &mut Diagnostics,
) -> BTreeMap<Field, String> {
    let Some(raw) = raw else {
        return BTreeMap::new();
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
    } = raw.into_inner();
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
            } else if !seen.insert(h.get_ref().clone()) {
                diags.at(
                    h.span(),
                    format!("{ctx}: header {:?} is mapped twice", h.get_ref()),
                );
            }
            out.insert(field, h.into_inner());
        }
    }
    out
}

fn check_required(
    columns: &BTreeMap<Field, String>,
    unpivot: bool,
    fixed_location: Option<&Spanned<String>>,
    ctx: &str,
    span: std::ops::Range<usize>,
    diags: &mut Diagnostics,
) {
    if !columns.contains_key(&Field::Sku) {
        diags.hint(
            span.clone(),
            format!("{ctx}: no column is mapped to `sku`"),
            "add columns.sku = \"<header>\"",
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

fn compile_pairings(
    raws: Vec<RawPairing>,
    known: &BTreeSet<String>,
    diags: &mut Diagnostics,
) -> Vec<Pairing> {
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for raw in raws {
        let RawPairing {
            name,
            book,
            observed,
            locations,
        } = raw;
        let ctx = format!("pairing `{}`", name.get_ref());
        if !names.insert(name.get_ref().clone()) {
            diags.at(name.span(), format!("{ctx}: the name is used twice"));
        }
        let mut side = |list: Spanned<OneOrMany>, what: &str| -> Vec<String> {
            let span = list.span();
            let list = list.into_inner().into_vec();
            if list.is_empty() {
                diags.at(span.clone(), format!("{ctx}: `{what}` names no source"));
            }
            for s in &list {
                if !known.contains(s) {
                    diags.hint(
                        span.clone(),
                        format!("{ctx}: `{what}` names an unknown source {s:?}"),
                        format!(
                            "declared sources: {}",
                            known.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
            }
            list
        };
        let book_list = side(book, "book");
        let observed_span = observed.span();
        let observed_list = side(observed, "observed");
        if let Some(both) = book_list.iter().find(|b| observed_list.contains(b)) {
            diags.at(
                observed_span,
                format!("{ctx}: source {both:?} is on both sides"),
            );
        }
        out.push(Pairing {
            name: name.into_inner(),
            book: book_list,
            observed: observed_list,
            locations,
        });
    }
    out
}
