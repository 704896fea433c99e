//! GTIN family codes (EAN-8, UPC-A, EAN-13, GTIN-14): right-justified into 14 digits
//! with leading zeros, the mod-10 check digit verified (weights 3 and 1 from the right,
//! the check digit excluded), as GS1 specifies and Odoo's and ERPNext's barcode checks do.
//! Any code of 1 to 14 digits is padded first: a spreadsheet turns UPC-A `012345678905`
//! into the number 12345678905, and zero-padding never changes a check digit, so the
//! check digit decides, not the length. An invalid code is a finding for its row, never
//! matched on.

use std::fmt;

/// Why a code is not a GTIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GtinError {
    /// Something other than digits (after spaces and dashes are dropped).
    NotDigits,
    /// More digits than a GTIN has (14).
    Length(usize),
    /// Zeros only: no item carries that code.
    Zero,
    /// The last digit is not the check digit of the others.
    CheckDigit { expected: u8, found: u8 },
}

impl fmt::Display for GtinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GtinError::NotDigits => write!(f, "a GTIN has digits only"),
            GtinError::Length(n) => write!(f, "{n} digits: a GTIN has at most 14"),
            GtinError::Zero => write!(f, "zeros only: no item carries that code"),
            GtinError::CheckDigit { expected, found } => {
                write!(f, "check digit {found}, expected {expected}")
            }
        }
    }
}

/// The 14-digit form of a GTIN, its check digit verified. Spaces and dashes, which
/// people type into barcodes, are ignored; nothing else is.
pub fn normalize(raw: &str) -> Result<String, GtinError> {
    let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GtinError::NotDigits);
    }
    if digits.len() > 14 {
        return Err(GtinError::Length(digits.len()));
    }
    if digits.bytes().all(|b| b == b'0') {
        return Err(GtinError::Zero);
    }
    let padded = format!("{digits:0>14}");
    let bytes = padded.as_bytes();
    let expected = check_digit(&bytes[..13]);
    let found = bytes[13] - b'0';
    if expected != found {
        return Err(GtinError::CheckDigit { expected, found });
    }
    Ok(padded)
}

/// The check digit for the digits before it: weights 3, 1, 3, ... from the right.
fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_length_normalises_to_fourteen_digits() {
        // Published example codes: EAN-13, UPC-A, EAN-8, GTIN-14.
        assert_eq!(normalize("4006381333931").unwrap(), "04006381333931");
        assert_eq!(normalize("036000291452").unwrap(), "00036000291452");
        assert_eq!(normalize("73513537").unwrap(), "00000073513537");
        assert_eq!(normalize("10036000291459").unwrap(), "10036000291459");
        assert_eq!(normalize(" 4006381-333931 ").unwrap(), "04006381333931");
    }

    #[test]
    fn a_upc_and_its_ean_form_are_one_item() {
        assert_eq!(normalize("036000291452"), normalize("0036000291452"));
    }

    #[test]
    fn leading_zeros_a_spreadsheet_dropped_do_not_matter() {
        // UPC-A 012345678905 as Excel keeps it: the number 12345678905 (11 digits).
        assert_eq!(normalize("12345678905").unwrap(), "00012345678905");
        assert_eq!(normalize("012345678905").unwrap(), "00012345678905");
        // EAN-8 96385074 with its zero dropped from an 8-digit 0-led code.
        assert_eq!(normalize("0073513537"), normalize("73513537"));
        // Short codes are padded and checked like any other: the check digit decides.
        assert_eq!(normalize("17").unwrap(), "00000000000017");
        assert!(matches!(normalize("18"), Err(GtinError::CheckDigit { .. })));
        assert_eq!(normalize("000000"), Err(GtinError::Zero));
    }

    #[test]
    fn bad_codes_say_why() {
        assert_eq!(
            normalize("4006381333932"),
            Err(GtinError::CheckDigit {
                expected: 1,
                found: 2
            })
        );
        assert_eq!(normalize("123456789012345"), Err(GtinError::Length(15)));
        assert_eq!(normalize("40063813339A1"), Err(GtinError::NotDigits));
        assert_eq!(normalize(""), Err(GtinError::NotDigits));
        assert!(
            normalize("4006381333932")
                .unwrap_err()
                .to_string()
                .contains("expected 1")
        );
    }
}
