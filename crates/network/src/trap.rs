//! Receiving traps: devices telling opsdesk that a link went down, came up, or the device
//! restarted, without waiting for the next poll.

use std::net::{IpAddr, SocketAddr};

use async_snmp::{Notification, NotificationReceiver, ReceivedNotification};

use crate::SnmpError;
use crate::mib::IF_INDEX;

/// The standard traps of RFC 3418 (`snmpTraps`), by OID, with their names.
const STANDARD_TRAPS: [(&str, &str); 5] = [
    ("1.3.6.1.6.3.1.1.5.1", "coldStart"),
    ("1.3.6.1.6.3.1.1.5.2", "warmStart"),
    ("1.3.6.1.6.3.1.1.5.3", "linkDown"),
    ("1.3.6.1.6.3.1.1.5.4", "linkUp"),
    ("1.3.6.1.6.3.1.1.5.5", "authenticationFailure"),
];

/// A trap (or inform) a device sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trap {
    /// Where the datagram came from (not authenticated: any host can claim any address).
    pub source: IpAddr,
    /// The SNMP version it came in: `"1"`, `"2c"` or `"3"`.
    pub version: &'static str,
    /// `snmpTrapOID.0`, dotted, e.g. `1.3.6.1.6.3.1.1.5.3` for linkDown. SNMPv1 traps are
    /// converted as RFC 3584 says, so a v1 linkDown has the same OID.
    pub trap_oid: String,
    /// The name of a standard trap: `coldStart`, `warmStart`, `linkDown`, `linkUp` or
    /// `authenticationFailure`; none for others (enterprise-specific traps).
    pub name: Option<&'static str>,
    /// The interface the trap is about, from its `ifIndex` varbind (linkDown, linkUp).
    pub if_index: Option<u32>,
    /// The sender's `sysUpTime` when it sent the trap, in hundredths of a second.
    pub uptime_centis: u32,
    /// The other varbinds as dotted OID and value text, in the order sent.
    pub varbinds: Vec<(String, String)>,
}

impl Trap {
    fn from_received(received: &ReceivedNotification) -> async_snmp::Result<Self> {
        let notification = &received.notification;
        let trap_oid = notification.trap_oid()?.to_string();
        let name = STANDARD_TRAPS
            .iter()
            .find(|(oid, _)| *oid == trap_oid)
            .map(|(_, name)| *name);
        let varbinds = notification.varbinds();
        let if_index = varbinds
            .iter()
            .find(|varbind| varbind.oid.parent().is_some_and(|p| p.arcs() == IF_INDEX))
            .and_then(|varbind| varbind.value.as_u32());
        Ok(Self {
            source: received.source.ip().to_canonical(),
            version: match notification {
                Notification::TrapV1 { .. } => "1",
                Notification::TrapV2c { .. } | Notification::InformV2c { .. } => "2c",
                Notification::TrapV3 { .. } | Notification::InformV3 { .. } => "3",
            },
            trap_oid,
            name,
            if_index,
            uptime_centis: notification.uptime(),
            varbinds: varbinds
                .iter()
                .map(|varbind| (varbind.oid.to_string(), varbind.value.to_string()))
                .collect(),
        })
    }
}

/// Listens for SNMPv1 and v2c traps and informs on a UDP address (informs are
/// acknowledged). Only traps with an allowed community are delivered; SNMPv3 traps are not
/// accepted (receiving them needs a persisted engine of opsdesk's own). Malformed
/// datagrams and unknown communities are skipped with a log line; they never end the
/// listener.
pub struct TrapListener {
    receiver: NotificationReceiver,
}

impl TrapListener {
    /// Binds `address` (an IP and port: `0.0.0.0:162` for the standard port, which needs
    /// privileges, or `127.0.0.1:0` for any free one) and accepts traps whose community is
    /// one of `allowed_communities` (at least one).
    pub async fn bind<I, S>(address: &str, allowed_communities: I) -> Result<Self, SnmpError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let communities: Vec<String> = allowed_communities
            .into_iter()
            .map(|community| community.as_ref().to_owned())
            .filter(|community| !community.is_empty())
            .collect();
        if communities.is_empty() {
            return Err(SnmpError::InvalidCredentials {
                detail: "a trap listener needs at least one allowed community".to_owned(),
            });
        }
        let receiver = NotificationReceiver::builder()
            .bind(address)
            .communities(communities)
            .build()
            .await
            .map_err(|error| SnmpError::Bind {
                address: address.to_owned(),
                detail: error.to_string(),
            })?;
        Ok(Self { receiver })
    }

    /// The address the listener is bound to (with the port chosen for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.receiver.local_addr()
    }

    /// Waits for the next accepted trap. An error is one of the socket itself; the listener
    /// keeps working and `next` can be called again.
    pub async fn next(&mut self) -> Result<Trap, SnmpError> {
        loop {
            let received = self
                .receiver
                .recv()
                .await
                .map_err(|error| SnmpError::Protocol {
                    target: self.local_addr().to_string(),
                    detail: format!("receiving traps failed: {error}"),
                })?;
            match Trap::from_received(&received) {
                Ok(trap) => return Ok(trap),
                Err(error) => tracing::warn!(
                    source = %received.source,
                    %error,
                    "skipped a trap whose trap OID cannot be read"
                ),
            }
        }
    }
}
