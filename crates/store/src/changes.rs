//! Changes (`CHG-n`), their templates, votes, timeline and approval links; freeze periods;
//! the incidents possibly caused by a change.

use sqlx::AnyConnection;

use crate::accounts::placeholders;
use crate::error::StoreError;

/// Rows of `sql(list)` for every slice of `ids`, where `list` is the placeholders of the
/// slice's ids after the `lead` parameters: long lists are asked for in slices, within the
/// databases' limits on parameters.
async fn in_slices<T>(
    conn: &mut AnyConnection,
    ids: &[i64],
    lead: &[i64],
    sql: impl Fn(&str) -> String,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut rows = Vec::new();
    for slice in ids.chunks(500) {
        let text = sql(&placeholders(lead.len() + 1, slice.len()));
        let mut query = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(text));
        for value in lead.iter().chain(slice) {
            query = query.bind(*value);
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// A template as stored, with its board's name.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TemplateRow {
    pub id: i64,
    pub name: String,
    pub change_type: String,
    pub description: String,
    pub questions: String,
    pub board_group_id: Option<i64>,
    pub board: Option<String>,
    pub quorum: i64,
    pub veto: i64,
    pub named_approver_id: Option<i64>,
    pub named_approver: Option<String>,
    pub named_from_risk: Option<String>,
    pub approval_timeout_h: Option<i64>,
    pub implementation_plan: String,
    pub test_plan: String,
    pub backout_plan: String,
    pub watch_hours: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const TEMPLATE_SELECT: &str = "SELECT t.id, t.name, t.change_type, t.description, t.questions, \
     t.board_group_id, g.name AS board, t.quorum, t.veto, t.named_approver_id, \
     u.email AS named_approver, t.named_from_risk, t.approval_timeout_h, \
     t.implementation_plan, t.test_plan, t.backout_plan, t.watch_hours, t.created_at, \
     t.updated_at FROM change_templates t LEFT JOIN groups g ON g.id = t.board_group_id \
     LEFT JOIN users u ON u.id = t.named_approver_id";

/// A template's values, to insert or to replace.
pub struct TemplateValues<'a> {
    pub name: &'a str,
    pub change_type: &'a str,
    pub description: &'a str,
    pub questions: &'a str,
    pub board_group_id: Option<i64>,
    pub quorum: i64,
    pub veto: bool,
    pub named_approver_id: Option<i64>,
    pub named_from_risk: Option<&'a str>,
    pub approval_timeout_h: Option<i64>,
    pub implementation_plan: &'a str,
    pub test_plan: &'a str,
    pub backout_plan: &'a str,
    pub watch_hours: i64,
}

pub async fn insert_template(
    conn: &mut AnyConnection,
    t: &TemplateValues<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO change_templates (name, change_type, description, questions, \
         board_group_id, quorum, veto, named_approver_id, named_from_risk, approval_timeout_h, \
         implementation_plan, test_plan, backout_plan, watch_hours, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) \
         RETURNING id",
    )
    .bind(t.name)
    .bind(t.change_type)
    .bind(t.description)
    .bind(t.questions)
    .bind(t.board_group_id)
    .bind(t.quorum)
    .bind(i64::from(t.veto))
    .bind(t.named_approver_id)
    .bind(t.named_from_risk)
    .bind(t.approval_timeout_h)
    .bind(t.implementation_plan)
    .bind(t.test_plan)
    .bind(t.backout_plan)
    .bind(t.watch_hours)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn template(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<TemplateRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{TEMPLATE_SELECT} WHERE t.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

pub async fn template_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<TemplateRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("{TEMPLATE_SELECT} WHERE lower(t.name) = lower($1)"))
            .bind(name)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn templates(conn: &mut AnyConnection) -> Result<Vec<TemplateRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("{TEMPLATE_SELECT} ORDER BY lower(t.name)"))
            .fetch_all(conn)
            .await?,
    )
}

