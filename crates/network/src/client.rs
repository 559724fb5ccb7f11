//! Discovery and polling: what a device is and has, and its interfaces' counters now.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_snmp::v3::ReportStatus;
use async_snmp::{
    Auth, Client, EngineCache, MasterKeys, Oid, OidOrdering, Retry, UdpHandle, UdpTransport,
    UsmConfig, Value, VarBind, WalkMethod, WalkOptions,
};
use opsdesk_domain::network::InterfaceSample;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::SnmpError;
use crate::credentials::{AuthProtocol, Credentials, PrivacyProtocol};
use crate::mib::{self, Column, Row};

/// Most OIDs in one GET: five interfaces' poll columns. Keeps each reply under the
/// 1,472-octet UDP payload of an Ethernet frame, the size small agents answer reliably
/// (a larger one risks `tooBig` or IP fragments that firewalls drop).
const OIDS_PER_REQUEST: usize = 40;
/// Rows asked for per GETBULK during discovery: a column of a 24-port switch in one reply.
const BULK_REPETITIONS: u32 = 25;
/// Most rows read from one interface-table column; a device with more is refused rather
/// than allowed to fill memory.
pub const MOST_INTERFACES: usize = 20_000;
/// Distinct v3 credentials whose derived keys are kept; beyond that the cache starts over.
const MOST_CACHED_KEYS: usize = 256;
/// Why a v3 request went unanswered, when a probe found the user unknown.
pub(crate) const UNKNOWN_USER: &str =
    "unknown user: check the user name and that the device has it";
/// Why a v3 request went unanswered, when a probe found the user known.
const WRONG_PASSWORDS: &str = "the device knows the user but did not answer its authenticated request: check the authentication and privacy passwords and protocols";

/// What a device says about itself: the system group (RFC 3418).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemInfo {
    /// `sysDescr`: usually vendor, model and software version.
    pub descr: String,
    /// `sysObjectID`, dotted: the vendor's identifier of the model.
    pub object_id: String,
    /// `sysName`: the name an administrator gave the device.
    pub name: String,
    /// `sysLocation`.
    pub location: String,
    /// `sysContact`.
    pub contact: String,
    /// `sysUpTime`: hundredths of a second since the agent started.
    pub uptime_centis: u32,
}

/// One interface of a device, as discovery found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// `ifIndex`: the key polls and traps name the interface by.
    pub index: u32,
    /// `ifName` (short, like `Gi0/1`), or `ifDescr` when the device has no ifXTable.
    pub name: String,
    /// `ifDescr`.
    pub descr: String,
    /// `ifAlias`: the description an administrator gave the port; empty when none.
    pub alias: String,
    /// `ifType` (IANAifType): 6 Ethernet, 24 loopback, 131 tunnel, …
    pub if_type: u32,
    /// Speed in bit/s; none when the device reports 0 (unknown, or a virtual interface).
    pub speed_bps: Option<u64>,
    /// `ifPhysAddress` as `aa:bb:cc:dd:ee:ff`; none when empty or all zero.
    pub mac: Option<String>,
    /// `ifAdminStatus` is up: nobody shut the interface.
    pub admin_up: bool,
    /// The status and counters at discovery, a first sample for rates.
    pub sample: InterfaceSample,
}

/// A device: its system group and its interfaces, ordered by index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The system group.
    pub system: SystemInfo,
    /// Every interface with a status, ordered by `ifIndex`.
    pub interfaces: Vec<Interface>,
}

/// Identifies v3 credentials whose password-derived keys can be shared.
type KeyId = (AuthProtocol, String, PrivacyProtocol, String);

/// An SNMP client for many devices: one UDP socket and one receive task for all requests,
/// the v3 engines already discovered (no discovery round trip on later polls) and the keys
/// derived from v3 passwords (deriving hashes a megabyte per password). Make one and share
/// it; [`discover`] and [`poll`] make a throw-away one per call.
pub struct SnmpClient {
    transport: UdpTransport,
    engines: Arc<EngineCache>,
    master_keys: Mutex<HashMap<KeyId, Arc<OnceCell<MasterKeys>>>>,
    clock: Arc<dyn Fn() -> i64 + Send + Sync>,
}

