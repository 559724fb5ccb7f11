//! Diagnostics from a ticket: the monitors' probes run once against a target a person
//! chose, plus traceroute, each answering with what it saw and how long it took. The same
//! code runs on the server and, for diagnostics "from this host", in the host's agent.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use opsdesk_domain::diagnostics::{DiagnosticKind, DiagnosticOutcome};
use opsdesk_domain::monitor::{MonitorKind, ProbeSettings};

use crate::Prober;

/// How long one diagnostic may take, traceroute excepted.
const DIAGNOSTIC_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a traceroute may take: up to 20 hops, one second each.
const TRACEROUTE_TIMEOUT: Duration = Duration::from_secs(30);
/// Echo requests a ping sends.
const PINGS: u32 = 4;

/// Runs diagnostics. Cheap to clone.
#[derive(Clone)]
pub struct Diagnoser {
    prober: Prober,
}

impl Diagnoser {
    pub fn new() -> Result<Self, String> {
        Ok(Self {
            prober: Prober::new()?,
        })
    }

    /// Runs a `kind` diagnostic against `target`, given in its probe's form (see
    /// `opsdesk_domain::diagnostics::parse_target`).
    pub async fn run(&self, kind: DiagnosticKind, target: &str) -> DiagnosticOutcome {
        if kind == DiagnosticKind::Traceroute {
            return traceroute(target).await;
        }
        let (monitor_kind, settings) = match kind {
            DiagnosticKind::Ping => (
                MonitorKind::Icmp,
                ProbeSettings {
                    count: Some(PINGS),
                    max_loss_percent: Some(0),
                    ..ProbeSettings::default()
                },
            ),
            DiagnosticKind::Dns => (MonitorKind::Dns, ProbeSettings::default()),
            DiagnosticKind::Tcp => (MonitorKind::Tcp, ProbeSettings::default()),
            DiagnosticKind::Http => (
                MonitorKind::Http,
                ProbeSettings {
                    // A redirect is an answer worth seeing, not a failure to follow.
                    follow_redirects: Some(false),
                    expected_status: (200..400).collect(),
                    ..ProbeSettings::default()
                },
            ),
            DiagnosticKind::Tls | DiagnosticKind::Traceroute => {
                (MonitorKind::Tls, ProbeSettings::default())
            }
        };
        let (outcome, lines) = self
            .prober
            .inspect(monitor_kind, target, &settings, DIAGNOSTIC_TIMEOUT)
            .await;
        let summary = match outcome.error {
            Some(error) => error,
            None => success_summary(kind, &lines),
        };
        DiagnosticOutcome {
            ok: outcome.ok,
            duration_ms: outcome.latency_ms.unwrap_or_default().max(0).unsigned_abs(),
            summary,
            lines,
        }
    }
}

/// One line saying what a passed diagnostic found.
fn success_summary(kind: DiagnosticKind, lines: &[String]) -> String {
    let first = |prefix: &str| {
        lines
            .iter()
            .find_map(|line| line.strip_prefix(prefix))
            .map(str::to_owned)
    };
    match kind {
        DiagnosticKind::Ping => format!("{PINGS} of {PINGS} replies"),
        DiagnosticKind::Dns => format!(
            "resolves to {}",
            lines
                .iter()
                .map(|l| l.trim_start_matches("A "))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        DiagnosticKind::Tcp => first("connected to ")
            .map(|peer| format!("the port is open ({peer})"))
            .unwrap_or_else(|| "the port is open".to_owned()),
        DiagnosticKind::Http => lines.first().cloned().unwrap_or_default(),
        DiagnosticKind::Tls => first("days left: ")
            .map(|days| format!("the certificate is valid for {days} more days"))
            .unwrap_or_else(|| "the certificate is valid".to_owned()),
        DiagnosticKind::Traceroute => format!("{} hops", lines.len().saturating_sub(1)),
    }
}

/// The addresses `host` resolves to (itself when it is one); empty when it does not resolve.
pub async fn addresses(host: &str) -> Vec<IpAddr> {
    if let Ok(address) = host.parse::<IpAddr>() {
        return vec![address];
    }
    let lookup = tokio::time::timeout(DIAGNOSTIC_TIMEOUT, tokio::net::lookup_host((host, 0)));
    match lookup.await {
        Ok(Ok(found)) => {
            let mut addresses: Vec<IpAddr> = found.map(|a| a.ip()).collect();
            addresses.sort();
            addresses.dedup();
            addresses
        }
        _ => Vec::new(),
    }
}

/// Runs the system's `traceroute` (or `tracepath`): tracing needs the routers' ICMP
/// time-exceeded answers, which only raw sockets see, and these tools already handle them.
async fn traceroute(host: &str) -> DiagnosticOutcome {
    let started = Instant::now();
    let attempts: [(&str, &[&str]); 2] = [
        ("traceroute", &["-n", "-q", "1", "-w", "1", "-m", "20"]),
        ("tracepath", &["-n", "-m", "20"]),
    ];
    let mut outcome = Err("neither traceroute nor tracepath is installed on this host (Debian: apt install traceroute)".to_owned());
    for (program, options) in attempts {
        let mut command = tokio::process::Command::new(program);
        command.args(options).arg(host).kill_on_drop(true);
        match tokio::time::timeout(TRACEROUTE_TIMEOUT, command.output()).await {
            Err(_) => {
                outcome = Err(format!(
                    "{program} took more than {} s",
                    TRACEROUTE_TIMEOUT.as_secs()
                ));
                break;
            }
            Ok(Err(error)) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Ok(Err(error)) => {
                outcome = Err(format!("cannot run {program}: {error}"));
                break;
            }
            Ok(Ok(output)) => {
                let text = String::from_utf8_lossy(&output.stdout).into_owned()
                    + &String::from_utf8_lossy(&output.stderr);
                let lines: Vec<String> = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_owned)
                    .collect();
                outcome = if output.status.success() {
                    Ok(lines)
                } else {
                    Err(lines
                        .last()
                        .cloned()
                        .unwrap_or_else(|| format!("{program} failed: {}", output.status)))
                };
                break;
            }
        }
    }
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match outcome {
        Ok(lines) => DiagnosticOutcome {
            ok: true,
            duration_ms,
            summary: success_summary(DiagnosticKind::Traceroute, &lines),
            lines,
        },
        Err(summary) => DiagnosticOutcome {
            ok: false,
            duration_ms,
            summary,
            lines: Vec::new(),
        },
    }
}
