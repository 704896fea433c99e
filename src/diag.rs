//! Configuration diagnostics: every problem in a job or rules file, collected before
//! anything runs, each pointing at a file and line with a hint on how to fix it.
//!
//! Config loading never stops at the first mistake: an operator editing a job file at
//! night should see all of them in one `tally check`, not one per attempt.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line; 0 when the problem concerns the file as a whole.
    pub line: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)?;
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n    hint: {hint}")?;
        }
        Ok(())
    }
}

/// Collects diagnostics for one file; spans are byte ranges into its text.
pub struct Diagnostics<'a> {
    file: PathBuf,
    text: &'a str,
    pub items: Vec<Diagnostic>,
}

impl<'a> Diagnostics<'a> {
    pub fn new(file: &Path, text: &'a str) -> Self {
        Self {
            file: file.to_path_buf(),
            text,
            items: Vec::new(),
        }
    }

    /// Records a problem located at `span` (a byte range of the file's text).
    pub fn at(&mut self, span: Range<usize>, message: impl Into<String>) -> &mut Diagnostic {
        let line = line_of(self.text, span.start);
        self.items.push(Diagnostic {
            file: self.file.clone(),
            line,
            message: message.into(),
            hint: None,
        });
        self.items.last_mut().expect("just pushed")
    }

    /// Records a problem located at a span, with a hint.
    pub fn hint(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.at(span, message).hint = Some(hint.into());
    }

    /// Records a TOML syntax or shape error, which carries its own span.
    /// `fallback` locates errors that serde reports without a span of their own.
    pub fn toml(&mut self, err: &toml::de::Error, context: &str, fallback: Option<Range<usize>>) {
        let line = err
            .span()
            .or(fallback)
            .map(|s| line_of(self.text, s.start))
            .unwrap_or(0);
        let message = err.message().trim_end().to_string();
        let message = if context.is_empty() {
            message
        } else {
            format!("{context}: {message}")
        };
        let hint = toml_hint(&message);
        self.items.push(Diagnostic {
            file: self.file.clone(),
            line,
            message,
            hint,
        });
    }
}

fn toml_hint(message: &str) -> Option<String> {
    if message.contains("unknown field") {
        Some("check the spelling; the keys this table accepts are listed above".into())
    } else if message.contains("unknown variant") {
        Some("use one of the listed values".into())
    } else {
        None
    }
}

/// 1-based line number of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// All the diagnostics of a failed load; displayed one per line.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors(pub Vec<Diagnostic>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} configuration error{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for d in &self.0 {
            writeln!(f, "  {d}")?;
        }
        Ok(())
    }
}
