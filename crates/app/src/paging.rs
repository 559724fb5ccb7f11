//! Paging: an incident opened by an integration with an escalation policy pages whoever its
//! first level names (the person on call on a schedule, or a named person) by mail, with a
//! link to acknowledge, escalate or resolve; when nobody acknowledges within the level's
//! wait, a durable job pages the next level. A level where nobody is on call is noted on
//! the incident and skipped at once, so a gap in a schedule never swallows a page.

use opsdesk_domain::escalation::{Level, PageAction, PageStatus, Policy, Step, Target};
use opsdesk_domain::page_rules::PageUrgency;
use opsdesk_domain::ticket::TicketStatus;
use opsdesk_domain::ticket::Urgency;
use opsdesk_store::Conn;
use opsdesk_store::paging::{self as store, NewPolicy, PageRow, PageUpdate, PolicyRow};
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::{Need, Tx};
use crate::clock::{random_secret, secret_hash};
use crate::jobs::{self, JobError, JobKind};
use crate::mail::{PersonalMail, html_escape};
use crate::tickets::{TicketPatch, find_visible, number_of, patch_ticket, timeline};
use crate::{App, AppError, FieldError, Principal, Via, timestamp};

/// An escalation policy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EscalationPolicy {
    pub id: i64,
    pub name: String,
    /// Each `{"targets": [{"schedule": id} | {"user": e-mail}], "wait_minutes": n}`: who is
    /// paged, and how long the level waits for an acknowledgement.
    #[schema(value_type = Vec<Object>)]
    pub levels: Vec<Level>,
    /// How many times the levels start again after the last one.
    pub repeat: u32,
    /// A Slack-, Mattermost- or Teams-compatible incoming webhook told of every page.
    pub chat_webhook_url: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

/// A new escalation policy.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEscalationPolicy {
    pub name: String,
    #[schema(value_type = Vec<Object>)]
    pub levels: Vec<Level>,
    #[serde(default)]
    pub repeat: u32,
    #[serde(default)]
    pub chat_webhook_url: Option<String>,
}

/// The page of an incident.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page {
    pub incident: String,
    pub title: String,
    pub policy: String,
    /// `triggered`, `acknowledged`, `resolved` or `exhausted`.
    pub status: String,
    /// The level being (or last) paged, from 1.
    pub level: i64,
    /// The pass through the levels, from 1.
    pub round: i64,
    pub acknowledged_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<jiff::Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
    /// Everyone paged, in order.
    pub notifications: Vec<PageNotification>,
}

/// One person paged.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PageNotification {
    pub person: String,
    pub level: i64,
    pub round: i64,
    /// When the mail is due to leave: at once, or later by the person's notification rules
    /// (a repeat, or a low-urgency page after their quiet hours).
    #[schema(value_type = String, format = DateTime)]
    pub due_at: jiff::Timestamp,
    /// When the mail left; none while it is queued (or when no relay is configured).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub sent_at: Option<jiff::Timestamp>,
}

fn policy_of(row: &PolicyRow) -> Result<Policy, AppError> {
    let broken = |e: String| AppError::broken(format!("escalation policy {}: {e}", row.id));
    let levels: Vec<Level> =
        serde_json::from_str(&row.levels).map_err(|e| broken(e.to_string()))?;
    let repeat = u32::try_from(row.repeats).map_err(|e| broken(e.to_string()))?;
    Policy::new(levels, repeat).map_err(|e| broken(e.to_string()))
}

fn policy_view(row: PolicyRow) -> Result<EscalationPolicy, AppError> {
    let policy = policy_of(&row)?;
    Ok(EscalationPolicy {
        id: row.id,
        name: row.name,
        levels: policy.levels().to_vec(),
        repeat: policy.repeat(),
        chat_webhook_url: row.chat_webhook_url,
        created_at: timestamp(row.created_at),
    })
}

fn step_of(page: &PageRow) -> Step {
    Step {
        round: u32::try_from(page.round).unwrap_or(0),
        level: usize::try_from(page.level).unwrap_or(0),
    }
}

