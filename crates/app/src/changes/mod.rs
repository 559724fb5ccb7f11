//! Change management: changes (`CHG-n`) from templates, with their risk, plans, window and
//! affected items, moving through their states with a timeline and audit like tickets.
//! `approvals` holds the board's votes and the mailed links, `calendar` the freeze periods,
//! conflicts and the calendar, `aftermath` what a change does to monitors and incidents.

mod aftermath;
mod approvals;
mod calendar;
mod campaigns;
mod templates;

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use opsdesk_domain::change::{
    self as rules, ApprovalStatus, ChangeState, ChangeType, RiskLevel, RiskQuestion,
};
use opsdesk_store::Conn;
use opsdesk_store::accounts as account_store;
use opsdesk_store::changes::{self as store, ChangeFilter, ChangeRow, ChangeValues};
use serde::{Deserialize, Serialize};

pub(crate) use aftermath::link_incident_to_changes;
pub use aftermath::{ChangeOutcomes, WhatChanged};
pub use approvals::{ApprovalLink, ChangeVote, Delegation, NewVote};
pub use calendar::{CalendarEntry, ChangeCalendar, ChangeConflict, FreezeWindow, NewFreezeWindow};
pub use campaigns::NewPatchCampaign;
pub use templates::{ChangeTemplate, NewChangeTemplate};

use crate::audit::{Entity, Event};
use crate::change::{Need, Tx};
use crate::{App, AppError, FieldError, Precondition, Principal, timestamp};

/// Longest title, and longest text of a plan, description or review, in characters.
const MOST_TITLE_CHARS: usize = 200;
const MOST_TEXT_CHARS: usize = 20_000;
/// Most items one change affects.
const MOST_CIS: usize = 500;

/// `CHG-42`.
pub fn change_number(id: i64) -> String {
    format!("CHG-{id}")
}

/// The id in `CHG-42` or `42`.
pub fn parse_change_number(text: &str) -> Option<i64> {
    let digits = match text.split_once('-') {
        Some((prefix, digits)) if prefix.eq_ignore_ascii_case("CHG") => digits,
        Some(_) => return None,
        None => text,
    };
    digits.parse().ok().filter(|id| *id > 0)
}

/// An item a change affects.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeCi {
    pub id: i64,
    pub name: String,
    pub class: String,
}

/// One entry of a change's timeline.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeEntry {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    /// `created`, `updated`, `state_changed`, `approval_requested`, `voted`,
    /// `approval_decided`, `approval_overdue`, `incident_linked`, `monitors_held`.
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// An incident possibly caused by a change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeIncident {
    pub number: String,
    pub title: String,
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A change's risk: its answers and the score they and the open work on its items give.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeRisk {
    pub score: i64,
    /// `low`, `medium` or `high`.
    pub level: String,
    /// Question key → chosen answer.
    pub answers: BTreeMap<String, String>,
}

/// A change as staff see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Change {
    pub id: i64,
    /// `CHG-42`.
    pub number: String,
    pub title: String,
    pub description: String,
    /// `standard`, `normal` or `emergency`.
    #[serde(rename = "type")]
    pub change_type: String,
    /// `draft`, `assessment`, `approval`, `scheduled`, `implementing`, `review`, `closed`,
    /// `rejected`, `cancelled` or `failed`.
    pub state: String,
    /// `not_requested`, `pending`, `approved` or `rejected`.
    pub approval: String,
    pub template: Option<String>,
    pub organization: Option<String>,
    pub requester: String,
    pub implementer: Option<String>,
    pub risk: ChangeRisk,
    pub implementation_plan: String,
    pub test_plan: String,
    pub backout_plan: String,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_end: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub actual_start: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub actual_end: Option<Timestamp>,
    /// The post-implementation review.
    pub review: String,
    /// Incidents on the items up to this many hours after the window are linked to it.
    pub watch_hours: i64,
    pub cis: Vec<ChangeCi>,
    pub votes: Vec<ChangeVote>,
    /// Incidents possibly caused by it.
    pub incidents: Vec<ChangeIncident>,
    pub timeline: Vec<ChangeEntry>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: i64,
}