/// A change as stored, with the names of who and what it refers to.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ChangeRow {
    pub id: i64,
    pub title: String,
    pub description: String,
    pub change_type: String,
    pub state: String,
    pub approval: String,
    pub template_id: Option<i64>,
    pub template: Option<String>,
    pub organization_id: Option<i64>,
    pub organization: Option<String>,
    pub requester_id: i64,
    pub requester: String,
    pub implementer_id: Option<i64>,
    pub implementer: Option<String>,
    pub risk_answers: String,
    pub risk_score: i64,
    pub risk_level: String,
    pub implementation_plan: String,
    pub test_plan: String,
    pub backout_plan: String,
    pub planned_start: Option<i64>,
    pub planned_end: Option<i64>,
    pub actual_start: Option<i64>,
    pub actual_end: Option<i64>,
    pub review: String,
    pub watch_hours: i64,
    pub approval_requested_at: Option<i64>,
    pub approval_escalated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

const CHANGE_SELECT: &str = "SELECT c.id, c.title, c.description, c.change_type, c.state, \
     c.approval, c.template_id, t.name AS template, c.organization_id, o.name AS organization, \
     c.requester_id, r.email AS requester, c.implementer_id, i.email AS implementer, \
     c.risk_answers, c.risk_score, c.risk_level, c.implementation_plan, c.test_plan, \
     c.backout_plan, c.planned_start, c.planned_end, c.actual_start, c.actual_end, c.review, \
     c.watch_hours, c.approval_requested_at, c.approval_escalated_at, c.created_at, \
     c.updated_at, c.version FROM changes c \
     LEFT JOIN change_templates t ON t.id = c.template_id \
     LEFT JOIN organizations o ON o.id = c.organization_id \
     JOIN users r ON r.id = c.requester_id \
     LEFT JOIN users i ON i.id = c.implementer_id";

/// Everything a person writes on a change; the state and approval move apart.
pub struct ChangeValues<'a> {
    pub title: &'a str,
    pub description: &'a str,
    pub change_type: &'a str,
    pub template_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub implementer_id: Option<i64>,
    pub risk_answers: &'a str,
    pub risk_score: i64,
    pub risk_level: &'a str,
    pub implementation_plan: &'a str,
    pub test_plan: &'a str,
    pub backout_plan: &'a str,
    pub planned_start: Option<i64>,
    pub planned_end: Option<i64>,
    pub review: &'a str,
    pub watch_hours: i64,
}

pub async fn insert_change(
    conn: &mut AnyConnection,
    v: &ChangeValues<'_>,
    requester_id: i64,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO changes (title, description, change_type, state, approval, template_id, \
         organization_id, requester_id, implementer_id, risk_answers, risk_score, risk_level, \
         implementation_plan, test_plan, backout_plan, planned_start, planned_end, review, \
         watch_hours, created_at, updated_at) VALUES ($1, $2, $3, 'draft', 'not_requested', \
         $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) RETURNING id",
    )
    .bind(v.title)
    .bind(v.description)
    .bind(v.change_type)
    .bind(v.template_id)
    .bind(v.organization_id)
    .bind(requester_id)
    .bind(v.implementer_id)
    .bind(v.risk_answers)
    .bind(v.risk_score)
    .bind(v.risk_level)
    .bind(v.implementation_plan)
    .bind(v.test_plan)
    .bind(v.backout_plan)
    .bind(v.planned_start)
    .bind(v.planned_end)
    .bind(v.review)
    .bind(v.watch_hours)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Replaces what a person writes on change `id`, when it is still at `version`.
pub async fn update_change(
    conn: &mut AnyConnection,
    id: i64,
    version: i64,
    v: &ChangeValues<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE changes SET title = $3, description = $4, change_type = $5, template_id = $6, \
         organization_id = $7, implementer_id = $8, risk_answers = $9, risk_score = $10, \
         risk_level = $11, implementation_plan = $12, test_plan = $13, backout_plan = $14, \
         planned_start = $15, planned_end = $16, review = $17, watch_hours = $18, \
         updated_at = $19, version = version + 1 WHERE id = $1 AND version = $2",
    )
    .bind(id)
    .bind(version)
    .bind(v.title)
    .bind(v.description)
    .bind(v.change_type)
    .bind(v.template_id)
    .bind(v.organization_id)
    .bind(v.implementer_id)
    .bind(v.risk_answers)
    .bind(v.risk_score)
    .bind(v.risk_level)
    .bind(v.implementation_plan)
    .bind(v.test_plan)
    .bind(v.backout_plan)
    .bind(v.planned_start)
    .bind(v.planned_end)
    .bind(v.review)
    .bind(v.watch_hours)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves change `id` to `state` and its approval to `approval`, noting when the work began
