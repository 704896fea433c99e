//! Values read from inputs, with no knowledge of the pipeline: exact decimals from text,
//! times with their offset, hashes. Every other module may use these; they use none.

use chrono::{DateTime, FixedOffset};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// A time with its offset: RFC 3339 (`2026-11-26T21:00:00-05:00`), or the form
/// databases print (`2026-11-26 21:00:00+00`, `...+05:30`). A time without an offset
/// is refused: cut-offs must be unambiguous across time zones.
pub fn parse_time(text: &str) -> Option<DateTime<FixedOffset>> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f%#z"))
        .ok()
}

/// A size such as `6GiB`, `512MiB`, `6G` or a plain number of bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("expected a size such as 6GiB or 512MiB, got {text:?}"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("unknown unit in {text:?} (use KiB, MiB, GiB)")),
    };
    match number.checked_mul(factor) {
        Some(0) | None => Err(format!("{text:?} is not a usable memory size")),
        Some(n) => Ok(n),
    }
}

/// A binary double as the decimal a person sees. Spreadsheets store numbers as binary doubles and show at most 15 significant digits;
/// read them back the same way so that 0.1 + 0.2 from a formula is 0.3, not noise.
pub fn float_text(f: f64) -> String {
    let shortest = f.to_string();
    let digits = shortest.bytes().filter(u8::is_ascii_digit).count();
    if digits <= 15 {
        return shortest;
    }
    match Decimal::from_scientific(&format!("{f:.14e}")) {
        Ok(d) => d.normalize().to_string(),
        Err(_) => shortest,
    }
}

/// The SHA-256 of some bytes, as the manifest writes it (lowercase hex).
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Why a cell is not a number the column can keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadNumber {
    /// Not a number at all (a text, a stray separator).
    NotANumber(String),
    /// More decimal places than the column may have.
    TooManyPlaces(u32),
    TooLarge,
}

impl BadNumber {
    /// The message for the cell `text`.
    pub fn message(&self, text: &str) -> String {
        match self {
            BadNumber::NotANumber(why) => why.clone(),
            BadNumber::TooManyPlaces(n) => format!("{} has {n} decimal places", shown(text)),
            BadNumber::TooLarge => format!(
                "{} is too large (more than {MAX_INTEGER_DIGITS} digits before the decimal point)",
                shown(text)
            ),
        }
    }
}

/// A cell's text for a message: quoted, at most 40 characters (a cell can hold megabytes).
pub fn shown(text: &str) -> String {
    let short: String = text.chars().take(40).collect();
    if short.len() < text.len() {
        format!("{short:?}…")
    } else {
        format!("{short:?}")
    }
}

/// The most digits before the decimal point a quantity or cost may have (ERPNext's
/// decimal(21,9) has 12): with `COST_SCALE` and `QTY_SCALE` a value stays within i128.
pub const MAX_INTEGER_DIGITS: u32 = 15;

/// Parses a number as written in an export into a mantissa at `scale`, with at most
/// `scale` decimal places.
pub fn parse_decimal(text: &str, decimal_comma: bool, scale: u32) -> Result<i128, String> {
    parse_number(text, decimal_comma, scale, scale).map_err(|e| e.message(text))
}

/// Parses a number with at most `places` decimal places into a mantissa at `scale`
/// (≥ `places`).
pub fn parse_number(
    text: &str,
    decimal_comma: bool,
    places: u32,
    scale: u32,
) -> Result<i128, BadNumber> {
    if let Some(m) = parse_plain(
        text.as_bytes(),
        if decimal_comma { b',' } else { b'.' },
        places,
        scale,
    ) {
        return Ok(m);
    }
    parse_general(text, decimal_comma, places, scale)
}

/// The common case in one pass: an optional sign, digits, and at most `places` decimals
/// after one separator. Anything else (exponents, too many decimals, junk) returns
/// `None` and goes to the general parser, which also words the errors.
pub fn parse_plain(text: &[u8], separator: u8, places: u32, scale: u32) -> Option<i128> {
    let (negative, digits) = match text.first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    // At most 18 digits: a u64 holds them, and is much cheaper to multiply than i128.
    let mut mantissa: u64 = 0;
    let mut decimals: Option<u32> = None;
    let mut any_digit = false;
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                any_digit = true;
                if let Some(d) = decimals.as_mut() {
                    *d += 1;
                    if *d > places {
                        return None;
                    }
                }
                mantissa = mantissa * 10 + u64::from(b - b'0');
                if mantissa >= 10u64.pow(18) {
                    return None;
                }
            }
            _ if b == separator && decimals.is_none() => decimals = Some(0),
            _ => return None,
        }
    }
    if !any_digit {
        return None;
    }
    let decimals = decimals.unwrap_or(0);
    // 18 digits read: the integer part may be too long only if it has more than 15.
    if MAX_INTEGER_DIGITS + decimals < 18 && mantissa >= 10u64.pow(MAX_INTEGER_DIGITS + decimals) {
        return None;
    }
    let mantissa = i128::from(mantissa) * 10i128.pow(scale - decimals);
    Some(if negative { -mantissa } else { mantissa })
}