/// A change in a list or on the calendar.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeSummary {
    pub id: i64,
    pub number: String,
    pub title: String,
    #[serde(rename = "type")]
    pub change_type: String,
    pub state: String,
    pub approval: String,
    pub risk_level: String,
    pub organization: Option<String>,
    pub implementer: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_end: Option<Timestamp>,
}

/// A new change, in draft.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChange {
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// `standard`, `normal` or `emergency`; the template's type when absent, else normal.
    #[serde(default, rename = "type")]
    pub change_type: Option<String>,
    /// The template by name: its questionnaire, board and plans.
    #[serde(default)]
    pub template: Option<String>,
    /// By name.
    #[serde(default)]
    pub organization: Option<String>,
    /// Who carries it out, by e-mail (staff).
    #[serde(default)]
    pub implementer: Option<String>,
    /// The affected items, by id.
    #[serde(default)]
    pub cis: Vec<i64>,
    /// Question key → chosen answer, for the template's questionnaire.
    #[serde(default)]
    pub risk_answers: BTreeMap<String, String>,
    /// The template's when absent.
    #[serde(default)]
    pub implementation_plan: Option<String>,
    #[serde(default)]
    pub test_plan: Option<String>,
    #[serde(default)]
    pub backout_plan: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<Timestamp>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_end: Option<Timestamp>,
}

/// What to change on a change; absent fields stay. `state` moves it along its lifecycle.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePatch {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// An empty text takes the implementer away.
    #[serde(default)]
    pub implementer: Option<String>,
    #[serde(default)]
    pub cis: Option<Vec<i64>>,
    #[serde(default)]
    pub risk_answers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub implementation_plan: Option<String>,
    #[serde(default)]
    pub test_plan: Option<String>,
    #[serde(default)]
    pub backout_plan: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_start: Option<Timestamp>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub planned_end: Option<Timestamp>,
    /// The post-implementation review.
    #[serde(default)]
    pub review: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    /// Why the state moves (a rejection, a failure), for the timeline.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Which changes a list shows.
#[derive(Debug, Clone, Default)]
pub struct ChangeQuery {
    pub state: Option<String>,
    pub before: Option<i64>,
    pub limit: i64,
}

fn summary(row: &ChangeRow) -> ChangeSummary {
    ChangeSummary {
        id: row.id,
        number: change_number(row.id),
        title: row.title.clone(),
        change_type: row.change_type.clone(),
        state: row.state.clone(),
        approval: row.approval.clone(),
        risk_level: row.risk_level.clone(),
        organization: row.organization.clone(),
        implementer: row.implementer.clone(),
        planned_start: row.planned_start.map(timestamp),
        planned_end: row.planned_end.map(timestamp),
    }
}