/// Levels and rounds as people count them, from 1.
fn counted(step: Step) -> (i64, i64) {
    (i64::from(step.round) + 1, step.level as i64 + 1)
}

/// Notes what happened to a page on its incident's timeline (staff only).
async fn note(tx: &mut Tx<'_>, ticket_id: i64, data: serde_json::Value) -> Result<(), AppError> {
    let mut batch = tx.batch();
    timeline(&mut batch, ticket_id, tx.now, tx.actor, "page", false, data);
    batch.run(tx.conn).await?;
    Ok(())
}

/// The active staff a level names at `at`, without repeats.
async fn people_of(
    conn: &mut Conn,
    level: &Level,
    at: i64,
) -> Result<Vec<(i64, String)>, AppError> {
    let mut people: Vec<(i64, String)> = Vec::new();
    for target in &level.targets {
        let email = match target {
            Target::Schedule(id) => crate::oncall::person_on_call(conn, *id, at).await?,
            Target::User(email) => Some(email.to_lowercase()),
        };
        let Some(email) = email else { continue };
        let user = opsdesk_store::accounts::find_user_by_email(conn, &email).await?;
        if let Some(user) = user.filter(crate::oncall::active_staff)
            && !people.iter().any(|(id, _)| *id == user.id)
        {
            people.push((user.id, user.email));
        }
    }
    Ok(people)
}

/// Pages the level at `step` — or, where nobody is there, the next level with someone —
/// and queues the escalation after its wait. The page ends exhausted when no level is left.
async fn page_from(
    tx: &mut Tx<'_>,
    page: &PageRow,
    policy_row: &PolicyRow,
    mut step: Step,
) -> Result<(), AppError> {
    let policy = policy_of(policy_row)?;
    let ordinal = store::pages_before(tx.conn, page.policy_id, page.id).await?;
    loop {
        let level = policy.level(step);
        let people = level.chosen(&people_of(tx.conn, level, tx.now).await?, ordinal);
        let (round, level) = counted(step);
        if people.is_empty() {
            note(
                tx,
                page.ticket_id,
                serde_json::json!({"event": "nobody", "level": level, "round": round}),
            )
            .await?;
            tracing::warn!(page = page.id, level, "nobody is on call at this level");
            match policy.next(step) {
                Some(next) => {
                    step = next;
                    continue;
                }
                None if store::notifications(tx.conn, page.id).await?.is_empty() => {
                    return nobody_on_call(tx, page, policy_row, step).await;
                }
                None => return exhaust(tx, page, step).await,
            }
        }
        let mut batch = tx.batch();
        notify(tx, &mut batch, page, policy_row, step, &people).await?;
        let wait = policy.wait(step).as_millis();
        jobs::queue_at(
            &mut batch,
            JobKind::PageEscalation,
            &serde_json::json!({"page_id": page.id, "round": step.round, "level": step.level}),
            tx.now
                .saturating_add(i64::try_from(wait).unwrap_or(i64::MAX)),
            tx.now,
        );
        batch.run(tx.conn).await?;
        store::update_page(
            tx.conn,
            page.id,
            &PageUpdate {
                status: PageStatus::Triggered.as_str(),
                round: round - 1,
                level: level - 1,
                acknowledged_by: None,
            },
            tx.now,
        )
        .await?;
        let emails: Vec<&str> = people.iter().map(|(_, email)| email.as_str()).collect();
        return note(
            tx,
            page.ticket_id,
            serde_json::json!({"event": "paged", "level": level, "round": round,
                               "people": emails}),
        )
        .await;
    }
}

