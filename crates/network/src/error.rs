//! What can go wrong talking SNMP, each case saying what to check.

use std::time::Duration;

use async_snmp::v3::ReportStatus;
use async_snmp::{Error, ErrorStatus, WalkAbortReason};

/// Why an SNMP operation failed. Each message names what to check.
#[derive(Debug, thiserror::Error)]
pub enum SnmpError {
    /// The device address could not be used.
    #[error(
        "cannot use the address {address:?}: {detail}; give an IP address or host name, optionally with :port (161 by default)"
    )]
    InvalidAddress { address: String, detail: String },
    /// The credentials are incomplete or too weak to be used.
    #[error("invalid SNMP credentials: {detail}")]
    InvalidCredentials { detail: String },
    /// A local UDP socket could not be opened.
    #[error(
        "cannot open UDP {address}: {detail}; check that the address is local and the port is free (ports below 1024 need privileges)"
    )]
    Bind { address: String, detail: String },
    /// The network refused to carry the request.
    #[error(
        "cannot reach {target}: {detail}; check the address and the routes and firewalls between opsdesk and the device"
    )]
    Unreachable { target: String, detail: String },
    /// No answer came in time.
    #[error(
        "no answer from {target} within {waited:?}: check the address and port, that SNMP is enabled on the device and allows opsdesk's address, and the community (a device stays silent on a wrong community)"
    )]
    Timeout { target: String, waited: Duration },
    /// The device refused the v3 user's credentials.
    #[error("{target} refused the SNMPv3 credentials: {detail}")]
    Authentication {
        target: String,
        detail: &'static str,
    },
    /// The device answered with an error status.
    #[error(
        "{target} refused the request ({status}): check that the community or user may read (or, to change a value, write) these objects"
    )]
    Refused { target: String, status: String },
    /// The device does not have an object opsdesk needs.
    #[error(
        "{target} has no object {oid}: the device does not implement it, or its SNMP view hides it from this community or user"
    )]
    NoSuchObject { target: String, oid: String },
    /// The device's answer made no sense.
    #[error(
        "malformed reply from {target}: {detail}; the device's SNMP agent may be faulty, or something on the way altered the packet"
    )]
    MalformedReply { target: String, detail: String },
    /// Anything else the SNMP library reported.
    #[error("SNMP exchange with {target} failed: {detail}")]
    Protocol { target: String, detail: String },
}

impl SnmpError {
    /// Whether the device simply did not answer (down, filtered, or a wrong v2c community).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// Maps an error of the SNMP library for a request to `target` that waited at most
    /// `waited` for each answer.
    pub(crate) fn from_snmp(target: &str, waited: Duration, error: &Error) -> Self {
        let target = target.to_owned();
        match error.exchange_source() {
            Error::Timeout { .. } => Self::Timeout { target, waited },
            Error::ConstructionTimeout { .. } => Self::Unreachable {
                target,
                detail: "resolving the name took too long".to_owned(),
            },
            Error::Network { source, .. } => Self::Unreachable {
                target,
                detail: source.to_string(),
            },
            Error::Auth { .. } => Self::Authentication {
                target,
                detail: "its reply failed authentication: check the authentication protocol and password",
            },
            Error::Report { status, .. } => match status.as_ref() {
                ReportStatus::WrongDigest { .. } => Self::Authentication {
                    target,
                    detail: "wrong authentication password or protocol",
                },
                ReportStatus::DecryptionError { .. } => Self::Authentication {
                    target,
                    detail: "wrong privacy password or protocol",
                },
                ReportStatus::UnknownUserName { .. } => Self::Authentication {
                    target,
                    detail: crate::client::UNKNOWN_USER,
                },
                ReportStatus::UnsupportedSecurityLevel { .. } => Self::Authentication {
                    target,
                    detail: "the user is not set up for authentication with privacy (authPriv) on the device",
                },
                ReportStatus::NotInTimeWindow { .. } | ReportStatus::UnknownEngineId { .. } => {
                    Self::Protocol {
                        target,
                        detail: format!(
                            "the device kept rejecting opsdesk's view of its engine ({status}); check its engine ID is unique and its clock did not jump"
                        ),
                    }
                }
                other => Self::Protocol {
                    target,
                    detail: other.to_string(),
                },
            },
            Error::Snmp { status, oid, .. } => match status {
                ErrorStatus::NoSuchName => Self::NoSuchObject {
                    target,
                    oid: oid.as_ref().map(ToString::to_string).unwrap_or_default(),
                },
                status => Self::Refused {
                    target,
                    status: status.to_string(),
                },
            },
            Error::WalkAborted {
                reason: WalkAbortReason::ResultLimitExceeded { limit },
                ..
            } => Self::Protocol {
                target,
                detail: format!("the table has more than {limit} rows, more than opsdesk reads"),
            },
            Error::Decode(_)
            | Error::MalformedResponse { .. }
            | Error::ResponseShape { .. }
            | Error::WalkAborted { .. } => Self::MalformedReply {
                target,
                detail: error.to_string(),
            },
            _ => Self::Protocol {
                target,
                detail: error.to_string(),
            },
        }
    }
}
