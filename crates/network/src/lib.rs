//! opsdesk's SNMP client: discovers network devices (system group, interfaces), polls their
//! interface counters for the rate and threshold maths of
//! [`opsdesk_domain::network`], and receives their traps.
//!
//! Speaks SNMPv2c and SNMPv3 with authentication and privacy (authPriv) through the
//! `async-snmp` crate. For one-off calls use [`discover`] and [`poll`]; a poller that talks
//! to many devices shares one [`SnmpClient`], which keeps one socket, the v3 engines it
//! discovered and the keys it derived from v3 passwords.

pub mod diagnose;
pub mod probe;

mod client;
mod credentials;
mod error;
mod mib;
mod trap;

pub use client::{Device, Interface, MOST_INTERFACES, SnmpClient, SystemInfo, discover, poll};
pub use credentials::{AuthProtocol, Credentials, PrivacyProtocol, SHORTEST_V3_PASSWORD};
pub use error::SnmpError;
pub use probe::Prober;
pub use trap::{Trap, TrapListener};

/// An error with its causes, outermost first: `error: cause: root cause`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