/// The change with everything beside it.
async fn view(conn: &mut Conn, row: ChangeRow) -> Result<Change, AppError> {
    let cis = store::cis_of(conn, row.id)
        .await?
        .into_iter()
        .map(|(id, name, class)| ChangeCi { id, name, class })
        .collect();
    let votes = approvals::votes(conn, row.id).await?;
    let incidents = store::incidents_of(conn, row.id)
        .await?
        .into_iter()
        .map(|t| ChangeIncident {
            number: crate::tickets::number_of(&t.ticket_type, t.number),
            title: t.title,
            status: t.status,
            created_at: timestamp(t.created_at),
        })
        .collect();
    let timeline = store::timeline(conn, row.id)
        .await?
        .into_iter()
        .map(|e| ChangeEntry {
            at: timestamp(e.at),
            actor: e.actor,
            kind: e.kind,
            data: serde_json::from_str(&e.data).unwrap_or_default(),
        })
        .collect();
    Ok(Change {
        id: row.id,
        number: change_number(row.id),
        title: row.title,
        description: row.description,
        change_type: row.change_type,
        state: row.state,
        approval: row.approval,
        template: row.template,
        organization: row.organization,
        requester: row.requester,
        implementer: row.implementer,
        risk: ChangeRisk {
            score: row.risk_score,
            level: row.risk_level,
            answers: serde_json::from_str(&row.risk_answers).unwrap_or_default(),
        },
        implementation_plan: row.implementation_plan,
        test_plan: row.test_plan,
        backout_plan: row.backout_plan,
        planned_start: row.planned_start.map(timestamp),
        planned_end: row.planned_end.map(timestamp),
        actual_start: row.actual_start.map(timestamp),
        actual_end: row.actual_end.map(timestamp),
        review: row.review,
        watch_hours: row.watch_hours,
        cis,
        votes,
        incidents,
        timeline,
        created_at: timestamp(row.created_at),
        updated_at: timestamp(row.updated_at),
        version: row.version,
    })
}

/// Change `id` when the principal may see it: staff, of its organization.
pub(crate) async fn visible_change(
    conn: &mut Conn,
    principal: &Principal,
    id: i64,
) -> Result<ChangeRow, AppError> {
    principal.require_staff()?;
    let row = store::change(conn, id)
        .await?
        .ok_or(AppError::NotFound("change"))?;
    if !principal.can_see_organization(row.organization_id) {
        return Err(AppError::NotFound("change"));
    }
    Ok(row)
}

/// Adds an entry to change `id`'s timeline.
pub(crate) async fn note(
    tx: &mut Tx<'_>,
    id: i64,
    kind: &str,
    data: serde_json::Value,
) -> Result<(), AppError> {
    let actor = tx.actor.to_owned();
    store::insert_timeline(tx.conn, id, tx.now, &actor, kind, &data.to_string()).await?;
    Ok(())
}

fn text_field(
    field: &str,
    value: &str,
    most: usize,
    required: bool,
    errors: &mut Vec<FieldError>,
) -> String {
    let value = value.trim();
    if required && value.is_empty() {
        errors.push(FieldError::new(field, "must not be empty"));
    } else if value.chars().count() > most {
        errors.push(FieldError::new(field, format!("at most {most} characters")));
    }
    value.to_owned()
}

/// The values a change is written with, read and checked from a draft's fields.
struct Draft {
    title: String,
    description: String,
    change_type: ChangeType,
    template: Option<store::TemplateRow>,
    organization_id: Option<i64>,
    implementer_id: Option<i64>,
    cis: Vec<i64>,
    risk_answers: BTreeMap<String, String>,
    implementation_plan: String,
    test_plan: String,
    backout_plan: String,
    planned_start: Option<i64>,
    planned_end: Option<i64>,
    review: String,
    watch_hours: i64,
}

impl Draft {
    /// Checks the window and the items (mistakes go to `errors`) and scores the risk
    /// against the open work on the items: the score and its level.
    async fn checked(
        &self,
        conn: &mut Conn,
        principal: &Principal,
        errors: &mut Vec<FieldError>,
    ) -> Result<(i64, RiskLevel), AppError> {
        match (self.planned_start, self.planned_end) {
            (Some(start), Some(end)) if end <= start => {
                errors.push(FieldError::new(
                    "planned_end",
                    "must be after planned_start",
                ));
            }
            (Some(_), None) => errors.push(FieldError::new("planned_end", "give both ends")),
            (None, Some(_)) => errors.push(FieldError::new("planned_start", "give both ends")),
            _ => {}
        }
        if self.cis.len() > MOST_CIS {
            errors.push(FieldError::new("cis", format!("at most {MOST_CIS} items")));
        }
        for (index, ci) in self.cis.iter().enumerate() {
            if crate::cmdb::visible(conn, principal, *ci).await.is_err() {
                errors.push(FieldError::new(
                    format!("cis[{index}]"),
                    "no item has this id",
                ));
            }
        }
        let questions: Vec<RiskQuestion> = self
            .template
            .as_ref()
            .map(|t| serde_json::from_str(&t.questions).unwrap_or_default())
            .unwrap_or_default();
        let (incidents, problems) = store::open_work_on(conn, &self.cis).await?;
        let risk = rules::assess(
            &questions,
            &self.risk_answers,
            u32::try_from(incidents).unwrap_or(u32::MAX),
            u32::try_from(problems).unwrap_or(u32::MAX),
        );
        match risk {
            Ok(risk) => Ok((i64::from(risk.score), risk.level)),
            Err(e) => {
                errors.push(FieldError::new(e.field, e.message));
                Ok((0, RiskLevel::Low))
            }
        }
    }

