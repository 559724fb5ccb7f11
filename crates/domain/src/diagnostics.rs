//! Diagnostics run from a ticket: the kinds there are, what each takes as a target, and
//! the allow-list that keeps the feature from probing networks nobody approved.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::string_enum;

string_enum! {
    /// What a diagnostic does.
    pub enum DiagnosticKind as "diagnostic kind" {
        /// ICMP echo: is the host reachable, and how fast.
        Ping => "ping",
        /// The routers on the way to the host.
        Traceroute => "traceroute",
        /// What a name resolves to.
        Dns => "dns",
        /// Whether a TCP port accepts connections.
        Tcp => "tcp",
        /// An HTTP request: status, time, size.
        Http => "http",
        /// A TLS handshake and the certificate's subject, issuer and expiry.
        Tls => "tls",
    }
}

/// A diagnostic's target, checked and put in the form its probe takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host name or address, which the allow-list judges.
    pub host: String,
    /// What the probe is given: a host, `host:port`, or a URL.
    pub probe: String,
}

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("give a host name or address")]
    Empty,
    #[error("{0:?} is not a host name or address")]
    NotAHost(String),
    #[error("a TCP check needs a port: host:port")]
    NoPort,
    #[error("{0:?} is not a port from 1 to 65535")]
    BadPort(String),
    #[error("an HTTP check takes an http:// or https:// URL or a host")]
    BadUrl,
    #[error("a {0} check takes a host without a port")]
    PortNotWanted(DiagnosticKind),
}

/// Reads what a person typed as the target of a `kind` diagnostic.
pub fn parse_target(kind: DiagnosticKind, text: &str) -> Result<Target, TargetError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TargetError::Empty);
    }
    if kind == DiagnosticKind::Http {
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => ("http", rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => ("https", rest),
            Some(_) => return Err(TargetError::BadUrl),
            None => ("https", text),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(TargetError::BadUrl);
        }
        let (host, _) = split_port(authority)?;
        let path = &rest[authority.len()..];
        let path = if path.is_empty() { "/" } else { path };
        if path.chars().any(char::is_whitespace) {
            return Err(TargetError::BadUrl);
        }
        return Ok(Target {
            probe: format!("{scheme}://{authority}{path}"),
            host,
        });
    }
    let (host, port) = split_port(text)?;
    let bracketed = |host: &str| {
        if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_owned()
        }
    };
    let probe = match (kind, port) {
        (DiagnosticKind::Tcp, None) => return Err(TargetError::NoPort),
        (DiagnosticKind::Tcp | DiagnosticKind::Tls, Some(port)) => {
            format!("{}:{port}", bracketed(&host))
        }
        (DiagnosticKind::Tls, None) => format!("{}:443", bracketed(&host)),
        (_, Some(_)) => return Err(TargetError::PortNotWanted(kind)),
        (_, None) => host.clone(),
    };
    Ok(Target { host, probe })
}

/// `host[:port]` or `[v6]:port` split, each part checked.
fn split_port(text: &str) -> Result<(String, Option<u16>), TargetError> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| TargetError::NotAHost(text.to_owned()))?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(TargetError::NotAHost(text.to_owned())),
        }
    } else if text.parse::<IpAddr>().is_ok() {
        (text, None)
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| TargetError::BadPort(p.to_owned()))
        })
        .transpose()?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<IpAddr>().is_ok() || is_host_name(&host) {
        Ok((host, port))
    } else {
        Err(TargetError::NotAHost(text.to_owned()))
    }
}

/// A DNS host name: dot-separated labels of letters, digits, `-` and `_`.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// One entry of the allow-list: a network or a host-name pattern.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Allowed {
    /// Addresses in `address/prefix`.
    Network { address: IpAddr, prefix: u8 },
    /// One host name, or with `*.` every name under a domain.
    Name(String),
}

impl TryFrom<String> for Allowed {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Allowed> for String {
    fn from(allowed: Allowed) -> Self {
        allowed.to_string()
    }
}

impl std::fmt::Display for Allowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Allowed::Network { address, prefix } => write!(f, "{address}/{prefix}"),
            Allowed::Name(name) => f.write_str(name),
        }
    }
}

impl std::str::FromStr for Allowed {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim().to_ascii_lowercase();
        let refuse = || {
            format!(
                "{text:?} is neither a network (10.0.0.0/8, 2001:db8::/32, 192.0.2.7) nor a host name (*.example.com)"
            )
        };
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.as_str(), None),
        };
        if let Ok(address) = address.parse::<IpAddr>() {
            let most = if address.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                Some(prefix) => prefix
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= most)
                    .ok_or_else(refuse)?,
                None => most,
            };
            return Ok(Allowed::Network {
                address: mask(address, prefix),
                prefix,
            });
        }
        let name = text.strip_prefix("*.").unwrap_or(&text);
        if prefix.is_none() && is_host_name(name) {
            Ok(Allowed::Name(text.clone()))
        } else {
            Err(refuse())
        }
    }
}

