//! GTIN family codes (EAN-8, UPC-A, EAN-13, GTIN-14): right-justified into 14 digits
//! with leading zeros, the mod-10 check digit verified (weights 3 and 1 from the right,
//! the check digit excluded), as GS1 specifies and Odoo's and ERPNext's barcode checks do.
//! An invalid code is a finding for its row, never matched on.

use std::fmt;

/// Why a code is not a GTIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GtinError {
    /// Something other than digits (after spaces and dashes are dropped).
    NotDigits,
    /// A length no GTIN has (8, 12, 13 and 14 digits are).
    Length(usize),
    /// The last digit is not the check digit of the others.
    CheckDigit { expected: u8, found: u8 },
}

impl fmt::Display for GtinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GtinError::NotDigits => write!(f, "a GTIN has digits only"),
            GtinError::Length(n) => write!(
                f,
                "{n} digits: a GTIN has 8 (EAN-8), 12 (UPC-A), 13 (EAN-13) or 14 (GTIN-14)"
            ),
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
    if !matches!(digits.len(), 8 | 12 | 13 | 14) {
        return Err(GtinError::Length(digits.len()));
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
    fn bad_codes_say_why() {
        assert_eq!(
            normalize("4006381333932"),
            Err(GtinError::CheckDigit {
                expected: 1,
                found: 2
            })
        );
        assert_eq!(normalize("12345"), Err(GtinError::Length(5)));
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
