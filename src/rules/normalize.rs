//! SKU normalisation: the steps that turn a raw SKU into the `item_key` used for matching.
//!
//! All steps run in one pass per value, reusing two buffers, instead of one polars string
//! kernel per step: each kernel would materialise a whole new column (performance.md).

use polars::prelude::*;
use regex::Regex;

#[derive(Debug, Clone)]
pub enum SkuStep {
    Trim,
    Uppercase,
    Lowercase,
    StripPrefix(String),
    StripSuffix(String),
    /// Removes leading zeros, keeping one digit ("000" → "0").
    StripLeadingZeros,
    /// Restores leading zeros that a spreadsheet dropped: all-digit keys shorter than
    /// the width are left-padded. Codes with letters are left alone.
    PadLeadingZeros(usize),
    RegexReplace(Regex, String),
}

impl SkuStep {
    /// For steps whose result is a slice of the input (or the input itself), that slice
    /// as a byte range of `input`; `None` when the step has to write a new value.
    fn narrow(&self, input: &str) -> Option<std::ops::Range<usize>> {
        let whole = 0..input.len();
        let slice = |part: &str| {
            let start = part.as_ptr() as usize - input.as_ptr() as usize;
            start..start + part.len()
        };
        match self {
            SkuStep::Trim => Some(slice(input.trim())),
            SkuStep::StripPrefix(p) => Some(input.strip_prefix(p.as_str()).map_or(whole, slice)),
            SkuStep::StripSuffix(s) => Some(input.strip_suffix(s.as_str()).map_or(whole, slice)),
            SkuStep::StripLeadingZeros => {
                let stripped = input.trim_start_matches('0');
                Some(if stripped.is_empty() && !input.is_empty() {
                    input.len() - 1..input.len()
                } else {
                    slice(stripped)
                })
            }
            SkuStep::Uppercase
                if !input
                    .bytes()
                    .any(|b| b.is_ascii_lowercase() || !b.is_ascii()) =>
            {
                Some(whole)
            }
            SkuStep::Lowercase
                if !input
                    .bytes()
                    .any(|b| b.is_ascii_uppercase() || !b.is_ascii()) =>
            {
                Some(whole)
            }
            SkuStep::PadLeadingZeros(width)
                if input.is_empty()
                    || input.len() >= *width
                    || !input.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Some(whole)
            }
            _ => None,
        }
    }

    /// Applies the step to `input`, writing the result to `out` (cleared first).
    fn apply(&self, input: &str, out: &mut String) {
        out.clear();
        match self {
            SkuStep::Trim => out.push_str(input.trim()),
            // SKUs are nearly always ASCII: change case in place, byte by byte.
            SkuStep::Uppercase if input.is_ascii() => {
                out.push_str(input);
                out.make_ascii_uppercase();
            }
            SkuStep::Lowercase if input.is_ascii() => {
                out.push_str(input);
                out.make_ascii_lowercase();
            }
            SkuStep::Uppercase => out.extend(input.chars().flat_map(char::to_uppercase)),
            SkuStep::Lowercase => out.extend(input.chars().flat_map(char::to_lowercase)),
            SkuStep::StripPrefix(p) => {
                out.push_str(input.strip_prefix(p.as_str()).unwrap_or(input))
            }
            SkuStep::StripSuffix(s) => {
                out.push_str(input.strip_suffix(s.as_str()).unwrap_or(input))
            }
            SkuStep::StripLeadingZeros => {
                let stripped = input.trim_start_matches('0');
                if stripped.is_empty() && !input.is_empty() {
                    out.push('0');
                } else {
                    out.push_str(stripped);
                }
            }
            SkuStep::PadLeadingZeros(width) => {
                if !input.is_empty()
                    && input.len() < *width
                    && input.bytes().all(|b| b.is_ascii_digit())
                {
                    out.extend(std::iter::repeat_n('0', width - input.len()));
                }
                out.push_str(input);
            }
            SkuStep::RegexReplace(re, with) => out.push_str(&re.replace_all(input, with.as_str())),
        }
    }
}

impl SkuStep {
    /// The step as the rules file writes it, for `tally explain`.
    pub fn describe(&self) -> String {
        match self {
            SkuStep::Trim => "trim".into(),
            SkuStep::Uppercase => "uppercase".into(),
            SkuStep::Lowercase => "lowercase".into(),
            SkuStep::StripPrefix(p) => format!("strip_prefix {p:?}"),
            SkuStep::StripSuffix(s) => format!("strip_suffix {s:?}"),
            SkuStep::StripLeadingZeros => "strip_leading_zeros".into(),
            SkuStep::PadLeadingZeros(w) => format!("pad_leading_zeros to {w}"),
            SkuStep::RegexReplace(re, with) => {
                format!("regex_replace {:?} → {with:?}", re.as_str())
            }
        }
    }
}

/// Each step's result for one SKU, in order: the story `tally explain` tells. Agrees
/// with `normalize_into` (tested).
pub fn trace(raw: &str, steps: &[SkuStep]) -> Vec<(String, String)> {
    let mut value = raw.to_string();
    let mut out = String::new();
    steps
        .iter()
        .map(|step| {
            step.apply(&value, &mut out);
            std::mem::swap(&mut value, &mut out);
            (step.describe(), value.clone())
        })
        .collect()
}

