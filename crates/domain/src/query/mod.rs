//! The ticket search language, shared by the API, the UI and saved views.
//!
//! ```text
//! status:open,pending priority:P1,P2 group:"Service Desk" assignee:me created:>2026-01-01 printer jam
//! ```
//!
//! A query is a list of terms separated by whitespace:
//!
//! * `field:value` filters. Comma-separated values are alternatives (OR); a repeated field
//!   is another condition (AND). A leading `-` negates the filter: `-status:closed`.
//! * `sort:key` or `sort:-key` (descending), at most once.
//! * anything else is text for full-text search: bare words, or `"quoted phrases"`.
//!
//! Values and phrases may be quoted; inside quotes `\"` is a quote and `\\` a backslash.
//! Text that contains `word:` must be quoted, since it would otherwise read as a field.
//! [`parse`] turns text into a typed [`Query`]; `Display` prints the canonical text, which
//! parses back to an equal `Query`, so saved views store the canonical text.

mod ast;
mod canonical;
mod error;
mod parser;

pub use ast::{
    Condition, Field, Filter, IsCondition, PersonMatch, Query, SlaCondition, Sort, SortKey,
    TimeBound,
};
pub use error::QueryError;
pub use parser::parse;

/// The longest query accepted, in characters. Bounds parsing work and the SQL it drives.
pub const MAX_QUERY_CHARS: usize = 1000;

/// The most terms a query may have. Every filter value, text word or phrase, and the sort
/// count as one, because each becomes a condition the store must evaluate.
pub const MAX_QUERY_TERMS: usize = 50;
