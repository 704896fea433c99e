//! Text from exports for HTML pages and their SVG charts: one escaping for both, so a
//! description is as safe in a chart's label as in a table cell.

use std::borrow::Cow;

/// The five characters that could end a quoted attribute or start markup as entities,
/// and control characters (which XML does not allow) as spaces; `/` is left alone, so a
/// link's path keeps its slashes.
pub fn markup(s: &str) -> Cow<'_, str> {
    let special = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'') || (c < ' ' && c != '\t');
    if !s.contains(special) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c < ' ' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out.into()
}

#[test]
fn markup_escapes_what_could_end_an_attribute_or_start_markup() {
    assert_eq!(
        markup("a/b <script>\"x\" & 'y'\n"),
        "a/b &lt;script&gt;&quot;x&quot; &amp; &#39;y&#39; "
    );
    assert!(matches!(markup("plain/path\tok"), Cow::Borrowed(_)));
}
