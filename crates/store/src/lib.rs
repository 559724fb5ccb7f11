//! opsdesk's storage: one model on two backends, embedded SQLite and PostgreSQL.
//!
//! Queries go through sqlx's `Any` driver with `$N` placeholders, which both dialects accept,
//! so most SQL is written once; where the dialects differ (leases, full-text search) the
//! module concerned picks the statement by [`Backend`].

/// `format!` for SQL assembled from constants (column lists, placeholders) in this crate;
/// values are always bound, never formatted in.
macro_rules! sql {
    ($($arg:tt)*) => { sqlx::AssertSqlSafe(format!($($arg)*)) };
}

mod batch;
mod db;
mod error;
mod migrate;

pub mod accounts;
pub mod agent_work;
pub mod alerts;
pub mod attachments;
pub mod audit;
pub mod automation;
pub mod backup;
pub mod bulk;
pub mod catalog;
pub mod changes;
pub mod cmdb;
pub mod dashboard;
pub mod directories;
pub mod identities;
pub mod inventory;
pub mod jobs;
pub mod knowledge;
pub mod log_shipping;
pub mod mail;
pub mod monitors;
pub mod network;
pub mod nodes;
pub mod oidc;
pub mod oncall;
pub mod paging;
pub mod portal;
pub mod problems;
pub mod report_subscriptions;
pub mod reports;
pub mod scim;
pub mod second_factor;
pub mod security;
pub mod silences;
pub mod sla;
pub mod suppliers;
pub mod surveys;
pub mod tickets;
pub mod triage;
pub mod vulnerabilities;
pub mod webhooks;

pub use batch::{Batch, Binder};
pub use db::{Backend, Checkpoint, Db, DbOptions, WriteFuture, redact};
pub use error::StoreError;
pub use migrate::{migrate_to, migration_versions};
pub use sqlx::AnyConnection as Conn;