/// `address` with every bit past `prefix` cleared.
fn mask(address: IpAddr, prefix: u8) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let kept = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4((bits & kept).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let kept = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((bits & kept).into())
        }
    }
}

impl Allowed {
    fn covers_address(&self, candidate: IpAddr) -> bool {
        match self {
            Allowed::Network { address, prefix } => {
                address.is_ipv4() == candidate.is_ipv4() && mask(candidate, *prefix) == *address
            }
            Allowed::Name(_) => false,
        }
    }

    fn covers_name(&self, host: &str) -> bool {
        match self {
            Allowed::Name(pattern) => match pattern.strip_prefix("*.") {
                Some(domain) => host
                    .strip_suffix(domain)
                    .is_some_and(|head| head.ends_with('.') && head.len() > 1),
                None => host == pattern,
            },
            Allowed::Network { .. } => false,
        }
    }
}

/// Why a target may not be probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{host} is not on the diagnostics allow-list; an operator adds its network or name to `diagnostics_allow`"
    )]
    NotAllowed { host: String },
    #[error("{host} resolves to {address}, which is not on the diagnostics allow-list")]
    AddressNotAllowed { host: String, address: IpAddr },
    #[error("{host} has no address")]
    NoAddress { host: String },
}

/// The networks and names diagnostics may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(Vec<Allowed>);

impl AllowList {
    pub fn new(entries: Vec<Allowed>) -> Self {
        Self(entries)
    }

    pub fn entries(&self) -> &[Allowed] {
        &self.0
    }

    /// Whether `host`, which resolved to `addresses`, may be probed. `own_hosts` are the
    /// names and addresses of the ticket's own configuration items, which the desk looks
    /// after and may always check. Otherwise a name on the list is trusted as it resolves;
    /// any other target needs every address it resolves to inside an allowed network, so
    /// a name cannot smuggle a probe into a network that is not.
    pub fn permits(
        &self,
        host: &str,
        addresses: &[IpAddr],
        own_hosts: &[String],
    ) -> Result<(), Refusal> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if own_hosts
            .iter()
            .any(|own| own.trim_end_matches('.').eq_ignore_ascii_case(&host))
            || self.0.iter().any(|entry| entry.covers_name(&host))
        {
            return Ok(());
        }
        if addresses.is_empty() {
            return Err(match host.parse::<IpAddr>() {
                Ok(_) => Refusal::NotAllowed { host },
                Err(_) => Refusal::NoAddress { host },
            });
        }
        for address in addresses {
            if !self.0.iter().any(|entry| entry.covers_address(*address)) {
                return Err(if host.parse::<IpAddr>().is_ok() {
                    Refusal::NotAllowed { host }
                } else {
                    Refusal::AddressNotAllowed {
                        host,
                        address: *address,
                    }
                });
            }
        }
        Ok(())
    }
}

/// How a diagnostic went: what a person reads on the ticket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagnosticOutcome {
    /// Whether the check succeeded.
    pub ok: bool,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// One line: what was found, or why it failed.
    pub summary: String,
    /// The details, line by line (addresses, hops, certificate fields, replies).
    #[serde(default)]
    pub lines: Vec<String>,
}

impl DiagnosticOutcome {
    /// The outcome as an internal note's Markdown.
    pub fn note(&self, kind: DiagnosticKind, target: &str, from: &str) -> String {
        let verdict = if self.ok { "succeeded" } else { "failed" };
        let mut note = format!(
            "**Diagnostic: {kind} {target}** from {from} {verdict} in {} ms: {}",
            self.duration_ms, self.summary
        );
        if !self.lines.is_empty() {
            note.push_str("\n\n```\n");
            for line in &self.lines {
                note.push_str(&line.replace("```", "'''"));
                note.push('\n');
            }
            note.push_str("```");
        }
        note
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::new(entries.iter().map(|e| e.parse().unwrap()).collect())
    }