    fn values<'a>(&'a self, answers: &'a str, score: i64, level: RiskLevel) -> ChangeValues<'a> {
        ChangeValues {
            title: &self.title,
            description: &self.description,
            change_type: self.change_type.as_str(),
            template_id: self.template.as_ref().map(|t| t.id),
            organization_id: self.organization_id,
            implementer_id: self.implementer_id,
            risk_answers: answers,
            risk_score: score,
            risk_level: level.as_str(),
            implementation_plan: &self.implementation_plan,
            test_plan: &self.test_plan,
            backout_plan: &self.backout_plan,
            planned_start: self.planned_start,
            planned_end: self.planned_end,
            review: &self.review,
            watch_hours: self.watch_hours,
        }
    }
}

/// The staff member with this address, as the implementer.
async fn implementer_id(
    conn: &mut Conn,
    email: &str,
    errors: &mut Vec<FieldError>,
) -> Result<Option<i64>, AppError> {
    let email = email.trim();
    if email.is_empty() {
        return Ok(None);
    }
    match account_store::find_user_by_email(conn, email).await? {
        Some(user) if user.role != "customer" && user.active != 0 => Ok(Some(user.id)),
        _ => {
            errors.push(FieldError::new(
                "implementer",
                "no active staff member has this address",
            ));
            Ok(None)
        }
    }
}

