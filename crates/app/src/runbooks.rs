//! Runbook scripts run on a ticket's host by its agent. Each version of a script is known
//! by its hash and runs only after an admin approved that exact version; a run goes step by
//! step, stopping at the first step that fails; agents poll for their work, so hosts open
//! no port; every step's output lands on the ticket as an internal note and every execution
//! in the audit log. Diagnostics from a host travel the same queue.

use jiff::Timestamp;
use opsdesk_domain::agent_work::{
    Job, OUTPUT_LIMIT_BYTES, Work, WorkOutcome, WorkReply, WorkResult,
};
use opsdesk_domain::diagnostics::DiagnosticKind;
use opsdesk_domain::knowledge::{ArticleKind, RunbookStep, ScriptLanguage, StepKind, script_hash};
use opsdesk_store::Conn;
use opsdesk_store::agent_work::{self as store, Finished, NewRun, NewWork, RunRow, WorkRow};
use opsdesk_store::inventory::{self as inventory_store, AgentRow};
use opsdesk_store::knowledge::{self as knowledge_store, ReaderFilter};
use serde::{Deserialize, Serialize};

use crate::audit::{Action, Entity, Event};
use crate::change::{Need, Tx};
use crate::clock::secret_hash;
use crate::{App, AppError, Principal, timestamp};

/// How often agents ask for work, in seconds.
pub const POLL_EVERY_SECONDS: u32 = 10;
/// Most pieces of work handed to an agent at once.
const WORK_PER_POLL: i64 = 4;
/// How long past its timeout running work waits for its agent's answer before it counts
/// as timed out, in milliseconds.
const ANSWER_GRACE_MS: i64 = 5 * 60_000;

/// A version of a runbook script.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Script {
    /// SHA-256 over the language and the exact text.
    pub hash: String,
    /// `shell`, `python` or `powershell`.
    pub language: String,
    pub script: String,
    /// The runbook it was first seen in, and the step.
    pub runbook: Option<i64>,
    pub step: Option<i64>,
    #[schema(value_type = String, format = DateTime)]
    pub first_seen_at: Timestamp,
    pub approved_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub approved_at: Option<Timestamp>,
}

fn script_view(row: store::ScriptRow) -> Script {
    Script {
        hash: row.hash,
        language: row.language,
        script: row.body,
        runbook: row.article_id,
        step: row.step,
        first_seen_at: timestamp(row.first_seen_at),
        approved_by: row.approved_by,
        approved_at: row.approved_at.map(timestamp),
    }
}

/// A request to run a runbook's script steps on a ticket's host.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRunbookRun {
    /// The runbook's id.
    pub runbook: i64,
    /// The ticket, by number (`INC-42`) or id.
    pub ticket: String,
    /// The configuration item whose agent runs the scripts.
    pub host: i64,
}

/// A runbook run and how each of its steps went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunbookRun {
    pub id: i64,
    pub runbook: i64,
    pub ticket: i64,
    pub host: i64,
    /// `running`, `succeeded`, `failed`, `timed_out` or `refused`.
    pub state: String,
    pub requested_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<Timestamp>,
    pub steps: Vec<RunStep>,
}

/// One step of a run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunStep {
    /// From 1, in the runbook's order.
    pub step: i64,
    pub check: String,
    /// `manual` (left to a person) or `script`.
    pub kind: String,
    pub script_hash: Option<String>,
    /// For a script step: `pending`, `queued`, `running`, `succeeded`, `failed`,
    /// `timed_out` or `refused`; none for a manual step.
    pub state: Option<String>,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<i64>,
    pub output: Option<String>,
    /// Whether the output was cut at the agent's limit.
    pub truncated: bool,
}

/// Records the script versions of a runbook's steps as they are saved, so admins see what
/// waits for approval.
pub(crate) async fn note_scripts(
    conn: &mut Conn,
    article: i64,
    steps: &[RunbookStep],
    now: i64,
) -> Result<(), AppError> {
    for (index, step) in steps.iter().enumerate() {
        if let Some((language, script)) = step.script() {
            let hash = script_hash(language, script);
            let number = i64::try_from(index + 1).unwrap_or(i64::MAX);
            store::note_script(conn, &hash, language.as_str(), script, article, number, now)
                .await?;
        }
    }
    Ok(())
}

/// The script step that comes after step `after` (0: the first), with its number.
fn next_script(steps: &[RunbookStep], after: i64) -> Option<(i64, &RunbookStep)> {
    steps
        .iter()
        .enumerate()
        .map(|(index, step)| (i64::try_from(index + 1).unwrap_or(i64::MAX), step))
        .find(|(number, step)| *number > after && step.kind == StepKind::Script)
}

