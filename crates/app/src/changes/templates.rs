//! Change templates: what a kind of change asks (its risk questionnaire and default plans)
//! and who approves it (a board, its quorum and veto, a named approver from a risk level).

use jiff::Timestamp;
use opsdesk_domain::change::{self as rules, ChangeType, RiskLevel, RiskQuestion};
use opsdesk_store::accounts as account_store;
use opsdesk_store::changes::{self as store, TemplateRow, TemplateValues};
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, FieldError, Principal, timestamp};

/// A change template.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeTemplate {
    pub id: i64,
    pub name: String,
    /// `standard`, `normal` or `emergency`.
    #[serde(rename = "type")]
    pub change_type: String,
    pub description: String,
    #[schema(value_type = Vec<Object>)]
    pub questions: Vec<RiskQuestion>,
    /// The support group whose members vote (the admins when absent).
    pub board: Option<String>,
    pub quorum: i64,
    /// Whether one rejection rejects.
    pub veto: bool,
    pub named_approver: Option<String>,
    /// From this risk level the named approver must approve too.
    pub named_from_risk: Option<String>,
    /// Hours before a waiting approval is escalated: members reminded, admins told.
    pub approval_timeout_h: Option<i64>,
    pub implementation_plan: String,
    pub test_plan: String,
    pub backout_plan: String,
    pub watch_hours: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

/// A new template.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewChangeTemplate {
    pub name: String,
    #[serde(rename = "type")]
    pub change_type: String,
    #[serde(default)]
    pub description: String,
    /// `[{"key", "text", "options": [{"label", "score"}]}]`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub questions: Vec<RiskQuestion>,
    /// A support group by name.
    #[serde(default)]
    pub board: Option<String>,
    #[serde(default = "one")]
    pub quorum: i64,
    #[serde(default = "yes")]
    pub veto: bool,
    /// A staff member's e-mail address.
    #[serde(default)]
    pub named_approver: Option<String>,
    /// `low`, `medium` or `high`; `high` when a named approver is given without it.
    #[serde(default)]
    pub named_from_risk: Option<String>,
    #[serde(default)]
    pub approval_timeout_h: Option<i64>,
    #[serde(default)]
    pub implementation_plan: String,
    #[serde(default)]
    pub test_plan: String,
    #[serde(default)]
    pub backout_plan: String,
    /// 24 when absent.
    #[serde(default)]
    pub watch_hours: Option<i64>,
}

fn one() -> i64 {
    1
}

fn yes() -> bool {
    true
}

pub(super) fn template_view(row: TemplateRow) -> ChangeTemplate {
    ChangeTemplate {
        id: row.id,
        name: row.name,
        change_type: row.change_type,
        description: row.description,
        questions: serde_json::from_str(&row.questions).unwrap_or_default(),
        board: row.board,
        quorum: row.quorum,
        veto: row.veto != 0,
        named_approver: row.named_approver,
        named_from_risk: row.named_from_risk,
        approval_timeout_h: row.approval_timeout_h,
        implementation_plan: row.implementation_plan,
        test_plan: row.test_plan,
        backout_plan: row.backout_plan,
        watch_hours: row.watch_hours,
        created_at: timestamp(row.created_at),
    }
}

impl App {
    /// Creates a change template (admin).
    pub async fn create_change_template(
        &self,
        principal: &Principal,
        input: NewChangeTemplate,
    ) -> Result<ChangeTemplate, AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let mut errors = Vec::new();
                let name = input.name.trim().to_owned();
                if name.is_empty() || name.chars().count() > 100 {
                    errors.push(FieldError::new("name", "1 to 100 characters"));
                } else if store::template_by_name(tx.conn, &name).await?.is_some() {
                    errors.push(FieldError::new("name", "another template has this name"));
                }
                if let Err(e) = input.change_type.parse::<ChangeType>() {
                    errors.push(FieldError::new("type", e));
                }
                if let Err(e) = rules::check_questionnaire(&input.questions) {
                    errors.push(FieldError::new(e.field, e.message));
                }
                if !(1..=50).contains(&input.quorum) {
                    errors.push(FieldError::new("quorum", "1 to 50 approvals"));
                }
                let board_group_id = match input.board.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(board) => {
                        let catalog = crate::catalog::current(tx.conn).await?;
                        let group = catalog.group(board);
                        if group.is_none() {
                            errors.push(FieldError::new("board", "no support group has this name"));
                        }
                        group.map(|g| g.id)
                    }
                };
                let named_approver_id = match input.named_approver.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(email) => match account_store::find_user_by_email(tx.conn, email).await? {
                        Some(user) if user.role != "customer" => Some(user.id),
                        _ => {
                            errors.push(FieldError::new(
                                "named_approver",
                                "no staff member has this address",
                            ));
                            None
                        }
                    },
                };
                let named_from_risk = match (&input.named_from_risk, named_approver_id) {
                    (Some(level), _) => match level.parse::<RiskLevel>() {
                        Ok(level) => Some(level.as_str()),
                        Err(e) => {
                            errors.push(FieldError::new("named_from_risk", e));
                            None
                        }
                    },
                    (None, Some(_)) => Some(RiskLevel::High.as_str()),
                    (None, None) => None,
                };
                if input
                    .approval_timeout_h
                    .is_some_and(|h| !(1..=720).contains(&h))
                {
                    errors.push(FieldError::new("approval_timeout_h", "1 to 720 hours"));
                }
                let watch_hours = input.watch_hours.unwrap_or(24);
                if !(0..=720).contains(&watch_hours) {
                    errors.push(FieldError::new("watch_hours", "0 to 720 hours"));
                }
                if !errors.is_empty() {
                    return Err(AppError::Invalid(errors));
                }
                let questions = serde_json::to_string(&input.questions)
                    .map_err(|e| AppError::internal("recording a questionnaire", e))?;
                let id = store::insert_template(
                    tx.conn,
                    &TemplateValues {
                        name: &name,
                        change_type: &input.change_type.to_ascii_lowercase(),
                        description: input.description.trim(),
                        questions: &questions,
                        board_group_id,
                        quorum: input.quorum,
                        veto: input.veto,
                        named_approver_id,
                        named_from_risk,
                        approval_timeout_h: input.approval_timeout_h,
                        implementation_plan: input.implementation_plan.trim(),
                        test_plan: input.test_plan.trim(),
                        backout_plan: input.backout_plan.trim(),
                        watch_hours,
                    },
                    tx.now,
                )
                .await?;
                let row = store::template(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("change template"))?;
                let template = template_view(row);
                tx.record(Event::created(Entity::ChangeTemplate, id, &template))
                    .await?;
                Ok(template)
            })
        })
        .await
    }

    /// The change templates, by name (staff).
    pub async fn change_templates(
        &self,
        principal: &Principal,
    ) -> Result<Vec<ChangeTemplate>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        Ok(store::templates(&mut conn)
            .await?
            .into_iter()
            .map(template_view)
            .collect())
    }
}
