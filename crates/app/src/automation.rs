//! Automation rules: admins define them, staff read them, dry runs show what they would do,
//! and a sweep runs the time-based ones. Running a rule on a ticket is in
//! `tickets::automation`, inside the change that raised its event.

use opsdesk_domain::automation::{
    Action, DEFAULT_MAX_RUNS_PER_HOUR, Rule, RuleDraft, RuleError, RuleEvent, SetField, describe,
};
use opsdesk_store::automation::{self as store, RuleDefinition, RuleRow};
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::{Need, Tx};
use crate::jobs::JobError;
use crate::{App, AppError, FieldError, Principal, timestamp};

/// Most tickets a dry run looks at.
pub const MOST_DRY_RUN_TICKETS: i64 = 500;
/// Most pending tickets one sweep runs one time-based rule for; the rest wait for the next.
const SWEEP_BATCH: i64 = 100;

/// A rule as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AutomationRule {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    /// `ticket.created`, `ticket.updated`, `ticket.commented` or `ticket.pending_over`.
    pub event: String,
    /// For `ticket.pending_over`: hours a ticket is pending, unchanged, before the rule runs.
    pub after_hours: Option<i64>,
    /// All must hold: `{"field", "op", "value"}` (or `"values"` for `in`) or
    /// `{"text_contains"}`.
    #[schema(value_type = Vec<Object>)]
    pub conditions: Vec<serde_json::Value>,
    /// `{"set": {field: value}}`, `{"assign"}`, `{"add_tag"}`, `{"apply_macro"}`, `{"note"}`,
    /// `{"page"}`, `{"webhook"}` or `{"open_linked": {"type", "title"}}`.
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<serde_json::Value>,
    pub max_runs_per_hour: i64,
    /// Runs in all.
    pub runs: i64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_run_at: Option<jiff::Timestamp>,
    /// Why the rule stopped running on its own (its rate limit), until it is enabled again.
    pub disabled_reason: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: jiff::Timestamp,
}

/// A new rule, or a draft to dry-run.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    pub name: String,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// `ticket.created`, `ticket.updated`, `ticket.commented` or `ticket.pending_over`.
    pub event: String,
    /// For `ticket.pending_over` (1 to 8760).
    #[serde(default)]
    pub after_hours: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub conditions: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<serde_json::Value>,
    /// More runs than this in an hour disable the rule (default 100).
    #[serde(default)]
    pub max_runs_per_hour: Option<i64>,
}

fn enabled_by_default() -> bool {
    true
}

impl From<NewRule> for RuleDraft {
    fn from(rule: NewRule) -> Self {
        RuleDraft {
            name: rule.name,
            enabled: rule.enabled,
            event: rule.event,
            after_hours: rule.after_hours,
            conditions: rule.conditions,
            actions: rule.actions,
            max_runs_per_hour: rule.max_runs_per_hour,
        }
    }
}

/// Changes to a rule; absent fields stay as they are. Enabling a rule the rate limit
/// disabled starts its hour afresh.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub event: Option<String>,
    pub after_hours: Option<i64>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub conditions: Option<Vec<serde_json::Value>>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub actions: Option<Vec<serde_json::Value>>,
    pub max_runs_per_hour: Option<i64>,
}

/// What a rule would do to recent tickets.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DryRun {
    /// Tickets whose current state passes every condition.
    pub matched: usize,
    pub tickets: Vec<DryRunTicket>,
}

/// One ticket a dry run matched.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DryRunTicket {
    pub number: String,
    /// What would change; empty when the rule's work is already done.
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<serde_json::Value>,
}

pub(crate) fn rule_view(row: RuleRow) -> Result<AutomationRule, AppError> {
    let draft: RuleDraft = serde_json::from_str(&row.definition)
        .map_err(|_| AppError::broken(format!("rule {} has an unreadable definition", row.id)))?;
    Ok(AutomationRule {
        id: row.id,
        name: row.name,
        enabled: row.enabled != 0,
        event: row.event,
        after_hours: draft.after_hours,
        conditions: draft.conditions,
        actions: draft.actions,
        max_runs_per_hour: draft
            .max_runs_per_hour
            .unwrap_or(i64::from(DEFAULT_MAX_RUNS_PER_HOUR)),
        runs: row.runs,
        last_run_at: row.last_run_at.map(timestamp),
        disabled_reason: row.disabled_reason,
        created_at: timestamp(row.created_at),
        updated_at: timestamp(row.updated_at),
    })
}

