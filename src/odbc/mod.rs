//! ERP databases over ODBC (odbc-api, with a vendored unixODBC driver manager so that
//! `cargo build` needs no system library): reading a source, and the connection and
//! SQL-name rules shared with write-back.

pub mod apply;
pub mod connect;
pub mod ledger;
pub mod lock;
pub mod proof;
pub mod read;
pub mod snapshot;
pub mod sql;
pub mod stage;
pub mod target;
pub mod transaction;
pub mod update;