/// or ended and when approval was asked for.
pub async fn set_state(
    conn: &mut AnyConnection,
    id: i64,
    state: &str,
    approval: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE changes SET state = $2, approval = $3, updated_at = $4, version = version + 1, \
         actual_start = CASE WHEN $2 = 'implementing' AND actual_start IS NULL THEN $4 \
         ELSE actual_start END, \
         actual_end = CASE WHEN $2 IN ('review', 'failed') AND actual_end IS NULL THEN $4 \
         ELSE actual_end END, \
         approval_requested_at = CASE WHEN $3 = 'pending' AND approval <> 'pending' THEN $4 \
         WHEN $3 = 'not_requested' THEN NULL ELSE approval_requested_at END, \
         approval_escalated_at = CASE WHEN $3 = 'pending' AND approval <> 'pending' THEN NULL \
         ELSE approval_escalated_at END WHERE id = $1",
    )
    .bind(id)
    .bind(state)
    .bind(approval)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn change(conn: &mut AnyConnection, id: i64) -> Result<Option<ChangeRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{CHANGE_SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// Which changes a list shows.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter<'a> {
    pub state: Option<&'a str>,
    /// Only these organizations' changes and those of none; every change when `None`.
    pub organizations: Option<&'a [i64]>,
    /// Changes whose window overlaps `[from, to)`; windowless ones are left out then.
    pub window: Option<(i64, i64)>,
}

/// Changes fitting `filter` with ids below `before`, the newest first.
pub async fn changes(
    conn: &mut AnyConnection,
    filter: &ChangeFilter<'_>,
    before: i64,
    limit: i64,
) -> Result<Vec<ChangeRow>, StoreError> {
    let mut sql = format!("{CHANGE_SELECT} WHERE c.id < $1");
    let mut n = 2;
    if filter.state.is_some() {
        sql.push_str(&format!(" AND c.state = ${n}"));
        n += 1;
    }
    if filter.window.is_some() {
        sql.push_str(&format!(
            " AND c.planned_start < ${} AND c.planned_end > ${n} \
             AND c.state NOT IN ('draft', 'cancelled', 'rejected')",
            n + 1
        ));
        n += 2;
    }
    if let Some(orgs) = filter.organizations {
        sql.push_str(&format!(
            " AND (c.organization_id IS NULL OR c.organization_id IN ({}))",
            if orgs.is_empty() {
                "NULL".to_owned()
            } else {
                placeholders(n, orgs.len())
            }
        ));
    }
    sql.push_str(&format!(" ORDER BY c.id DESC LIMIT {}", limit.max(0)));
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(before);
    if let Some(state) = filter.state {
        query = query.bind(state);
    }
    if let Some((from, to)) = filter.window {
        query = query.bind(from).bind(to);
    }
    for org in filter.organizations.unwrap_or_default() {
        query = query.bind(*org);
    }
    Ok(query.fetch_all(conn).await?)
}

/// Replaces the items change `id` affects.
pub async fn set_cis(conn: &mut AnyConnection, id: i64, cis: &[i64]) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM change_cis WHERE change_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for ci in cis {
        sqlx::query("INSERT INTO change_cis (change_id, ci_id) VALUES ($1, $2)")
            .bind(id)
            .bind(ci)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The items change `id` affects: id, name, class.
pub async fn cis_of(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.name, c.class FROM change_cis l JOIN cis c ON c.id = l.ci_id \
         WHERE l.change_id = $1 ORDER BY c.name, c.id",
    )
    .bind(id)
    .fetch_all(conn)
    .await?)
}

