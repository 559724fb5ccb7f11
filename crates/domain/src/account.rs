//! Accounts: who may sign in and what they may see.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A validated, lower-cased e-mail address. `Email::parse` is the only way to make one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// Why a string is not an e-mail address we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    #[error("an e-mail address needs exactly one `@` with text on both sides")]
    Shape,
    #[error("an e-mail address may be at most 254 characters long")]
    TooLong,
    #[error(
        "an e-mail address may not contain spaces, quotes, angle brackets or control characters"
    )]
    ForbiddenCharacter,
    #[error("the domain of an e-mail address needs a dot, like `example.com`")]
    Domain,
}

impl Email {
    /// Parses and normalises (trims, lower-cases) an address. Deliberately stricter than
    /// RFC 5322: addresses we store are ones people type, not quoted local parts.
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let address = input.trim().to_lowercase();
        if address.len() > 254 {
            return Err(EmailError::TooLong);
        }
        if address.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | ',' | ';')
        }) {
            return Err(EmailError::ForbiddenCharacter);
        }
        let (local, domain) = address.split_once('@').ok_or(EmailError::Shape)?;
        if local.is_empty() || domain.is_empty() || domain.contains('@') {
            return Err(EmailError::Shape);
        }
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err(EmailError::Domain);
        }
        Ok(Self(address))
    }

    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `@`, used to map unknown senders to an organization.
    pub fn domain(&self) -> &str {
        self.0.split_once('@').map_or("", |(_, domain)| domain)
    }
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a user is: staff who administer, staff who work tickets, or the people they serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Agent,
    Customer,
}

/// A role name that is not one of `admin`, `agent`, `customer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`; expected one of: admin, agent, customer")]
pub struct UnknownRole(pub String);

impl Role {
    /// The role's name as used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Customer => "customer",
        }
    }

    /// Staff see tickets across organizations (within their limits); customers never do.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Agent)
    }
}

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "agent" => Ok(Role::Agent),
            "customer" => Ok(Role::Customer),
            other => Err(UnknownRole(other.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password may be at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
}

/// Length is the rule that matters (NIST SP 800-63B); composition rules only annoy.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Bounds the hashing work one request can cause.
pub const MAX_PASSWORD_CHARS: usize = 512;

/// Checks a new password against the policy.
pub fn check_password(password: &str) -> Result<(), PasswordError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else if chars > MAX_PASSWORD_CHARS {
        Err(PasswordError::TooLong)
    } else {
        Ok(())
    }
}

/// How long sign-in stays locked after `failures` consecutive wrong passwords, in seconds.
/// Five free tries, then doubling from one minute, capped at one hour: slows guessing to a
/// crawl without letting an attacker lock a user out for long.
pub fn lockout_seconds(failures: u32) -> Option<i64> {
    const FREE_TRIES: u32 = 5;
    if failures < FREE_TRIES {
        return None;
    }
    let doublings = (failures - FREE_TRIES).min(6);
    Some((60_i64 << doublings).min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Ann.Lee@Example.COM ").map(|e| e.to_string()),
            Ok("ann.lee@example.com".to_owned())
        );
        assert_eq!(Email::parse("ann"), Err(EmailError::Shape));
        assert_eq!(Email::parse("@example.com"), Err(EmailError::Shape));
        assert_eq!(Email::parse("ann@localhost"), Err(EmailError::Domain));
        assert_eq!(
            Email::parse("a b@example.com"),
            Err(EmailError::ForbiddenCharacter)
        );
        assert_eq!(Email::parse("a@b@example.com"), Err(EmailError::Shape));
    }

    #[test]
    fn lockout_grows_then_caps() {
        assert_eq!(lockout_seconds(4), None);
        assert_eq!(lockout_seconds(5), Some(60));
        assert_eq!(lockout_seconds(6), Some(120));
        assert_eq!(lockout_seconds(50), Some(3600));
    }

    #[test]
    fn password_policy() {
        assert_eq!(check_password("short"), Err(PasswordError::TooShort));
        assert_eq!(check_password("long enough pass"), Ok(()));
    }
}
