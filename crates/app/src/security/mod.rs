//! Security incidents: tickets of type `security_incident` seen only by admins and the
//! members of their restricted group (the rule itself lives in [`Principal::can_see_restricted`]
//! and the search's visibility clause), with a severity, affected CIs and accounts, the
//! incident-response runbook's checklist, and evidence files whose every access is recorded
//! (see [`custody`]).

mod custody;

pub use custody::CustodyEntry;
pub(crate) use custody::{evidence_access, record_mail_files, record_upload};

use opsdesk_domain::account::Email;
use opsdesk_domain::security::{self as rules, ChecklistItem, OverrideReason, Phase, Severity};
use opsdesk_domain::ticket::TicketType;
use opsdesk_store::security::{self as store, CheckedRow};
use opsdesk_store::tickets::TicketRow;
use opsdesk_store::{Conn, accounts, cmdb};
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::{Need, Tx};
use crate::tickets::{
    Named, NewTicket, SearchPage, Ticket, find_visible, insert_ticket, timeline, validate_ticket,
};
use crate::{App, AppError, FieldError, Principal, timestamp};

/// A new security incident.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSecurityIncident {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `low`, `medium`, `high` or `critical`; sets the ticket's impact and urgency.
    pub severity: String,
    /// The restricted support group, by name: only its members and admins see the incident.
    /// You must be one of them.
    pub group: String,
    /// Ids of the configuration items affected.
    #[serde(default)]
    pub affected_cis: Vec<i64>,
    /// Accounts affected: a desk user's e-mail address (linked to the user) or any account
    /// name of a system outside the desk.
    #[serde(default)]
    pub affected_accounts: Vec<String>,
}

/// Changes to a security incident; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecurityPatch {
    pub severity: Option<String>,
    pub affected_cis: Option<Vec<i64>>,
    pub affected_accounts: Option<Vec<String>>,
    /// Why the incident may be resolved with its runbook unfinished (10 to 1000 characters).
    pub override_reason: Option<String>,
}

/// An affected account.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AffectedAccount {
    pub account: String,
    /// The desk user it is, when it is one.
    pub user_id: Option<i64>,
}

/// One item of the runbook checklist.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChecklistEntry {
    /// `phase.item`, e.g. `containment.isolate_systems`.
    pub item: String,
    /// `containment`, `eradication`, `recovery` or `lessons_learned`.
    #[schema(value_type = String)]
    pub phase: Phase,
    pub done: bool,
    /// Who ticked it, as the audit log names them.
    pub done_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<jiff::Timestamp>,
}

/// Why the incident may be resolved with its runbook unfinished.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunbookOverride {
    pub reason: String,
    pub by: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub at: Option<jiff::Timestamp>,
}

/// A security incident: its ticket and what a security incident adds.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SecurityIncident {
    pub ticket: Ticket,
    #[schema(value_type = String)]
    pub severity: Severity,
    pub restricted_group: Named,
    pub affected_cis: Vec<Named>,
    pub affected_accounts: Vec<AffectedAccount>,
    /// The runbook, phase by phase.
    pub checklist: Vec<ChecklistEntry>,
    /// The first item still to do; none when the runbook is finished.
    pub next_item: Option<String>,
    pub runbook_override: Option<RunbookOverride>,
}

/// A security incident as its list shows it: its ticket, severity, restricted group and
/// how far its runbook is.
#[derive(Debug, Clone)]
pub struct SecuritySummary {
    pub ticket: Ticket,
    pub severity: Severity,
    /// The restricted group's name.
    pub restricted_group: String,
    /// Runbook items done, of `total`.
    pub done: usize,
    pub total: usize,
    /// The phase of the first item still to do; none when the runbook is finished.
    pub phase: Option<Phase>,
}

/// A page of [`SecuritySummary`]s.
#[derive(Debug, Clone)]
pub struct SecuritySummaryPage {
    pub items: Vec<SecuritySummary>,
    pub next_cursor: Option<String>,
}

/// The security incident `reference` names, if `principal` may see it.
pub(crate) async fn find_incident(
    conn: &mut Conn,
    principal: &Principal,
    reference: &str,
) -> Result<TicketRow, AppError> {
    let row = find_visible(conn, principal, reference)
        .await
        .map_err(|_| AppError::NotFound("security incident"))?;
    if row.ticket_type != TicketType::SecurityIncident.as_str() {
        return Err(AppError::NotFound("security incident"));
    }
    Ok(row)
}

