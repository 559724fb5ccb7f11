//! The SNMP client against a real net-snmp `snmpd`, started by `.ci/setup.d/50-snmpd.sh`,
//! which exports `OPSDESK_TEST_SNMPD` and the credentials. Without it the tests skip, unless
//! `OPSDESK_REQUIRE_SERVICES=1`, when they fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::process::Command;
use std::time::{Duration, Instant};

use opsdesk_domain::network::{InterfaceSample, InterfaceState, InterfaceThresholds, evaluate};
use opsdesk_network::{
    AuthProtocol, Credentials, Device, PrivacyProtocol, SnmpClient, SnmpError, Trap, TrapListener,
    discover, poll,
};

const TIMEOUT: Duration = Duration::from_secs(2);
/// ifOperStatus, whose cell for the agent's flip index the setup script made writable.
const IF_OPER_STATUS: [u32; 10] = [1, 3, 6, 1, 2, 1, 2, 2, 1, 8];

/// The test agent and its credentials, as the setup script exported them.
struct Agent {
    address: String,
    community: String,
    write_community: String,
    v3_user: String,
    v3_auth_password: String,
    v3_privacy_password: String,
    /// The interface whose ifOperStatus the tests may set (the loopback).
    flip_index: u32,
}

fn setting(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run .ci/setup.d/50-snmpd.sh with OPSDESK_CI_ENV and source it")
    })
}

fn agent() -> Option<Agent> {
    let Ok(address) = std::env::var("OPSDESK_TEST_SNMPD") else {
        assert!(
            std::env::var("OPSDESK_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "OPSDESK_TEST_SNMPD is not set but OPSDESK_REQUIRE_SERVICES=1: \
             run .ci/setup.d/50-snmpd.sh with OPSDESK_CI_ENV and source the file it writes"
        );
        eprintln!("skipped: OPSDESK_TEST_SNMPD is not set (see .ci/setup.d/50-snmpd.sh)");
        return None;
    };
    Some(Agent {
        address,
        community: setting("OPSDESK_TEST_SNMPD_COMMUNITY"),
        write_community: setting("OPSDESK_TEST_SNMPD_WRITE_COMMUNITY"),
        v3_user: setting("OPSDESK_TEST_SNMPD_V3_USER"),
        v3_auth_password: setting("OPSDESK_TEST_SNMPD_V3_AUTH_PASSWORD"),
        v3_privacy_password: setting("OPSDESK_TEST_SNMPD_V3_PRIVACY_PASSWORD"),
        flip_index: setting("OPSDESK_TEST_SNMPD_FLIP_INDEX").parse().unwrap(),
    })
}

impl Agent {
    fn v2c(&self) -> Credentials {
        Credentials::V2c {
            community: self.community.clone(),
        }
    }

    fn v3(&self) -> Credentials {
        Credentials::V3 {
            user: self.v3_user.clone(),
            auth_protocol: AuthProtocol::Sha1,
            auth_password: self.v3_auth_password.clone(),
            privacy_protocol: PrivacyProtocol::Aes128,
            privacy_password: self.v3_privacy_password.clone(),
        }
    }
}

/// Fails the test instead of hanging when `future` takes longer than `limit`.
async fn within<T>(limit: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("no result within {limit:?}"))
}

fn loopback(device: &Device, index: u32) -> &opsdesk_network::Interface {
    device
        .interfaces
        .iter()
        .find(|interface| interface.index == index)
        .unwrap_or_else(|| panic!("no interface {index} in {:#?}", device.interfaces))
}

fn assert_sane(device: &Device, agent: &Agent) {
    assert!(!device.system.name.is_empty(), "{:?}", device.system);
    assert!(!device.system.descr.is_empty(), "{:?}", device.system);
    assert!(
        device.system.object_id.starts_with("1.3.6.1.4.1."),
        "{:?}",
        device.system
    );
    let indexes: Vec<u32> = device.interfaces.iter().map(|i| i.index).collect();
    assert!(
        indexes.windows(2).all(|pair| pair[0] < pair[1]),
        "{indexes:?}"
    );
    for interface in &device.interfaces {
        assert!(!interface.name.is_empty(), "{interface:?}");
        assert_eq!(
            interface.admin_up, interface.sample.admin_up,
            "{interface:?}"
        );
    }
    let lo = loopback(device, agent.flip_index);
    assert_eq!(lo.name, "lo");
    assert_eq!(lo.if_type, 24, "softwareLoopback: {lo:?}");
    assert!(lo.admin_up, "{lo:?}");
    assert_eq!(lo.mac, None, "the loopback has no hardware address: {lo:?}");
    assert!(lo.speed_bps.is_some_and(|speed| speed > 0), "{lo:?}");
    assert!(lo.sample.counters_64bit, "net-snmp serves ifXTable: {lo:?}");
    assert!(lo.sample.in_octets > 0, "SNMP itself runs over lo: {lo:?}");
}

