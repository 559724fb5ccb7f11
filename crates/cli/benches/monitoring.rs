//! Monitoring benchmarks (`cargo bench -p opsdesk --bench monitoring`), results in
//! docs/monitoring.md:
//! 1. 10,000 HTTP monitors at a 60 s interval against a local target (a second `opsdesk`
//!    process's /healthz): CPU of the opsdesk server (API, scheduler, probes, SQLite) as a
//!    share of one core, and the scheduling lag (due → claimed) p50/p99.
//! 2. Heartbeat pings accepted per second over HTTP on SQLite (synchronous = FULL: each
//!    ping is committed before its 200).
//!
//! `MONITORS`, `MEASURE_S` and `PING_S` in the environment change the sizes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opsdesk_app::Principal;
use opsdesk_app::monitors::NewMonitor;
use opsdesk_testkit::{Backend, ServerProcess, TestDb, TestServer};

const BIN: &str = env!("CARGO_BIN_EXE_opsdesk");

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time (user + system) this process has used, from /proc.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports in clock ticks of 1/100 s.
    Duration::from_millis(ticks * 10)
}

fn monitor(name: String, target: &str) -> NewMonitor {
    serde_json::from_value(serde_json::json!({
        "name": name, "kind": "http", "target": target, "interval_s": 60, "timeout_s": 10,
        "incident": {"requester": "admin@example.com"},
    }))
    .unwrap()
}

#[tokio::main]
async fn main() {
    let monitors = env_or("MONITORS", 10_000);
    let measure = Duration::from_secs(env_or("MEASURE_S", 120));
    let ping_for = Duration::from_secs(env_or("PING_S", 10));

    let target_db = TestDb::new(Backend::Sqlite).await;
    let target = ServerProcess::start(BIN, &target_db.cli_args()).await;
    let target_url = format!("{}/healthz", target.url);

    let server = TestServer::start(Backend::Sqlite).await;
    let system = Principal::system("bench");
    let started = Instant::now();
    let mut created = 0;
    while created < monitors {
        let batch: Vec<_> = (created..(created + 200).min(monitors))
            .map(|n| {
                server
                    .app
                    .create_monitor(&system, monitor(format!("Service {n}"), &target_url))
            })
            .collect();
        created += batch.len() as u64;
        for result in futures::future::join_all(batch).await {
            result.unwrap();
        }
    }
    println!(
        "created {monitors} monitors in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // The first round is spread over one interval; measure from the second minute on.
    tokio::time::sleep(Duration::from_secs(65)).await;
    server.monitor_stats.reset_lags();
    let recorded_before = server.monitor_stats.recorded.load(Ordering::Relaxed);
    let (cpu_before, wall_before) = (cpu_time(), Instant::now());
    tokio::time::sleep(measure).await;
    let cpu = cpu_time() - cpu_before;
    let wall = wall_before.elapsed();
    let recorded = server.monitor_stats.recorded.load(Ordering::Relaxed) - recorded_before;
    println!(
        "http monitors: {monitors} at 60 s; over {:.0} s: {:.1} checks/s recorded, \
         CPU {:.1} % of one core, scheduling lag p50 {} ms, p99 {} ms, max {} ms",
        wall.as_secs_f64(),
        recorded as f64 / wall.as_secs_f64(),
        cpu.as_secs_f64() * 100.0 / wall.as_secs_f64(),
        server.monitor_stats.lag_percentile(50.0).unwrap_or(-1),
        server.monitor_stats.lag_percentile(99.0).unwrap_or(-1),
        server.monitor_stats.lag_percentile(100.0).unwrap_or(-1),
    );
    drop(target);

    // Heartbeat pings over HTTP, 64 at a time, each committed before its answer.
    let beats = 100;
    let mut urls = Vec::new();
    for n in 0..beats {
        let reply = server
            .admin()
            .post(
                "/api/v1/monitors",
                serde_json::json!({"name": format!("Job {n}"), "kind": "heartbeat", "interval_s": 3600}),
            )
            .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        urls.push(reply.body["ping_url"].as_str().unwrap().to_owned());
    }
    let urls = Arc::new(urls);
    let accepted = Arc::new(AtomicU64::new(0));
    let http = reqwest::Client::new();
    let deadline = Instant::now() + ping_for;
    let start = Instant::now();
    let workers: Vec<_> = (0..64)
        .map(|w| {
            let (urls, accepted, http) = (urls.clone(), accepted.clone(), http.clone());
            tokio::spawn(async move {
                let mut n = w;
                while Instant::now() < deadline {
                    let reply = http.post(&urls[n % urls.len()]).send().await.unwrap();
                    assert_eq!(reply.status(), 200);
                    accepted.fetch_add(1, Ordering::Relaxed);
                    n += 64;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }
    let pings = accepted.load(Ordering::Relaxed);
    println!(
        "heartbeat pings: {pings} in {:.1} s = {:.0} pings/s accepted (SQLite, synchronous = FULL)",
        start.elapsed().as_secs_f64(),
        pings as f64 / start.elapsed().as_secs_f64()
    );
}