/// Normalises one SKU; `scratch` is reused between calls.
pub fn normalize_into(raw: &str, steps: &[SkuStep], out: &mut String, scratch: &mut String) {
    // The current value is `raw[range]` until a step has to write, then `out[range]`:
    // steps that only cut (trim, strip) or leave the value alone move the range and copy
    // nothing, which is most steps on most SKUs.
    let mut written = false;
    let mut range = 0..raw.len();
    for step in steps {
        let current = if written {
            &out[range.clone()]
        } else {
            &raw[range.clone()]
        };
        match step.narrow(current) {
            Some(cut) => range = range.start + cut.start..range.start + cut.end,
            None => {
                step.apply(current, scratch);
                std::mem::swap(out, scratch);
                written = true;
                range = 0..out.len();
            }
        }
    }
    if written {
        if range != (0..out.len()) {
            let kept = out[range].to_string();
            out.clear();
            out.push_str(&kept);
        }
    } else {
        out.clear();
        out.push_str(&raw[range]);
    }
}

/// The `item_key` column for a column of raw SKUs.
pub fn item_keys(skus: &StringChunked, steps: &[SkuStep]) -> StringChunked {
    let mut scratch = String::new();
    skus.apply_into_string_amortized(|raw, out| normalize_into(raw, steps, out, &mut scratch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: &str, steps: &[SkuStep]) -> String {
        let (mut out, mut scratch) = (String::new(), String::new());
        normalize_into(raw, steps, &mut out, &mut scratch);
        out
    }

    #[test]
    fn dirty_pos_sku_becomes_erp_item_code() {
        let steps = [
            SkuStep::Trim,
            SkuStep::Uppercase,
            SkuStep::StripPrefix("NW-".into()),
            SkuStep::PadLeadingZeros(8),
        ];
        assert_eq!(run("  nw-00012345 ", &steps), "00012345");
        // A spreadsheet turned 00012345 into the number 12345.
        assert_eq!(run("12345", &steps), "00012345");
        // Codes with letters keep their shape.
        assert_eq!(run("TS-RED-M", &steps), "TS-RED-M");
    }

    #[test]
    fn case_changes_beyond_ascii() {
        assert_eq!(run("café-1", &[SkuStep::Uppercase]), "CAFÉ-1");
        assert_eq!(run("ÉTÉ-2", &[SkuStep::Lowercase]), "été-2");
        assert_eq!(run("ab-1", &[SkuStep::Uppercase]), "AB-1");
    }

    /// Cutting steps that skip the copy give exactly what writing steps give.
    #[test]
    fn narrowing_agrees_with_applying() {
        let steps = [
            SkuStep::Trim,
            SkuStep::Uppercase,
            SkuStep::StripPrefix("NW-".into()),
            SkuStep::StripSuffix("-X".into()),
            SkuStep::StripLeadingZeros,
            SkuStep::PadLeadingZeros(6),
            SkuStep::Lowercase,
        ];
        for raw in [
            "  nw-000123-X ",
            "NW-0",
            "000",
            "",
            " ",
            "nw-ab-x",
            "Ünï-0012",
            "123",
            "NW-NW-1",
        ] {
            for n in 0..=steps.len() {
                let mut slow = raw.to_string();
                let mut tmp = String::new();
                for step in &steps[..n] {
                    step.apply(&slow, &mut tmp);
                    std::mem::swap(&mut slow, &mut tmp);
                }
                assert_eq!(run(raw, &steps[..n]), slow, "{raw:?} after {n} steps");
            }
            let story = trace(raw, &steps);
            assert_eq!(story.len(), steps.len());
            assert_eq!(story.last().unwrap().1, run(raw, &steps), "{raw:?}");
        }
    }

    #[test]
    fn strip_leading_zeros_keeps_one_digit() {
        assert_eq!(run("000120", &[SkuStep::StripLeadingZeros]), "120");
        assert_eq!(run("000", &[SkuStep::StripLeadingZeros]), "0");
        assert_eq!(run("", &[SkuStep::StripLeadingZeros]), "");
    }

    #[test]
    fn regex_replace() {
        let steps = [
            SkuStep::RegexReplace(Regex::new("[^A-Z0-9]").unwrap(), String::new()),
            SkuStep::Lowercase,
        ];
        assert_eq!(run("AB-12 / C", &steps), "ab12c");
        assert_eq!(run("AB-1", &steps), "ab1");
    }

    #[test]
    fn column_keeps_nulls() {
        let skus = StringChunked::from_iter_options(
            "sku".into(),
            [Some(" a1 "), None, Some("b2")].into_iter(),
        );
        let keys = item_keys(&skus, &[SkuStep::Trim, SkuStep::Uppercase]);
        let got: Vec<Option<&str>> = keys.iter().collect();
        assert_eq!(got, vec![Some("A1"), None, Some("B2")]);
    }
}
