//! Diagnostics from a ticket: ping, traceroute, DNS, TCP, HTTP and TLS checks against the
//! ticket's item (or a host a person types), run from the server or from a chosen host's
//! agent, with the result added to the ticket as an internal note. Staff only, a few a
//! minute per person, and only towards targets the allow-list or the ticket's own items
//! name, so the feature cannot be used to scan networks.

use opsdesk_domain::agent_work::WorkOutcome;
use opsdesk_domain::diagnostics::{self as rules, DiagnosticKind, DiagnosticOutcome};
use opsdesk_store::Conn;
use opsdesk_store::agent_work::{self as store, NewWork};
use opsdesk_store::cmdb as cmdb_store;
use opsdesk_store::inventory as inventory_store;
use serde::{Deserialize, Serialize};

use crate::change::Need;
use crate::{App, AppError, Principal};

/// Diagnostics one person may run per minute.
pub(crate) const DIAGNOSTICS_PER_MINUTE: u32 = 10;
/// How long a request waits for a host's agent to answer before it returns the queued
/// diagnostic, in milliseconds; the note follows when the agent answers.
const AGENT_WAIT_MS: u64 = 30_000;

/// A diagnostic to run from a ticket.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDiagnostic {
    /// `ping`, `traceroute`, `dns`, `tcp`, `http` or `tls`.
    pub kind: String,
    /// A host, `host:port` (tcp; tls defaults to 443) or URL (http); the ticket's item's
    /// host name when absent.
    #[serde(default)]
    pub target: Option<String>,
    /// Run it from the host of this agent instead of from the server.
    #[serde(default)]
    pub agent: Option<i64>,
}

/// A diagnostic's result.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Diagnostic {
    pub kind: String,
    pub target: String,
    /// `server`, or the host name of the agent it ran from.
    pub from: String,
    /// `succeeded`, `failed`, or `queued`/`running` while a host's agent has not answered.
    pub state: String,
    pub duration_ms: Option<u64>,
    /// What was found, or why it failed.
    pub summary: Option<String>,
    /// The details, line by line.
    pub lines: Vec<String>,
    /// The agent work it became, for a diagnostic from a host.
    pub work: Option<i64>,
}

impl Diagnostic {
    fn finished(
        kind: DiagnosticKind,
        target: String,
        from: String,
        outcome: DiagnosticOutcome,
    ) -> Self {
        Self {
            kind: kind.as_str().to_owned(),
            target,
            from,
            state: if outcome.ok { "succeeded" } else { "failed" }.to_owned(),
            duration_ms: Some(outcome.duration_ms),
            summary: Some(outcome.summary),
            lines: outcome.lines,
            work: None,
        }
    }
}

/// The host names of a ticket's items: its default target, and hosts always allowed.
async fn ticket_hosts(conn: &mut Conn, ticket_id: i64) -> Result<Vec<String>, AppError> {
    let mut hosts = Vec::new();
    for ci in cmdb_store::ticket_ci_ids(conn, ticket_id).await? {
        if let Some(row) = cmdb_store::ci(conn, ci).await?
            && let Some(hostname) = row.hostname.filter(|h| !h.trim().is_empty())
        {
            hosts.push(hostname);
        }
    }
    Ok(hosts)
}

