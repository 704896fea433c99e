//! CSV records found in raw bytes (a record ends at a line end outside quotes), for the
//! split pass and the reader's line numbers.

/// The CSV records of a text, each with the number of lines it spans: a record ends at a
/// line end outside quotes (or at the end of the text). A quoted field left open at the
/// end is not yielded; `consumed` tells where the complete records end.
pub struct Records<'a> {
    text: &'a [u8],
    start: usize,
}

impl<'a> Records<'a> {
    pub fn new(text: &'a [u8]) -> Records<'a> {
        Records { text, start: 0 }
    }

    pub fn consumed(&self) -> usize {
        self.start
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = (&'a [u8], u64);

    fn next(&mut self) -> Option<(&'a [u8], u64)> {
        let (mut scan, mut quotes, mut lines) = (self.start, 0usize, 0u64);
        while scan < self.text.len() {
            let end =
                memchr::memchr(b'\n', &self.text[scan..]).map_or(self.text.len(), |i| scan + i + 1);
            quotes += memchr::memchr_iter(b'"', &self.text[scan..end]).count();
            lines += 1;
            scan = end;
            if quotes % 2 == 0 {
                let record = &self.text[self.start..end];
                self.start = end;
                return Some((record, lines));
            }
        }
        None
    }
}

/// The line each record of a CSV body starts on, when a quoted field spans lines (then
/// records and lines differ); `None` when every record is one line.
pub fn record_lines(body: &[u8], first: u64) -> Option<Vec<u64>> {
    let spans = Records::new(body).any(|(_, lines)| lines > 1);
    if !spans {
        return None;
    }
    let mut line = first;
    Some(
        Records::new(body)
            .map(|(_, lines)| {
                let this = line;
                line += lines;
                this
            })
            .collect(),
    )
}

/// A blank line: nothing but delimiters and spaces (spreadsheets saving as CSV leave
/// them at the end). It is no record: not a row, not an invalid row.
pub fn is_blank(line: &[u8], delimiter: u8) -> bool {
    line.iter()
        .all(|&b| b == delimiter || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}