/// Open incidents and open problems among the tickets linked to any of `cis`.
pub async fn open_work_on(conn: &mut AnyConnection, cis: &[i64]) -> Result<(i64, i64), StoreError> {
    if cis.is_empty() {
        return Ok((0, 0));
    }
    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN t.ticket_type = 'incident' THEN 1 ELSE 0 END), 0), \
         COALESCE(SUM(CASE WHEN t.ticket_type = 'problem' THEN 1 ELSE 0 END), 0) \
         FROM tickets t WHERE t.status NOT IN ('resolved', 'closed') AND t.id IN \
         (SELECT DISTINCT ticket_id FROM ticket_cis WHERE ci_id IN ({}))",
        placeholders(1, cis.len())
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for ci in cis {
        query = query.bind(*ci);
    }
    Ok(query.fetch_one(conn).await?)
}

pub async fn insert_timeline(
    conn: &mut AnyConnection,
    change_id: i64,
    at: i64,
    actor: &str,
    kind: &str,
    data: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO change_timeline (change_id, at, actor, kind, data) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(change_id)
    .bind(at)
    .bind(actor)
    .bind(kind)
    .bind(data)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TimelineRow {
    pub at: i64,
    pub actor: String,
    pub kind: String,
    pub data: String,
}

pub async fn timeline(
    conn: &mut AnyConnection,
    change_id: i64,
) -> Result<Vec<TimelineRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT at, actor, kind, data FROM change_timeline WHERE change_id = $1 ORDER BY id",
    )
    .bind(change_id)
    .fetch_all(conn)
    .await?)
}

/// A member of a board: their id and address, and who votes for them while they are away.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MemberRow {
    pub id: i64,
    pub email: String,
    pub delegate_id: Option<i64>,
    pub delegate: Option<String>,
}