impl SnmpClient {
    /// Opens the client's socket on an ephemeral port, dual-stack (IPv6 and IPv4) when the
    /// host has IPv6, IPv4 only otherwise.
    pub async fn new() -> Result<Self, SnmpError> {
        let transport = match UdpTransport::bind("[::]:0").await {
            Ok(transport) => transport,
            Err(_) => UdpTransport::bind("0.0.0.0:0")
                .await
                .map_err(|error| SnmpError::Bind {
                    address: "0.0.0.0:0".to_owned(),
                    detail: error.to_string(),
                })?,
        };
        Ok(Self {
            transport,
            engines: Arc::new(EngineCache::new()),
            master_keys: Mutex::new(HashMap::new()),
            clock: Arc::new(system_time_ms),
        })
    }

    /// Stamps samples with `clock` (milliseconds since the Unix epoch) instead of the
    /// system's clock: the application passes its own, which its tests can move.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Reads the device's system group and its interfaces (ifTable and ifXTable, a bulk walk
    /// per column) from `address` (host or host:port, port 161 by default). `timeout` bounds
    /// each request, one retransmission included.
    pub async fn discover(
        &self,
        address: &str,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<Device, SnmpError> {
        let result = self
            .discover_unexplained(address, credentials, timeout)
            .await;
        self.explain_v3_silence(result, address, credentials, timeout)
            .await
    }

    async fn discover_unexplained(
        &self,
        address: &str,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<Device, SnmpError> {
        let client = self.connect(address, credentials, timeout).await?;
        let fail = |error: Box<async_snmp::Error>| SnmpError::from_snmp(address, timeout, &error);

        let scalars = [
            mib::SYS_DESCR,
            mib::SYS_OBJECT_ID,
            mib::SYS_UPTIME,
            mib::SYS_CONTACT,
            mib::SYS_NAME,
            mib::SYS_LOCATION,
        ]
        .map(mib::system_scalar);
        let reply = client.get_many(&scalars).await.map_err(fail)?;
        let system = system_info(address, &scalars, &reply.varbinds)?;

        let options = WalkOptions {
            method: WalkMethod::GetBulk,
            max_repetitions: BULK_REPETITIONS,
            ordering: OidOrdering::Strict,
            result_limit: Some(MOST_INTERFACES),
        };
        let mut rows: BTreeMap<u32, Row> = BTreeMap::new();
        for column in Column::ALL {
            let cells = client
                .walk_with(column.oid(), options)
                .map_err(fail)?
                .collect()
                .await
                .map_err(fail)?;
            for cell in cells {
                if let Some((found, index)) = Column::of_cell(&cell.oid)
                    && found == column
                {
                    rows.entry(index).or_default().set(column, &cell.value);
                }
            }
        }
        let at_ms = (self.clock)();
        let interfaces = rows
            .into_iter()
            .filter_map(|(index, row)| interface(index, &row, at_ms, system.uptime_centis))
            .collect();
        Ok(Device { system, interfaces })
    }

    /// Reads the status and counters of the interfaces `indexes` (from [`Device`]) with GETs
    /// of only the cells a sample needs, five interfaces a request: the 64-bit octet
    /// counters, and for interfaces without them the 32-bit ones in one more round.
    /// Interfaces the device no longer has are left out of the result. `timeout` bounds
    /// each request, one retransmission included.
    pub async fn poll(
        &self,
        address: &str,
        credentials: &Credentials,
        indexes: &[u32],
        timeout: Duration,
    ) -> Result<Vec<(u32, InterfaceSample)>, SnmpError> {
        let result = self
            .poll_unexplained(address, credentials, indexes, timeout)
            .await;
        self.explain_v3_silence(result, address, credentials, timeout)
            .await
    }

    async fn poll_unexplained(
        &self,
        address: &str,
        credentials: &Credentials,
        indexes: &[u32],
        timeout: Duration,
    ) -> Result<Vec<(u32, InterfaceSample)>, SnmpError> {
        let mut rows: Vec<(u32, Row)> = indexes.iter().map(|i| (*i, Row::default())).collect();
        rows.sort_unstable_by_key(|(index, _)| *index);
        rows.dedup_by_key(|(index, _)| *index);
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.connect(address, credentials, timeout).await?;
        let fail = |error: Box<async_snmp::Error>| SnmpError::from_snmp(address, timeout, &error);

        let uptime_oid = mib::system_scalar(mib::SYS_UPTIME);
        let mut oids = Vec::with_capacity(1 + rows.len() * Column::POLLED.len());
        oids.push(uptime_oid.clone());
        for (index, _) in &rows {
            oids.extend(Column::POLLED.iter().map(|column| column.cell(*index)));
        }
        let reply = client.get_many(&oids).await.map_err(fail)?;
        let mut uptime_centis = None;
        for varbind in &reply.varbinds {
            if varbind.oid == uptime_oid {
                uptime_centis = time_ticks(&varbind.value);
            } else {
                record(&mut rows, varbind);
            }
        }
        let uptime_centis = uptime_centis.ok_or_else(|| SnmpError::NoSuchObject {
            target: address.to_owned(),
            oid: format!("{uptime_oid} (sysUpTime.0)"),
        })?;

        oids.clear();
        for (index, row) in &rows {
            if row.admin_status.is_some() && !row.has_hc_octets() {
                oids.push(Column::InOctets.cell(*index));
                oids.push(Column::OutOctets.cell(*index));
            }
        }
        if !oids.is_empty() {
            let reply = client.get_many(&oids).await.map_err(fail)?;
            for varbind in &reply.varbinds {
                record(&mut rows, varbind);
            }
        }

        let at_ms = (self.clock)();
        Ok(rows
            .iter()
            .filter_map(|(index, row)| sample(row, at_ms, uptime_centis).map(|s| (*index, s)))
            .collect())
    }

    /// Turns a v3 timeout into the credential error it usually is. An agent answers a
    /// request it cannot authenticate or decrypt with an unauthenticated report, or not at
    /// all; the client ignores unauthenticated replies (anyone could forge them), so a wrong
    /// password looks like silence. One unauthenticated probe for the same user then tells
    /// a device that is away from one that does not know the user from one that does but
    /// refused the passwords. The probe only words the error: it is never trusted with
    /// data.
    async fn explain_v3_silence<T>(
        &self,
        result: Result<T, SnmpError>,
        address: &str,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<T, SnmpError> {
        let user = match (&result, credentials) {
            (Err(SnmpError::Timeout { .. }), Credentials::V3 { user, .. }) => user,
            _ => return result,
        };
        let probe = async {
            let client = Client::builder(address, Auth::usm(user))
                .request_timeout(timeout / 2)
                .retry(Retry::none())
                .construction_timeout(timeout)
                .engine_cache(Arc::clone(&self.engines))
                .build_with(&self.transport)
                .await?;
            client.get(&mib::system_scalar(mib::SYS_UPTIME)).await
        };
        let detail = match probe.await {
            // The agent let the user in without authentication: it knows the user.
            Ok(_) => WRONG_PASSWORDS,
            Err(error) => match error.exchange_source() {
                async_snmp::Error::Report { status, .. }
                    if matches!(**status, ReportStatus::UnknownUserName { .. }) =>
                {
                    UNKNOWN_USER
                }
                // unsupportedSecurityLevel, authorizationError: a known user refused.
                async_snmp::Error::Report { .. } | async_snmp::Error::Snmp { .. } => {
                    WRONG_PASSWORDS
                }
                _ => return result,
            },
        };
        Err(SnmpError::Authentication {
            target: address.to_owned(),
            detail,
        })
    }

    /// A client for one device on the shared socket.
    async fn connect(
        &self,
        address: &str,
        credentials: &Credentials,
        timeout: Duration,
    ) -> Result<Client<UdpHandle>, SnmpError> {
        credentials.validate()?;
        if address.trim().is_empty() {
            return Err(SnmpError::InvalidAddress {
                address: address.to_owned(),
                detail: "it is empty".to_owned(),
            });
        }
        let auth = match credentials {
            Credentials::V2c { community } => Auth::v2c(community.as_str()),
            Credentials::V3 {
                user,
                auth_protocol,
                auth_password,
                privacy_protocol,
                privacy_password,
            } => {
                let keys = self
                    .master_keys(
                        *auth_protocol,
                        auth_password,
                        *privacy_protocol,
                        privacy_password,
                    )
                    .await?;
                let usm = UsmConfig::new(user.clone())
                    .with_master_keys(keys)
                    .map_err(|error| SnmpError::InvalidCredentials {
                        detail: error.to_string(),
                    })?;
                Auth::from(usm)
            }
        };
        // Half the time for the first transmission, half for one retransmission: a lost
        // datagram costs one retry, a dead device no more than `timeout`.
        let timeout = timeout.max(Duration::from_millis(10));
        let retry = Retry::fixed(1, Duration::ZERO).unwrap_or_else(|_| Retry::none());
        Client::builder(address, auth)
            .request_timeout(timeout / 2)
            .retry(retry)
            .construction_timeout(timeout)
            .max_oids_per_request(OIDS_PER_REQUEST)
            .engine_cache(Arc::clone(&self.engines))
            .build_with(&self.transport)
            .await
            .map_err(|error| match error.exchange_source() {
                async_snmp::Error::Config(detail) => SnmpError::InvalidAddress {
                    address: address.to_owned(),
                    detail: detail.to_string(),
                },
                _ => SnmpError::from_snmp(address, timeout, &error),
            })
    }

    /// The keys derived from v3 passwords, derived once per distinct credentials (off the
    /// async runtime: it takes milliseconds of hashing) and then shared.
    async fn master_keys(
        &self,
        auth_protocol: AuthProtocol,
        auth_password: &str,
        privacy_protocol: PrivacyProtocol,
        privacy_password: &str,
    ) -> Result<MasterKeys, SnmpError> {
        let id: KeyId = (
            auth_protocol,
            auth_password.to_owned(),
            privacy_protocol,
            privacy_password.to_owned(),
        );
        let cell = {
            let mut cache = self
                .master_keys
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if cache.len() >= MOST_CACHED_KEYS && !cache.contains_key(&id) {
                cache.clear();
            }
            Arc::clone(cache.entry(id).or_default())
        };
        let keys = cell
            .get_or_try_init(|| {
                let auth_password = auth_password.to_owned();
                let privacy_password = privacy_password.to_owned();
                async move {
                    tokio::task::spawn_blocking(move || {
                        MasterKeys::new(auth_protocol.to_snmp(), auth_password.as_bytes())?
                            .with_privacy(privacy_protocol.to_snmp(), privacy_password.as_bytes())
                    })
                    .await
                    .map_err(|error| SnmpError::InvalidCredentials {
                        detail: format!("deriving the v3 keys failed: {error}"),
                    })?
                    .map_err(|error| SnmpError::InvalidCredentials {
                        detail: error.to_string(),
                    })
                }
            })
            .await?;
        Ok(keys.clone())
    }
}

/// Discovers one device with a client of its own; see [`SnmpClient::discover`]. To discover
/// or poll many devices, share one [`SnmpClient`].
pub async fn discover(
    address: &str,
    credentials: &Credentials,
    timeout: Duration,
) -> Result<Device, SnmpError> {
    SnmpClient::new()
        .await?
        .discover(address, credentials, timeout)
        .await
}

/// Polls one device with a client of its own; see [`SnmpClient::poll`]. On the hot path
/// share one [`SnmpClient`] instead: it keeps the socket, v3 engines and keys.
pub async fn poll(
    address: &str,
    credentials: &Credentials,
    indexes: &[u32],
    timeout: Duration,
) -> Result<Vec<(u32, InterfaceSample)>, SnmpError> {
    SnmpClient::new()
        .await?
        .poll(address, credentials, indexes, timeout)
        .await
}

/// Milliseconds since the Unix epoch by this machine's clock.
#[allow(
    clippy::disallowed_methods,
    reason = "the default clock of a client the application gave none"
)]
fn system_time_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

fn time_ticks(value: &Value) -> Option<u32> {
    match value {
        Value::TimeTicks(ticks) => Some(*ticks),
        _ => None,
    }
}

/// Records a polled cell in its interface's row (`rows` sorted by index).
fn record(rows: &mut [(u32, Row)], varbind: &VarBind) {
    let Some((column, index)) = Column::of_cell(&varbind.oid) else {
        return;
    };
    if let Ok(position) = rows.binary_search_by_key(&index, |(index, _)| *index) {
        rows[position].1.set(column, &varbind.value);
    }
}

/// The system group from the reply to a GET of `scalars`; sysUpTime is required (rates
/// need it), the rest default to empty.
fn system_info(
    address: &str,
    scalars: &[Oid],
    varbinds: &[VarBind],
) -> Result<SystemInfo, SnmpError> {
    let value = |arc: u32| {
        let oid = mib::system_scalar(arc);
        varbinds
            .iter()
            .find(|varbind| varbind.oid == oid)
            .map(|varbind| &varbind.value)
    };
    let text = |arc: u32| {
        value(arc)
            .and_then(Value::as_bytes)
            .map(|bytes| {
                String::from_utf8_lossy(bytes)
                    .trim_end_matches('\0')
                    .to_owned()
            })
            .unwrap_or_default()
    };
    let uptime_centis =
        value(mib::SYS_UPTIME)
            .and_then(time_ticks)
            .ok_or_else(|| SnmpError::NoSuchObject {
                target: address.to_owned(),
                oid: format!("{} (sysUpTime.0)", scalars[2]),
            })?;
    Ok(SystemInfo {
        descr: text(mib::SYS_DESCR),
        object_id: value(mib::SYS_OBJECT_ID)
            .and_then(Value::as_oid)
            .map(ToString::to_string)
            .unwrap_or_default(),
        name: text(mib::SYS_NAME),
        location: text(mib::SYS_LOCATION),
        contact: text(mib::SYS_CONTACT),
        uptime_centis,
    })
}

/// A sample from a row; none when the device did not report the interface's status (it
/// has no such interface).
fn sample(row: &Row, at_ms: i64, uptime_centis: u32) -> Option<InterfaceSample> {
    let admin_status = row.admin_status?;
    let oper_status = row.oper_status?;
    let counters_64bit = row.has_hc_octets();
    let (in_octets, out_octets) = if counters_64bit {
        (row.hc_in_octets, row.hc_out_octets)
    } else {
        (row.in_octets, row.out_octets)
    };
    Some(InterfaceSample {
        at_ms,
        uptime_centis,
        // ifAdminStatus / ifOperStatus: up(1); everything else is some kind of not up.
        oper_up: oper_status == 1,
        admin_up: admin_status == 1,
        in_octets: in_octets.unwrap_or(0),
        out_octets: out_octets.unwrap_or(0),
        in_errors: row.in_errors.unwrap_or(0),
        out_errors: row.out_errors.unwrap_or(0),
        in_discards: row.in_discards.unwrap_or(0),
        out_discards: row.out_discards.unwrap_or(0),
        counters_64bit,
    })
}

/// The interface from a discovered row; none when the row lacks the status columns.
fn interface(index: u32, row: &Row, at_ms: i64, uptime_centis: u32) -> Option<Interface> {
    let sample = sample(row, at_ms, uptime_centis)?;
    let descr = row.descr.clone().unwrap_or_default();
    let name = row
        .name
        .clone()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| descr.clone());
    Some(Interface {
        index,
        name,
        descr,
        alias: row.alias.clone().unwrap_or_default(),
        if_type: row.if_type.unwrap_or(0),
        speed_bps: speed_bps(row.speed, row.high_speed),
        mac: row.phys_address.as_deref().and_then(mac),
        admin_up: sample.admin_up,
        sample,
    })
}

