//! Recording changes (audit entry plus the events they raise) and reading the log back.

use opsdesk_domain::audit::{ChainBreak, GENESIS_HASH, verify_chain};
use opsdesk_store::{Backend, Batch, Conn, audit as store};
use serde::Serialize;

use crate::{App, AppError, Principal, timestamp, webhooks};

opsdesk_domain::string_enum! {
    /// The kinds of record the audit log and webhooks name.
    pub enum Entity as "audit entity" {
        Ticket => "ticket",
        Comment => "comment",
        Attachment => "attachment",
        Organization => "organization",
        Group => "group",
        Category => "category",
        CategoryQuestion => "category_question",
        CustomField => "custom_field",
        Macro => "macro",
        SavedView => "saved_view",
        User => "user",
        ApiToken => "api_token",
        MailTemplate => "mail_template",
        Calendar => "calendar",
        SlaPolicy => "sla_policy",
        Monitor => "monitor",
        MaintenanceWindow => "maintenance_window",
        Webhook => "webhook",
        Mail => "mail",
        Article => "article",
        TriageModel => "triage_model",
        Integration => "integration",
        Schedule => "schedule",
        EscalationPolicy => "escalation_policy",
        Silence => "silence",
        AutomationRule => "automation_rule",
        Ci => "ci",
        Agent => "agent",
        CiClass => "ci_class",
        Advisory => "advisory",
        Vendor => "vendor",
        Script => "script",
        RunbookRun => "runbook_run",
        RemoteSession => "remote_session",
        Change => "change",
        ChangeTemplate => "change_template",
        FreezeWindow => "freeze_window",
        Survey => "survey",
        SurveySettings => "survey_settings",
        IdentityProvider => "identity_provider",
        Session => "session",
        SecondFactor => "second_factor",
        ScimClient => "scim_client",
        Directory => "directory",
        PasswordReset => "password_reset",
        SecurityIncident => "security_incident",
    }
}

opsdesk_domain::string_enum! {
    /// What happened to a record.
    pub enum Action as "audit action" {
        Created => "created",
        Updated => "updated",
        Deleted => "deleted",
        Linked => "linked",
        Merged => "merged",
        Imported => "imported",
        Restored => "restored",
        MemberAdded => "member_added",
        MemberRemoved => "member_removed",
        Revoked => "revoked",
        Approved => "approved",
        SlaWarning => "sla_warning",
        SlaBreached => "sla_breached",
        SignedIn => "signed_in",
        SignInRefused => "sign_in_refused",
        Enabled => "enabled",
        Disabled => "disabled",
        Synced => "synced",
        Accessed => "accessed",
    }
}

/// One change to one record, as the audit log and webhooks see it: the record before and
/// after, as JSON snapshots.
pub(crate) struct Event {
    pub entity: Entity,
    pub entity_id: i64,
    pub action: Action,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl Event {
    pub fn created(entity: Entity, entity_id: i64, after: &impl Serialize) -> Self {
        Self {
            entity,
            entity_id,
            action: Action::Created,
            before: None,
            after: snapshot(after),
        }
    }

    pub fn updated(
        entity: Entity,
        entity_id: i64,
        before: &impl Serialize,
        after: &impl Serialize,
    ) -> Self {
        Self {
            entity,
            entity_id,
            action: Action::Updated,
            before: snapshot(before),
            after: snapshot(after),
        }
    }

    pub fn deleted(entity: Entity, entity_id: i64, before: &impl Serialize) -> Self {
        Self {
            entity,
            entity_id,
            action: Action::Deleted,
            before: snapshot(before),
            after: None,
        }
    }

    /// The webhook event this change raises, e.g. `organization.created`.
    pub(crate) fn name(&self) -> String {
        format!("{}.{}", self.entity, self.action)
    }
}

/// Serialises a record for the audit log.
pub(crate) fn snapshot(value: &impl Serialize) -> Option<serde_json::Value> {
    serde_json::to_value(value).ok()
}

/// Appends the audit entry for `event` by `actor` and, unless `deliver_webhooks` is off (an
/// import), queues the webhook deliveries it triggers, running `batch` (the change's other rows) in the same round trip. Use cases call
/// it through [`Tx::record`](crate::change::Tx::record).
pub(crate) async fn record_event(
    conn: &mut Conn,
    mut batch: Batch,
    event: &Event,
    actor: &str,
    now: i64,
    deliver_webhooks: bool,
) -> Result<(), AppError> {
    if deliver_webhooks {
        webhooks::queue_event(conn, &mut batch, event, actor, now).await?;
    }
    let before = event.before.as_ref().map(ToString::to_string);
    let after = event.after.as_ref().map(ToString::to_string);
    let entity_id = event.entity_id.to_string();
    store::append(
        conn,
        &mut batch,
        &store::NewAuditEntry {
            at: now,
            actor,
            entity: event.entity.as_str(),
            entity_id: &entity_id,
            action: event.action.as_str(),
            before: before.as_deref(),
            after: after.as_deref(),
        },
    )
    .await?;
    Ok(batch.run(conn).await?)
}

/// An audit entry as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
    pub actor: String,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub hash: String,
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub entries: i64,
    pub head: String,
}