fn unique(cis: &[i64]) -> Vec<i64> {
    cis.iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

impl App {
    /// Creates a change in draft (staff); its requester is the principal.
    pub async fn create_change(
        &self,
        principal: &Principal,
        input: NewChange,
    ) -> Result<Change, AppError> {
        let requester = principal
            .user_id
            .ok_or_else(|| AppError::Forbidden("a change is requested by a person".into()))?;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let mut errors = Vec::new();
                let template = match input.template.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(name) => {
                        let found = store::template_by_name(tx.conn, name).await?;
                        if found.is_none() {
                            errors.push(FieldError::new("template", "no template has this name"));
                        }
                        found
                    }
                };
                let change_type = match (&input.change_type, &template) {
                    (Some(kind), _) => kind.parse::<ChangeType>().unwrap_or_else(|e| {
                        errors.push(FieldError::new("type", e));
                        ChangeType::Normal
                    }),
                    (None, Some(t)) => t.change_type.parse().unwrap_or(ChangeType::Normal),
                    (None, None) => ChangeType::Normal,
                };
                if change_type == ChangeType::Standard
                    && template
                        .as_ref()
                        .is_none_or(|t| t.change_type != ChangeType::Standard.as_str())
                {
                    errors.push(FieldError::new(
                        "type",
                        "a standard change comes from a standard template",
                    ));
                }
                let organization_id = match input.organization.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(name) => {
                        match account_store::find_organization_by_name(tx.conn, name).await? {
                            Some(org) if tx.principal.can_see_organization(Some(org.id)) => {
                                Some(org.id)
                            }
                            _ => {
                                errors.push(FieldError::new(
                                    "organization",
                                    "no organization has this name",
                                ));
                                None
                            }
                        }
                    }
                };
                let implementer_id = implementer_id(
                    tx.conn,
                    input.implementer.as_deref().unwrap_or(""),
                    &mut errors,
                )
                .await?;
                let plan = |given: Option<String>, of_template: Option<&String>| {
                    given.unwrap_or_else(|| of_template.cloned().unwrap_or_default())
                };
                let draft = Draft {
                    title: text_field("title", &input.title, MOST_TITLE_CHARS, true, &mut errors),
                    description: text_field(
                        "description",
                        &input.description,
                        MOST_TEXT_CHARS,
                        false,
                        &mut errors,
                    ),
                    change_type,
                    organization_id,
                    implementer_id,
                    cis: unique(&input.cis),
                    risk_answers: input.risk_answers,
                    implementation_plan: plan(
                        input.implementation_plan,
                        template.as_ref().map(|t| &t.implementation_plan),
                    ),
                    test_plan: plan(input.test_plan, template.as_ref().map(|t| &t.test_plan)),
                    backout_plan: plan(
                        input.backout_plan,
                        template.as_ref().map(|t| &t.backout_plan),
                    ),
                    planned_start: input.planned_start.map(|t| t.as_millisecond()),
                    planned_end: input.planned_end.map(|t| t.as_millisecond()),
                    review: String::new(),
                    watch_hours: template.as_ref().map_or(24, |t| t.watch_hours),
                    template,
                };
                let (score, level) = draft.checked(tx.conn, tx.principal, &mut errors).await?;
                if !errors.is_empty() {
                    return Err(AppError::Invalid(errors));
                }
                let answers = serde_json::to_string(&draft.risk_answers)
                    .map_err(|e| AppError::internal("recording risk answers", e))?;
                let id = store::insert_change(
                    tx.conn,
                    &draft.values(&answers, score, level),
                    requester,
                    tx.now,
                )
                .await?;
                store::set_cis(tx.conn, id, &draft.cis).await?;
                note(
                    &mut tx,
                    id,
                    "created",
                    serde_json::json!({"type": change_type}),
                )
                .await?;
                let row = store::change(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("change"))?;
                let change = view(tx.conn, row).await?;
                tx.record(Event::created(Entity::Change, id, &change))
                    .await?;
                Ok(change)
            })
        })
        .await
    }

    /// One change (staff of its organization).
    pub async fn change_by_number(
        &self,
        principal: &Principal,
        number: &str,
    ) -> Result<Change, AppError> {
        let id = parse_change_number(number).ok_or(AppError::NotFound("change"))?;
        let mut conn = self.db().reader().await?;
        let row = visible_change(&mut conn, principal, id).await?;
        view(&mut conn, row).await
    }

    /// Changes, the newest first (staff; those of organizations they see).
    pub async fn changes(
        &self,
        principal: &Principal,
        query: &ChangeQuery,
    ) -> Result<Vec<ChangeSummary>, AppError> {
        principal.require_staff()?;
        if let Some(state) = &query.state {
            state
                .parse::<ChangeState>()
                .map_err(|e| AppError::invalid("state", e))?;
        }
        let organizations = principal.organization_filter();
        let filter = ChangeFilter {
            state: query.state.as_deref(),
            organizations: organizations.as_deref(),
            window: None,
        };
        let mut conn = self.db().reader().await?;
        let rows = store::changes(
            &mut conn,
            &filter,
            query.before.unwrap_or(i64::MAX),
            query.limit.clamp(1, 500),
        )
        .await?;
        Ok(rows.iter().map(summary).collect())
    }

    /// Changes a change (staff): its fields while it is being planned, its review, and its
    /// state along the lifecycle. The window and items are fixed once it is approved; to
    /// plan again, move it back to assessment.
    pub async fn update_change(
        &self,
        principal: &Principal,
        number: &str,
        expected: Precondition,
        patch: ChangePatch,
    ) -> Result<Change, AppError> {
        let id = parse_change_number(number).ok_or(AppError::NotFound("change"))?;
        let change = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let row = visible_change(tx.conn, tx.principal, id).await?;
                    let version = expected.check(row.version)?;
                    let before = view(tx.conn, row.clone()).await?;
                    let state: ChangeState = row
                        .state
                        .parse()
                        .map_err(|e| AppError::internal("a stored change state", e))?;
                    let replans = patch.cis.is_some()
                        || patch.planned_start.is_some()
                        || patch.planned_end.is_some()
                        || patch.risk_answers.is_some();
                    let still_planning = matches!(state, ChangeState::Draft | ChangeState::Assessment)
                        || (state == ChangeState::Scheduled
                            && row.change_type == ChangeType::Standard.as_str());
                    if replans && !still_planning {
                        return Err(AppError::Conflict {
                            field: Some("planned_start".into()),
                            message: format!(
                                "a change in {state} keeps its plan; move it back to assessment to plan again"
                            ),
                        });
                    }
                    if state.is_final() && patch.review.is_none() && patch.state.is_none() {
                        return Err(AppError::Conflict {
                            field: None,
                            message: format!("a {state} change only takes its review"),
                        });
                    }
                    let mut errors = Vec::new();
                    let implementer = match &patch.implementer {
                        Some(email) => implementer_id(tx.conn, email, &mut errors).await?,
                        None => row.implementer_id,
                    };
                    let template = match row.template_id {
                        Some(t) => store::template(tx.conn, t).await?,
                        None => None,
                    };
                    let current_cis: Vec<i64> = store::cis_of(tx.conn, id)
                        .await?
                        .into_iter()
                        .map(|(ci, _, _)| ci)
                        .collect();
                    let text = |field, given: &Option<String>, current: &str, most, errors: &mut Vec<FieldError>| {
                        given.as_deref().map_or_else(
                            || current.to_owned(),
                            |v| text_field(field, v, most, field == "title", errors),
                        )
                    };
                    let draft = Draft {
                        title: text("title", &patch.title, &row.title, MOST_TITLE_CHARS, &mut errors),
                        description: text("description", &patch.description, &row.description, MOST_TEXT_CHARS, &mut errors),
                        change_type: row.change_type.parse().unwrap_or(ChangeType::Normal),
                        template,
                        organization_id: row.organization_id,
                        implementer_id: implementer,
                        cis: patch.cis.as_deref().map_or(current_cis.clone(), unique),
                        risk_answers: patch.risk_answers.clone().unwrap_or_else(|| {
                            serde_json::from_str(&row.risk_answers).unwrap_or_default()
                        }),
                        implementation_plan: text("implementation_plan", &patch.implementation_plan, &row.implementation_plan, MOST_TEXT_CHARS, &mut errors),
                        test_plan: text("test_plan", &patch.test_plan, &row.test_plan, MOST_TEXT_CHARS, &mut errors),
                        backout_plan: text("backout_plan", &patch.backout_plan, &row.backout_plan, MOST_TEXT_CHARS, &mut errors),
                        planned_start: patch.planned_start.map(|t| t.as_millisecond()).or(row.planned_start),
                        planned_end: patch.planned_end.map(|t| t.as_millisecond()).or(row.planned_end),
                        review: text("review", &patch.review, &row.review, MOST_TEXT_CHARS, &mut errors),
                        watch_hours: row.watch_hours,
                    };
                    let (score, level) = draft.checked(tx.conn, tx.principal, &mut errors).await?;
                    let target = match &patch.state {
                        Some(s) => match s.parse::<ChangeState>() {
                            Ok(to) if to != state => Some(to),
                            Ok(_) => None,
                            Err(e) => {
                                errors.push(FieldError::new("state", e));
                                None
                            }
                        },
                        None => None,
                    };
                    if !errors.is_empty() {
                        return Err(AppError::Invalid(errors));
                    }
                    let answers = serde_json::to_string(&draft.risk_answers)
                        .map_err(|e| AppError::internal("recording risk answers", e))?;
                    if !store::update_change(tx.conn, id, version, &draft.values(&answers, score, level), tx.now).await? {
                        return Err(AppError::Stale);
                    }
                    if draft.cis != current_cis {
                        store::set_cis(tx.conn, id, &draft.cis).await?;
                    }
                    let window_moved = (draft.planned_start, draft.planned_end) != (row.planned_start, row.planned_end)
                        || draft.cis != current_cis;
                    if window_moved && state == ChangeState::Scheduled {
                        aftermath::hold_monitors(&mut tx, id).await?;
                    }
                    note(&mut tx, id, "updated", serde_json::json!({"risk": level, "score": score})).await?;
                    if let Some(to) = target {
                        move_to(&mut tx, id, to, patch.comment.as_deref().unwrap_or("")).await?;
                    }
                    let row = store::change(tx.conn, id).await?.ok_or(AppError::NotFound("change"))?;
                    let after = view(tx.conn, row).await?;
                    tx.record(Event::updated(Entity::Change, id, &before, &after)).await?;
                    Ok(after)
                })
            })
            .await?;
        Ok(change)
    }
}

