//! `[guard]`: the limits on what one run may write back (guard.rs measures a run
//! against them).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::diag::Diagnostics;

/// `[guard]` in the rules file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limits {
    /// Corrections for one target side, as a share (%) of that side's rows…
    pub max_share_changed: Decimal,
    /// …checked once at least this many rows change (a side of 3 rows may change 2).
    pub share_from: u64,
    /// Quantities set to zero in one run.
    pub max_zeroed: u64,
    /// Σ|value moved| of the corrections at one location.
    pub max_value_per_location: Decimal,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_share_changed: Decimal::from(25),
            share_from: 10,
            max_zeroed: 25,
            max_value_per_location: Decimal::from(50_000),
        }
    }
}

impl Limits {
    pub fn compile(raw: super::raw::RawGuard, diags: &mut Diagnostics) -> Limits {
        let super::raw::RawGuard {
            max_share_changed,
            max_zeroed,
            max_value_per_location,
        } = raw;
        let mut limits = Limits::default();
        if let Some(s) = max_share_changed {
            match s.get_ref().decimal() {
                Some(d) if d >= Decimal::ZERO && d <= Decimal::from(100) => {
                    limits.max_share_changed = d
                }
                _ => {
                    diags.hint(
                        s.span(),
                        "[guard] max_share_changed must be a percentage from 0 to 100",
                        "e.g. max_share_changed = \"25\"",
                    );
                }
            }
        }
        if let Some(z) = max_zeroed {
            match u64::try_from(*z.get_ref()) {
                Ok(n) => limits.max_zeroed = n,
                Err(_) => {
                    diags.hint(
                        z.span(),
                        "[guard] max_zeroed cannot be negative",
                        "e.g. max_zeroed = 25",
                    );
                }
            }
        }
        if let Some(v) = max_value_per_location {
            match v.get_ref().decimal() {
                Some(d) if d >= Decimal::ZERO => limits.max_value_per_location = d,
                _ => {
                    diags.hint(
                        v.span(),
                        "[guard] max_value_per_location must be an amount ≥ 0",
                        "e.g. max_value_per_location = \"50000\"",
                    );
                }
            }
        }
        limits
    }
}
