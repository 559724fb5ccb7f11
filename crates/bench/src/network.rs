//! `snmp`: network devices' interfaces polled over SNMP by a real `opsdesk serve`, with the
//! server's CPU measured in the steady state. The devices are simulated by a real net-snmp
//! `snmpd` (every device row points at it); each device gets `interfaces` monitors spread
//! over the daemon's real interfaces, so every check is the GET a switch port would need.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::Target;
use crate::agents::cpu_seconds;
use crate::harness::{Scratch, Server, create_admin, memory};
use crate::stats::median;

/// Devices added at once.
const ADDING_AT_ONCE: usize = 8;
/// Seconds between two checks of one interface.
const INTERVAL_S: u64 = 60;

#[allow(clippy::too_many_arguments)]
pub(crate) async fn snmp(
    target: &Target,
    snmpd: &str,
    community: &str,
    devices: usize,
    interfaces: usize,
    window: u64,
    runs: usize,
) -> anyhow::Result<()> {
    println!(
        "snmp: {devices} devices × {interfaces} interfaces, each checked every {INTERVAL_S} s \
         ({:.0} checks/s), measured for {window} s after one interval, {runs} runs",
        (devices * interfaces) as f64 / INTERVAL_S as f64
    );
    let mut cpu = Vec::new();
    for run in 1..=runs {
        let scratch = Scratch::new(target.postgres.as_deref()).await?;
        {
            let app = scratch.location.open().await?;
            create_admin(&app).await?;
            app.db().clone().close().await;
        }
        let server = Server::start(&target.opsdesk, &scratch.location).await?;
        let started = Instant::now();
        let added: Vec<anyhow::Result<Value>> = futures::stream::iter(0..devices)
            .map(|i| {
                let server = &server;
                async move {
                    server
                        .post_json(
                            "/api/v1/network-devices",
                            &json!({"address": snmpd, "name": format!("bench-switch-{i}"),
                                    "interval_s": INTERVAL_S,
                                    "snmp": {"version": "2c", "community": community}}),
                        )
                        .await
                }
            })
            .buffer_unordered(ADDING_AT_ONCE)
            .collect()
            .await;
        let added: Vec<Value> = added.into_iter().collect::<Result<_, _>>()?;
        // Each device watches `interfaces` ports: the discovered ones, then more monitors
        // over the same real interfaces.
        let extra: Vec<(i64, Value, usize)> = added
            .iter()
            .flat_map(|device| {
                let ports: Vec<Value> = device["interfaces"]
                    .as_array()
                    .map(|list| {
                        list.iter()
                            .filter(|i| !i["monitor"].is_null())
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default();
                let id = device["id"].as_i64().unwrap_or_default();
                let have = ports.len();
                (have..interfaces)
                    .filter(move |_| have > 0)
                    .map(move |n| (id, ports[n % have].clone(), n))
            })
            .collect();
        let made: Vec<anyhow::Result<Value>> = futures::stream::iter(extra)
            .map(|(device, port, n)| {
                let server = &server;
                async move {
                    server
                        .post_json(
                            "/api/v1/monitors",
                            &json!({"name": format!("device {device} port {n}"),
                                    "kind": "snmp_interface", "target": snmpd,
                                    "interval_s": INTERVAL_S,
                                    "interface": {"device": device, "if_index": port["index"],
                                                  "speed_bps": port["speed_bps"]}}),
                        )
                        .await
                }
            })
            .buffer_unordered(ADDING_AT_ONCE)
            .collect()
            .await;
        let made_ids: Vec<i64> = made
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?
            .iter()
            .filter_map(|m| m["id"].as_i64())
            .collect();
        let made = made_ids.len();
        println!(
            "  run {run}: {devices} devices discovered and {made} more interface monitors made in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        // One interval for every monitor to have had its first check, then the steady state.
        tokio::time::sleep(Duration::from_secs(INTERVAL_S)).await;
        let cpu_before = cpu_seconds(server.pid())?;
        let measuring = Instant::now();
        tokio::time::sleep(Duration::from_secs(window)).await;
        let elapsed = measuring.elapsed().as_secs_f64();
        let used = cpu_seconds(server.pid())? - cpu_before;
        let share = used / elapsed * 100.0;
        let (rss, hwm) = memory(server.pid())?;
        // Each interface's checks leave one traffic sample a minute (after the first): a
        // sample of monitors shows whether the checks kept to their schedule.
        let mut samples = Vec::new();
        for monitor in made_ids.iter().step_by((made_ids.len() / 20).max(1)) {
            let traffic = server
                .http
                .get(format!(
                    "{}/api/v1/monitors/{monitor}/traffic?hours=1",
                    server.url
                ))
                .bearer_auth(&server.token)
                .send()
                .await?
                .json::<Value>()
                .await?;
            samples.push(traffic.as_array().map_or(0, Vec::len) as f64);
        }
        // A monitor made at the start has had its first check plus one per interval since.
        let expected = window / INTERVAL_S;
        println!(
            "    steady state: server CPU {used:.1} s in {elapsed:.0} s = {share:.1} % of a core, VmRSS {rss:.0} MiB, VmHWM {hwm:.0} MiB; traffic samples per interface {:.1} (on schedule: {expected} to {})",
            median(&mut samples),
            expected + 1
        );
        cpu.push(share);
        drop(server);
        scratch.remove().await?;
    }
    println!(
        "snmp steady state, median over {runs} runs: server CPU {:.1} % of a core (target ≤ 25 %)",
        median(&mut cpu)
    );
    Ok(())
}
