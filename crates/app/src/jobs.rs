//! The job runner: leases due jobs from the outbox and performs their side effects, with
//! retries and backoff, until they succeed or are declared dead for an admin to look at.

use std::future::Future;
use std::time::Duration;

use opsdesk_store::Batch;
use opsdesk_store::jobs::{self as store, JobRow};
use serde::Serialize;
use tokio::sync::watch;

use crate::change::Need;
use crate::{App, AppError, Principal, error_chain, timestamp};

/// How long a claimed job stays ours unless renewed; a running handler renews it every
/// `RENEW_EVERY`. The jobs of a node that died pass to the others sooner, once its liveness
/// row goes stale.
const LEASE_MS: i64 = 15_000;
const RENEW_EVERY: Duration = Duration::from_secs(5);
/// A handler running longer than this is cut off and counts as a failed attempt.
const HANDLER_TIMEOUT: Duration = Duration::from_secs(60);
/// Jobs one node runs at once. Most wait on another system (a relay, a webhook), so many
/// can be in flight; a burst of incidents pages everyone at once rather than 16 at a time.
const RUNNING_AT_MOST: usize = 64;
/// Free slots worth a claim while jobs are still running.
const CLAIM_AT_LEAST: usize = 16;
/// How often an idle worker looks for work that other nodes queued.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// Attempts before a job is declared dead.
pub const DEFAULT_MAX_ATTEMPTS: i64 = 8;

opsdesk_domain::string_enum! {
    /// What a job does. Stored as its `kind` string with a JSON payload.
    pub enum JobKind as "job kind" {
        /// POST an event to one webhook.
        WebhookDelivery => "webhook.delivery",
        /// Open, or resolve, the incident of a monitor's outage.
        MonitorOutage => "monitor.outage",
        /// Send one mail notification (acknowledgement, reply, resolution).
        MailNotification => "mail.notification",
        /// Mail one person that they are paged.
        PageNotification => "page.notification",
        /// Tell a chat tool's incoming webhook of a page.
        PageChat => "page.chat",
        /// Page the next level of an escalation policy unless someone acknowledged.
        PageEscalation => "page.escalation",
        /// Resolve a firing alert not received again for its integration's
        /// `resolve_after_minutes`, or look again when it was.
        AlertTimeout => "alert.timeout",
        /// Resolve an incident whose alerts stayed resolved for the hold-back.
        AlertSettle => "alert.settle",
        /// POST a ticket to the URL an automation rule's `webhook` action names.
        RuleWebhook => "rule.webhook",
        /// Mail one voter the request to approve a change, with a link to vote by.
        ChangeApprovalRequest => "change.approval_request",
        /// Escalate a change's approval still waiting at its template's timeout.
        ChangeApprovalTimeout => "change.approval_timeout",
        /// Mail a resolved ticket's requester the satisfaction survey's score links.
        SurveyRequest => "survey.request",
        /// Mail a group's lead a low satisfaction score.
        SurveyLowScore => "survey.low_score",
        /// Mail a self-service password reset's one-time code to its recovery address.
        PasswordResetCode => "password_reset.code",
        /// Mail a subscriber the week before's report, then queue next Monday's.
        ReportWeekly => "report.weekly",
    }
}

/// A job payload's id field.
pub(crate) fn id_in(payload: &serde_json::Value, field: &str) -> Result<i64, JobError> {
    payload[field]
        .as_i64()
        .ok_or_else(|| JobError::Payload(format!("no `{field}`")))
}

/// Delay before attempt `attempts + 1`: `base_ms` doubling, capped at one hour.
pub fn backoff_ms(attempts: i64, base_ms: i64) -> i64 {
    let doublings = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    base_ms
        .max(1)
        .saturating_mul(1 << doublings.min(20))
        .min(3_600_000)
}

/// Adds a job to `batch`; it is queued when the batch runs, and runs after that
/// transaction commits.
pub(crate) fn queue(batch: &mut Batch, kind: JobKind, payload: &serde_json::Value, now: i64) {
    queue_at(batch, kind, payload, now, now);
}

/// [`queue`], for a job that is to run at `run_at`, not before: a durable timer.
pub(crate) fn queue_at(
    batch: &mut Batch,
    kind: JobKind,
    payload: &serde_json::Value,
    run_at: i64,
    now: i64,
) {
    store::queue(
        batch,
        kind.as_str(),
        &payload.to_string(),
        run_at,
        DEFAULT_MAX_ATTEMPTS,
        now,
    );
}

/// A job as admins see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    /// `queued`, `running`, `done` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    #[schema(value_type = String, format = DateTime)]
    pub run_at: jiff::Timestamp,
    pub locked_by: Option<String>,
    pub last_error: Option<String>,
    pub payload: serde_json::Value,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Self {
        Self {
            id: row.id,
            kind: row.kind,
            status: row.status,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            run_at: timestamp(row.run_at),
            locked_by: row.locked_by,
            last_error: row.last_error,
            payload: serde_json::from_str(&row.payload).unwrap_or(serde_json::Value::Null),
            created_at: timestamp(row.created_at),
            updated_at: timestamp(row.updated_at),
        }
    }
}