#[tokio::test]
async fn discovery_over_v2c_finds_the_system_and_the_loopback() {
    let Some(agent) = agent() else { return };
    let device = within(
        Duration::from_secs(30),
        discover(&agent.address, &agent.v2c(), TIMEOUT),
    )
    .await
    .unwrap();
    assert_sane(&device, &agent);
    assert_eq!(device.system.name, "opsdesk-test-agent");
    assert_eq!(device.system.location, "opsdesk CI rack 1");
    assert_eq!(device.system.contact, "noc@desk.test");
}

#[tokio::test]
async fn discovery_over_v3_auth_priv_sees_what_v2c_sees() {
    let Some(agent) = agent() else { return };
    // Samples carry the time of the clock the application gives.
    let client = SnmpClient::new().await.unwrap().with_clock(|| 1_234);
    let over_v3 = within(
        Duration::from_secs(30),
        client.discover(&agent.address, &agent.v3(), TIMEOUT),
    )
    .await
    .unwrap();
    assert_sane(&over_v3, &agent);
    assert!(over_v3.interfaces.iter().all(|i| i.sample.at_ms == 1_234));
    let over_v2c = client
        .discover(&agent.address, &agent.v2c(), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(over_v3.system.name, over_v2c.system.name);
    assert_eq!(over_v3.system.descr, over_v2c.system.descr);
    let names = |device: &Device| -> Vec<(u32, String)> {
        device
            .interfaces
            .iter()
            .map(|i| (i.index, i.name.clone()))
            .collect()
    };
    assert_eq!(names(&over_v3), names(&over_v2c));

    // The shared client polls again with the engine and keys it already has.
    for _ in 0..3 {
        let samples = client
            .poll(&agent.address, &agent.v3(), &[agent.flip_index], TIMEOUT)
            .await
            .unwrap();
        assert_eq!(samples.len(), 1);
        assert_eq!(samples[0].1.at_ms, 1_234);
    }
}

#[tokio::test]
async fn wrong_v3_passwords_and_users_are_authentication_errors() {
    let Some(agent) = agent() else { return };
    let Credentials::V3 {
        user,
        auth_protocol,
        auth_password,
        privacy_protocol,
        privacy_password,
    } = agent.v3()
    else {
        unreachable!()
    };
    let cases = [
        (
            Credentials::V3 {
                user: user.clone(),
                auth_protocol,
                auth_password: "not-the-password".to_owned(),
                privacy_protocol,
                privacy_password: privacy_password.clone(),
            },
            "check the authentication and privacy passwords",
        ),
        (
            Credentials::V3 {
                user: user.clone(),
                auth_protocol,
                auth_password: auth_password.clone(),
                privacy_protocol,
                privacy_password: "not-the-password".to_owned(),
            },
            "check the authentication and privacy passwords",
        ),
        (
            Credentials::V3 {
                user: user.clone(),
                auth_protocol: AuthProtocol::Sha256,
                auth_password: auth_password.clone(),
                privacy_protocol,
                privacy_password: privacy_password.clone(),
            },
            "check the authentication and privacy passwords",
        ),
        (
            Credentials::V3 {
                user: "nobody-here".to_owned(),
                auth_protocol,
                auth_password: auth_password.clone(),
                privacy_protocol,
                privacy_password: privacy_password.clone(),
            },
            "unknown user",
        ),
    ];
    for (credentials, expected) in cases {
        let started = Instant::now();
        let error = within(
            Duration::from_secs(10),
            discover(&agent.address, &credentials, TIMEOUT),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(error, SnmpError::Authentication { .. }),
            "{credentials:?}: {error:?}"
        );
        assert!(error.to_string().contains(expected), "{error}");
        assert!(started.elapsed() < TIMEOUT * 2, "{:?}", started.elapsed());
    }
}

#[tokio::test]
async fn a_wrong_community_times_out_within_the_bound() {
    let Some(agent) = agent() else { return };
    let wrong = Credentials::V2c {
        community: "not-the-community".to_owned(),
    };
    let timeout = Duration::from_millis(600);
    let started = Instant::now();
    let error = within(
        Duration::from_secs(10),
        poll(&agent.address, &wrong, &[agent.flip_index], timeout),
    )
    .await
    .unwrap_err();
    assert!(error.is_timeout(), "{error:?}");
    assert!(error.to_string().contains("community"), "{error}");
    assert!(started.elapsed() < timeout * 3, "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_unknown_host_is_an_address_error() {
    let Some(agent) = agent() else { return };
    let error = within(
        Duration::from_secs(10),
        poll("no-such-host.invalid", &agent.v2c(), &[1], TIMEOUT),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            error,
            SnmpError::InvalidAddress { .. } | SnmpError::Unreachable { .. }
        ),
        "{error:?}"
    );
}

/// Polls until `accept` holds for the loopback's sample (the agent caches interface
/// counters for a few seconds), making traffic on lo with each poll.
async fn poll_until(
    client: &SnmpClient,
    agent: &Agent,
    accept: impl Fn(&InterfaceSample) -> bool,
) -> InterfaceSample {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let samples = client
            .poll(&agent.address, &agent.v2c(), &[agent.flip_index], TIMEOUT)
            .await
            .unwrap();
        let [(index, sample)] = samples.as_slice() else {
            panic!("one sample expected: {samples:?}");
        };
        assert_eq!(*index, agent.flip_index);
        if accept(sample) {
            return *sample;
        }
        assert!(Instant::now() < deadline, "no matching sample: {sample:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn polled_counters_grow_with_traffic_and_give_rates() {
    let Some(agent) = agent() else { return };
    let client = SnmpClient::new().await.unwrap();
    let device = client
        .discover(&agent.address, &agent.v2c(), TIMEOUT)
        .await
        .unwrap();
    let speed = loopback(&device, agent.flip_index).speed_bps;
    let first = poll_until(&client, &agent, |_| true).await;
    assert!(first.counters_64bit, "{first:?}");
    let later = poll_until(&client, &agent, |s| s.in_octets > first.in_octets).await;
    assert!(later.out_octets > first.out_octets, "{first:?} {later:?}");
    assert!(later.uptime_centis >= first.uptime_centis);
    assert!(later.at_ms > first.at_ms);

    let check = evaluate(&InterfaceThresholds::default(), Some(&first), &later, speed);
    let rates = check
        .rates
        .expect("two samples of a running agent give rates");
    assert!(rates.in_bps > 0.0 && rates.out_bps > 0.0, "{rates:?}");
    assert!(
        rates.utilisation_pct.is_some_and(|pct| pct > 0.0),
        "{rates:?}"
    );
    assert_eq!(check.state, InterfaceState::Up, "{check:?}");

    // Unknown indexes are left out, known ones kept, duplicates read once.
    let samples = client
        .poll(
            &agent.address,
            &agent.v2c(),
            &[agent.flip_index, 999_999, agent.flip_index],
            TIMEOUT,
        )
        .await
        .unwrap();
    let indexes: Vec<u32> = samples.iter().map(|(index, _)| *index).collect();
    assert_eq!(indexes, [agent.flip_index]);
}

/// Sets ifOperStatus of an interface with the write community, from a thread of its own so
/// it also works from `Drop`.
fn set_oper_status(agent: &Agent, index: u32, status: i32) -> Result<(), String> {
    let address = agent.address.clone();
    let community = agent.write_community.clone();
    let mut cell = IF_OPER_STATUS.to_vec();
    cell.push(index);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| error.to_string())?;
        runtime.block_on(async {
            let client = async_snmp::Client::builder(address, async_snmp::Auth::v2c(community))
                .request_timeout(TIMEOUT)
                .connect()
                .await
                .map_err(|error| error.to_string())?;
            client
                .set(
                    &async_snmp::Oid::from(cell),
                    async_snmp::Value::Integer(status),
                )
                .await
                .map(drop)
                .map_err(|error| error.to_string())
        })
    })
    .join()
    .map_err(|_| "the SET thread panicked".to_owned())?
}