/// Mails each of `people` that they are paged at `step` (and the policy's chat, when it has
/// one), through jobs queued in `batch`.
async fn notify(
    tx: &mut Tx<'_>,
    batch: &mut opsdesk_store::Batch,
    page: &PageRow,
    policy_row: &PolicyRow,
    step: Step,
    people: &[(i64, String)],
) -> Result<(), AppError> {
    let (round, level) = counted(step);
    let urgency = match opsdesk_store::tickets::get(tx.conn, page.ticket_id).await? {
        Some(ticket) if ticket.urgency == Urgency::High.as_str() => PageUrgency::High,
        _ => PageUrgency::Low,
    };
    let paged_at = timestamp(tx.now);
    for (user_id, _) in people {
        // Each person's own rules say when their mails leave: at once, again later while
        // the page waits at this level, and low urgency after their quiet hours.
        let rules = crate::preferences::rules_of(tx.conn, *user_id).await?;
        for at in rules.send_times(urgency, paged_at) {
            let at = at.as_millisecond();
            let id =
                store::insert_notification(tx.conn, page.id, *user_id, (round - 1, level - 1), at)
                    .await?;
            jobs::queue_at(
                batch,
                JobKind::PageNotification,
                &serde_json::json!({"notification_id": id}),
                at,
                tx.now,
            );
        }
    }
    if policy_row.chat_webhook_url.is_some() {
        jobs::queue(
            batch,
            JobKind::PageChat,
            &serde_json::json!({"page_id": page.id, "level": level}),
            tx.now,
        );
    }
    Ok(())
}

/// No level of the policy had anyone on call: rather than page no one, the admins are
/// paged (and the page then ends), and the incident's timeline says so.
async fn nobody_on_call(
    tx: &mut Tx<'_>,
    page: &PageRow,
    policy_row: &PolicyRow,
    step: Step,
) -> Result<(), AppError> {
    let admins = opsdesk_store::accounts::active_admins(tx.conn).await?;
    tracing::warn!(page = page.id, policy = %policy_row.name, "nobody is on call: paging the admins");
    let mut batch = tx.batch();
    notify(tx, &mut batch, page, policy_row, step, &admins).await?;
    batch.run(tx.conn).await?;
    let emails: Vec<&str> = admins.iter().map(|(_, email)| email.as_str()).collect();
    note(
        tx,
        page.ticket_id,
        serde_json::json!({"event": "nobody_on_call", "people": emails}),
    )
    .await?;
    exhaust(tx, page, step).await
}

async fn exhaust(tx: &mut Tx<'_>, page: &PageRow, step: Step) -> Result<(), AppError> {
    let (round, level) = counted(step);
    store::update_page(
        tx.conn,
        page.id,
        &PageUpdate {
            status: PageStatus::Exhausted.as_str(),
            round: round - 1,
            level: level - 1,
            acknowledged_by: None,
        },
        tx.now,
    )
    .await?;
    note(
        tx,
        page.ticket_id,
        serde_json::json!({"event": "exhausted"}),
    )
    .await
}

/// Who the `ordinal`-th page under `policy`, starting at `at`, notifies first: those of the
/// first level with anyone on call (one of them in turn, on a round-robin level). For the
/// rule simulator.
pub(crate) async fn first_paged_at(
    conn: &mut Conn,
    policy: &Policy,
    at: i64,
    ordinal: u64,
) -> Result<Vec<String>, AppError> {
    let mut step = Some(policy.first());
    while let Some(at_step) = step {
        let level = policy.level(at_step);
        let people = level.chosen(&people_of(conn, level, at).await?, ordinal);
        if !people.is_empty() {
            return Ok(people.into_iter().map(|(_, email)| email).collect());
        }
        step = policy.next(at_step);
    }
    Ok(Vec::new())
}

/// An escalation policy's levels, by the policy's id.
pub(crate) async fn policy_by_id(conn: &mut Conn, id: i64) -> Result<Policy, AppError> {
    let row = store::policy(conn, id)
        .await?
        .ok_or(AppError::NotFound("escalation policy"))?;
    policy_of(&row)
}

