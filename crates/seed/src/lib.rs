//! Realistic IT-support data from a seed: the [`generator`] makes it (pure and
//! deterministic), [`demo`] writes it through the application's use cases (audited, as a
//! user would), and [`bulk`] writes very large volumes straight into the tables for
//! benchmarks.
//!
//! A crate of its own, rather than part of the test kit, because the `opsdesk` binary
//! itself needs it for `opsdesk serve --demo`.

pub mod bulk;
pub mod demo;
pub mod generator;
mod vocabulary;

pub use generator::{Generator, Scale};
