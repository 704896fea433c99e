//! Reports for store managers: an HTML summary, one HTML page per location, and a
//! Markdown summary, rendered with minijinja from `templates/` (compiled into the binary
//! so that a deployed `tally` needs no template folder; a job's `templates` folder
//! replaces any of them by name). HTML is autoescaped: SKUs and descriptions come from
//! exports and may hold anything; charts are built escaped (chart.rs).

mod chart;
mod escape;
pub mod history;
mod model;
pub mod names;
mod sections;
mod view;
pub mod words;

use crate::schema::line;
use anyhow::{Context, Result};
use minijinja::{AutoEscape, Environment, Value};
use polars::prelude::DataFrame;
use std::sync::atomic::{AtomicU64, Ordering};

pub use model::{ReportInput, build};
pub use sections::SECTION_LINES;

const TEMPLATES: [(&str, &str); 6] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("macros.html", include_str!("../../templates/macros.html")),
    ("summary.html", include_str!("../../templates/summary.html")),
    (
        "location.html",
        include_str!("../../templates/location.html"),
    ),
    ("summary.md", include_str!("../../templates/summary.md")),
    (
        "write-back.html",
        include_str!("../../templates/write-back.html"),
    ),
];

#[test]
fn every_built_in_template_is_named() {
    let built_in: Vec<&str> = TEMPLATES.iter().map(|(n, _)| *n).collect();
    assert_eq!(built_in, names::TEMPLATE_NAMES);
}

/// A rendered report: path inside the run directory and its text.
pub struct Page {
    pub path: String,
    pub text: String,
}

/// The built-in templates, each replaced by the file of the same name in `folder`.
fn environment(folder: Option<&std::path::Path>) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("md", markdown_text);
    env.set_formatter(html_formatter);
    for (name, text) in TEMPLATES {
        let own = folder.map(|f| f.join(name)).filter(|p| p.is_file());
        match own {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("cannot read the template {}", path.display()))?;
                env.add_template_owned(name, text)
                    .with_context(|| format!("template {}", path.display()))?;
            }
            None => env
                .add_template(name, text)
                .with_context(|| format!("template {name}"))?,
        }
    }
    Ok(env)
}

/// minijinja's formatter, with HTML text escaped as the charts' (escape.rs): a link's
/// path keeps its slashes (`locations/S1.html`, not `locations&#x2f;S1.html`).
fn html_formatter(
    out: &mut minijinja::Output,
    state: &mut minijinja::State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(text) if *state.auto_escape() == AutoEscape::Html && !value.is_safe() => out
            .write_str(&escape::markup(text))
            .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())),
        _ => minijinja::escape_formatter(out, state, value),
    }
}