/// Starts paging for a new incident under policy `policy_id`, in the transaction that
/// opened it.
pub(crate) async fn start(tx: &mut Tx<'_>, ticket_id: i64, policy_id: i64) -> Result<(), AppError> {
    let policy_row = store::policy(tx.conn, policy_id)
        .await?
        .ok_or(AppError::NotFound("escalation policy"))?;
    let id = store::insert_page(tx.conn, ticket_id, policy_id, tx.now).await?;
    let page = store::page(tx.conn, id)
        .await?
        .ok_or_else(|| AppError::broken("a page went missing"))?;
    let first = policy_of(&policy_row)?.first();
    page_from(tx, &page, &policy_row, first).await
}

/// Marks the page of a ticket resolved when the ticket is (in the resolving transaction).
pub(crate) async fn ticket_resolved(tx: &mut Tx<'_>, ticket_id: i64) -> Result<(), AppError> {
    if let Some(page) = store::page_of_ticket(tx.conn, ticket_id).await?
        && page.status != PageStatus::Resolved.as_str()
    {
        store::update_page(
            tx.conn,
            page.id,
            &PageUpdate {
                status: PageStatus::Resolved.as_str(),
                round: page.round,
                level: page.level,
                acknowledged_by: None,
            },
            tx.now,
        )
        .await?;
    }
    Ok(())
}

/// Applies `action` to the page of the ticket `row` as `tx.principal`.
async fn act(
    tx: &mut Tx<'_>,
    row: opsdesk_store::tickets::TicketRow,
    action: PageAction,
) -> Result<(), AppError> {
    let page = store::page_of_ticket(tx.conn, row.id)
        .await?
        .ok_or_else(|| AppError::conflict("nobody was paged for this incident"))?;
    let status: PageStatus = page
        .status
        .parse()
        .map_err(|e| AppError::internal("reading a page", e))?;
    status
        .after(action)
        .map_err(|e| AppError::conflict(e.to_string()))?;
    let by = tx.principal.email.clone();
    match action {
        PageAction::Acknowledge => {
            store::update_page(
                tx.conn,
                page.id,
                &PageUpdate {
                    status: PageStatus::Acknowledged.as_str(),
                    round: page.round,
                    level: page.level,
                    acknowledged_by: Some(&by),
                },
                tx.now,
            )
            .await?;
            note(
                tx,
                row.id,
                serde_json::json!({"event": "acknowledged", "by": by}),
            )
            .await?;
            // Whoever takes the page takes the incident, unless someone already has it.
            let patch = TicketPatch {
                assignee: row.assignee_id.is_none().then(|| Some(by.clone())),
                status: (row.status == TicketStatus::New.as_str()).then(|| "open".to_owned()),
                ..TicketPatch::default()
            };
            if patch.assignee.is_some() || patch.status.is_some() {
                patch_ticket(tx, row, crate::Precondition::Any, patch).await?;
            }
        }
        PageAction::Escalate => {
            let policy_row = store::policy(tx.conn, page.policy_id)
                .await?
                .ok_or(AppError::NotFound("escalation policy"))?;
            let next = policy_of(&policy_row)?
                .next(step_of(&page))
                .ok_or_else(|| AppError::conflict("the page is at its policy's last level"))?;
            note(
                tx,
                row.id,
                serde_json::json!({"event": "escalated", "by": by}),
            )
            .await?;
            page_from(tx, &page, &policy_row, next).await?;
        }
        PageAction::Resolve => {
            let patch = TicketPatch {
                status: Some("resolved".into()),
                resolution_code: Some("fixed".into()),
                resolution_note: Some(format!("Resolved from the page by {by}.")),
                ..TicketPatch::default()
            };
            patch_ticket(tx, row, crate::Precondition::Any, patch).await?;
        }
    }
    Ok(())
}