/// The interface speed from `ifSpeed` (bit/s, stuck at 2^32 − 1 from 4.3 Gbit/s up) and
/// `ifHighSpeed` (Mbit/s, rounded): `ifSpeed` while below its ceiling, since it is exact
/// where `ifHighSpeed` rounds (a 1.544 Mbit/s T1 reads 2), else `ifHighSpeed`.
fn speed_bps(speed: Option<u32>, high_speed_mbps: Option<u32>) -> Option<u64> {
    match (speed, high_speed_mbps) {
        (Some(speed), _) if speed > 0 && speed < u32::MAX => Some(speed.into()),
        (_, Some(high)) if high > 0 => Some(u64::from(high) * 1_000_000),
        (Some(speed), _) if speed > 0 => Some(speed.into()),
        _ => None,
    }
}

/// A MAC address as `aa:bb:cc:dd:ee:ff`; none for an empty or all-zero address.
fn mac(bytes: &[u8]) -> Option<String> {
    if bytes.iter().all(|byte| *byte == 0) {
        return None;
    }
    let mut text = String::with_capacity(bytes.len() * 3);
    for (position, byte) in bytes.iter().enumerate() {
        if position > 0 {
            text.push(':');
        }
        // Writing into a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn speed_prefers_the_exact_if_speed_below_its_ceiling() {
        // (ifSpeed, ifHighSpeed, speed)
        let table = [
            (Some(1_544_000), Some(2), Some(1_544_000)),
            (Some(u32::MAX), Some(10_000), Some(10_000_000_000)),
            (None, Some(100), Some(100_000_000)),
            (Some(u32::MAX), None, Some(u64::from(u32::MAX))),
            (Some(0), Some(0), None),
            (None, None, None),
        ];
        for (speed, high, expected) in table {
            assert_eq!(speed_bps(speed, high), expected, "{speed:?} {high:?}");
        }
    }

    #[test]
    fn macs_are_lowercase_hex_pairs_and_zero_is_none() {
        assert_eq!(
            mac(&[0x02, 0xFC, 0, 0, 0, 1]).as_deref(),
            Some("02:fc:00:00:00:01")
        );
        assert_eq!(mac(&[0; 6]), None);
        assert_eq!(mac(&[]), None);
    }

    #[test]
    fn a_row_falls_back_to_32_bit_counters_and_to_if_descr() {
        let mut row = Row {
            descr: Some("Ethernet0".to_owned()),
            name: Some(String::new()),
            admin_status: Some(1),
            oper_status: Some(2),
            in_octets: Some(10),
            out_octets: Some(20),
            hc_in_octets: Some(1_000),
            ..Row::default()
        };
        let found = interface(3, &row, 5, 6).unwrap();
        assert_eq!(found.name, "Ethernet0");
        assert!(found.admin_up && !found.sample.oper_up);
        assert!(!found.sample.counters_64bit);
        assert_eq!((found.sample.in_octets, found.sample.out_octets), (10, 20));
        row.hc_out_octets = Some(2_000);
        let sample = sample(&row, 5, 6).unwrap();
        assert!(sample.counters_64bit);
        assert_eq!((sample.in_octets, sample.out_octets), (1_000, 2_000));
        row.admin_status = None;
        assert_eq!(interface(3, &row, 5, 6), None);
    }
}