fn invalid(errors: Vec<RuleError>) -> AppError {
    AppError::Invalid(
        errors
            .into_iter()
            .map(|e| FieldError::new(e.field, e.message))
            .collect(),
    )
}

/// Checks that what the rule's actions name exists: groups, categories, the assignee, macros,
/// escalation policies, webhook URLs.
async fn check_names(tx: &mut Tx<'_>, rule: &Rule) -> Result<(), AppError> {
    let catalog = crate::catalog::current(tx.conn).await?;
    let macros = opsdesk_store::tickets::macros(tx.conn).await?;
    let mut errors = Vec::new();
    for (index, action) in rule.actions.iter().enumerate() {
        let at = format!("actions[{index}]");
        let problem = match action {
            Action::Set { field, value } => match field {
                SetField::Group => catalog
                    .group(value)
                    .is_none()
                    .then(|| format!("no group `{value}`")),
                SetField::Category => crate::tickets::category_by_path(&catalog, value)
                    .err()
                    .map(|_| format!("no category `{value}`")),
                _ => None,
            },
            Action::Assign(email) => {
                match opsdesk_store::accounts::find_user_by_email(tx.conn, email.as_str()).await? {
                    Some(user) if matches!(user.role.as_str(), "agent" | "admin") => None,
                    _ => Some(format!("no agent has the address {email}")),
                }
            }
            Action::ApplyMacro(name) => (!macros.iter().any(|m| m.name.eq_ignore_ascii_case(name)))
                .then(|| format!("no macro `{name}`")),
            Action::Page(name) => opsdesk_store::paging::policy_by_name(tx.conn, name)
                .await?
                .is_none()
                .then(|| format!("no escalation policy `{name}`")),
            Action::Webhook(url) => reqwest::Url::parse(url)
                .err()
                .map(|_| "must be an http:// or https:// URL".to_owned()),
            Action::AddTag(_) | Action::Note(_) | Action::OpenLinked { .. } => None,
        };
        if let Some(message) = problem {
            errors.push(FieldError::new(at, message));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// Checks what a rule names and writes it: a new rule, or over rule `id`.
async fn save(tx: &mut Tx<'_>, id: Option<i64>, rule: &Rule) -> Result<RuleRow, AppError> {
    check_names(tx, rule).await?;
    let definition = serde_json::to_string(&rule.to_draft())
        .map_err(|e| AppError::internal("rule definition", e))?;
    let written = RuleDefinition {
        name: &rule.name,
        enabled: rule.enabled,
        event: rule.event.as_str(),
        definition: &definition,
    };
    match id {
        None => Ok(store::insert_rule(tx.conn, &written, tx.now).await?),
        Some(id) => store::update_rule(tx.conn, id, &written, tx.now)
            .await?
            .ok_or(AppError::NotFound("rule")),
    }
}

impl App {
    /// Creates a rule (admins).
    pub async fn create_rule(
        &self,
        principal: &Principal,
        input: NewRule,
    ) -> Result<AutomationRule, AppError> {
        let rule = RuleDraft::from(input).validate().map_err(invalid)?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = save(&mut tx, None, &rule).await?;
                let created = rule_view(row)?;
                tx.record(Event::created(Entity::AutomationRule, created.id, &created))
                    .await?;
                Ok(created)
            })
        })
        .await
    }

    /// Every rule, by name, with its runs (staff).
    pub async fn rules(&self, principal: &Principal) -> Result<Vec<AutomationRule>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        store::rules(&mut conn)
            .await?
            .into_iter()
            .map(rule_view)
            .collect()
    }

    /// One rule (staff).
    pub async fn rule(&self, principal: &Principal, id: i64) -> Result<AutomationRule, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        rule_view(
            store::rule(&mut conn, id)
                .await?
                .ok_or(AppError::NotFound("rule"))?,
        )
    }

    /// Changes a rule (admins).
    pub async fn update_rule(
        &self,
        principal: &Principal,
        id: i64,
        patch: RulePatch,
    ) -> Result<AutomationRule, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let row = store::rule(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("rule"))?;
                let before = rule_view(row)?;
                let event = patch.event.unwrap_or_else(|| before.event.clone());
                // Only a time-based rule keeps its wait: moving to another event drops it.
                let waits = event == RuleEvent::TicketPendingOver.as_str();
                let draft = RuleDraft {
                    name: patch.name.unwrap_or_else(|| before.name.clone()),
                    enabled: patch.enabled.unwrap_or(before.enabled),
                    after_hours: patch.after_hours.or(before.after_hours.filter(|_| waits)),
                    event,
                    conditions: patch
                        .conditions
                        .unwrap_or_else(|| before.conditions.clone()),
                    actions: patch.actions.unwrap_or_else(|| before.actions.clone()),
                    max_runs_per_hour: patch.max_runs_per_hour.or(Some(before.max_runs_per_hour)),
                };
                let rule = draft.validate().map_err(invalid)?;
                let row = save(&mut tx, Some(id), &rule).await?;
                let after = rule_view(row)?;
                tx.record(Event::updated(Entity::AutomationRule, id, &before, &after))
                    .await?;
                Ok(after)
            })
        })
        .await
    }

    /// What rule `id` would do to the `limit` most recent tickets as they are now, had its
    /// event just happened (admins). Writes nothing.
    pub async fn dry_run_rule(
        &self,
        principal: &Principal,
        id: i64,
        limit: i64,
    ) -> Result<DryRun, AppError> {
        principal.require_admin()?;
        let draft: RuleDraft = {
            let mut conn = self.db().reader().await?;
            let row = store::rule(&mut conn, id)
                .await?
                .ok_or(AppError::NotFound("rule"))?;
            serde_json::from_str(&row.definition)
                .map_err(|_| AppError::broken(format!("rule {id} has an unreadable definition")))?
        };
        let rule = draft.validate().map_err(invalid)?;
        self.dry_run(&rule, limit).await
    }

    /// [`App::dry_run_rule`] for a rule not saved yet.
    pub async fn dry_run_draft(
        &self,
        principal: &Principal,
        input: NewRule,
        limit: i64,
    ) -> Result<DryRun, AppError> {
        principal.require_admin()?;
        let rule = RuleDraft::from(input).validate().map_err(invalid)?;
        self.dry_run(&rule, limit).await
    }

    async fn dry_run(&self, rule: &Rule, limit: i64) -> Result<DryRun, AppError> {
        if !(1..=MOST_DRY_RUN_TICKETS).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                format!("must be 1 to {MOST_DRY_RUN_TICKETS}"),
            ));
        }
        let mut conn = self.db().reader().await?;
        let ids = store::latest_tickets(&mut conn, limit).await?;
        let mut tickets = Vec::new();
        for (number, facts) in crate::tickets::rule_facts_of(&mut conn, &ids, self.now_ms()).await?
        {
            if rule.matches(&facts) {
                tickets.push(DryRunTicket {
                    number,
                    actions: describe(&rule.plan(&facts)),
                });
            }
        }
        Ok(DryRun {
            matched: tickets.len(),
            tickets,
        })
    }

    /// Runs the time-based rules (`ticket.pending_over`) for the tickets that have waited long
    /// enough; returns how many tickets they looked at. Cheap when there are none: one read.
    pub async fn sweep_rules(&self) -> Result<usize, AppError> {
        let rules = {
            let mut conn = self.db().reader().await?;
            crate::catalog::current(&mut conn)
                .await?
                .rules_for(RuleEvent::TicketPendingOver)
        };
        if rules.is_empty() {
            return Ok(0);
        }
        self.system_change("automation", move |mut tx| {
            Box::pin(async move {
                let mut looked = 0;
                for (id, rule) in rules {
                    let hours = i64::from(rule.after_hours.unwrap_or(1));
                    let waiting = store::pending_unchanged(
                        tx.conn,
                        id,
                        tx.now - hours * 3_600_000,
                        SWEEP_BATCH,
                    )
                    .await?;
                    let one = [(id, rule)];
                    for ticket_id in waiting {
                        crate::tickets::run_rules(&mut tx, &one, ticket_id).await?;
                        store::mark_waited(tx.conn, id, ticket_id, tx.now).await?;
                        looked += 1;
                    }
                }
                Ok(looked)
            })
        })
        .await
    }

    /// Performs a rule's webhook: POSTs the ticket as JSON. Any non-2xx answer is a failure,
    /// retried with backoff.
    pub(crate) async fn deliver_rule_webhook(
        &self,
        payload: &serde_json::Value,
    ) -> Result<(), JobError> {
        let url = payload["url"]
            .as_str()
            .ok_or_else(|| JobError::Payload("no `url`".into()))?;
        let response = self
            .inner
            .http
            .post(url)
            .json(&payload["body"])
            .send()
            .await
            .map_err(|e| JobError::remote(format!("POST {url}"), e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(JobError::Refused(format!(
                "POST {url} answered {}",
                response.status()
            )))
        }
    }
}