/// Text for a Markdown page (the e-mail summary): every character Markdown would read as
/// markup is escaped, so an export's text can neither make a link nor break a table.
fn markdown_text(s: String) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '(' | ')' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Renders every report page and hands each to `write` as soon as it is ready (pages of
/// a run with millions of lines would not fit in memory all at once); location pages are
/// rendered and written on all cores. Gives what `write` returned, in page order.
pub fn render<T: Send>(
    input: &ReportInput,
    discrepancies: &DataFrame,
    write: impl Fn(Page) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let env = environment(input.templates.as_deref())?;
    let t = std::time::Instant::now();
    let categories = model::CategorySums::of(discrepancies)?;
    let model = build(input, discrepancies, &categories)?;
    crate::progress::trace("  report model", t);
    let t = std::time::Instant::now();
    let m = Value::from(minijinja::value::Serde(&model));
    let summary = minijinja::context! { m => m.clone(), root => "", run_root => "../" };
    let mut written = Vec::new();
    for (path, name) in [
        ("reports/summary.html", "summary.html"),
        ("reports/summary.md", "summary.md"),
    ] {
        written.push(write(Page {
            path: path.into(),
            text: env
                .get_template(name)?
                .render(&summary)
                .with_context(|| format!("rendering {name}"))?,
        })?);
    }
    crate::progress::trace("  summary pages", t);
    // Location pages are independent: each is rendered and written (and synced to disk)
    // on any core, and dropped once written.
    use rayon::prelude::*;
    let location_tpl = env.get_template("location.html")?;
    let t = std::time::Instant::now();
    let listed = sections::prepare(discrepancies, input.precision, &input.rule_words)?;
    crate::progress::trace("  location sections", t);
    let t = std::time::Instant::now();
    let (prepared, templated) = (AtomicU64::new(0), AtomicU64::new(0));
    let since = |t: std::time::Instant| t.elapsed().as_nanos() as u64;
    // Their own threads: a page waits on the disk for its sync, which in the shared pool
    // would hold up the run's own writers (and the page would queue behind them).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(rayon::current_num_threads())
        .thread_name(|i| format!("tally-pages-{i}"))
        .build()?;
    let pages: Vec<T> = pool.install(|| {
        model
            .locations
            .par_iter()
            .map(|loc| {
                let t = std::time::Instant::now();
                let sections = listed.sections(&loc.code, input.precision);
                let sections: Vec<Value> = sections
                    .into_iter()
                    .map(|s| {
                        minijinja::context! {
                            id => s.id,
                            title => s.title,
                            explains => s.explains,
                            lines_total => s.lines_total,
                            value => s.value,
                            more => s.more,
                            lines => Value::from(s.lines),
                        }
                    })
                    .collect();
                let categories = categories.of_location(&loc.code, input.precision);
                let charts = minijinja::context! {
                    kinds => model::kinds_chart("chart-kinds", &loc.kinds),
                    categories => chart::bars(
                        "chart-categories",
                        "Differences at cost by category",
                        &categories
                            .iter()
                            .map(|g| chart::Bar {
                                label: g.title.clone(),
                                size: model::number(&g.value_delta),
                                text: g.value_delta.clone(),
                            })
                            .collect::<Vec<_>>(),
                    ),
                };
                prepared.fetch_add(since(t), Ordering::Relaxed);
                let t = std::time::Instant::now();
                let ctx = minijinja::context! {
                    m => m.clone(),
                    loc => Value::from(minijinja::value::Serde(loc)),
                    sections => sections,
                    charts => charts,
                    root => "../",
                    run_root => "../../",
                };
                let text = location_tpl
                    .render(&ctx)
                    .with_context(|| format!("rendering location.html for {}", loc.code))?;
                templated.fetch_add(since(t), Ordering::Relaxed);
                write(Page {
                    path: format!("reports/{}", loc.page),
                    text,
                })
            })
            .collect::<Result<_>>()
    })?;
    written.extend(pages);
    crate::progress::trace("  location pages", t);
    crate::progress::trace_sum("    their sections and charts", prepared.into_inner());
    crate::progress::trace_sum("    their templates", templated.into_inner());
    Ok(written)
}

/// The page for one write-back: per target what was applied, and the stale lines and
/// lines without a row, with their discrepancy details.
pub fn write_back_page(
    run: &crate::write::manifest::Manifest,
    results: &[crate::odbc::apply::TargetResult],
    discrepancies: &DataFrame,
    applied_at: &str,
) -> Result<String> {
    use polars::prelude::*;
    let env = environment(None)?;
    let pick = |lines: Vec<u64>| -> Result<Value> {
        let frame = discrepancies
            .clone()
            .lazy()
            .filter(
                col(line::LINE).is_in(lit(Series::new("l".into(), lines)).implode(false), false),
            )
            .collect()?;
        Ok(Value::from(view::line_views(&frame, &run.precision, None)?))
    };
    let stale: Vec<u64> = results.iter().flat_map(|r| r.stale.clone()).collect();
    let no_row: Vec<u64> = results.iter().flat_map(|r| r.no_row.clone()).collect();
    let job = run.job.path.file_name().map_or_else(
        || run.job.path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    let ctx = minijinja::context! {
        m => minijinja::context! {
            run_id => run.run_id.as_str(),
            started_at => run.started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            job => job,
            engine_version => env!("CARGO_PKG_VERSION"),
            outcome => run.outcome.as_str(),
        },
        root => "",
        applied_at => applied_at,
        targets => Value::from(minijinja::value::Serde(results)),
        stale => pick(stale)?,
        no_row => pick(no_row)?,
    };
    Ok(env.get_template("write-back.html")?.render(ctx)?)
}
