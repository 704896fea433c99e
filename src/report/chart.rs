//! Charts as inline SVG, written here: no JavaScript, no fonts or files fetched, and the
//! same bytes for the same figures (coordinates are printed at one decimal place), so a
//! page's hash stays stable. Every label is escaped like any other text on the page.
//!
//! Bar lengths and point heights are geometry, not money: they are computed from the
//! figures as f64; the figures printed beside them are the exact texts.

use std::fmt::Write;

use super::escape::markup as escape;

/// One bar: its label, its size (geometry only) and the text shown at its end.
pub struct Bar {
    pub label: String,
    pub size: f64,
    pub text: String,
}

const WIDTH: f64 = 640.0;
const LABEL: f64 = 230.0;
const ROW: f64 = 22.0;

/// A label cut to what fits beside its bar.
fn fit(label: &str, chars: usize) -> String {
    if label.chars().count() <= chars {
        label.to_string()
    } else {
        let cut: String = label.chars().take(chars - 1).collect();
        format!("{cut}…")
    }
}

/// Horizontal bars, largest as long as the chart allows; `title` names the chart for
/// screen readers (and is its tooltip).
pub fn bars(id: &str, title: &str, bars: &[Bar]) -> String {
    let height = ROW * bars.len().max(1) as f64 + 8.0;
    let top = bars.iter().map(|b| b.size.abs()).fold(0.0, f64::max);
    let room = WIDTH - LABEL - 120.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="{id}" role="img" aria-labelledby="{id}-title" xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0}" height="{height:.1}" viewBox="0 0 {WIDTH:.0} {height:.1}"><title id="{id}-title">{}</title>"#,
        escape(title)
    );
    if bars.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="0" y="16" fill="#5b6475" font-size="12">nothing to show</text>"##
        );
    }
    for (i, b) in bars.iter().enumerate() {
        let y = i as f64 * ROW + 4.0;
        let len = if top > 0.0 {
            (b.size.abs() / top * room).max(1.0)
        } else {
            1.0
        };
        let fill = if b.size < 0.0 { "#d0574b" } else { "#4a78c2" };
        let _ = write!(
            svg,
            r##"<g><title>{label}: {text}</title><text x="{lx:.1}" y="{ty:.1}" text-anchor="end" font-size="12" fill="#1d2330">{short}</text><rect x="{LABEL:.1}" y="{y:.1}" width="{len:.1}" height="{h:.1}" fill="{fill}"/><text x="{vx:.1}" y="{ty:.1}" font-size="12" fill="#1d2330">{text}</text></g>"##,
            label = escape(&b.label),
            short = escape(&fit(&b.label, 34)),
            text = escape(&b.text),
            lx = LABEL - 6.0,
            ty = y + 13.0,
            h = ROW - 6.0,
            vx = LABEL + len + 6.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One point of a line chart: its label (a run's date) and value.
pub struct Point {
    pub label: String,
    pub value: f64,
    pub text: String,
}

/// A line over the points in order (oldest first), each point marked and labelled.
pub fn line(id: &str, title: &str, points: &[Point]) -> String {
    let (w, h, left, bottom) = (WIDTH, 180.0, 40.0, 40.0);
    let top = 16.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart" id="{id}" role="img" aria-labelledby="{id}-title" xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}"><title id="{id}-title">{}</title>"#,
        escape(title)
    );
    let max = points.iter().map(|p| p.value).fold(f64::MIN, f64::max);
    let min = points.iter().map(|p| p.value).fold(f64::MAX, f64::min);
    let (min, max) = if points.is_empty() {
        (0.0, 1.0)
    } else if max > min {
        (min.min(0.0), max)
    } else {
        (min.min(0.0), max + 1.0)
    };
    let span = (max - min).max(f64::EPSILON);
    let step = if points.len() > 1 {
        (w - left - 20.0) / (points.len() - 1) as f64
    } else {
        0.0
    };
    let xy = |i: usize, v: f64| {
        (
            left + i as f64 * step,
            top + (h - top - bottom) * (1.0 - (v - min) / span),
        )
    };
    let _ = write!(
        svg,
        r##"<line x1="{left:.1}" y1="{y0:.1}" x2="{x1:.1}" y2="{y0:.1}" stroke="#c5cad4"/>"##,
        y0 = h - bottom,
        x1 = w - 10.0,
    );
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (x, y) = xy(i, p.value);
            format!("{x:.1},{y:.1}")
        })
        .collect();
    if points.len() > 1 {
        let _ = write!(
            svg,
            r##"<polyline fill="none" stroke="#4a78c2" stroke-width="2" points="{}"/>"##,
            path.join(" ")
        );
    }
    for (i, p) in points.iter().enumerate() {
        let (x, y) = xy(i, p.value);
        let _ = write!(
            svg,
            r##"<g><title>{label}: {text}</title><circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="#4a78c2"/><text x="{x:.1}" y="{ty:.1}" text-anchor="middle" font-size="11" fill="#1d2330">{text}</text><text x="{x:.1}" y="{ly:.1}" text-anchor="middle" font-size="11" fill="#5b6475">{short}</text></g>"##,
            label = escape(&p.label),
            text = escape(&p.text),
            short = escape(&fit(&p.label, 12)),
            ty = (y - 7.0).max(10.0),
            ly = h - bottom + 16.0,
        );
    }
    if points.is_empty() {
        let _ = write!(
            svg,
            r##"<text x="{left:.1}" y="40" fill="#5b6475" font-size="12">no earlier runs</text>"##
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_output_is_stable() {
        let b = vec![
            Bar {
                label: "<script>alert('x')</script> & \"co\"".into(),
                size: 3.0,
                text: "3".into(),
            },
            Bar {
                label: "B".into(),
                size: -1.5,
                text: "-1.5".into(),
            },
        ];
        let svg = bars("c1", "Lines <by> kind", &b);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(
            svg.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;co&quot;")
        );
        assert!(svg.contains("Lines &lt;by&gt; kind"));
        assert_eq!(
            svg,
            bars("c1", "Lines <by> kind", &b),
            "same figures, same bytes"
        );
        let p = vec![Point {
            label: "2026-12-01".into(),
            value: 2.0,
            text: "2".into(),
        }];
        assert_eq!(line("t", "trend", &p), line("t", "trend", &p));
        assert!(line("t", "trend", &[]).contains("no earlier runs"));
    }
}
