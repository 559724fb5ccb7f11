//! opsdesk's domain: the types and rules of IT service management, free of I/O.
//!
//! Nothing here touches a database, a clock or a random source: callers pass `now` and
//! randomness in, which keeps every rule deterministic and property-testable.

pub mod account;
pub mod audit;
pub mod monitor;
pub mod query;
pub mod schedule;
pub mod sla;
pub mod ticket;
