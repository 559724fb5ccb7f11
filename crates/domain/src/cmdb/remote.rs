//! How an item is reached remotely: SSH, RDP, VNC or a web console, and the link that opens
//! the right client for each.

use crate::diagnostics::{DiagnosticKind, parse_target};
use crate::string_enum;

string_enum! {
    /// A way to reach an item.
    pub enum RemoteMethod as "remote access method" {
        /// A shell over SSH (`ssh://`), port 22 by default.
        Ssh => "ssh",
        /// Remote Desktop (`rdp://`), port 3389 by default.
        Rdp => "rdp",
        /// VNC (`vnc://`), port 5900 by default.
        Vnc => "vnc",
        /// A web console (iDRAC, iLO, a hypervisor's page) at an http(s) URL.
        Web => "web",
    }
}

/// Why an access entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error("{0}")]
    Address(String),
    #[error("a user name may hold letters, digits and . _ - \\ @ only")]
    Username,
    #[error("a web console takes an http:// or https:// URL and no user name")]
    Web,
}

/// The link that opens `method`'s client for `address` (`host[:port]`, or a URL for the
/// web console), checking both parts so that no link can carry anything else.
pub fn client_uri(
    method: RemoteMethod,
    address: &str,
    username: Option<&str>,
) -> Result<String, AccessError> {
    let username = username.map(str::trim).filter(|u| !u.is_empty());
    if let Some(user) = username
        && (user.len() > 100
            || !user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '\\' | '@')))
    {
        return Err(AccessError::Username);
    }
    if method == RemoteMethod::Web {
        let address = address.trim();
        let lower = address.to_ascii_lowercase();
        if username.is_some() || !(lower.starts_with("https://") || lower.starts_with("http://")) {
            return Err(AccessError::Web);
        }
        return parse_target(DiagnosticKind::Http, address)
            .map(|target| target.probe)
            .map_err(|_| AccessError::Web);
    }
    // A TCP target is host:port; a missing port takes the method's own.
    let default_port = match method {
        RemoteMethod::Ssh => 22,
        RemoteMethod::Rdp => 3389,
        _ => 5900,
    };
    let with_port = if parse_target(DiagnosticKind::Tcp, address).is_ok() {
        address.trim().to_owned()
    } else {
        let host = parse_target(DiagnosticKind::Ping, address)
            .map_err(|e| AccessError::Address(e.to_string()))?
            .host;
        if host.contains(':') {
            format!("[{host}]:{default_port}")
        } else {
            format!("{host}:{default_port}")
        }
    };
    let target = parse_target(DiagnosticKind::Tcp, &with_port)
        .map_err(|e| AccessError::Address(e.to_string()))?;
    Ok(match method {
        RemoteMethod::Ssh => match username {
            Some(user) => format!(
                "ssh://{}@{}",
                user.replace('\\', "%5C").replace('@', "%40"),
                target.probe
            ),
            None => format!("ssh://{}", target.probe),
        },
        // The form Microsoft's Remote Desktop clients read.
        RemoteMethod::Rdp => {
            let mut uri = format!("rdp://full%20address=s:{}", target.probe);
            if let Some(user) = username {
                uri.push_str(&format!("&username=s:{}", user.replace('\\', "%5C")));
            }
            uri
        }
        _ => format!("vnc://{}", target.probe),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_method_opens_its_client() {
        use RemoteMethod::*;
        assert_eq!(
            client_uri(Ssh, "web01", Some("root")).unwrap(),
            "ssh://root@web01:22"
        );
        assert_eq!(
            client_uri(Ssh, "10.0.0.5:2222", None).unwrap(),
            "ssh://10.0.0.5:2222"
        );
        assert_eq!(
            client_uri(Rdp, "ws17.corp.example", Some("CORP\\alice")).unwrap(),
            "rdp://full%20address=s:ws17.corp.example:3389&username=s:CORP%5Calice"
        );
        assert_eq!(
            client_uri(Vnc, "2001:db8::7", None).unwrap(),
            "vnc://[2001:db8::7]:5900"
        );
        assert_eq!(
            client_uri(Web, "https://idrac-web01.example/console", None).unwrap(),
            "https://idrac-web01.example/console"
        );
        assert_eq!(
            client_uri(Web, "javascript:alert(1)", None),
            Err(AccessError::Web)
        );
        assert_eq!(
            client_uri(Web, "https://x/", Some("root")),
            Err(AccessError::Web)
        );
        assert_eq!(
            client_uri(Ssh, "web01", Some("root;rm")),
            Err(AccessError::Username)
        );
        assert!(client_uri(Ssh, "web01 -oProxyCommand=x", None).is_err());
    }

    proptest! {
        #[test]
        fn a_link_never_carries_more_than_its_host_port_and_user(
            address in "\\PC{0,30}",
            user in proptest::option::of("\\PC{0,12}"),
        ) {
            for method in RemoteMethod::ALL {
                if let Ok(uri) = client_uri(*method, &address, user.as_deref()) {
                    prop_assert!(!uri.chars().any(|c| c.is_whitespace() || c == '"' || c == '<' || c == '\''), "{}", uri);
                }
            }
        }
    }
}