    #[test]
    fn targets_take_the_form_their_probe_needs() {
        use DiagnosticKind::*;
        let probe = |kind, text| parse_target(kind, text).map(|t| t.probe);
        assert_eq!(
            probe(Ping, "Gateway.Example.com."),
            Ok("gateway.example.com".into())
        );
        assert_eq!(probe(Tcp, "db:5432"), Ok("db:5432".into()));
        assert_eq!(probe(Tcp, "db"), Err(TargetError::NoPort));
        assert_eq!(
            probe(Tls, "mail.example.com"),
            Ok("mail.example.com:443".into())
        );
        assert_eq!(
            probe(Tls, "[2001:db8::1]:8443"),
            Ok("[2001:db8::1]:8443".into())
        );
        assert_eq!(probe(Tls, "2001:db8::1"), Ok("[2001:db8::1]:443".into()));
        assert_eq!(probe(Http, "intranet"), Ok("https://intranet/".into()));
        assert_eq!(
            probe(Http, "http://10.0.0.5:8080/health?x=1"),
            Ok("http://10.0.0.5:8080/health?x=1".into())
        );
        assert_eq!(probe(Http, "ftp://x"), Err(TargetError::BadUrl));
        assert_eq!(probe(Http, "http://user@x/"), Err(TargetError::BadUrl));
        assert_eq!(probe(Dns, "x:53"), Err(TargetError::PortNotWanted(Dns)));
        assert_eq!(probe(Tcp, "db:0"), Err(TargetError::BadPort("0".into())));
        assert!(matches!(probe(Ping, "a b"), Err(TargetError::NotAHost(_))));
        assert!(matches!(probe(Ping, "-rf"), Err(TargetError::NotAHost(_))));
        assert_eq!(probe(Ping, " "), Err(TargetError::Empty));
        assert_eq!(
            parse_target(Http, "http://Web.Example.com/x").unwrap().host,
            "web.example.com"
        );
    }

    #[test]
    fn the_allow_list_admits_its_networks_and_names_only() {
        let allow = list(&[
            "10.0.0.0/8",
            "*.corp.example",
            "printer.example.com",
            "2001:db8::/32",
        ]);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(allow.permits("10.1.2.3", &[ip("10.1.2.3")], &[]), Ok(()));
        assert!(
            allow
                .permits("192.168.1.1", &[ip("192.168.1.1")], &[])
                .is_err()
        );
        assert_eq!(allow.permits("web.corp.example", &[], &[]), Ok(()));
        assert!(
            allow
                .permits("corp.example", &[ip("198.51.100.1")], &[])
                .is_err()
        );
        assert!(
            allow
                .permits("evilcorp.example", &[ip("198.51.100.1")], &[])
                .is_err()
        );
        assert_eq!(allow.permits("printer.example.com", &[], &[]), Ok(()));
        assert_eq!(
            allow.permits("2001:db8::5", &[ip("2001:db8::5")], &[]),
            Ok(())
        );
        // A name resolving into an allowed network passes; one that also points outside does not.
        assert_eq!(
            allow.permits("db.example.com", &[ip("10.9.9.9")], &[]),
            Ok(())
        );
        assert_eq!(
            allow.permits("db.example.com", &[ip("10.9.9.9"), ip("8.8.8.8")], &[]),
            Err(Refusal::AddressNotAllowed {
                host: "db.example.com".into(),
                address: ip("8.8.8.8")
            })
        );
        assert_eq!(
            allow.permits("nowhere.example.com", &[], &[]),
            Err(Refusal::NoAddress {
                host: "nowhere.example.com".into()
            })
        );
        // The ticket's own machines are always fair game.
        let own = vec!["web01.acme.example".to_owned()];
        assert_eq!(
            AllowList::default().permits("WEB01.acme.example", &[ip("203.0.113.9")], &own),
            Ok(())
        );
        assert!("10.0.0.0/33".parse::<Allowed>().is_err());
        assert!("*.".parse::<Allowed>().is_err());
        assert_eq!(
            "10.1.2.3/8".parse::<Allowed>().unwrap().to_string(),
            "10.0.0.0/8"
        );
    }

    proptest! {
        #[test]
        fn an_address_is_allowed_exactly_when_it_shares_the_networks_prefix(
            network in any::<u32>(),
            prefix in 0u8..=32,
            candidate in any::<u32>(),
        ) {
            let entry = format!("{}/{prefix}", std::net::Ipv4Addr::from(network));
            let allow = list(&[&entry]);
            let address = IpAddr::V4(candidate.into());
            let shift = 32 - u32::from(prefix);
            let same = network.checked_shr(shift).unwrap_or(0) == candidate.checked_shr(shift).unwrap_or(0);
            prop_assert_eq!(allow.permits(&address.to_string(), &[address], &[]).is_ok(), same);
        }

        #[test]
        fn a_wildcard_admits_names_under_its_domain_only(
            head in "[a-z]{1,8}(\\.[a-z]{1,8})?",
            domain in "[a-z]{1,8}\\.[a-z]{2,4}",
            other in "[a-z]{1,8}",
        ) {
            let allow = list(&[&format!("*.{domain}")]);
            let under = format!("{head}.{domain}");
            let glued = format!("{other}{domain}");
            prop_assert!(allow.permits(&under, &[], &[]).is_ok());
            prop_assert!(allow.permits(&domain, &[], &[]).is_err());
            prop_assert!(allow.permits(&glued, &[], &[]).is_err());
        }
    }
}