/// Queues step `number` of run `run` for its agent.
async fn queue_step(
    conn: &mut Conn,
    run: &RunRow,
    number: i64,
    step: &RunbookStep,
    now: i64,
) -> Result<i64, AppError> {
    let (language, script) = step
        .script()
        .ok_or_else(|| AppError::broken("a script step without its script"))?;
    let hash = script_hash(language, script);
    Ok(store::queue_work(
        conn,
        &NewWork {
            agent_id: run.agent_id,
            ticket_id: Some(run.ticket_id),
            run_id: Some(run.id),
            step: Some(number),
            kind: "script",
            script_hash: Some(&hash),
            timeout_seconds: Some(i64::from(step.timeout())),
            diagnostic: None,
            target: None,
            requested_by: &run.requested_by,
        },
        now,
    )
    .await?)
}

fn steps_of(run: &RunRow) -> Vec<RunbookStep> {
    serde_json::from_str(&run.steps).unwrap_or_default()
}

/// The agent a credential belongs to, unless revoked.
async fn agent_of(app: &App, credential: &str) -> Result<AgentRow, AppError> {
    let hash = secret_hash(credential.trim());
    let mut conn = app.db().reader().await?;
    inventory_store::agent_by_credential(&mut conn, &hash)
        .await?
        .ok_or_else(|| {
            AppError::Unauthenticated(
                "this agent's credential is unknown or revoked; enrol it again".to_owned(),
            )
        })
}

/// Records how a piece of work ended: the row, the note on its ticket, the audit entry,
/// and for a run's step the next step or the run's end. False when the work was not
/// running (answered already).
async fn finish(
    tx: &mut Tx<'_>,
    work: &WorkRow,
    host: &str,
    result: &WorkResult,
) -> Result<bool, AppError> {
    let output = cut(&result.output, OUTPUT_LIMIT_BYTES);
    let diagnostic_json = result
        .diagnostic
        .as_ref()
        .and_then(|outcome| serde_json::to_string(outcome).ok());
    let recorded = diagnostic_json.as_deref().or(result.detail.as_deref());
    let finished = Finished {
        state: result.outcome.as_str(),
        exit_code: result.exit_code.map(i64::from),
        duration_ms: i64::try_from(result.duration_ms).unwrap_or(i64::MAX),
        output,
        truncated: result.truncated || output.len() < result.output.len(),
        result: recorded,
    };
    if !store::finish_work(tx.conn, work.id, &finished, tx.now).await? {
        return Ok(false);
    }
    let run = match work.run_id {
        Some(id) => store::run(tx.conn, id).await?,
        None => None,
    };
    let note = match (&run, &result.diagnostic) {
        (Some(run), _) => step_note(run, work, host, result, output),
        (None, Some(outcome)) => {
            let kind: DiagnosticKind = work
                .diagnostic
                .as_deref()
                .unwrap_or_default()
                .parse()
                .map_err(|_| AppError::broken("diagnostic work without its kind"))?;
            outcome.note(kind, work.target.as_deref().unwrap_or_default(), host)
                + &format!("\n\nRequested by {}.", work.requested_by)
        }
        (None, None) => format!(
            "**Diagnostic: {} {}** from {host} was not run: {}",
            work.diagnostic.as_deref().unwrap_or_default(),
            work.target.as_deref().unwrap_or_default(),
            result.detail.as_deref().unwrap_or(result.outcome.as_str())
        ),
    };
    if let Some(ticket) = work.ticket_id {
        crate::tickets::add_note(tx, ticket, note).await?;
    }
    if let Some(run) = run {
        tx.record(Event {
            entity: Entity::RunbookRun,
            entity_id: run.id,
            action: Action::Updated,
            before: None,
            after: Some(serde_json::json!({
                "step": work.step, "script_hash": work.script_hash, "host": host,
                "outcome": result.outcome, "exit_code": result.exit_code,
                "duration_ms": result.duration_ms,
            })),
        })
        .await?;
        advance(tx, &run, work.step.unwrap_or_default(), result.outcome).await?;
    }
    Ok(true)
}

/// After step `done` ended with `outcome`: the next script step, or the run's end.
async fn advance(
    tx: &mut Tx<'_>,
    run: &RunRow,
    done: i64,
    outcome: WorkOutcome,
) -> Result<(), AppError> {
    let steps = steps_of(run);
    let next = (outcome == WorkOutcome::Succeeded)
        .then(|| next_script(&steps, done))
        .flatten();
    match next {
        Some((number, step)) => {
            queue_step(tx.conn, run, number, step, tx.now).await?;
        }
        None => {
            store::finish_run(tx.conn, run.id, outcome.as_str(), tx.now).await?;
        }
    }
    Ok(())
}

