//! `backup`: `opsdesk backup` of a desk `load` filled, taken while a real `opsdesk serve` on
//! it answers searches and creates tickets; throughput in MB/s of the database backed up,
//! and what the requests waited meanwhile.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::Target;
use crate::harness::{Location, Server};
use crate::stats::{median, ms, percentile};

/// Requests a client sends while a backup runs, one after another, timed.
async fn serve_meanwhile(
    server: Arc<Server>,
    stop: Arc<AtomicBool>,
    writer: bool,
) -> Vec<Duration> {
    let mut latencies = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let sent = Instant::now();
        let ok = if writer {
            server
                .post_json(
                    "/api/v1/tickets",
                    &json!({"type": "incident", "title": format!("Written during the backup {n}"),
                            "impact": "low", "urgency": "low"}),
                )
                .await
                .is_ok()
        } else {
            server
                .http
                .get(format!(
                    "{}/api/v1/tickets?q=status:open%20printer&limit=25",
                    server.url
                ))
                .bearer_auth(&server.token)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        };
        if ok {
            latencies.push(sent.elapsed());
        }
    }
    latencies.sort();
    latencies
}

pub(crate) async fn backup(
    target: &Target,
    location: &Location,
    runs: usize,
) -> anyhow::Result<()> {
    let server = Arc::new(Server::start(&target.opsdesk, location).await?);
    let sets =
        tempfile::tempdir_in(std::env::var_os("OPSDESK_BENCH_BACKUP_DIR").unwrap_or(".".into()))
            .context("cannot create a folder for the backups")?;
    let mut rates = Vec::new();
    for run in 1..=runs {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = [false, false, true]
            .into_iter()
            .map(|writer| tokio::spawn(serve_meanwhile(server.clone(), stop.clone(), writer)))
            .collect();
        let set = sets.path().join(format!("run-{run}"));
        let started = Instant::now();
        let output = tokio::process::Command::new(&target.opsdesk)
            .arg("backup")
            .arg("--to")
            .arg(&set)
            .args(location.args())
            .env("OPSDESK_LOG", "warn")
            .output()
            .await?;
        let took = started.elapsed();
        stop.store(true, Ordering::SeqCst);
        let mut reads = Vec::new();
        let mut writes = Vec::new();
        for (i, client) in clients.into_iter().enumerate() {
            let latencies = client.await?;
            if i == 2 {
                writes = latencies
            } else {
                reads.extend(latencies)
            }
        }
        reads.sort();
        if !output.status.success() {
            bail!("backup failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(set.join("manifest.json"))?)?;
        let bytes = manifest["file"]["bytes"].as_u64().unwrap_or_default() as f64;
        let rate = bytes / took.as_secs_f64() / 1e6;
        println!(
            "  run {run}: {:.0} MB in {:.1} s = {rate:.0} MB/s; meanwhile {} searches (p99 {:.0} ms) and {} creations (p99 {:.0} ms)",
            bytes / 1e6,
            took.as_secs_f64(),
            reads.len(),
            ms(percentile(&reads, 99.0)),
            writes.len(),
            ms(percentile(&writes, 99.0)),
        );
        rates.push(rate);
        let verify_started = Instant::now();
        let verified = Command::new(&target.opsdesk)
            .args(["backup", "verify"])
            .arg(&set)
            .args(location.args())
            .env("OPSDESK_LOG", "warn")
            .output()?;
        if !verified.status.success() {
            bail!(
                "verify failed: {}",
                String::from_utf8_lossy(&verified.stderr)
            );
        }
        println!(
            "  run {run}: backup verify took {:.1} s",
            verify_started.elapsed().as_secs_f64()
        );
        std::fs::remove_dir_all(&set)?;
    }
    println!(
        "backup while serving, median over {runs} runs: {:.0} MB/s (target ≥ 100 MB/s)",
        median(&mut rates)
    );
    Ok(())
}
