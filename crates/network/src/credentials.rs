//! How opsdesk proves itself to a device: a v2c community, or a v3 user with authentication
//! and privacy. Stored as JSON and taken from API bodies, checked when read.

use std::fmt;

use opsdesk_domain::string_enum;
use serde::{Deserialize, Serialize};

use crate::SnmpError;

/// Shortest v3 password: RFC 3414 requires eight octets for key derivation.
pub const SHORTEST_V3_PASSWORD: usize = 8;

string_enum! {
    /// The SNMPv3 authentication (message digest) protocol of a user.
    pub enum AuthProtocol as "SNMPv3 authentication protocol" {
        /// HMAC-MD5-96: only for old devices that know nothing better.
        Md5 => "md5",
        /// HMAC-SHA-96, what net-snmp and most devices call `SHA`.
        Sha1 => "sha1",
        Sha224 => "sha224",
        Sha256 => "sha256",
        Sha384 => "sha384",
        Sha512 => "sha512",
    }
}

string_enum! {
    /// The SNMPv3 privacy (encryption) protocol of a user.
    pub enum PrivacyProtocol as "SNMPv3 privacy protocol" {
        /// CBC-DES: only for old devices that know nothing better.
        Des => "des",
        /// CFB-AES-128 (RFC 3826), what net-snmp and most devices call `AES`.
        Aes128 => "aes128",
        /// AES-192 with the key extension of net-snmp and most vendors (Blumenthal draft).
        Aes192 => "aes192",
        /// AES-256 with the key extension of net-snmp and most vendors (Blumenthal draft).
        Aes256 => "aes256",
        /// AES-192 with Cisco's key extension (Reeder draft), net-snmp's `AES-192-C`.
        Aes192Cisco => "aes192c",
        /// AES-256 with Cisco's key extension (Reeder draft), net-snmp's `AES-256-C`.
        Aes256Cisco => "aes256c",
    }
}

impl AuthProtocol {
    pub(crate) fn to_snmp(self) -> async_snmp::AuthProtocol {
        match self {
            Self::Md5 => async_snmp::AuthProtocol::Md5,
            Self::Sha1 => async_snmp::AuthProtocol::Sha1,
            Self::Sha224 => async_snmp::AuthProtocol::Sha224,
            Self::Sha256 => async_snmp::AuthProtocol::Sha256,
            Self::Sha384 => async_snmp::AuthProtocol::Sha384,
            Self::Sha512 => async_snmp::AuthProtocol::Sha512,
        }
    }
}

impl PrivacyProtocol {
    pub(crate) fn to_snmp(self) -> async_snmp::PrivProtocol {
        match self {
            Self::Des => async_snmp::PrivProtocol::Des,
            Self::Aes128 => async_snmp::PrivProtocol::Aes128,
            Self::Aes192 => async_snmp::PrivProtocol::Aes192Blumenthal,
            Self::Aes256 => async_snmp::PrivProtocol::Aes256Blumenthal,
            Self::Aes192Cisco => async_snmp::PrivProtocol::Aes192Reeder,
            Self::Aes256Cisco => async_snmp::PrivProtocol::Aes256Reeder,
        }
    }
}

/// SNMP credentials for one device. As JSON, tagged by `version`:
/// `{"version":"2c","community":"public"}` or `{"version":"3","user":"monitor",
/// "auth_protocol":"sha256","auth_password":"…","privacy_protocol":"aes128",
/// "privacy_password":"…"}`.
///
/// Version 3 is authPriv only: authNoPriv and noAuthNoPriv send the device's data in clear
/// (and noAuth lets anyone forge replies), so they are refused by design. SNMPv1 is not
/// offered: every device that speaks it also speaks v2c, which has 64-bit counters.
/// `Debug` hides the community and passwords.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "version", try_from = "UncheckedCredentials")]
pub enum Credentials {
    /// SNMPv2c with a community string.
    #[serde(rename = "2c")]
    V2c { community: String },
    /// SNMPv3 USM user with authentication and privacy (authPriv).
    #[serde(rename = "3")]
    V3 {
        user: String,
        auth_protocol: AuthProtocol,
        auth_password: String,
        privacy_protocol: PrivacyProtocol,
        privacy_password: String,
    },
}

/// The credentials as they arrive, before [`Credentials::validate`].
#[derive(Deserialize)]
#[serde(tag = "version", deny_unknown_fields)]
enum UncheckedCredentials {
    #[serde(rename = "2c")]
    V2c { community: String },
    #[serde(rename = "3")]
    V3 {
        user: String,
        auth_protocol: AuthProtocol,
        auth_password: String,
        privacy_protocol: PrivacyProtocol,
        privacy_password: String,
    },
}

impl TryFrom<UncheckedCredentials> for Credentials {
    type Error = SnmpError;