/// The internal note for a finished script step.
fn step_note(
    run: &RunRow,
    work: &WorkRow,
    host: &str,
    result: &WorkResult,
    output: &str,
) -> String {
    let steps = steps_of(run);
    let number = work.step.unwrap_or_default();
    let check = usize::try_from(number - 1)
        .ok()
        .and_then(|i| steps.get(i))
        .map(|s| s.check.as_str())
        .unwrap_or_default();
    let seconds = result.duration_ms as f64 / 1000.0;
    let how = match (result.outcome, result.exit_code) {
        (WorkOutcome::Succeeded, _) => format!("succeeded in {seconds:.1} s"),
        (WorkOutcome::Failed, Some(code)) => {
            format!("failed with exit status {code} after {seconds:.1} s")
        }
        (WorkOutcome::Failed, None) => format!("failed after {seconds:.1} s"),
        (WorkOutcome::TimedOut, _) => format!("was stopped after its timeout ({seconds:.1} s)"),
        (WorkOutcome::Refused, _) => format!(
            "was refused: {}",
            result
                .detail
                .as_deref()
                .unwrap_or("the agent would not run it")
        ),
    };
    let hash = work.script_hash.as_deref().unwrap_or_default();
    let mut note = format!(
        "**Runbook step {number}: {check}** on {host} {how}. Script {short}, requested by {by}.",
        short = hash.get(..12).unwrap_or(hash),
        by = run.requested_by,
    );
    if !output.is_empty() {
        note.push_str("\n\n```\n");
        note.push_str(&output.replace("```", "'''"));
        if !output.ends_with('\n') {
            note.push('\n');
        }
        note.push_str("```");
    }
    if result.truncated || output.len() < result.output.len() {
        note.push_str(&format!(
            "\n\n(Output cut at {} KiB.)",
            OUTPUT_LIMIT_BYTES / 1024
        ));
    }
    note
}

