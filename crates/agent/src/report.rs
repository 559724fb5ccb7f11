//! The reporting loop: collect, send what changed, remember what the server took, and keep
//! the report in the spool while the server is away.

use std::path::PathBuf;

use opsdesk_domain::inventory::{Report, Section};
use tokio::time::{Instant, sleep, sleep_until};

use crate::client::{SendError, ServerClient};
use crate::delta::{acknowledge, build_report};
use crate::inventory::{Collector, Inventory};
use crate::schedule::{backoff, jittered, report_interval, start_delay};
use crate::state::{AgentState, StateDir};
use crate::work::Worker;
use crate::{AgentError, DEFAULT_STATE_DIR};

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The folder holding `agent.json` and `spool.json`.
    pub state_dir: PathBuf,
    /// Send one report now and return, instead of reporting on schedule for ever.
    pub once: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            once: false,
        }
    }
}

/// Reports this machine's inventory to the server it enrolled with, and does the work the
/// server hands it (approved runbook scripts, diagnostics). With `once`, sends one report,
/// does the work waiting, and returns; otherwise reports and asks for work on the server's
/// schedule and returns only when it must stop (the credential is refused, or the state
/// folder is unusable).
pub async fn run(options: RunOptions) -> Result<(), AgentError> {
    let state = StateDir::new(&options.state_dir);
    let agent = state.load_agent()?;
    let client = ServerClient::new(&agent)?;
    let worker = Worker::new(client.clone(), &options.state_dir);
    let mut reporter = Reporter {
        client,
        state,
        agent,
        collector: Collector::default(),
    };
    if options.once {
        reporter.report_once().await?;
        worker.drain().await
    } else {
        tokio::select! {
            stopped = reporter.report_on_schedule() => stopped,
            stopped = worker.poll_on_schedule() => stopped,
        }
    }
}

/// What became of one report.
enum Attempt {
    /// Taken; `resend` when the server asked for sections in full again.
    Delivered { resend: bool },
    /// Not taken for now: kept in the spool.
    Unavailable {
        report: Box<Report>,
        retry_after: Option<std::time::Duration>,
        detail: String,
    },
    /// Refused as it is; sending it again would not help.
    Rejected { status: u16, detail: String },
}

struct Reporter {
    client: ServerClient,
    state: StateDir,
    agent: AgentState,
    collector: Collector,
}

/// A random number for jitter; without a random source, the process id still spreads
/// machines apart.
fn random() -> u64 {
    getrandom::u64().unwrap_or_else(|_| u64::from(std::process::id()).wrapping_mul(2_654_435_761))
}

fn section_names(report: &Report) -> String {
    let carried: Vec<Section> = report.carried().into_iter().map(|(s, _)| s).collect();
    if carried.is_empty() {
        "none".to_owned()
    } else {
        carried
            .iter()
            .map(Section::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Reporter {
    fn interval(&self) -> std::time::Duration {
        report_interval(self.agent.report_every_seconds)
    }

    /// Sends `report` and records the outcome: what the server took in `agent.json`, an
    /// unsent report in the spool.
    async fn attempt(&mut self, report: Report) -> Result<Attempt, AgentError> {
        match self.client.send(&report).await {
            Ok(reply) => {
                acknowledge(&mut self.agent.acknowledged, &report, &reply);
                self.agent.report_every_seconds = reply.report_every_seconds;
                // Unsaved, the hashes still hold in memory; after a restart the agent
                // only sends more than it needed to.
                if let Err(error) = self.state.save_agent(&self.agent) {
                    tracing::warn!(%error, "cannot record what the server acknowledged");
                }
                if let Err(error) = self.state.remove_spool() {
                    tracing::warn!(%error, "cannot empty the spool");
                }
                tracing::info!(
                    in_full = %section_names(&report),
                    resend = ?reply.resend,
                    "report delivered"
                );
                Ok(Attempt::Delivered {
                    resend: !reply.resend.is_empty(),
                })
            }
            Err(SendError::Unavailable {
                detail,
                retry_after,
            }) => {
                tracing::warn!(%detail, "the server is unavailable; the report waits in the spool");
                if let Err(error) = self.state.save_spool(&report) {
                    tracing::warn!(%error, "cannot keep the report in the spool");
                }
                Ok(Attempt::Unavailable {
                    report: Box::new(report),
                    retry_after,
                    detail,
                })
            }
            Err(SendError::CredentialRefused) => {
                let _ = self.state.remove_spool();
                Err(AgentError::CredentialRefused)
            }
            Err(SendError::Rejected { status, detail }) => {
                tracing::error!(status, %detail, "the server rejected the report");
                let _ = self.state.remove_spool();
                Ok(Attempt::Rejected { status, detail })
            }
        }
    }

    async fn report_once(&mut self) -> Result<(), AgentError> {
        let inventory = self.collector.collect().await;
        let mut report = build_report(&inventory, &self.agent.acknowledged);
        // At most one extra report, for the sections the server asked for again.
        for _ in 0..2 {
            match self.attempt(report).await? {
                Attempt::Delivered { resend: false } => return Ok(()),
                Attempt::Delivered { resend: true } => {
                    report = build_report(&inventory, &self.agent.acknowledged);
                }
                Attempt::Unavailable { detail, .. } => {
                    return Err(AgentError::Unavailable {
                        detail: format!(
                            "{detail}; the report is kept in {} until the next one replaces it",
                            self.state.spool_path().display()
                        ),
                    });
                }
                Attempt::Rejected { status, detail } => {
                    return Err(AgentError::ReportRejected { status, detail });
                }
            }
        }
        Ok(())
    }

    async fn report_on_schedule(&mut self) -> Result<(), AgentError> {
        // Machines started together (after a power cut) should not report together.
        sleep(start_delay(random())).await;
        // A report spooled before a restart goes first; a fresh one follows right away.
        let mut pending = self.state.load_spool();
        let mut inventory: Option<Inventory> = None;
        let mut next_collection = Instant::now();
        let mut failures = 0_u32;
        let mut may_resend = true;
        loop {
            let report = match pending.take() {
                Some(report) => report,
                None => {
                    let collected = self.collector.collect().await;
                    let report = build_report(&collected, &self.agent.acknowledged);
                    inventory = Some(collected);
                    next_collection = Instant::now() + jittered(self.interval(), random());
                    may_resend = true;
                    report
                }
            };
            let wake_at = match self.attempt(report).await? {
                Attempt::Delivered { resend } => {
                    failures = 0;
                    if resend && may_resend {
                        // Sent again right away, once; without the snapshot at hand a new
                        // collection carries the sections instead.
                        may_resend = false;
                        pending = inventory
                            .as_ref()
                            .map(|inventory| build_report(inventory, &self.agent.acknowledged));
                        if pending.is_none() {
                            next_collection = Instant::now();
                        }
                        continue;
                    }
                    next_collection
                }
                Attempt::Unavailable {
                    report,
                    retry_after,
                    ..
                } => {
                    failures = failures.saturating_add(1);
                    let wait = retry_after
                        .unwrap_or_else(|| jittered(backoff(failures, self.interval()), random()));
                    let wake_at = Instant::now() + wait;
                    // Until the next collection the same report is retried; after it, a
                    // newer one replaces it.
                    if wake_at < next_collection {
                        pending = Some(*report);
                    }
                    wake_at
                }
                Attempt::Rejected { .. } => next_collection,
            };
            sleep_until(wake_at).await;
        }
    }
}