/// Marks an interface down on the agent and up again when dropped, even when the test
/// fails in between.
struct OperDown<'a> {
    agent: &'a Agent,
    index: u32,
}

impl<'a> OperDown<'a> {
    fn new(agent: &'a Agent, index: u32) -> Self {
        set_oper_status(agent, index, 2).unwrap();
        Self { agent, index }
    }
}

impl Drop for OperDown<'_> {
    fn drop(&mut self) {
        // No panic here: this may run while a failed assertion unwinds.
        if let Err(error) = set_oper_status(self.agent, self.index, 1) {
            eprintln!("could not set interface {} up again: {error}", self.index);
        }
    }
}

#[tokio::test]
async fn an_interface_set_down_is_reported_down_then_up_again() {
    let Some(agent) = agent() else { return };
    let client = SnmpClient::new().await.unwrap();
    let thresholds = InterfaceThresholds::default();
    let before = poll_until(&client, &agent, |_| true).await;

    let down = OperDown::new(&agent, agent.flip_index);
    let during = poll_until(&client, &agent, |s| !s.oper_up).await;
    let check = evaluate(&thresholds, Some(&before), &during, None);
    assert_eq!(check.state, InterfaceState::Down);
    assert_eq!(check.reason.as_deref(), Some("oper status is down"));
    assert!(
        during.admin_up,
        "only the oper status was changed: {during:?}"
    );
    drop(down);

    let after = poll_until(&client, &agent, |s| s.oper_up).await;
    let check = evaluate(&thresholds, Some(&during), &after, None);
    assert_eq!((check.state, check.reason), (InterfaceState::Up, None));
}