/// `text` cut to at most `limit` bytes, on a character boundary.
fn cut(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl App {
    /// Every script version, those waiting for approval first (staff).
    pub async fn scripts(&self, principal: &Principal) -> Result<Vec<Script>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        Ok(store::scripts(&mut conn)
            .await?
            .into_iter()
            .map(script_view)
            .collect())
    }

    /// Approves one exact script version (admin).
    pub async fn approve_script(
        &self,
        principal: &Principal,
        hash: &str,
    ) -> Result<Script, AppError> {
        self.set_script_approval(principal, hash, true).await
    }

    /// Withdraws a script version's approval (admin): runs queued afterwards refuse it.
    pub async fn withdraw_script(
        &self,
        principal: &Principal,
        hash: &str,
    ) -> Result<Script, AppError> {
        self.set_script_approval(principal, hash, false).await
    }

    /// Approves a script version or withdraws its approval, with the audit entry when
    /// that changed anything.
    async fn set_script_approval(
        &self,
        principal: &Principal,
        hash: &str,
        approved: bool,
    ) -> Result<Script, AppError> {
        let hash = hash.trim().to_ascii_lowercase();
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = store::script(tx.conn, &hash)
                    .await?
                    .ok_or(AppError::NotFound("script"))?;
                let changed = if approved {
                    store::approve_script(tx.conn, &hash, &tx.principal.email, tx.now).await?
                } else {
                    store::withdraw_script(tx.conn, &hash).await?
                };
                if changed {
                    tx.record(Event {
                        entity: Entity::Script,
                        entity_id: row.id,
                        action: if approved {
                            Action::Approved
                        } else {
                            Action::Revoked
                        },
                        before: None,
                        after: Some(serde_json::json!({
                            "hash": hash, "language": row.language, "runbook": row.article_id,
                        })),
                    })
                    .await?;
                }
                let row = store::script(tx.conn, &hash)
                    .await?
                    .ok_or(AppError::NotFound("script"))?;
                Ok(script_view(row))
            })
        })
        .await
    }

    /// Starts a runbook's script steps on a ticket's host (staff). Refused unless every
    /// script step's exact version is approved and the host has an enrolled agent.
    pub async fn start_runbook_run(
        &self,
        principal: &Principal,
        input: NewRunbookRun,
    ) -> Result<RunbookRun, AppError> {
        let run = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let ticket = crate::tickets::find_visible(tx.conn, tx.principal, &input.ticket)
                        .await
                        .map_err(|_| AppError::invalid("ticket", "no such ticket"))?;
                    let article = knowledge_store::get(tx.conn, input.runbook, ReaderFilter::Staff)
                        .await?
                        .filter(|a| a.kind == ArticleKind::Runbook.as_str())
                        .ok_or_else(|| AppError::invalid("runbook", "no such runbook"))?;
                    let steps: Vec<RunbookStep> =
                        serde_json::from_str(&article.steps).unwrap_or_default();
                    let Some((first, first_step)) = next_script(&steps, 0) else {
                        return Err(AppError::invalid("runbook", "this runbook has no script steps"));
                    };
                    for (number, step) in steps.iter().enumerate() {
                        let Some((language, script)) = step.script() else { continue };
                        let hash = script_hash(language, script);
                        let approved = store::script(tx.conn, &hash)
                            .await?
                            .is_some_and(|s| s.approved_at.is_some());
                        if !approved {
                            return Err(AppError::Conflict {
                                field: Some("runbook".to_owned()),
                                message: format!(
                                    "step {}'s script (version {}) is not approved; an admin approves it under Admin → Scripts",
                                    number + 1,
                                    &hash[..12]
                                ),
                            });
                        }
                    }
                    crate::cmdb::visible(tx.conn, tx.principal, input.host)
                        .await
                        .map_err(|_| AppError::invalid("host", "no such configuration item"))?;
                    let agent = inventory_store::agents_of(tx.conn, input.host)
                        .await?
                        .into_iter()
                        .find(|a| a.revoked_at.is_none())
                        .ok_or_else(|| {
                            AppError::invalid("host", "this item has no enrolled agent to run scripts")
                        })?;
                    let requested_by = if tx.principal.email.is_empty() {
                        tx.actor.to_owned()
                    } else {
                        tx.principal.email.clone()
                    };
                    let id = store::insert_run(
                        tx.conn,
                        &NewRun {
                            article_id: article.id,
                            steps: &article.steps,
                            ticket_id: ticket.id,
                            ci_id: input.host,
                            agent_id: agent.id,
                            requested_by: &requested_by,
                        },
                        tx.now,
                    )
                    .await?;
                    let run = store::run(tx.conn, id).await?.ok_or(AppError::NotFound("runbook run"))?;
                    queue_step(tx.conn, &run, first, first_step, tx.now).await?;
                    crate::tickets::add_note(
                        &mut tx,
                        ticket.id,
                        format!(
                            "**Runbook started: {}** on {} by {requested_by}; its script steps run one after another, each result noted here.",
                            article.title, agent.hostname
                        ),
                    )
                    .await?;
                    tx.record(Event::created(
                        Entity::RunbookRun,
                        id,
                        &serde_json::json!({
                            "runbook": article.id, "ticket": ticket.id, "host": input.host,
                            "agent": agent.id,
                        }),
                    ))
                    .await?;
                    Ok(id)
                })
            })
            .await?;
        self.runbook_run(principal, run).await
    }

    /// A runbook run with its steps (staff who may see its ticket).
    pub async fn runbook_run(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<RunbookRun, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let run = store::run(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("runbook run"))?;
        crate::tickets::find_visible(&mut conn, principal, &run.ticket_id.to_string())
            .await
            .map_err(|_| AppError::NotFound("runbook run"))?;
        let work = store::work_of_run(&mut conn, id).await?;
        Ok(run_view(run, &work))
    }

    /// The runbook runs of a ticket, newest first (staff who may see it).
    pub async fn ticket_runbook_runs(
        &self,
        principal: &Principal,
        reference: &str,
    ) -> Result<Vec<RunbookRun>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let ticket = crate::tickets::find_visible(&mut conn, principal, reference).await?;
        let mut runs = Vec::new();
        for run in store::runs_of_ticket(&mut conn, ticket.id).await? {
            let work = store::work_of_run(&mut conn, run.id).await?;
            runs.push(run_view(run, &work));
        }
        Ok(runs)
    }

    /// Hands an agent its queued work (the credential is its login). A script whose
    /// approval was withdrawn since is refused here instead.
    pub async fn agent_work(&self, credential: &str) -> Result<WorkReply, AppError> {
        let agent = agent_of(self, credential).await?;
        let work = self
            .system_change("agent", move |mut tx| {
                Box::pin(async move {
                    let started =
                        store::start_queued_work(tx.conn, agent.id, WORK_PER_POLL, tx.now).await?;
                    let mut work = Vec::new();
                    for row in started {
                        match job_of(tx.conn, &row).await? {
                            Ok(job) => work.push(Work { id: row.id, job }),
                            Err(reason) => {
                                let refused = WorkResult::refused(reason);
                                finish(&mut tx, &row, &agent.hostname, &refused).await?;
                            }
                        }
                    }
                    Ok(work)
                })
            })
            .await?;
        Ok(WorkReply {
            work,
            poll_every_seconds: POLL_EVERY_SECONDS,
        })
    }

    /// Takes an agent's answer for one piece of its work.
    pub async fn agent_work_result(
        &self,
        credential: &str,
        id: i64,
        result: WorkResult,
    ) -> Result<(), AppError> {
        let agent = agent_of(self, credential).await?;
        self.system_change("agent", move |mut tx| {
            Box::pin(async move {
                let work = store::work(tx.conn, id)
                    .await?
                    .filter(|w| w.agent_id == agent.id)
                    .ok_or(AppError::NotFound("work"))?;
                if !finish(&mut tx, &work, &agent.hostname, &result).await? {
                    return Err(AppError::Conflict {
                        field: None,
                        message: format!("work {id} is not running: it was answered already"),
                    });
                }
                Ok(())
            })
        })
        .await
    }

    /// Work whose agent never answered, long past its timeout, counts as timed out.
    pub(crate) async fn time_out_unanswered_work(&self) -> Result<usize, AppError> {
        self.system_change("housekeeping", |mut tx| {
            Box::pin(async move {
                let overdue = store::overdue_work(tx.conn, tx.now, ANSWER_GRACE_MS).await?;
                let mut count = 0;
                for id in overdue {
                    let Some(work) = store::work(tx.conn, id).await? else {
                        continue;
                    };
                    let host = inventory_store::agent(tx.conn, work.agent_id)
                        .await?
                        .map(|a| a.hostname)
                        .unwrap_or_default();
                    let silent = WorkResult {
                        outcome: WorkOutcome::TimedOut,
                        exit_code: None,
                        output: String::new(),
                        truncated: false,
                        duration_ms: 0,
                        diagnostic: None,
                        detail: Some("the agent did not answer in time".to_owned()),
                    };
                    if finish(&mut tx, &work, &host, &silent).await? {
                        count += 1;
                    }
                }
                Ok(count)
            })
        })
        .await
    }
}

