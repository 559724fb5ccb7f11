//! Satisfaction surveys: one per resolution of a ticket, answered from a mailed link or the
//! portal; the survey settings; and the groups' leads, whom low scores are mailed to.

use sqlx::AnyConnection;

use crate::accounts::placeholders;
use crate::error::StoreError;

/// A survey with what lists and pages show of its ticket and people.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SurveyRow {
    pub id: i64,
    pub ticket_id: i64,
    pub ticket_type: String,
    pub ticket_number: i64,
    pub ticket_title: String,
    pub organization_id: Option<i64>,
    pub group_id: Option<i64>,
    pub group_name: Option<String>,
    pub assignee_email: Option<String>,
    pub requester_id: i64,
    pub requester_email: String,
    pub sent_at: i64,
    pub expires_at: i64,
    pub score: Option<i64>,
    pub comment: String,
    pub answered_at: Option<i64>,
    pub channel: Option<String>,
}

const SURVEY_SELECT: &str = "SELECT s.id, s.ticket_id, t.ticket_type, t.number AS ticket_number, \
     t.title AS ticket_title, s.organization_id, s.group_id, g.name AS group_name, \
     a.email AS assignee_email, s.requester_id, r.email AS requester_email, s.sent_at, \
     s.expires_at, s.score, s.comment, s.answered_at, s.channel \
     FROM satisfaction_surveys s JOIN tickets t ON t.id = s.ticket_id \
     JOIN users r ON r.id = s.requester_id LEFT JOIN groups g ON g.id = s.group_id \
     LEFT JOIN users a ON a.id = s.assignee_id";

/// What a new survey is about: the ticket as it was resolved.
#[derive(Debug, Clone, Copy)]
pub struct NewSurvey {
    pub ticket_id: i64,
    pub organization_id: Option<i64>,
    pub group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub requester_id: i64,
    pub sent_at: i64,
    pub expires_at: i64,
}

/// Opens a survey for a resolution of its ticket, ending any earlier one of the same ticket
/// still open (a ticket has at most one open survey). Returns the new survey's id.
pub async fn insert_survey(conn: &mut AnyConnection, new: NewSurvey) -> Result<i64, StoreError> {
    sqlx::query(
        "UPDATE satisfaction_surveys SET expires_at = $2 WHERE ticket_id = $1 AND expires_at > $2",
    )
    .bind(new.ticket_id)
    .bind(new.sent_at)
    .execute(&mut *conn)
    .await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO satisfaction_surveys (ticket_id, organization_id, group_id, assignee_id, \
         requester_id, sent_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(new.ticket_id)
    .bind(new.organization_id)
    .bind(new.group_id)
    .bind(new.assignee_id)
    .bind(new.requester_id)
    .bind(new.sent_at)
    .bind(new.expires_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Keeps the hash of the secret a survey's link was mailed with; an earlier link of the
/// same survey stops working.
pub async fn set_token(
    conn: &mut AnyConnection,
    id: i64,
    token_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE satisfaction_surveys SET token_hash = $2 WHERE id = $1")
        .bind(id)
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn survey(conn: &mut AnyConnection, id: i64) -> Result<Option<SurveyRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{SURVEY_SELECT} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// The survey whose link carries the secret with this hash.
pub async fn survey_by_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<SurveyRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("{SURVEY_SELECT} WHERE s.token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(conn)
            .await?,
    )
}

/// The latest survey of a ticket.
pub async fn latest_of_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Option<SurveyRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "{SURVEY_SELECT} WHERE s.ticket_id = $1 ORDER BY s.id DESC LIMIT 1"
    ))
    .bind(ticket_id)
    .fetch_optional(conn)
    .await?)
}