fn parse_general(
    text: &str,
    decimal_comma: bool,
    places: u32,
    scale: u32,
) -> Result<i128, BadNumber> {
    let normalized = if decimal_comma {
        if text.contains('.') {
            return Err(BadNumber::NotANumber(format!(
                "{} has a '.' but the source uses a decimal comma",
                shown(text)
            )));
        }
        text.replace(',', ".")
    } else {
        if text.contains(',') {
            return Err(BadNumber::NotANumber(format!(
                "{} has a ','; if the source writes decimal commas, set decimal_comma = true",
                shown(text)
            )));
        }
        text.to_string()
    };
    let d = Decimal::from_str_exact(&normalized)
        .map_err(|_| BadNumber::NotANumber(format!("{} is not a number", shown(text))))?;
    to_mantissa(d, places, scale)
}

/// An exact decimal as a mantissa at `scale`, if it has at most `places` decimals
/// (trailing zeros do not count: ERPNext writes `12.000000000`).
pub fn to_mantissa(d: Decimal, places: u32, scale: u32) -> Result<i128, BadNumber> {
    let mut d = d.normalize();
    if d.scale() > places {
        return Err(BadNumber::TooManyPlaces(d.scale()));
    }
    let limit = Decimal::from_i128_with_scale(10i128.pow(MAX_INTEGER_DIGITS), 0);
    if d.abs() >= limit {
        return Err(BadNumber::TooLarge);
    }
    d.rescale(scale);
    Ok(d.mantissa())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("12.5", false, 3), Ok(12_500));
        assert_eq!(parse_decimal("-0.001", false, 3), Ok(-1));
        assert_eq!(parse_decimal("3,75", true, 4), Ok(37_500));
        assert_eq!(parse_decimal("7", false, 4), Ok(70_000));
        let e = parse_decimal("1.2345", false, 3).unwrap_err();
        assert!(e.contains("has 4 decimal places"), "{e}");
        assert!(
            parse_decimal("abc", false, 3)
                .unwrap_err()
                .contains("is not a number")
        );
        assert!(
            parse_decimal("1,5", false, 3)
                .unwrap_err()
                .contains("decimal_comma")
        );
        assert!(
            parse_decimal("1.5", true, 3)
                .unwrap_err()
                .contains("decimal comma")
        );
        assert_eq!(parse_decimal("+7.", false, 3), Ok(7_000));
        assert!(
            parse_decimal("-", false, 3)
                .unwrap_err()
                .contains("is not a number")
        );
        assert!(
            parse_decimal("1000000000000000", false, 3)
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(
            parse_decimal("999999999999999", false, 0),
            Ok(999_999_999_999_999)
        );
    }

    #[test]
    fn a_source_precision_is_kept() {
        // ERPNext's decimal(21,9): trailing zeros are not decimals the value has.
        assert_eq!(
            parse_number("361.864861000", false, 9, 12),
            Ok(361_864_861_000_000)
        );
        assert_eq!(
            parse_number("12.000000000", false, 0, 9),
            Ok(12_000_000_000)
        );
        assert_eq!(
            parse_number("361.8648610001", false, 9, 12),
            Err(BadNumber::TooManyPlaces(10))
        );
        assert_eq!(
            parse_number("123456789012.123456789", false, 9, 12),
            Ok(123_456_789_012_123_456_789_000)
        );
        assert_eq!(
            parse_number("1234567890123456", false, 9, 12),
            Err(BadNumber::TooLarge)
        );
    }

    #[test]
    fn the_plain_parser_agrees_with_rust_decimal() {
        for (places, scale) in [(3, 3), (3, 9), (9, 12), (12, 12), (0, 9)] {
            for text in [
                "0",
                "-0.5",
                "12",
                "12.3",
                "12.34",
                "12.345",
                "999999999999999.999",
                "999999999999999",
                "1000000000000000",
                "+3.1",
                "007.250",
                "361.864861000",
                "0.000000001",
                "123456.123456789012",
            ] {
                assert_eq!(
                    parse_plain(text.as_bytes(), b'.', places, scale),
                    parse_general(text, false, places, scale)
                        .ok()
                        // The plain parser leaves trailing zeros beyond `places` to the
                        // general one.
                        .filter(|_| text
                            .split('.')
                            .nth(1)
                            .is_none_or(|f| f.len() as u32 <= places)),
                    "{text} at {places}/{scale}"
                );
            }
        }
        for text in ["12.3456", "1e3", "", ".", "1.2.3", "1 000", "-"] {
            assert_eq!(parse_plain(text.as_bytes(), b'.', 3, 3), None, "{text}");
        }
    }
}