impl App {
    /// Runs a diagnostic for a ticket (staff) and adds its result to the ticket as an
    /// internal note. From a host's agent, it waits up to 30 s for the answer; a later
    /// answer still becomes the note.
    pub async fn run_diagnostic(
        &self,
        principal: &Principal,
        reference: &str,
        input: NewDiagnostic,
    ) -> Result<Diagnostic, AppError> {
        principal.require_staff()?;
        let now = self.now_ms();
        let who = principal.email.clone();
        self.inner.diagnostics_throttle.check(&who, now)?;
        let kind: DiagnosticKind =
            input
                .kind
                .parse()
                .map_err(|e: opsdesk_domain::ParseValueError| {
                    AppError::invalid("kind", e.to_string())
                })?;
        let ticket = self.ticket(principal, reference).await?;
        let (hosts, agent) = {
            let mut conn = self.db().reader().await?;
            let hosts = ticket_hosts(&mut conn, ticket.id).await?;
            let agent = match input.agent {
                Some(id) => {
                    let row = inventory_store::agent(&mut conn, id)
                        .await?
                        .filter(|a| a.revoked_at.is_none())
                        .ok_or_else(|| {
                            AppError::invalid("agent", "no such agent, or it was revoked")
                        })?;
                    crate::cmdb::visible(&mut conn, principal, row.ci_id)
                        .await
                        .map_err(|_| {
                            AppError::invalid("agent", "no such agent, or it was revoked")
                        })?;
                    Some(row)
                }
                None => None,
            };
            (hosts, agent)
        };
        let typed = input.target.filter(|t| !t.trim().is_empty());
        let text = match (typed, hosts.first()) {
            (Some(text), _) => text,
            (None, Some(host)) => host.clone(),
            (None, None) => {
                return Err(AppError::invalid(
                    "target",
                    "the ticket has no configuration item with a host name: type a target",
                ));
            }
        };
        let target = rules::parse_target(kind, &text)
            .map_err(|e| AppError::invalid("target", e.to_string()))?;
        // A lookup only asks this server's resolver and never reaches the target's
        // network, so it needs no allowing; every other kind does.
        if kind != DiagnosticKind::Dns {
            let addresses = opsdesk_network::diagnose::addresses(&target.host).await;
            self.config()
                .diagnostics_allow
                .permits(&target.host, &addresses, &hosts)
                .map_err(|e| AppError::invalid("target", e.to_string()))?;
        }
        self.inner.diagnostics_throttle.record(who, now);
        match agent {
            None => {
                let outcome = self.inner.diagnoser.run(kind, &target.probe).await;
                let note = outcome.note(kind, &target.probe, "the server");
                self.add_internal_note(principal, ticket.id, note).await?;
                Ok(Diagnostic::finished(
                    kind,
                    target.probe,
                    "server".to_owned(),
                    outcome,
                ))
            }
            Some(agent) => {
                let (ticket_id, probe) = (ticket.id, target.probe.clone());
                let requested_by = principal.email.clone();
                let work = self
                    .change(principal, Need::Staff, move |tx| {
                        Box::pin(async move {
                            Ok(store::queue_work(
                                tx.conn,
                                &NewWork {
                                    agent_id: agent.id,
                                    ticket_id: Some(ticket_id),
                                    run_id: None,
                                    step: None,
                                    kind: "diagnostic",
                                    script_hash: None,
                                    timeout_seconds: Some(30),
                                    diagnostic: Some(kind.as_str()),
                                    target: Some(&probe),
                                    requested_by: &requested_by,
                                },
                                tx.now,
                            )
                            .await?)
                        })
                    })
                    .await?;
                self.await_diagnostic(work, kind, target.probe, agent.hostname)
                    .await
            }
        }
    }

    /// Waits for an agent's answer to diagnostic `work`, up to [`AGENT_WAIT_MS`].
    async fn await_diagnostic(
        &self,
        work: i64,
        kind: DiagnosticKind,
        target: String,
        from: String,
    ) -> Result<Diagnostic, AppError> {
        let deadline =
            tokio::time::Instant::now() + std::time::Duration::from_millis(AGENT_WAIT_MS);
        loop {
            let row = {
                let mut conn = self.db().reader().await?;
                store::work(&mut conn, work)
                    .await?
                    .ok_or(AppError::NotFound("work"))?
            };
            let outcome = row
                .result
                .as_deref()
                .and_then(|json| serde_json::from_str::<DiagnosticOutcome>(json).ok());
            let finished = !matches!(row.state.as_str(), "queued" | "running");
            if finished || tokio::time::Instant::now() >= deadline {
                return Ok(match outcome {
                    Some(outcome) if finished => {
                        let mut view = Diagnostic::finished(kind, target, from, outcome);
                        view.work = Some(work);
                        view
                    }
                    _ => Diagnostic {
                        kind: kind.as_str().to_owned(),
                        target,
                        from,
                        state: if finished {
                            WorkOutcome::Refused.as_str().to_owned()
                        } else {
                            row.state
                        },
                        duration_ms: None,
                        summary: row.output.filter(|o| !o.is_empty()),
                        lines: Vec::new(),
                        work: Some(work),
                    },
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}