/// Moves change `id` to `to` as a person asks, with what the move implies: approval asked
/// for (board mailed), approved at once for a standard change, monitors held or released,
/// incidents since the window linked once the work is done.
async fn move_to(tx: &mut Tx<'_>, id: i64, to: ChangeState, comment: &str) -> Result<(), AppError> {
    let row = store::change(tx.conn, id)
        .await?
        .ok_or(AppError::NotFound("change"))?;
    let kind: ChangeType = row
        .change_type
        .parse()
        .map_err(|e| AppError::internal("a stored change type", e))?;
    let from: ChangeState = row
        .state
        .parse()
        .map_err(|e| AppError::internal("a stored change state", e))?;
    let approval: ApprovalStatus = row
        .approval
        .parse()
        .map_err(|e| AppError::internal("a stored approval status", e))?;
    let has_window = row.planned_start.is_some() && row.planned_end.is_some();
    rules::transition(kind, from, to, approval, has_window).map_err(|e| AppError::Conflict {
        field: Some("state".into()),
        message: e.to_string(),
    })?;
    let approval = match (to, kind) {
        // A standard change is pre-approved by its template.
        (ChangeState::Scheduled, ChangeType::Standard) => ApprovalStatus::Approved,
        (ChangeState::Approval, _) => ApprovalStatus::Pending,
        (ChangeState::Assessment | ChangeState::Draft, _) => ApprovalStatus::NotRequested,
        _ => approval,
    };
    store::set_state(tx.conn, id, to.as_str(), approval.as_str(), tx.now).await?;
    note(
        tx,
        id,
        "state_changed",
        serde_json::json!({"from": from, "to": to, "comment": comment}),
    )
    .await?;
    match to {
        ChangeState::Approval => approvals::request(tx, id).await?,
        ChangeState::Assessment | ChangeState::Draft => {
            store::clear_votes(tx.conn, id).await?;
            store::release_monitors(tx.conn, id).await?;
        }
        ChangeState::Scheduled => aftermath::hold_monitors(tx, id).await?,
        ChangeState::Cancelled | ChangeState::Rejected => {
            store::release_monitors(tx.conn, id).await?;
        }
        ChangeState::Review | ChangeState::Failed => {
            aftermath::link_recent_incidents(tx, id).await?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_numbers_read_with_or_without_their_prefix() {
        assert_eq!(parse_change_number("CHG-42"), Some(42));
        assert_eq!(parse_change_number("chg-7"), Some(7));
        assert_eq!(parse_change_number("42"), Some(42));
        assert_eq!(parse_change_number("INC-42"), None);
        assert_eq!(parse_change_number("CHG-0"), None);
        assert_eq!(change_number(42), "CHG-42");
    }
}