impl App {
    /// Chains every audit entry committed so far that waits to be chained (PostgreSQL, see
    /// [`store::append`]).
    pub(crate) async fn seal_audit(&self) -> Result<(), AppError> {
        const BATCH: i32 = 5_000;
        if self.db().backend() == Backend::Sqlite {
            return Ok(());
        }
        loop {
            let sealed = self
                .db()
                .write(|conn| Box::pin(async move { store::seal(conn, BATCH).await }))
                .await?;
            if sealed < i64::from(BATCH) {
                return Ok(());
            }
        }
    }

    /// Audit entries after `after_seq`, optionally for one record (admins only).
    pub async fn audit_entries(
        &self,
        principal: &Principal,
        after_seq: i64,
        limit: i64,
        entity: Option<&str>,
        entity_id: Option<&str>,
    ) -> Result<Vec<AuditEntry>, AppError> {
        principal.require_admin()?;
        self.seal_audit().await?;
        let mut conn = self.db().reader().await?;
        let rows = store::list(&mut conn, after_seq, limit, entity, entity_id).await?;
        Ok(rows
            .into_iter()
            .map(|row| AuditEntry {
                seq: row.seq,
                at: timestamp(row.at_ms),
                actor: row.actor,
                entity: row.entity,
                entity_id: row.entity_id,
                action: row.action,
                before: row.before.and_then(|text| serde_json::from_str(&text).ok()),
                after: row.after.and_then(|text| serde_json::from_str(&text).ok()),
                hash: row.hash,
            })
            .collect())
    }

    /// Checks the whole chain page by page. `Ok(Err(_))` names the first bad entry.
    pub async fn verify_audit_chain(&self) -> Result<Result<Verified, ChainBreak>, AppError> {
        const PAGE: i64 = 5_000;
        self.seal_audit().await?;
        let mut conn = self.db().reader().await?;
        let (head_seq, head_hash) = store::head(&mut conn).await?;
        let mut previous = GENESIS_HASH.to_owned();
        let mut last_seq = 0;
        let mut count = 0;
        loop {
            let page = store::list(&mut conn, last_seq, PAGE, None, None).await?;
            let Some(last) = page.last() else { break };
            last_seq = last.seq;
            previous = match verify_chain(&previous, &page) {
                Ok(hash) => hash,
                Err(chain_break) => return Ok(Err(chain_break)),
            };
            count += page.len() as i64;
        }
        if last_seq != head_seq || previous != head_hash {
            // Entries after the last stored one were removed: the head remembers them.
            return Ok(Err(ChainBreak::Unlinked { seq: last_seq + 1 }));
        }
        Ok(Ok(Verified {
            entries: count,
            head: previous,
        }))
    }
}