    fn try_from(unchecked: UncheckedCredentials) -> Result<Self, Self::Error> {
        let credentials = match unchecked {
            UncheckedCredentials::V2c { community } => Self::V2c { community },
            UncheckedCredentials::V3 {
                user,
                auth_protocol,
                auth_password,
                privacy_protocol,
                privacy_password,
            } => Self::V3 {
                user,
                auth_protocol,
                auth_password,
                privacy_protocol,
                privacy_password,
            },
        };
        credentials.validate()?;
        Ok(credentials)
    }
}

impl Credentials {
    /// Checks what a device would refuse anyway, so the mistake shows where the
    /// credentials are entered: an empty community or user, a v3 password shorter than
    /// eight characters.
    pub fn validate(&self) -> Result<(), SnmpError> {
        let invalid = |detail: String| Err(SnmpError::InvalidCredentials { detail });
        match self {
            Self::V2c { community } if community.is_empty() => {
                invalid("the community must not be empty".to_owned())
            }
            Self::V2c { .. } => Ok(()),
            Self::V3 {
                user,
                auth_password,
                privacy_password,
                ..
            } => {
                if user.is_empty() {
                    return invalid("the v3 user must not be empty".to_owned());
                }
                for (field, password) in [
                    ("auth_password", auth_password),
                    ("privacy_password", privacy_password),
                ] {
                    if password.len() < SHORTEST_V3_PASSWORD {
                        return invalid(format!(
                            "{field} must be at least {SHORTEST_V3_PASSWORD} characters (RFC 3414)"
                        ));
                    }
                }
                Ok(())
            }
        }
    }

    /// The protocol version, as in the JSON tag: `"2c"` or `"3"`.
    pub fn version(&self) -> &'static str {
        match self {
            Self::V2c { .. } => "2c",
            Self::V3 { .. } => "3",
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V2c { .. } => f
                .debug_struct("V2c")
                .field("community", &"<hidden>")
                .finish(),
            Self::V3 {
                user,
                auth_protocol,
                privacy_protocol,
                ..
            } => f
                .debug_struct("V3")
                .field("user", user)
                .field("auth_protocol", auth_protocol)
                .field("auth_password", &"<hidden>")
                .field("privacy_protocol", privacy_protocol)
                .field("privacy_password", &"<hidden>")
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn credentials_read_and_write_the_api_json() {
        let v2c: Credentials =
            serde_json::from_str(r#"{"version":"2c","community":"public"}"#).unwrap();
        assert_eq!(
            v2c,
            Credentials::V2c {
                community: "public".to_owned()
            }
        );
        let v3_json = serde_json::json!({
            "version": "3",
            "user": "monitor",
            "auth_protocol": "sha256",
            "auth_password": "auth-secret",
            "privacy_protocol": "aes128",
            "privacy_password": "priv-secret",
        });
        let v3: Credentials = serde_json::from_value(v3_json.clone()).unwrap();
        assert_eq!(
            v3,
            Credentials::V3 {
                user: "monitor".to_owned(),
                auth_protocol: AuthProtocol::Sha256,
                auth_password: "auth-secret".to_owned(),
                privacy_protocol: PrivacyProtocol::Aes128,
                privacy_password: "priv-secret".to_owned(),
            }
        );
        assert_eq!(serde_json::to_value(&v3).unwrap(), v3_json);
        assert_eq!(
            serde_json::to_value(&v2c).unwrap(),
            serde_json::json!({"version": "2c", "community": "public"})
        );
    }

    #[test]
    fn weak_or_incomplete_credentials_are_refused_with_the_reason() {
        for (json, message) in [
            (
                r#"{"version":"2c","community":""}"#,
                "the community must not be empty",
            ),
            (
                r#"{"version":"3","user":"m","auth_protocol":"sha1","auth_password":"short",
                   "privacy_protocol":"aes128","privacy_password":"long-enough"}"#,
                "auth_password must be at least 8 characters",
            ),
            (
                r#"{"version":"3","user":"m","auth_protocol":"sha1","auth_password":"long-enough"}"#,
                "missing field `privacy_protocol`",
            ),
            (
                r#"{"version":"3","user":"m","auth_protocol":"sha3","auth_password":"long-enough",
                   "privacy_protocol":"aes128","privacy_password":"long-enough"}"#,
                "sha3",
            ),
            (
                r#"{"version":"1","community":"public"}"#,
                "unknown variant `1`",
            ),
            (
                r#"{"version":"2c","community":"public","port":161}"#,
                "unknown field `port`",
            ),
        ] {
            let error = serde_json::from_str::<Credentials>(json).unwrap_err();
            assert!(error.to_string().contains(message), "{json}: {error}");
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let v3 = Credentials::V3 {
            user: "monitor".to_owned(),
            auth_protocol: AuthProtocol::Sha1,
            auth_password: "auth-secret".to_owned(),
            privacy_protocol: PrivacyProtocol::Aes128,
            privacy_password: "priv-secret".to_owned(),
        };
        let shown = format!(
            "{v3:?} {:?}",
            Credentials::V2c {
                community: "c0mmunity".to_owned()
            }
        );
        assert!(shown.contains("monitor"), "{shown}");
        for secret in ["auth-secret", "priv-secret", "c0mmunity"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