/// Records an answer (or a changed one).
pub async fn answer(
    conn: &mut AnyConnection,
    id: i64,
    score: i64,
    comment: &str,
    channel: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE satisfaction_surveys SET score = $2, comment = $3, channel = $4, answered_at = $5 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(score)
    .bind(comment)
    .bind(channel)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Which surveys a list or a summary covers: sent in `[from, to)`, of the organizations in
/// `organizations` (all when `None`), with `score` when given.
#[derive(Debug, Clone, Default)]
pub struct SurveyFilter {
    pub from: i64,
    pub to: i64,
    pub organizations: Option<Vec<i64>>,
    pub score: Option<i64>,
}

impl SurveyFilter {
    /// The `WHERE` conditions, their values bound from `$first` on: the range, then the
    /// organizations, then the score.
    fn conditions(&self, first: usize) -> String {
        let mut sql = format!("s.sent_at >= ${} AND s.sent_at < ${}", first, first + 1);
        let mut next = first + 2;
        if let Some(organizations) = &self.organizations {
            if organizations.is_empty() {
                sql.push_str(" AND 1 = 0");
            } else {
                sql.push_str(&format!(
                    " AND s.organization_id IN ({})",
                    placeholders(next, organizations.len())
                ));
                next += organizations.len();
            }
        }
        if self.score.is_some() {
            sql.push_str(&format!(" AND s.score = ${next}"));
        }
        sql
    }

    fn values(&self) -> Vec<i64> {
        let mut values = vec![self.from, self.to];
        values.extend(self.organizations.iter().flatten());
        values.extend(self.score);
        values
    }
}

/// Surveys newest first, those with an id below `before`.
pub async fn list(
    conn: &mut AnyConnection,
    filter: &SurveyFilter,
    before: i64,
    limit: i64,
) -> Result<Vec<SurveyRow>, StoreError> {
    let sql = sql!(
        "{SURVEY_SELECT} WHERE s.id < $1 AND {} ORDER BY s.id DESC LIMIT $2",
        filter.conditions(3)
    );
    let mut query = sqlx::query_as(sql).bind(before).bind(limit);
    for value in filter.values() {
        query = query.bind(value);
    }
    Ok(query.fetch_all(conn).await?)
}

/// How many surveys the filter covers, by score (`None`: not answered).
pub async fn counts_by_score(
    conn: &mut AnyConnection,
    filter: &SurveyFilter,
) -> Result<Vec<(Option<i64>, i64)>, StoreError> {
    let sql = sql!(
        "SELECT s.score, COUNT(*) FROM satisfaction_surveys s WHERE {} GROUP BY s.score",
        filter.conditions(1)
    );
    let mut query = sqlx::query_as(sql);
    for value in filter.values() {
        query = query.bind(value);
    }
    Ok(query.fetch_all(conn).await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SettingsRow {
    pub enabled: i64,
    pub ticket_types: String,
    pub low_score_threshold: i64,
}

pub async fn settings(conn: &mut AnyConnection) -> Result<SettingsRow, StoreError> {
    Ok(sqlx::query_as(
        "SELECT enabled, ticket_types, low_score_threshold FROM survey_settings WHERE id = 1",
    )
    .fetch_one(conn)
    .await?)
}

pub async fn save_settings(
    conn: &mut AnyConnection,
    settings: &SettingsRow,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE survey_settings SET enabled = $1, ticket_types = $2, low_score_threshold = $3, \
         updated_at = $4 WHERE id = 1",
    )
    .bind(settings.enabled)
    .bind(&settings.ticket_types)
    .bind(settings.low_score_threshold)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A group with its lead, for the survey settings page.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct GroupLeadRow {
    pub id: i64,
    pub name: String,
    pub lead_user_id: Option<i64>,
    pub lead: Option<String>,
}

/// Every group with its lead's address, by name.
pub async fn group_leads(conn: &mut AnyConnection) -> Result<Vec<GroupLeadRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT g.id, g.name, g.lead_user_id, u.email AS lead FROM groups g \
         LEFT JOIN users u ON u.id = g.lead_user_id ORDER BY lower(g.name)",
    )
    .fetch_all(conn)
    .await?)
}

/// Sets (or with `None` clears) a group's lead; false when there is no such group.
pub async fn set_group_lead(
    conn: &mut AnyConnection,
    group_id: i64,
    lead_user_id: Option<i64>,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE groups SET lead_user_id = $2, updated_at = $3 WHERE id = $1")
        .bind(group_id)
        .bind(lead_user_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Whom a low score in group `group_id` is mailed to: its lead when it has an active one,
/// else its active members; the active admins when the ticket has no group or the group
/// nobody. `(user id, e-mail)`.
pub async fn low_score_recipients(
    conn: &mut AnyConnection,
    group_id: Option<i64>,
) -> Result<Vec<(i64, String)>, StoreError> {
    if let Some(group_id) = group_id {
        let lead: Option<(i64, String)> = sqlx::query_as(
            "SELECT u.id, u.email FROM groups g JOIN users u ON u.id = g.lead_user_id \
             WHERE g.id = $1 AND u.active = 1",
        )
        .bind(group_id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(lead) = lead {
            return Ok(vec![lead]);
        }
        let members: Vec<(i64, String)> = sqlx::query_as(
            "SELECT u.id, u.email FROM group_members m JOIN users u ON u.id = m.user_id \
             WHERE m.group_id = $1 AND u.active = 1 ORDER BY u.email",
        )
        .bind(group_id)
        .fetch_all(&mut *conn)
        .await?;
        if !members.is_empty() {
            return Ok(members);
        }
    }
    crate::accounts::active_admins(conn).await
}