/// Refuses watchers of a restricted ticket who could not see it: they would be mailed it.
pub(crate) async fn check_watchers(
    conn: &mut Conn,
    group: i64,
    watchers: &[i64],
) -> Result<(), AppError> {
    let members = opsdesk_store::tickets::group_members(conn, group).await?;
    for (index, id) in watchers.iter().enumerate() {
        let user = accounts::get_user(conn, *id).await?;
        let allowed = user.is_some_and(|user| {
            user.role == "admin" || members.iter().any(|member| member.id == *id)
        });
        if !allowed {
            return Err(AppError::invalid(
                format!("watchers[{index}]"),
                "watchers of a security incident must be admins or members of its restricted group",
            ));
        }
    }
    Ok(())
}

/// Refuses to resolve a security incident whose runbook is unfinished and not overridden.
pub(crate) async fn check_resolvable(conn: &mut Conn, ticket_id: i64) -> Result<(), AppError> {
    let overridden = store::get(conn, ticket_id)
        .await?
        .is_some_and(|row| row.override_reason.is_some());
    let done = checked_items(&store::checklist(conn, ticket_id).await?);
    rules::may_resolve(&done, overridden).map_err(|e| AppError::Conflict {
        field: Some("status".into()),
        message: e.to_string(),
    })
}

fn done_items<'a>(keys: impl IntoIterator<Item = &'a String>) -> Vec<ChecklistItem> {
    keys.into_iter()
        .filter_map(|key| ChecklistItem::parse(key).ok())
        .collect()
}

fn checked_items(rows: &[CheckedRow]) -> Vec<ChecklistItem> {
    done_items(rows.iter().map(|row| &row.item))
}

async fn check_cis(conn: &mut Conn, ids: &[i64]) -> Result<Vec<i64>, AppError> {
    let found = cmdb::cis_by_ids(conn, ids).await?;
    let errors: Vec<FieldError> = ids
        .iter()
        .enumerate()
        .filter(|(_, id)| !found.iter().any(|ci| ci.id == **id))
        .map(|(index, _)| FieldError::new(format!("affected_cis[{index}]"), "no such CI"))
        .collect();
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

async fn check_accounts(
    conn: &mut Conn,
    names: &[String],
) -> Result<Vec<(String, Option<i64>)>, AppError> {
    let mut accounts_found: Vec<(String, Option<i64>)> = Vec::new();
    for (index, name) in names.iter().enumerate() {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AppError::invalid(
                format!("affected_accounts[{index}]"),
                "an account name is 1 to 200 characters",
            ));
        }
        let user = match Email::parse(name) {
            Ok(email) => accounts::find_user_by_email(conn, email.as_str())
                .await?
                .map(|user| user.id),
            Err(_) => None,
        };
        if !accounts_found.iter().any(|(known, _)| known == name) {
            accounts_found.push((name.to_owned(), user));
        }
    }
    Ok(accounts_found)
}

/// The severity stored for security incident `ticket_id`.
fn stored_severity(ticket_id: i64, text: &str) -> Result<Severity, AppError> {
    text.parse()
        .map_err(|_| AppError::broken(format!("ticket {ticket_id} has an invalid severity")))
}

fn parse_severity(text: &str) -> Result<Severity, AppError> {
    text.parse()
        .map_err(|e: opsdesk_domain::ParseValueError| AppError::invalid("severity", e))
}

/// A staff-only timeline entry plus the incident's audit entry, in one round trip.
async fn record(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    kind: &str,
    data: serde_json::Value,
) -> Result<(), AppError> {
    let mut batch = tx.batch();
    timeline(
        &mut batch,
        ticket_id,
        tx.now,
        tx.actor,
        kind,
        false,
        data.clone(),
    );
    let event = Event::updated(
        Entity::SecurityIncident,
        ticket_id,
        &serde_json::Value::Null,
        &data,
    );
    tx.record_with(batch, event).await
}