/// Why a job's run failed. Its text, causes included, is kept on the job for admins.
#[derive(Debug, thiserror::Error)]
pub(crate) enum JobError {
    /// The payload is not what the job's kind needs.
    #[error("payload: {0}")]
    Payload(String),
    /// The application could not do its part (the database, a template).
    #[error(transparent)]
    App(#[from] AppError),
    /// Another system could not be reached or refused the work (a webhook's URL, the relay).
    #[error("{what}")]
    Remote {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Another system answered, with a failure.
    #[error("{0}")]
    Refused(String),
    #[error("timed out after {0} s")]
    TimedOut(u64),
}

impl From<opsdesk_store::StoreError> for JobError {
    fn from(error: opsdesk_store::StoreError) -> Self {
        JobError::App(error.into())
    }
}

impl JobError {
    pub(crate) fn remote(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        JobError::Remote {
            what: what.into(),
            source: Box::new(source),
        }
    }
}

impl App {
    /// Wakes this node's job runner after a commit that queued jobs.
    pub(crate) fn wake_jobs(&self) {
        self.inner.jobs_waker.notify_one();
    }

    /// Jobs, newest first, optionally in one status (admins only).
    pub async fn jobs(
        &self,
        principal: &Principal,
        status: Option<&str>,
        before: i64,
        limit: i64,
    ) -> Result<Vec<Job>, AppError> {
        principal.require_admin()?;
        if let Some(status) = status
            && !matches!(status, "queued" | "running" | "done" | "dead")
        {
            return Err(AppError::invalid(
                "status",
                "expected one of: queued, running, done, dead",
            ));
        }
        let mut conn = self.db().reader().await?;
        Ok(store::list(&mut conn, status, before, limit)
            .await?
            .into_iter()
            .map(Job::from)
            .collect())
    }

    /// Sends a dead job back to the queue (admins only).
    pub async fn retry_job(&self, principal: &Principal, id: i64) -> Result<Job, AppError> {
        let job = self
            .change(principal, Need::Admin, move |tx| {
                Box::pin(async move {
                    let found = store::get(tx.conn, id)
                        .await?
                        .ok_or(AppError::NotFound("job"))?;
                    if !store::retry_dead(tx.conn, id, tx.now).await? {
                        return Err(AppError::Conflict {
                            field: None,
                            message: format!(
                                "only dead jobs can be retried; this one is {}",
                                found.status
                            ),
                        });
                    }
                    store::get(tx.conn, id)
                        .await?
                        .map(Job::from)
                        .ok_or(AppError::NotFound("job"))
                })
            })
            .await?;
        Ok(job)
    }

    /// Job counts by status, for metrics.
    pub async fn job_counts(&self) -> Result<Vec<(String, i64)>, AppError> {
        let mut conn = self.db().reader().await?;
        Ok(store::counts(&mut conn).await?)
    }

    /// Runs jobs until `shutdown` turns true, then waits for those still running. Several
    /// nodes may run this against one PostgreSQL database: leases give each job to one of
    /// them. Each job runs as a task of its own and a free slot is filled as soon as one
    /// finishes, so a slow webhook never holds back the pages queued after it.
    pub async fn run_jobs(&self, mut shutdown: watch::Receiver<bool>) {
        let mut running = tokio::task::JoinSet::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Woken after writes, the runner also chains the audit entries they added.
            if let Err(error) = self.seal_audit().await {
                tracing::warn!(%error, "audit entries could not be chained");
            }
            // A claim is a write, queued behind everyone else's: slots are filled a batch
            // at a time, not one claim per finished job.
            let free = RUNNING_AT_MOST.saturating_sub(running.len());
            let free = if free >= CLAIM_AT_LEAST || running.is_empty() {
                free
            } else {
                0
            };
            let claimed = match self.claim_jobs(free).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "job runner could not claim jobs");
                    Vec::new()
                }
            };
            let filled = free > 0 && claimed.len() == free;
            for job in claimed {
                let app = self.clone();
                running.spawn(async move { app.run_job(job).await });
            }
            // Every slot this claim could take was taken: more may be due at once.
            if filled && RUNNING_AT_MOST - running.len() >= CLAIM_AT_LEAST {
                continue;
            }
            tokio::select! {
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = self.inner.jobs_waker.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
                _ = shutdown.changed() => {}
            }
        }
        while running.join_next().await.is_some() {}
    }

    /// Leases up to `limit` due jobs to this node.
    async fn claim_jobs(&self, limit: usize) -> Result<Vec<JobRow>, AppError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let node = self.config().node_name.clone();
        {
            let mut conn = self.db().reader().await?;
            if !store::any_claimable(&mut conn, &node, self.now_ms()).await? {
                return Ok(Vec::new());
            }
        }
        let backend = self.db().backend();
        let now = self.now_ms();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    crate::nodes::renew(conn, &node, now).await?;
                    store::claim(conn, backend, &node, now, LEASE_MS, limit).await
                })
            })
            .await?)
    }

    async fn run_job(&self, job: JobRow) {
        let outcome = match job.kind.parse::<JobKind>() {
            Ok(kind) => {
                let work = tokio::time::timeout(HANDLER_TIMEOUT, self.perform(kind, &job));
                match self.while_leased(job.id, work).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(JobError::TimedOut(HANDLER_TIMEOUT.as_secs())),
                }
            }
            Err(unknown) => Err(JobError::Payload(unknown.to_string())),
        };
        let node = self.config().node_name.clone();
        let (id, attempts, max_attempts) = (job.id, job.attempts, job.max_attempts);
        let failed = outcome.is_err();
        let retry_base_ms = self.config().job_retry_base_ms;
        let now = self.now_ms();
        let settled = self
            .db()
            .write(move |conn| {
                Box::pin(async move {
                    match outcome {
                        Ok(()) => store::complete(conn, id, &node, now).await,
                        Err(error) => {
                            let retry_at = (attempts < max_attempts).then(|| now + backoff_ms(attempts, retry_base_ms));
                            if retry_at.is_none() {
                                tracing::error!(job = id, %error, "job is dead after {attempts} attempts");
                            } else {
                                tracing::warn!(job = id, %error, attempt = attempts, "job failed; will retry");
                            }
                            store::fail(conn, id, &node, &error_chain(&error), retry_at, now).await
                        }
                    }
                })
            })
            .await;
        match settled {
            Ok(true) if failed => self.metrics().job_failed(),
            Ok(true) => self.metrics().job_done(),
            Ok(false) => tracing::warn!(
                job = id,
                "lost the lease before finishing; another node owns it"
            ),
            Err(error) => tracing::error!(job = id, %error, "could not record the job's outcome"),
        }
    }

    /// Runs `work` while renewing job `id`'s lease, so that a live node keeps its job however
    /// long the handler takes, while a dead node's lease lapses quickly.
    async fn while_leased<T>(&self, id: i64, work: impl Future<Output = T>) -> T {
        let renew = async {
            let mut ticks = tokio::time::interval(RENEW_EVERY);
            ticks.tick().await; // the first tick is immediate; the claim just set the lease
            loop {
                ticks.tick().await;
                let node = self.config().node_name.clone();
                let until = self.now_ms() + LEASE_MS;
                let renewed = self
                    .db()
                    .write(move |conn| {
                        Box::pin(async move { store::renew(conn, id, &node, until).await })
                    })
                    .await;
                match renewed {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(job = id, "lost the lease while running");
                        return;
                    }
                    Err(error) => tracing::warn!(job = id, %error, "could not renew the lease"),
                }
            }
        };
        tokio::pin!(work);
        tokio::select! {
            output = &mut work => output,
            () = renew => work.await,
        }
    }

    async fn perform(&self, kind: JobKind, job: &JobRow) -> Result<(), JobError> {
        let payload: serde_json::Value = serde_json::from_str(&job.payload)
            .map_err(|e| JobError::Payload(format!("not JSON: {e}")))?;
        match kind {
            JobKind::WebhookDelivery => self.deliver_webhook(job.id, &payload).await,
            JobKind::MonitorOutage => self.sync_outage_incident(&payload).await,
            JobKind::MailNotification => self.send_notice(job.id, &payload).await,
            JobKind::PageNotification => self.send_page(&payload).await,
            JobKind::PageChat => self.send_page_chat(&payload).await,
            JobKind::ChangeApprovalRequest => self.send_change_approval_request(&payload).await,
            JobKind::ChangeApprovalTimeout => self.change_approval_timeout(&payload).await,
            JobKind::SurveyRequest => self.send_survey_request(&payload).await,
            JobKind::SurveyLowScore => self.send_low_score(&payload).await,
            JobKind::PasswordResetCode => self.send_reset_code(&payload).await,
            JobKind::PageEscalation => self.escalate_page(&payload).await,
            JobKind::AlertTimeout => self.time_out_alert(&payload).await,
            JobKind::AlertSettle => self.settle_alert_incident(&payload).await,
            JobKind::RuleWebhook => self.deliver_rule_webhook(&payload).await,
            JobKind::ReportWeekly => self.send_weekly_report(&payload).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::backoff_ms;

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!(backoff_ms(1, 10_000), 10_000);
        assert_eq!(backoff_ms(2, 10_000), 20_000);
        assert_eq!(backoff_ms(5, 10_000), 160_000);
        assert_eq!(backoff_ms(20, 10_000), 3_600_000);
    }
}
