//! The `alerts` scenario: alerts posted one per request to an integration whose incidents
//! page the benchmark's admin, and the time from an alert to its page.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use opsdesk_seed::{Generator, Scale};
use serde_json::Value;

use crate::Target;
use crate::harness::{ADMIN, Scratch, Server, create_admin, latencies, post_all};
use crate::stats::{Tally, median, ms, percentile};

/// Alerts through a generic integration: `alerts` distinct alerts about `services`
/// services (grouped by service), one per POST. Each service's incident pages the admin
/// through an escalation policy; a local SMTP sink notes when each page arrives, which
/// gives the time from the alert that opened an incident to its page.
pub(crate) async fn alert_ingest(
    target: &Target,
    clients: usize,
    count: usize,
    services: usize,
    runs: usize,
) -> anyhow::Result<()> {
    let backend = if target.postgres.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "alerts: {count} alerts about {services} services, {clients} clients, {runs} runs, {backend}"
    );
    let mut tally = Tally::default();
    let mut page_p99s = Vec::new();
    for run in 1..=runs {
        let scratch = Scratch::new(target.postgres.as_deref()).await?;
        let generator = Generator::new(target.seed, Scale::DEMO);
        let directory = generator.directory().clone();
        let requester = directory
            .customers
            .first()
            .context("the generated desk has no customers")?
            .email
            .clone();
        {
            let app = scratch.location.open().await?;
            create_admin(&app).await?;
            opsdesk_seed::demo::create_directory(&app, &directory).await?;
            app.db().clone().close().await;
        }
        let bodies: Vec<Value> = (0..count)
            .map(|n| {
                let service = n % services.max(1);
                serde_json::json!({
                    "status": "firing", "title": format!("service {service} is failing"),
                    "severity": "warning",
                    "labels": {"service": format!("svc-{service}"), "instance": format!("host-{n}")},
                })
            })
            .collect();
        let sink = MailSink::start().await?;
        let relay = format!("smtp://{}", sink.address);
        let env = [("OPSDESK_MAIL__SMTP_URL", relay.as_str())];
        let server = Server::start_with_env(&target.opsdesk, &scratch.location, &env).await?;
        server
            .post_json(
                "/api/v1/escalation-policies",
                &serde_json::json!({"name": "bench", "levels": [
                    {"targets": [{"user": ADMIN}], "wait_minutes": 60}]}),
            )
            .await?;
        let integration = server
            .post_json(
                "/api/v1/integrations",
                &serde_json::json!({"name": "bench", "kind": "generic", "requester": requester,
                                    "group_by": ["service"], "escalation_policy": "bench"}),
            )
            .await?;
        let url_path = integration["url_path"]
            .as_str()
            .context("a new integration has a URL")?;
        let url = format!("{}{url_path}", server.url);
        let (elapsed, answers) = post_all(&server, &url, 202, bodies, clients).await?;
        tally.record(run, "alerts", count, elapsed, latencies(&answers));
        // When the alert that opened each incident was sent.
        let mut opened_at = std::collections::HashMap::new();
        for answer in &answers {
            let receipt: Value = serde_json::from_str(&answer.body)?;
            for number in receipt["opened"].as_array().into_iter().flatten() {
                opened_at.insert(number.as_str().unwrap_or_default().to_owned(), answer.sent);
            }
        }
        let pages = sink
            .wait_for("] Paged: ", opened_at.len(), Duration::from_secs(120))
            .await;
        let mut to_page: Vec<Duration> = pages
            .iter()
            .filter_map(|(arrived, subject)| {
                let number = subject.strip_prefix('[')?.split(']').next()?;
                Some(arrived.saturating_duration_since(*opened_at.get(number)?))
            })
            .collect();
        if to_page.len() < opened_at.len() {
            bail!(
                "{} incidents, {} pages arrived",
                opened_at.len(),
                to_page.len()
            );
        }
        to_page.sort();
        println!(
            "    alert to page: {} incidents, {} pages, p50 {:.0} ms, p99 {:.0} ms",
            opened_at.len(),
            to_page.len(),
            ms(percentile(&to_page, 50.0)),
            ms(percentile(&to_page, 99.0))
        );
        page_p99s.push(ms(percentile(&to_page, 99.0)));
        drop(server);
        scratch.remove().await?;
    }
    tally.summary("alerts", "alerts", "target ≥ 5000/s on SQLite");
    println!(
        "alert to page median p99 over {} runs: {:.0} ms (target ≤ 1000 ms)",
        page_p99s.len(),
        median(&mut page_p99s)
    );
    Ok(())
}

/// A local SMTP server that takes every message and notes when it arrived and its subject:
/// where pages go during the alerts benchmark.
struct MailSink {
    address: std::net::SocketAddr,
    received: std::sync::Arc<std::sync::Mutex<Vec<(Instant, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl MailSink {
    async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let received = std::sync::Arc::default();
        let log = std::sync::Arc::clone(&received);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let log = std::sync::Arc::clone(&log);
                tokio::spawn(async move {
                    if let Err(error) = smtp_session(stream, log).await {
                        eprintln!("mail sink: {error}");
                    }
                });
            }
        });
        Ok(Self {
            address,
            received,
            task,
        })
    }

    /// The messages whose subject has `marker` once there are `count`, or when `timeout`
    /// ends.
    async fn wait_for(
        &self,
        marker: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            let received: Vec<(Instant, String)> = self
                .received
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|(_, subject)| subject.contains(marker))
                .collect();
            if received.len() >= count || Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Speaks just enough SMTP to take messages, noting each one's subject.
async fn smtp_session(
    stream: tokio::net::TcpStream,
    log: std::sync::Arc<std::sync::Mutex<Vec<(Instant, String)>>>,
) -> anyhow::Result<()> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (reader, mut writer) = stream.into_split();
    let mut lines = tokio::io::BufReader::new(reader).lines();
    writer.write_all(b"220 bench ESMTP\r\n").await?;
    let mut in_data = false;
    let mut subject = String::new();
    while let Some(line) = lines.next_line().await? {
        if in_data {
            if line == "." {
                in_data = false;
                let subject = std::mem::take(&mut subject);
                if let Ok(mut log) = log.lock() {
                    log.push((Instant::now(), subject));
                }
                writer.write_all(b"250 OK\r\n").await?;
            } else if subject.is_empty()
                && let Some(value) = line.strip_prefix("Subject: ")
            {
                subject = value.to_owned();
            }
            continue;
        }
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-bench\r\n250 8BITMIME\r\n",
            "DATA" => {
                in_data = true;
                b"354 end with a dot\r\n"
            }
            "QUIT" => {
                writer.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 OK\r\n",
        };
        writer.write_all(reply).await?;
    }
    Ok(())
}