impl App {
    /// Opens a security incident (staff in the restricted group, or admins).
    pub async fn create_security_incident(
        &self,
        principal: &Principal,
        input: NewSecurityIncident,
    ) -> Result<SecurityIncident, AppError> {
        principal.require_staff()?;
        let severity = parse_severity(&input.severity)?;
        let (impact, urgency) = severity.impact_urgency();
        let ticket = NewTicket {
            // Checked as an incident, then made a security incident once its group is known.
            ticket_type: TicketType::Incident.as_str().to_owned(),
            title: input.title.clone(),
            description: input.description.clone(),
            impact: impact.as_str().to_owned(),
            urgency: urgency.as_str().to_owned(),
            group: Some(input.group.clone()),
            ..NewTicket::default()
        };
        let valid = validate_ticket(principal, ticket)?;
        let id = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let catalog = crate::catalog::current(tx.conn).await?;
                    let group = catalog
                        .group(&input.group)
                        .map(|g| g.id)
                        .ok_or_else(|| AppError::invalid("group", "no such group"))?;
                    if !tx.principal.can_see_restricted(Some(group)) {
                        return Err(AppError::invalid(
                            "group",
                            "you must be a member of the restricted group",
                        ));
                    }
                    let cis = check_cis(tx.conn, &input.affected_cis).await?;
                    let accounts = check_accounts(tx.conn, &input.affected_accounts).await?;
                    let id = insert_ticket(&mut tx, valid.restricted_to(group)).await?;
                    store::insert(tx.conn, id, severity.as_str()).await?;
                    store::set_affected_cis(tx.conn, id, &cis).await?;
                    store::set_affected_accounts(tx.conn, id, &accounts).await?;
                    let data = serde_json::json!({
                        "severity": severity, "restricted_group_id": group, "affected_cis": cis,
                        "affected_accounts": accounts.iter().map(|(a, _)| a).collect::<Vec<_>>(),
                    });
                    record(&mut tx, id, "security_opened", data).await?;
                    Ok(id)
                })
            })
            .await?;
        self.security_incident(principal, &id.to_string()).await
    }

    /// A security incident with its details.
    pub async fn security_incident(
        &self,
        principal: &Principal,
        reference: &str,
    ) -> Result<SecurityIncident, AppError> {
        let mut conn = self.db().reader().await?;
        let row = find_incident(&mut conn, principal, reference).await?;
        let details = store::get(&mut conn, row.id).await?.ok_or_else(|| {
            AppError::broken(format!("security incident {} has no details", row.id))
        })?;
        let severity = stored_severity(row.id, &details.severity)?;
        let checked = store::checklist(&mut conn, row.id).await?;
        let done = checked_items(&checked);
        let checklist = rules::CHECKLIST
            .iter()
            .map(|item| {
                let done = checked.iter().find(|c| c.item == item.key);
                ChecklistEntry {
                    item: item.key.to_owned(),
                    phase: item.phase,
                    done: done.is_some(),
                    done_by: done.map(|c| c.done_actor.clone()),
                    done_at: done.map(|c| timestamp(c.done_at)),
                }
            })
            .collect();
        let affected_cis = store::affected_cis(&mut conn, row.id)
            .await?
            .into_iter()
            .map(|(id, name)| Named { id, name })
            .collect();
        let affected_accounts = store::affected_accounts(&mut conn, row.id)
            .await?
            .into_iter()
            .map(|(account, user_id)| AffectedAccount { account, user_id })
            .collect();
        let group_id = row.restricted_group_id.unwrap_or_default();
        let group_name = opsdesk_store::tickets::get_group(&mut conn, group_id)
            .await?
            .map(|g| g.name)
            .unwrap_or_default();
        drop(conn);
        Ok(SecurityIncident {
            ticket: self.ticket(principal, &row.id.to_string()).await?,
            severity,
            restricted_group: Named {
                id: group_id,
                name: group_name,
            },
            affected_cis,
            affected_accounts,
            checklist,
            next_item: rules::first_open(&done).map(|item| item.key.to_owned()),
            runbook_override: details.override_reason.map(|reason| RunbookOverride {
                reason,
                by: details.overridden_by,
                at: details.overridden_at.map(timestamp),
            }),
        })
    }

    /// The security incidents `principal` may see, newest first.
    pub async fn security_incidents(
        &self,
        principal: &Principal,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<SearchPage, AppError> {
        principal.require_staff()?;
        self.search_tickets(principal, "type:security_incident", cursor, limit)
            .await
    }

    /// [`App::security_incidents`] with what their list shows of each (severity, restricted
    /// group, runbook progress), read for the whole page at once.
    pub async fn security_incident_summaries(
        &self,
        principal: &Principal,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<SecuritySummaryPage, AppError> {
        let page = self.security_incidents(principal, cursor, limit).await?;
        let ids: Vec<i64> = page.items.iter().map(|hit| hit.ticket.id).collect();
        let mut summaries = {
            let mut conn = self.db().reader().await?;
            store::summaries(&mut conn, &ids).await?
        };
        let mut items = Vec::with_capacity(page.items.len());
        for hit in page.items {
            let id = hit.ticket.id;
            let row = summaries.remove(&id).ok_or_else(|| {
                AppError::broken(format!("security incident {id} has no details"))
            })?;
            let severity = stored_severity(id, &row.severity)?;
            let done = done_items(&row.done);
            items.push(SecuritySummary {
                ticket: hit.ticket,
                severity,
                restricted_group: row.group,
                done: done.len(),
                total: rules::CHECKLIST.len(),
                phase: rules::first_open(&done).map(|item| item.phase),
            });
        }
        Ok(SecuritySummaryPage {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// Changes a security incident's severity, affected CIs or accounts, or records why it
    /// may be resolved with its runbook unfinished.
    pub async fn update_security_incident(
        &self,
        principal: &Principal,
        reference: &str,
        patch: SecurityPatch,
    ) -> Result<SecurityIncident, AppError> {
        let severity = patch.severity.as_deref().map(parse_severity).transpose()?;
        let reason = patch
            .override_reason
            .as_deref()
            .map(OverrideReason::parse)
            .transpose()
            .map_err(|e| AppError::invalid("override_reason", e))?;
        let reference = reference.to_owned();
        let id = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let row = find_incident(tx.conn, tx.principal, &reference).await?;
                    let mut data = serde_json::Map::new();
                    if let Some(severity) = severity {
                        store::set_severity(tx.conn, row.id, severity.as_str()).await?;
                        data.insert("severity".into(), severity.as_str().into());
                    }
                    if let Some(cis) = &patch.affected_cis {
                        let cis = check_cis(tx.conn, cis).await?;
                        store::set_affected_cis(tx.conn, row.id, &cis).await?;
                        data.insert("affected_cis".into(), cis.into());
                    }
                    if let Some(names) = &patch.affected_accounts {
                        let accounts = check_accounts(tx.conn, names).await?;
                        store::set_affected_accounts(tx.conn, row.id, &accounts).await?;
                        let names: Vec<String> = accounts.into_iter().map(|(a, _)| a).collect();
                        data.insert("affected_accounts".into(), names.into());
                    }
                    if let Some(reason) = &reason {
                        let by = tx.principal.user_id;
                        store::set_override(tx.conn, row.id, reason.as_str(), by, tx.now).await?;
                        data.insert("override_reason".into(), reason.as_str().into());
                    }
                    if !data.is_empty() {
                        opsdesk_store::tickets::touch(tx.conn, row.id, tx.now, None, 0).await?;
                        record(&mut tx, row.id, "security_updated", data.into()).await?;
                    }
                    Ok(row.id)
                })
            })
            .await?;
        self.security_incident(principal, &id.to_string()).await
    }

    /// Ticks a runbook item: 404 for an unknown item, 409 when it is done already or an
    /// earlier phase is still open.
    pub async fn tick_security_checklist(
        &self,
        principal: &Principal,
        reference: &str,
        item: &str,
    ) -> Result<SecurityIncident, AppError> {
        let item = ChecklistItem::parse(item).map_err(|_| AppError::NotFound("checklist item"))?;
        let reference = reference.to_owned();
        let id = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let row = find_incident(tx.conn, tx.principal, &reference).await?;
                    let done = checked_items(&store::checklist(tx.conn, row.id).await?);
                    rules::may_tick(item, &done).map_err(|e| AppError::Conflict {
                        field: Some("item".into()),
                        message: e.to_string(),
                    })?;
                    let checked = CheckedRow {
                        item: item.key.to_owned(),
                        done_by: tx.principal.user_id,
                        done_actor: tx.actor.to_owned(),
                        done_at: tx.now,
                    };
                    store::tick(tx.conn, row.id, &checked).await?;
                    opsdesk_store::tickets::touch(tx.conn, row.id, tx.now, None, 0).await?;
                    let data = serde_json::json!({"item": item.key, "phase": item.phase});
                    record(&mut tx, row.id, "checklist_done", data).await?;
                    Ok(row.id)
                })
            })
            .await?;
        self.security_incident(principal, &id.to_string()).await
    }
}