/// Sends a v2c trap with net-snmp's `snmptrap`.
fn send_trap(port: u16, community: &str, trap_oid: &str, varbinds: &[&str]) {
    let status = Command::new("snmptrap")
        .env("MIBS", "")
        .args([
            "-v",
            "2c",
            "-c",
            community,
            &format!("127.0.0.1:{port}"),
            "",
            trap_oid,
        ])
        .args(varbinds)
        .status()
        .expect("snmptrap runs (the setup script installs the snmp package)");
    assert!(status.success(), "snmptrap: {status}");
}

async fn next_trap(listener: &mut TrapListener) -> Trap {
    within(Duration::from_secs(10), listener.next())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_link_down_trap_from_snmptrap_reaches_the_listener() {
    let Some(_agent) = agent() else { return };
    let mut listener = TrapListener::bind("127.0.0.1:0", ["public"]).await.unwrap();
    let port = listener.local_addr().port();
    send_trap(
        port,
        "public",
        "1.3.6.1.6.3.1.1.5.3",
        &["1.3.6.1.2.1.2.2.1.1.2", "i", "2"],
    );
    let trap = next_trap(&mut listener).await;
    assert_eq!(trap.trap_oid, "1.3.6.1.6.3.1.1.5.3");
    assert_eq!(trap.name, Some("linkDown"));
    assert_eq!(trap.if_index, Some(2));
    assert_eq!(trap.version, "2c");
    assert_eq!(trap.source, std::net::IpAddr::from([127, 0, 0, 1]));
    assert_eq!(
        trap.varbinds,
        [("1.3.6.1.2.1.2.2.1.1.2".to_owned(), "2".to_owned())]
    );
}

#[tokio::test]
async fn garbage_and_unknown_communities_are_skipped_and_the_listener_carries_on() {
    let Some(_agent) = agent() else { return };
    let mut listener = TrapListener::bind("127.0.0.1:0", ["public", "monitoring"])
        .await
        .unwrap();
    let port = listener.local_addr().port();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .send_to(b"\x30\x03\x02\x01not snmp at all", ("127.0.0.1", port))
        .unwrap();
    send_trap(port, "intruder", "1.3.6.1.6.3.1.1.5.4", &[]);
    send_trap(port, "monitoring", "1.3.6.1.6.3.1.1.5.1", &[]);
    let trap = next_trap(&mut listener).await;
    assert_eq!(trap.name, Some("coldStart"), "{trap:?}");
    assert_eq!(trap.if_index, None);

    send_trap(port, "public", "1.3.6.1.4.1.8072.9999.1", &[]);
    let trap = next_trap(&mut listener).await;
    assert_eq!(trap.trap_oid, "1.3.6.1.4.1.8072.9999.1");
    assert_eq!(trap.name, None);
}

#[tokio::test]
async fn a_listener_needs_an_allowed_community_and_a_free_address() {
    let Some(_agent) = agent() else { return };
    let error = TrapListener::bind("127.0.0.1:0", [""; 0])
        .await
        .err()
        .unwrap();
    assert!(
        matches!(error, SnmpError::InvalidCredentials { .. }),
        "{error:?}"
    );
    let taken = TrapListener::bind("127.0.0.1:0", ["public"]).await.unwrap();
    let error = TrapListener::bind(&taken.local_addr().to_string(), ["public"])
        .await
        .err()
        .unwrap();
    assert!(matches!(error, SnmpError::Bind { .. }), "{error:?}");
}
