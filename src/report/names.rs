//! The report templates by name: what a job's `templates` folder may replace (the job
//! file is checked against this list; report/mod.rs compiles the built-in ones).

pub const TEMPLATE_NAMES: [&str; 6] = [
    "base.html",
    "macros.html",
    "summary.html",
    "location.html",
    "summary.md",
    "write-back.html",
];