/// The active members of group `group_id`, each with their delegate at `now`.
pub async fn board_members(
    conn: &mut AnyConnection,
    group_id: i64,
    now: i64,
) -> Result<Vec<MemberRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.email, d.delegate_id, du.email AS delegate FROM group_members m \
         JOIN users u ON u.id = m.user_id \
         LEFT JOIN approval_delegations d ON d.user_id = u.id AND d.until > $2 \
         LEFT JOIN users du ON du.id = d.delegate_id AND du.active = 1 \
         WHERE m.group_id = $1 AND u.active = 1 ORDER BY u.email",
    )
    .bind(group_id)
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// Who `user_id` votes for while they stand in for them, and until when.
pub async fn set_delegation(
    conn: &mut AnyConnection,
    user_id: i64,
    delegate: Option<(i64, i64)>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM approval_delegations WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    if let Some((delegate_id, until)) = delegate {
        sqlx::query(
            "INSERT INTO approval_delegations (user_id, delegate_id, until) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(delegate_id)
        .bind(until)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// The delegate of `user_id` and until when, if one is set and still in force at `now`.
pub async fn delegation(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<Option<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.email, d.until FROM approval_delegations d JOIN users u ON u.id = d.delegate_id \
         WHERE d.user_id = $1 AND d.until > $2",
    )
    .bind(user_id)
    .bind(now)
    .fetch_optional(conn)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VoteRow {
    pub member_id: i64,
    pub member: String,
    pub cast_by: String,
    pub decision: String,
    pub comment: String,
    pub at: i64,
}

/// Records a vote; false when the member has voted already.
pub async fn insert_vote(
    conn: &mut AnyConnection,
    change_id: i64,
    member_id: i64,
    cast_by_id: i64,
    decision: &str,
    comment: &str,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO change_votes (change_id, member_id, cast_by_id, decision, comment, at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(change_id)
    .bind(member_id)
    .bind(cast_by_id)
    .bind(decision)
    .bind(comment)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn votes(conn: &mut AnyConnection, change_id: i64) -> Result<Vec<VoteRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT v.member_id, m.email AS member, b.email AS cast_by, v.decision, v.comment, v.at \
         FROM change_votes v JOIN users m ON m.id = v.member_id JOIN users b ON b.id = v.cast_by_id \
         WHERE v.change_id = $1 ORDER BY v.at, v.member_id",
    )
    .bind(change_id)
    .fetch_all(conn)
    .await?)
}

/// Forgets the votes on change `id`: a new plan is approved afresh.
pub async fn clear_votes(conn: &mut AnyConnection, change_id: i64) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM change_votes WHERE change_id = $1")
        .bind(change_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM change_approval_links WHERE change_id = $1")
        .bind(change_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_approval_link(
    conn: &mut AnyConnection,
    token_hash: &str,
    change_id: i64,
    user_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO change_approval_links (token_hash, change_id, user_id, created_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(token_hash)
    .bind(change_id)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The change and person of a mailed link.
pub async fn approval_link(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(
        sqlx::query_as(
            "SELECT change_id, user_id FROM change_approval_links WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(conn)
        .await?,
    )
}

pub async fn mark_escalated(
    conn: &mut AnyConnection,
    change_id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE changes SET approval_escalated_at = $2 \
         WHERE id = $1 AND approval_escalated_at IS NULL",
    )
    .bind(change_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A change that may conflict with another: one of the items it touches among those asked
/// about, or none when it is found by its implementer.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OverlapRow {
    pub id: i64,
    pub planned_start: i64,
    pub planned_end: i64,
    pub implementer_id: Option<i64>,
    pub ci_id: Option<i64>,
}

/// Planned changes other than `except` whose window overlaps `[start, end)` and that touch
/// one of `cis`, or that `implementer` carries out.
pub async fn overlapping(
    conn: &mut AnyConnection,
    except: i64,
    start: i64,
    end: i64,
    cis: &[i64],
    implementer: Option<i64>,
) -> Result<Vec<OverlapRow>, StoreError> {
    const PLANNED: &str = "('assessment', 'approval', 'scheduled', 'implementing')";
    // `CROSS JOIN` keeps `change_cis` the outer table on SQLite, so the join starts from the
    // items (index change_cis_ci, a few dozen changes per item) and reads each change by its
    // key. With a plain join and no statistics SQLite started from changes_state instead and
    // read every planned change starting before the window's end (half of 100,000 in the
    // conflicts benchmark, ~40 ms). PostgreSQL plans it as the inner join it is.
    let mut rows: Vec<OverlapRow> = in_slices(conn, cis, &[except, start, end], |list| {
        format!(
            "SELECT c.id, c.planned_start, c.planned_end, c.implementer_id, l.ci_id \
             FROM change_cis l CROSS JOIN changes c \
             WHERE c.id = l.change_id AND l.ci_id IN ({list}) AND c.id <> $1 \
             AND c.planned_start < $3 AND c.planned_end > $2 AND c.state IN {PLANNED}"
        )
    })
    .await?;
    if let Some(implementer) = implementer {
        let by_person: Vec<OverlapRow> = sqlx::query_as(sql!(
            "SELECT c.id, c.planned_start, c.planned_end, c.implementer_id, \
             CAST(NULL AS BIGINT) AS ci_id FROM changes c WHERE c.implementer_id = $4 \
             AND c.id <> $1 AND c.planned_start < $3 AND c.planned_end > $2 \
             AND c.state IN {PLANNED}"
        ))
        .bind(except)
        .bind(start)
        .bind(end)
        .bind(implementer)
        .fetch_all(conn)
        .await?;
        rows.extend(by_person);
    }
    Ok(rows)
}

/// The current relations touching any of `cis`: `(source, kind, target)`.
pub async fn relations_around(
    conn: &mut AnyConnection,
    cis: &[i64],
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    // The list twice in one statement: slices of 500 stay within SQLite's 32,766
    // parameters and PostgreSQL's 65,535.
    in_slices(conn, cis, &[], |list| {
        format!(
            "SELECT source_id, kind, target_id FROM ci_relations WHERE removed_at IS NULL \
             AND source_id IN ({list}) UNION SELECT source_id, kind, target_id FROM ci_relations \
             WHERE removed_at IS NULL AND target_id IN ({list})"
        )
    })
    .await
}

/// A freeze or blackout period as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FreezeRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub organization_id: Option<i64>,
    pub organization: Option<String>,
    pub ci_id: Option<i64>,
    pub ci: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
}

const FREEZE_SELECT: &str = "SELECT f.id, f.name, f.kind, f.starts_at, f.ends_at, \
     f.organization_id, o.name AS organization, f.ci_id, c.name AS ci, f.reason, f.created_by, \
     f.created_at FROM freeze_windows f LEFT JOIN organizations o ON o.id = f.organization_id \
     LEFT JOIN cis c ON c.id = f.ci_id";

pub struct NewFreeze<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub starts_at: i64,
    pub ends_at: i64,
    pub organization_id: Option<i64>,
    pub ci_id: Option<i64>,
    pub reason: &'a str,
    pub created_by: &'a str,
}

pub async fn insert_freeze(
    conn: &mut AnyConnection,
    f: &NewFreeze<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO freeze_windows (name, kind, starts_at, ends_at, organization_id, ci_id, \
         reason, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(f.name)
    .bind(f.kind)
    .bind(f.starts_at)
    .bind(f.ends_at)
    .bind(f.organization_id)
    .bind(f.ci_id)
    .bind(f.reason)
    .bind(f.created_by)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn freeze(conn: &mut AnyConnection, id: i64) -> Result<Option<FreezeRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{FREEZE_SELECT} WHERE f.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

pub async fn delete_freeze(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM freeze_windows WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Freeze periods overlapping `[from, to)`, the earliest first.
pub async fn freezes(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
) -> Result<Vec<FreezeRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "{FREEZE_SELECT} WHERE f.starts_at < $2 AND f.ends_at > $1 ORDER BY f.starts_at, f.id"
    ))
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await?)
}

/// The items of organization `organization_id`, among `cis`.
pub async fn cis_of_organization(
    conn: &mut AnyConnection,
    organization_id: i64,
    cis: &[i64],
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = in_slices(conn, cis, &[organization_id], |list| {
        format!("SELECT id FROM cis WHERE organization_id = $1 AND id IN ({list})")
    })
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// The maintenance windows agreed for item `ci_id` that span `at`: those of its monitors (by
/// id or tag) that recur, other than those changes made.
pub async fn agreed_maintenance(
    conn: &mut AnyConnection,
    ci_id: i64,
    at: i64,
) -> Result<Vec<crate::monitors::MaintenanceRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT w.monitor_id, w.tag, w.starts_at, w.ends_at, w.reason, w.schedule, w.timezone, \
         w.duration_s FROM maintenance_windows w WHERE w.schedule IS NOT NULL \
         AND w.change_id IS NULL AND w.starts_at <= $2 AND w.ends_at > $2 \
         AND (w.monitor_id IN (SELECT id FROM monitors WHERE ci_id = $1) \
         OR w.tag IN (SELECT t.tag FROM monitor_tags t JOIN monitors m ON m.id = t.monitor_id \
         WHERE m.ci_id = $1)) LIMIT 100",
    )
    .bind(ci_id)
    .bind(at)
    .fetch_all(conn)
    .await?)
}

/// Holds the monitors of change `id`'s items in maintenance over `[start, end)`; returns
/// how many windows were made. Earlier windows of the change are replaced.
pub async fn hold_monitors(
    conn: &mut AnyConnection,
    id: i64,
    start: i64,
    end: i64,
    reason: &str,
    now: i64,
) -> Result<u64, StoreError> {
    release_monitors(conn, id).await?;
    let done = sqlx::query(
        "INSERT INTO maintenance_windows (monitor_id, starts_at, ends_at, reason, created_at, \
         change_id) SELECT DISTINCT m.id, $2, $3, $4, $5, $1 FROM change_cis l \
         JOIN monitors m ON m.ci_id = l.ci_id WHERE l.change_id = $1",
    )
    .bind(id)
    .bind(start)
    .bind(end)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Removes the maintenance windows change `id` made.
pub async fn release_monitors(conn: &mut AnyConnection, id: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM maintenance_windows WHERE change_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Changes touching item `ci_id` whose window began at or before `at` and ended no more
/// than their watch hours before it: what an incident opened at `at` may come from.
pub async fn changes_before(
    conn: &mut AnyConnection,
    ci_id: i64,
    at: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT c.id FROM change_cis l JOIN changes c ON c.id = l.change_id \
         WHERE l.ci_id = $1 AND c.planned_start <= $2 \
         AND COALESCE(c.actual_end, c.planned_end) + c.watch_hours * 3600000 >= $2 \
         AND c.state IN ('implementing', 'review', 'closed', 'failed') ORDER BY c.id",
    )
    .bind(ci_id)
    .bind(at)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Links an incident to a change as possibly caused by it; false when it was already.
pub async fn link_incident(
    conn: &mut AnyConnection,
    change_id: i64,
    ticket_id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO change_incidents (change_id, ticket_id, linked_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(change_id)
    .bind(ticket_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A ticket beside a change: an incident it may have caused.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IncidentRow {
    pub id: i64,
    pub ticket_type: String,
    pub number: i64,
    pub title: String,
    pub status: String,
    pub created_at: i64,
}

pub async fn incidents_of(
    conn: &mut AnyConnection,
    change_id: i64,
) -> Result<Vec<IncidentRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.ticket_type, t.number, t.title, t.status, t.created_at \
         FROM change_incidents l JOIN tickets t ON t.id = l.ticket_id \
         WHERE l.change_id = $1 ORDER BY t.created_at, t.id",
    )
    .bind(change_id)
    .fetch_all(conn)
    .await?)
}

/// The changes an incident was linked to: `(id, title, state)`.
pub async fn changes_of_incident(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<(i64, String, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT c.id, c.title, c.state FROM change_incidents l JOIN changes c ON c.id = l.change_id \
         WHERE l.ticket_id = $1 ORDER BY c.id",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?)
}

/// Changes whose window touched `cis` between `from` and `to`, for "what changed?":
/// `(change id, title, state, start, end, item)`.
pub async fn changes_on_between(
    conn: &mut AnyConnection,
    cis: &[i64],
    from: i64,
    to: i64,
) -> Result<Vec<(i64, String, String, i64, i64, i64)>, StoreError> {
    in_slices(conn, cis, &[from, to], |list| {
        format!(
            "SELECT c.id, c.title, c.state, c.planned_start, \
             COALESCE(c.actual_end, c.planned_end), l.ci_id FROM change_cis l \
             JOIN changes c ON c.id = l.change_id WHERE l.ci_id IN ({list}) \
             AND c.planned_start <= $2 AND COALESCE(c.actual_end, c.planned_end) >= $1 \
             AND c.state IN ('implementing', 'review', 'closed', 'failed', 'scheduled')"
        )
    })
    .await
}

/// Inventory changes of `cis` between `from` and `to`: `(item, at, section, summary)`.
pub async fn inventory_changes_between(
    conn: &mut AnyConnection,
    cis: &[i64],
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64, String, String)>, StoreError> {
    in_slices(conn, cis, &[from, to], |list| {
        format!(
            "SELECT ci_id, at, section, summary FROM ci_inventory_changes \
             WHERE ci_id IN ({list}) AND at >= $1 AND at <= $2 ORDER BY at DESC LIMIT 200"
        )
    })
    .await
}

/// Over changes whose window ended in `[from, to)`: how many finished (closed or failed),
/// how many failed, how many have an incident linked, and how many did either.
pub async fn outcomes(
    conn: &mut AnyConnection,
    from: i64,
    to: i64,
) -> Result<(i64, i64, i64, i64), StoreError> {
    Ok(sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(failed), 0), COALESCE(SUM(linked), 0), \
         COALESCE(SUM(CASE WHEN failed = 1 OR linked = 1 THEN 1 ELSE 0 END), 0) FROM \
         (SELECT CASE WHEN c.state = 'failed' THEN 1 ELSE 0 END AS failed, \
         CASE WHEN EXISTS (SELECT 1 FROM change_incidents l WHERE l.change_id = c.id) \
         THEN 1 ELSE 0 END AS linked FROM changes c WHERE c.state IN ('closed', 'failed') \
         AND c.planned_end >= $1 AND c.planned_end < $2) finished",
    )
    .bind(from)
    .bind(to)
    .fetch_one(conn)
    .await?)
}
