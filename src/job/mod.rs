//! The job: which sources to read, how their columns map to the canonical ones, which
//! sources are paired as book and observed, the rules, and where runs go.
//!
//! `load` turns the TOML (see `raw`) into these validated types, reporting every problem
//! at once (see `diag`). Paths in a job file are relative to the job file.

mod formats;
mod mapping;
mod odbc_source;
pub mod preset;
pub mod raw;
mod source;
mod types;

pub use types::*;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::diag::{ConfigErrors, Diagnostic, Diagnostics};
use crate::toml_doc;
pub use raw::{Blank, CorrectionFormat, RecountSheet, Role, WriteBackMode};
use raw::{OneOrMany, RawPairing, RawSource};

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
    // A bare file name's folder is the current one (an empty path would make
    // `${JOB_DIR}/x` an absolute `/x`).
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut diags = Diagnostics::new(path, &text);
    let mut errors = Vec::new();

    let mut sources = Vec::new();
    // Every name under [sources], valid or not, so that pairings are checked against
    // what the user declared rather than against what compiled.
    let mut declared = BTreeMap::new();
    let mut pairings = Vec::new();
    let mut rules_path: Option<Spanned<String>> = None;
    let mut output = None;
    let mut state = None;
    let mut ledger = None;
    let mut approvers = BTreeMap::new();
    let mut templates: Option<PathBuf> = None;
    let mut recount_sheet = RecountSheet::default();

    if let Some(doc) = toml_doc::parse(&text, &mut diags) {
        let mut saw_sources = false;
        let mut saw_pairings = false;
        for (key, value) in doc.get_ref().iter() {
            match key.get_ref().as_ref() {
                "rules" => rules_path = toml_doc::decode(value, &mut diags, "rules"),
                "output" => output = toml_doc::decode::<String>(value, &mut diags, "output"),
                "state" => state = toml_doc::decode::<String>(value, &mut diags, "state"),
                "ledger" => ledger = toml_doc::decode::<String>(value, &mut diags, "ledger"),
                "templates" => {
                    if let Some(t) = toml_doc::decode::<String>(value, &mut diags, "templates") {
                        let folder = dir.join(&t);
                        check_templates(&folder, value.span(), &mut diags);
                        templates = Some(folder);
                    }
                }
                "recount_sheet" => {
                    if let Some(shows) = toml_doc::decode(value, &mut diags, "recount_sheet") {
                        recount_sheet = shows;
                    }
                }
                "approvers" => {
                    // name = "Ed25519 public key, 64 hex digits"
                    for (name, key) in toml_doc::entries(value, &mut diags, "approvers") {
                        let what = format!("approver `{}`", name.get_ref());
                        if let Some(k) = toml_doc::decode::<String>(key, &mut diags, &what) {
                            if crate::audit::checkpoint::unhex::<32>(&k, &what).is_ok() {
                                approvers.insert(name.get_ref().to_string(), k.trim().to_lowercase());
                            } else {
                                diags.hint(
                                    key.span(),
                                    format!("{what}: not an Ed25519 public key"),
                                    "64 hex digits, as `tally audit keygen` prints it",
                                );
                            }
                        }
                    }
                }
                "sources" => {
                    saw_sources = true;
                    for (name, value) in toml_doc::entries(value, &mut diags, "sources") {
                        let context = format!("source `{}`", name.get_ref());
                        let raw = toml_doc::decode::<RawSource>(value, &mut diags, &context);
                        let role = raw
                            .as_ref()
                            .and_then(|r| r.role.as_ref().map(|r| *r.get_ref()))
                            .unwrap_or(Role::Snapshot);
                        declared.insert(name.get_ref().to_string(), role);
                        if let Some(raw) = raw
                            && let Some(src) =
                                source::compile(name.get_ref(), raw, &dir, &mut diags)
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
                    "the job file takes: rules, output, state, ledger, templates, recount_sheet, [approvers], [sources.NAME], [[pairings]]",
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
            // Each source types its cells at the precision the rules file declares.
            sources: sources
                .into_iter()
                .map(|mut s| {
                    s.layout.precision = rules.precision;
                    s
                })
                .collect(),
            pairings,
            rules,
            output: dir.join(output.unwrap_or_else(|| "runs".to_string())),
            state: state.map(|s| dir.join(s)),
            ledger: ledger.map(|l| dir.join(l)),
            approvers,
            templates,
            recount_sheet,
        }),
        _ => Err(ConfigErrors(errors)),
    }
}

/// A job's own template folder: it exists, and each template file in it is one that
/// tally renders (a misspelt name would silently keep the built-in page).
fn check_templates(folder: &Path, span: std::ops::Range<usize>, diags: &mut Diagnostics) {
    use crate::report::names::TEMPLATE_NAMES;
    let Ok(entries) = std::fs::read_dir(folder) else {
        diags.hint(
            span,
            format!(
                "templates: {} is not a folder that can be read",
                folder.display()
            ),
            "a folder of templates named like tally's own (templates/ in the source)",
        );
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let template = name.ends_with(".html") || name.ends_with(".md");
        if template && !TEMPLATE_NAMES.contains(&name.as_str()) {
            diags.hint(
                span.clone(),
                format!(
                    "templates: {} is not a template tally renders",
                    entry.path().display()
                ),
                format!("the templates are: {}", TEMPLATE_NAMES.join(", ")),
            );
        }
    }
}

fn compile_pairings(
    raws: Vec<RawPairing>,
    known: &BTreeMap<String, Role>,
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
                match known.get(s) {
                    None => diags.hint(
                        span.clone(),
                        format!("{ctx}: `{what}` names an unknown source {s:?}"),
                        format!(
                            "declared sources: {}",
                            known.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ),
                    Some(Role::Snapshot) => {}
                    Some(role) => diags.hint(
                        span.clone(),
                        format!(
                            "{ctx}: `{what}` names {s:?}, a {} source, not a snapshot",
                            role.as_str()
                        ),
                        "cross_reference, conversions and movements sources serve every pairing; pair snapshots only",
                    ),
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
