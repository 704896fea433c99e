//! Reports for store managers: an HTML summary, one HTML page per location, and a
//! Markdown summary, rendered with minijinja from `templates/` (compiled into the binary
//! so that a deployed `tally` needs no template folder). HTML is autoescaped: SKUs and
//! descriptions come from exports and may hold anything.

mod model;

use crate::schema::line;
use anyhow::{Context, Result};
use minijinja::{AutoEscape, Environment, Value};
use polars::prelude::DataFrame;

pub use model::{ReportInput, build};

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

/// A rendered report: path inside the run directory and its text.
pub struct Page {
    pub path: String,
    pub text: String,
}

fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.add_filter("md", |s: String| s.replace('|', "\\|").replace('\n', " "));
    for (name, text) in TEMPLATES {
        env.add_template(name, text)
            .with_context(|| format!("template {name}"))?;
    }
    Ok(env)
}

/// Renders every report page, handing each to `emit` as soon as it is ready (pages of a
/// run with millions of lines would not fit in memory all at once).
pub fn render(
    input: &ReportInput,
    discrepancies: &DataFrame,
    mut emit: impl FnMut(Page) -> Result<()>,
) -> Result<()> {
    let env = environment()?;
    let t = std::time::Instant::now();
    let model = build(input, discrepancies)?;
    crate::progress::trace("  report model", t);
    let t = std::time::Instant::now();
    let m = Value::from(minijinja::value::Serde(&model));
    let summary = minijinja::context! { m => m.clone(), root => "" };
    emit(Page {
        path: "reports/summary.html".into(),
        text: env.get_template("summary.html")?.render(&summary)?,
    })?;
    emit(Page {
        path: "reports/summary.md".into(),
        text: env.get_template("summary.md")?.render(&summary)?,
    })?;
    crate::progress::trace("  summary pages", t);
    let t = std::time::Instant::now();
    // Location pages are independent: render them on all cores, a few at a time.
    use rayon::prelude::*;
    let location_tpl = env.get_template("location.html")?;
    for batch in model.locations.chunks(4 * rayon::current_num_threads()) {
        let rendered: Vec<Result<Page>> = batch
            .par_iter()
            .map(|loc| {
            let (shown, more) = page_lines(&loc.lines)?;
            let lines = model::line_views(&shown, input.precision)?;
            let ctx = minijinja::context! {
                m => m.clone(),
                loc => Value::from(minijinja::value::Serde(loc)),
                lines => Value::from(lines.into_iter().map(Value::from_object).collect::<Vec<_>>()),
                more => more,
                root => "../",
            };
            Ok(Page {
                path: format!("reports/{}", loc.page),
                text: location_tpl.render(&ctx)?,
            })
        })
        .collect();
        for page in rendered {
            emit(page?)?;
        }
    }
    crate::progress::trace("  location pages", t);
    Ok(())
}

/// The most lines a location page lists: a page a person can read (and a browser can
/// open) whatever the night; every line is in discrepancies.csv and .parquet.
pub const PAGE_LINES: usize = 500;

/// A location's lines for its page, and how many it leaves out: all of them when they
/// fit, else those that need a person first, then the largest values at cost.
fn page_lines(lines: &polars::prelude::DataFrame) -> Result<(polars::prelude::DataFrame, usize)> {
    use polars::prelude::*;
    if lines.height() <= PAGE_LINES {
        return Ok((lines.clone(), 0));
    }
    let shown = lines
        .clone()
        .lazy()
        .sort_by_exprs(
            [
                crate::classify::needs_person().fill_null(lit(false)),
                col(line::VALUE_DELTA).abs().fill_null(lit(0)),
                col(line::LINE),
            ],
            SortMultipleOptions::default()
                .with_order_descending_multi([true, true, false])
                .with_nulls_last(true),
        )
        .limit(PAGE_LINES as IdxSize)
        .sort([line::LINE], SortMultipleOptions::default())
        .collect()?;
    Ok((shown, lines.height() - PAGE_LINES))
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
    let env = environment()?;
    let pick = |lines: Vec<u64>| -> Result<Value> {
        let frame = discrepancies
            .clone()
            .lazy()
            .filter(
                col(line::LINE).is_in(lit(Series::new("l".into(), lines)).implode(false), false),
            )
            .collect()?;
        let views = model::line_views(&frame, &run.precision)?;
        Ok(Value::from(
            views
                .into_iter()
                .map(Value::from_object)
                .collect::<Vec<_>>(),
        ))
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