/// The job for a piece of work, or why it may not run.
async fn job_of(conn: &mut Conn, row: &WorkRow) -> Result<Result<Job, String>, AppError> {
    if row.kind == "diagnostic" {
        let diagnostic: DiagnosticKind = row
            .diagnostic
            .as_deref()
            .unwrap_or_default()
            .parse()
            .map_err(|_| AppError::broken("diagnostic work without its kind"))?;
        return Ok(Ok(Job::Diagnostic {
            diagnostic,
            target: row.target.clone().unwrap_or_default(),
        }));
    }
    let hash = row.script_hash.as_deref().unwrap_or_default();
    let Some(script) = store::script(conn, hash).await? else {
        return Ok(Err("the script is unknown".to_owned()));
    };
    if script.approved_at.is_none() {
        return Ok(Err("the script's approval was withdrawn".to_owned()));
    }
    let language: ScriptLanguage = script
        .language
        .parse()
        .map_err(|_| AppError::broken("a script in an unknown language"))?;
    Ok(Ok(Job::Script {
        language,
        script: script.body,
        hash: script.hash,
        timeout_seconds: u32::try_from(row.timeout_seconds.unwrap_or(60)).unwrap_or(60),
        output_limit_bytes: OUTPUT_LIMIT_BYTES,
    }))
}

fn run_view(run: RunRow, work: &[WorkRow]) -> RunbookRun {
    let steps = steps_of(&run)
        .into_iter()
        .enumerate()
        .map(|(index, step)| {
            let number = i64::try_from(index + 1).unwrap_or(i64::MAX);
            let done = work.iter().rev().find(|w| w.step == Some(number));
            let script = step
                .script()
                .map(|(language, script)| script_hash(language, script));
            RunStep {
                step: number,
                check: step.check.clone(),
                kind: step.kind.as_str().to_owned(),
                state: script
                    .as_ref()
                    .map(|_| done.map_or_else(|| "pending".to_owned(), |w| w.state.clone())),
                script_hash: script,
                exit_code: done.and_then(|w| w.exit_code),
                duration_ms: done.and_then(|w| w.duration_ms),
                output: done.and_then(|w| w.output.clone()),
                truncated: done.is_some_and(|w| w.truncated != 0),
            }
        })
        .collect();
    RunbookRun {
        id: run.id,
        runbook: run.article_id,
        ticket: run.ticket_id,
        host: run.ci_id,
        state: run.state,
        requested_by: run.requested_by,
        created_at: timestamp(run.created_at),
        finished_at: run.finished_at.map(timestamp),
        steps,
    }
}
