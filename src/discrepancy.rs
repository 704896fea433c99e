//! The closed vocabularies of a reconciliation: what kind of difference a line is, how
//! serious it is, and what should happen to it.

use serde::{Deserialize, Serialize};

/// The kind of a discrepancy line. Row findings (duplicate, negative, invalid) come from
/// one side alone and never take part in the join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    MissingInBook,
    MissingInObserved,
    QtyMismatch,
    CostMismatch,
    DuplicateKey,
    NegativeQty,
    InvalidRow,
    /// A GTIN that is not a valid UPC/EAN/GTIN-14; the row still matches on its SKU.
    InvalidGtin,
    /// The row's unit has no conversion to the item's base unit: it cannot be compared.
    UnknownUnit,
    /// The quantities differ as stated, and the movements between the two as-of times
    /// explain the difference exactly: logged, not a discrepancy.
    Explained,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::MissingInBook,
        Kind::MissingInObserved,
        Kind::QtyMismatch,
        Kind::CostMismatch,
        Kind::DuplicateKey,
        Kind::NegativeQty,
        Kind::InvalidRow,
        Kind::InvalidGtin,
        Kind::UnknownUnit,
        Kind::Explained,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MissingInBook => "missing_in_book",
            Kind::MissingInObserved => "missing_in_observed",
            Kind::QtyMismatch => "qty_mismatch",
            Kind::CostMismatch => "cost_mismatch",
            Kind::DuplicateKey => "duplicate_key",
            Kind::NegativeQty => "negative_qty",
            Kind::InvalidRow => "invalid_row",
            Kind::InvalidGtin => "invalid_gtin",
            Kind::UnknownUnit => "unknown_unit",
            Kind::Explained => "explained",
        }
    }

    /// Findings on one source's rows: a person must look, nothing is corrected automatically.
    pub fn is_row_finding(self) -> bool {
        matches!(
            self,
            Kind::DuplicateKey
                | Kind::NegativeQty
                | Kind::InvalidRow
                | Kind::InvalidGtin
                | Kind::UnknownUnit
        )
    }

    /// Kinds whose size is a quantity difference (missing on one side counts as zero).
    pub fn is_qty_difference(self) -> bool {
        matches!(
            self,
            Kind::MissingInBook | Kind::MissingInObserved | Kind::QtyMismatch
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// Where a correction stands with approval (the lines' `approval` column; empty when
/// it needs none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// Worth more than `[approval] above`: not written back until someone approves it.
    Required,
    /// Approved by someone other than the one who ran the job (`tally approve`).
    Approved,
}

impl Approval {
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::Required => "required",
            Approval::Approved => "approved",
        }
    }
}

/// What should happen to a discrepancy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// Within tolerance: logged, nothing to do.
    Ignore,
    /// The observed side is right: correct the book.
    CorrectBook,
    /// The book is right: correct the observed system.
    CorrectObserved,
    /// The side with the later as-of time is right (a rule's policy; each line is
    /// decided as correct_book or correct_observed, or review when the times are unknown
    /// or equal).
    NewerWins,
    /// Follow a one-sided change since the baseline: the side that did not change is
    /// corrected (review when there is no baseline or no one-sided change).
    Propagate,
    /// Count again before deciding.
    Recount,
    /// A person decides.
    Review,
}

impl Resolution {
    pub const ALL: [Resolution; 7] = [
        Resolution::Ignore,
        Resolution::CorrectBook,
        Resolution::CorrectObserved,
        Resolution::NewerWins,
        Resolution::Propagate,
        Resolution::Recount,
        Resolution::Review,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::Ignore => "ignore",
            Resolution::CorrectBook => "correct_book",
            Resolution::CorrectObserved => "correct_observed",
            Resolution::NewerWins => "newer_wins",
            Resolution::Propagate => "propagate",
            Resolution::Recount => "recount",
            Resolution::Review => "review",
        }
    }

    /// Whether a line with this resolution needs a person (and so exit code 1).
    pub fn needs_person(self) -> bool {
        matches!(self, Resolution::Recount | Resolution::Review)
    }

    /// Which side a correction goes to.
    pub fn target(self) -> Option<Side> {
        match self {
            Resolution::CorrectBook => Some(Side::Book),
            Resolution::CorrectObserved => Some(Side::Observed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Book,
    Observed,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Book => "book",
            Side::Observed => "observed",
        }
    }
}