impl App {
    /// Creates an escalation policy (admins). Its schedules must exist and its people be
    /// active staff.
    pub async fn create_escalation_policy(
        &self,
        principal: &Principal,
        input: NewEscalationPolicy,
    ) -> Result<EscalationPolicy, AppError> {
        let mut errors = Vec::new();
        let name = crate::accounts::check_name("name", &input.name, &mut errors);
        if let Some(url) = &input.chat_webhook_url
            && !reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            errors.push(FieldError::new(
                "chat_webhook_url",
                "must be an http:// or https:// URL",
            ));
        }
        if let Err(e) = Policy::new(input.levels.clone(), input.repeat) {
            errors.push(FieldError::new("levels", e.to_string()));
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let levels = serde_json::to_string(&input.levels)
            .map_err(|e| AppError::internal("recording a policy", e))?;
        let row = self
            .change(principal, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    let mut errors = Vec::new();
                    for (index, level) in input.levels.iter().enumerate() {
                        let field = format!("levels[{index}].targets");
                        for target in &level.targets {
                            let known = match target {
                                Target::Schedule(id) => {
                                    opsdesk_store::oncall::schedule(tx.conn, *id)
                                        .await?
                                        .is_some()
                                }
                                Target::User(email) => opsdesk_store::accounts::find_user_by_email(
                                    tx.conn,
                                    &email.to_lowercase(),
                                )
                                .await?
                                .as_ref()
                                .is_some_and(crate::oncall::active_staff),
                            };
                            if !known {
                                let what = match target {
                                    Target::Schedule(id) => format!("no schedule has id {id}"),
                                    Target::User(email) => format!("{email} is not active staff"),
                                };
                                errors.push(FieldError::new(field.clone(), what));
                            }
                        }
                    }
                    if !errors.is_empty() {
                        return Err(AppError::Invalid(errors));
                    }
                    let row = store::insert_policy(
                        tx.conn,
                        &NewPolicy {
                            name: &name,
                            levels: &levels,
                            repeats: i64::from(input.repeat),
                            chat_webhook_url: input.chat_webhook_url.as_deref(),
                        },
                        tx.now,
                    )
                    .await?;
                    let view = policy_view(row.clone())?;
                    tx.record(Event::created(Entity::EscalationPolicy, row.id, &view))
                        .await?;
                    Ok(row)
                })
            })
            .await?;
        policy_view(row)
    }

    /// Every escalation policy (staff).
    pub async fn escalation_policies(
        &self,
        principal: &Principal,
    ) -> Result<Vec<EscalationPolicy>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        store::policies(&mut conn)
            .await?
            .into_iter()
            .map(policy_view)
            .collect()
    }

    /// The page of an incident, if it has one (staff).
    pub async fn page(
        &self,
        principal: &Principal,
        reference: &str,
    ) -> Result<Option<Page>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let row = find_visible(&mut conn, principal, reference).await?;
        match store::page_of_ticket(&mut conn, row.id).await? {
            Some(page) => Ok(Some(self.page_view(&mut conn, page).await?)),
            None => Ok(None),
        }
    }

    /// Pages still waiting for someone (staff), newest first.
    pub async fn open_pages(&self, principal: &Principal) -> Result<Vec<Page>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let mut pages = Vec::new();
        for page in store::open_pages(&mut conn, 100).await? {
            pages.push(self.page_view(&mut conn, page).await?);
        }
        Ok(pages)
    }

    async fn page_view(
        &self,
        conn: &mut opsdesk_store::Conn,
        page: PageRow,
    ) -> Result<Page, AppError> {
        let ticket = opsdesk_store::tickets::get(conn, page.ticket_id)
            .await?
            .ok_or(AppError::NotFound("ticket"))?;
        let notifications = store::notifications(conn, page.id)
            .await?
            .into_iter()
            .map(|n| PageNotification {
                person: n.email,
                level: n.level + 1,
                round: n.round + 1,
                due_at: timestamp(n.created_at),
                sent_at: n.sent_at.map(timestamp),
            })
            .collect();
        Ok(Page {
            incident: number_of(&ticket.ticket_type, ticket.number),
            title: ticket.title,
            policy: page.policy,
            status: page.status,
            level: page.level + 1,
            round: page.round + 1,
            acknowledged_by: page.acknowledged_by,
            acknowledged_at: page.acknowledged_at.map(timestamp),
            created_at: timestamp(page.created_at),
            notifications,
        })
    }

    /// Acknowledges, escalates or resolves the page of an incident (staff), and answers
    /// the page as it is then.
    pub async fn act_on_page(
        &self,
        principal: &Principal,
        reference: &str,
        action: PageAction,
    ) -> Result<Page, AppError> {
        let reference = reference.to_owned();
        let ticket_id = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let row = find_visible(tx.conn, tx.principal, &reference).await?;
                    let id = row.id;
                    act(&mut tx, row, action).await?;
                    Ok(id)
                })
            })
            .await?;
        self.after_page_action(principal, ticket_id).await
    }

    async fn after_page_action(
        &self,
        principal: &Principal,
        ticket_id: i64,
    ) -> Result<Page, AppError> {
        let mut conn = self.db().reader().await?;
        let page = store::page_of_ticket(&mut conn, ticket_id)
            .await?
            .ok_or(AppError::NotFound("page"))?;
        let view = self.page_view(&mut conn, page).await?;
        self.publish(
            ticket_id,
            &view.incident,
            crate::TicketEventKind::Updated,
            principal,
        );
        Ok(view)
    }

    /// The person a mailed page link was sent to, signed in by the link's secret (as if by
    /// mail), and the page. An unknown or superseded link is not found.
    pub async fn page_by_link(&self, token: &str) -> Result<(Principal, Page), AppError> {
        let mut conn = self.db().reader().await?;
        let notification = store::notification_by_token(&mut conn, &secret_hash(token))
            .await?
            .ok_or(AppError::NotFound("page"))?;
        let user = opsdesk_store::accounts::get_user(&mut conn, notification.user_id)
            .await?
            .filter(crate::oncall::active_staff)
            .ok_or(AppError::NotFound("page"))?;
        let principal = crate::auth::principal_for(&mut conn, &user, Via::Mail).await?;
        let page = store::page(&mut conn, notification.page_id)
            .await?
            .ok_or(AppError::NotFound("page"))?;
        let view = self.page_view(&mut conn, page).await?;
        Ok((principal, view))
    }

    /// Acts on a page through a mailed link.
    pub async fn act_by_link(&self, token: &str, action: PageAction) -> Result<Page, AppError> {
        let (principal, page) = self.page_by_link(token).await?;
        self.act_on_page(&principal, &page.incident, action).await
    }

    /// Goes on to the next level of a page nobody acknowledged in time (the
    /// `page.escalation` job). A page acknowledged, resolved or moved on since is left.
    pub(crate) async fn escalate_page(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        let field = |name: &str| jobs::id_in(payload, name);
        let (page_id, round, level) = (field("page_id")?, field("round")?, field("level")?);
        let ticket_id = self
            .system_change("paging", move |mut tx| {
                Box::pin(async move {
                    let Some(page) = store::page(tx.conn, page_id).await? else {
                        return Ok(None);
                    };
                    if page.status != PageStatus::Triggered.as_str()
                        || (page.round, page.level) != (round, level)
                    {
                        return Ok(None);
                    }
                    let policy_row = store::policy(tx.conn, page.policy_id)
                        .await?
                        .ok_or(AppError::NotFound("escalation policy"))?;
                    let step = step_of(&page);
                    match policy_of(&policy_row)?.next(step) {
                        Some(next) => page_from(&mut tx, &page, &policy_row, next).await?,
                        None => exhaust(&mut tx, &page, step).await?,
                    }
                    Ok(Some(page.ticket_id))
                })
            })
            .await?;
        if let Some(ticket_id) = ticket_id {
            self.after_page_action(&Principal::system("paging"), ticket_id)
                .await?;
        }
        Ok(())
    }

    /// Mails one person a page, with a fresh link to act on it (the `page.notification`
    /// job). Without a relay the page is only on the incident and the on-call page.
    pub(crate) async fn send_page(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        if !self.mails() {
            tracing::warn!("a page was not mailed: no mail relay is configured");
            return Ok(());
        }
        let id = jobs::id_in(payload, "notification_id")?;
        let (notification, page) = {
            let mut conn = self.db().reader().await?;
            let Some(notification) = store::notification(&mut conn, id).await? else {
                return Ok(());
            };
            let Some(page) = store::page(&mut conn, notification.page_id).await? else {
                return Ok(());
            };
            (notification, self.page_view(&mut conn, page).await?)
        };
        // Acknowledged, resolved, or escalated past this person's level since: a mail
        // planned by their rules is not sent. A page that ran out of levels (or found nobody
        // on call and went to the admins) still reaches those of its last level.
        let waiting = page.status == PageStatus::Triggered.as_str()
            || page.status == PageStatus::Exhausted.as_str();
        let at_its_level =
            (page.round, page.level) == (notification.round + 1, notification.level + 1);
        if !waiting || !at_its_level {
            return Ok(());
        }
        // A new secret per attempt: only the link of the mail that left works.
        let secret = random_secret()?;
        let token_hash = secret_hash(&secret);
        self.system_change("paging", move |tx| {
            Box::pin(
                async move { Ok(store::set_notification_token(tx.conn, id, &token_hash).await?) },
            )
        })
        .await?;
        let link = format!("{}/page/{secret}", self.config().public_url);
        let text = format!(
            "You are paged for {incident}: {title}\n\
             Level {level} of the escalation policy {policy}.\n\n\
             Acknowledge, escalate or resolve it here:\n{link}\n",
            incident = page.incident,
            title = page.title,
            level = notification.level + 1,
            policy = page.policy,
        );
        let html = format!(
            "<p>You are paged for <strong>{incident}</strong>: {title}</p>\
             <p>Level {level} of the escalation policy {policy}.</p>\
             <p><a href=\"{link}\">Acknowledge, escalate or resolve it</a></p>",
            incident = page.incident,
            title = html_escape(&page.title),
            level = notification.level + 1,
            policy = html_escape(&page.policy),
        );
        let mail = PersonalMail {
            to: notification.email.clone(),
            subject: format!("[{}] Paged: {}", page.incident, page.title),
            text,
            html,
            key: format!("page.{id}"),
        };
        self.send_personal(mail).await?;
        self.system_change("paging", move |tx| {
            Box::pin(async move { Ok(store::mark_notification_sent(tx.conn, id, tx.now).await?) })
        })
        .await?;
        Ok(())
    }

    /// Tells a policy's chat webhook of a page (the `page.chat` job). `{"text": …}` is what
    /// Slack's, Mattermost's and Teams' incoming webhooks all read.
    pub(crate) async fn send_page_chat(&self, payload: &serde_json::Value) -> Result<(), JobError> {
        let page_id = jobs::id_in(payload, "page_id")?;
        let (url, page) = {
            let mut conn = self.db().reader().await?;
            let Some(row) = store::page(&mut conn, page_id).await? else {
                return Ok(());
            };
            let policy = store::policy(&mut conn, row.policy_id).await?;
            let Some(url) = policy.and_then(|p| p.chat_webhook_url) else {
                return Ok(());
            };
            (url, self.page_view(&mut conn, row).await?)
        };
        let level = payload["level"].as_i64().unwrap_or(page.level);
        let people: Vec<&str> = page
            .notifications
            .iter()
            .filter(|n| n.level == level)
            .map(|n| n.person.as_str())
            .collect();
        let text = format!(
            "Paged {people} for {incident}: {title} (level {level}, {policy}). \
             {public_url}/tickets/{incident}",
            people = people.join(", "),
            incident = page.incident,
            title = page.title,
            policy = page.policy,
            public_url = self.config().public_url,
        );
        let response = self
            .inner
            .http
            .post(&url)
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .map_err(|e| JobError::remote("POST to the chat webhook", e))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(JobError::Refused(format!(
                "the chat webhook answered {}",
                response.status()
            )))
        }
    }
}
