//! Problems: their root-cause analysis and known error, the incidents linked to them, and
//! repeat incidents that suggest a problem nobody has opened yet.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A ticket on the other end of a problem's `caused_by` links.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LinkedTicketRow {
    pub id: i64,
    pub ticket_type: String,
    pub number: i64,
    pub title: String,
    pub status: String,
    pub organization_id: Option<i64>,
    pub created_at: i64,
}

/// A problem's analysis as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AnalysisRow {
    /// A JSON list of strings.
    pub whys: String,
    pub contributing_factors: String,
    pub root_cause: String,
    pub workaround: String,
    pub known_error: i64,
    pub article_id: Option<i64>,
}

/// The analysis of a problem nobody has analysed yet: the columns' defaults.
impl Default for AnalysisRow {
    fn default() -> Self {
        Self {
            whys: "[]".to_owned(),
            contributing_factors: String::new(),
            root_cause: String::new(),
            workaround: String::new(),
            known_error: 0,
            article_id: None,
        }
    }
}

pub async fn analysis(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Option<AnalysisRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT whys, contributing_factors, root_cause, workaround, known_error, article_id \
         FROM problem_analyses WHERE ticket_id = $1",
    )
    .bind(ticket_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn save_analysis(
    conn: &mut AnyConnection,
    ticket_id: i64,
    a: &AnalysisRow,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO problem_analyses (ticket_id, whys, contributing_factors, root_cause, \
         workaround, known_error, article_id, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (ticket_id) DO UPDATE SET whys = $2, contributing_factors = $3, \
         root_cause = $4, workaround = $5, known_error = $6, article_id = $7, updated_at = $8",
    )
    .bind(ticket_id)
    .bind(&a.whys)
    .bind(&a.contributing_factors)
    .bind(&a.root_cause)
    .bind(&a.workaround)
    .bind(a.known_error)
    .bind(a.article_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Links incident `incident_id` to problem `problem_id` as caused by it; false when it was
/// already.
pub async fn link_incident(
    conn: &mut AnyConnection,
    incident_id: i64,
    problem_id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO ticket_links (ticket_id, target_id, link_type, created_at) \
         VALUES ($1, $2, 'caused_by', $3) ON CONFLICT DO NOTHING",
    )
    .bind(incident_id)
    .bind(problem_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// The tickets linked to problem `problem_id` as caused by it, with their state; of the
/// restricted ones only those of `restricted` groups (`None`: all).
pub async fn incidents_of_problem(
    conn: &mut AnyConnection,
    problem_id: i64,
    restricted: Option<&[i64]>,
) -> Result<Vec<LinkedTicketRow>, StoreError> {
    let visible = crate::tickets::restricted_visible("t", restricted);
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t.id, t.ticket_type, t.number, t.title, t.status, t.organization_id, \
         t.created_at \
         FROM ticket_links l JOIN tickets t ON t.id = l.ticket_id \
         WHERE l.target_id = $1 AND l.link_type = 'caused_by' AND {visible} \
         ORDER BY t.created_at, t.id"
    )))
    .bind(problem_id)
    .fetch_all(conn)
    .await?)
}

/// The problems incident `incident_id` is linked to as caused by them.
pub async fn problems_of_incident(
    conn: &mut AnyConnection,
    incident_id: i64,
) -> Result<Vec<LinkedTicketRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT t.id, t.ticket_type, t.number, t.title, t.status, t.organization_id, \
         t.created_at FROM ticket_links l JOIN tickets t ON t.id = l.target_id \
         WHERE l.ticket_id = $1 AND l.link_type = 'caused_by' AND t.ticket_type = 'problem' \
         ORDER BY t.created_at, t.id",
    )
    .bind(incident_id)
    .fetch_all(conn)
    .await?)
}

/// What repeat incidents are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cluster {
    /// The configuration item the incidents are about.
    Item,
    /// The incidents' category.
    Category,
}

/// One incident of a cluster of repeat incidents.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RepeatIncidentRow {
    /// The item's or category's id and name.
    pub cluster_id: i64,
    pub cluster_name: String,
    pub ticket_type: String,
    pub number: i64,
    pub organization_id: Option<i64>,
    /// How many incidents the cluster has, whoever may see them.
    pub incidents: i64,
}

/// Repeat incidents: the incidents created since `since` that no problem covers, of the
/// items (or categories) with at least `least` of them; the biggest clusters first, each
/// cluster's incidents oldest first, at most `limit` rows. Merged duplicates do not count:
/// they would make one report look like several.
pub async fn repeat_incidents(
    conn: &mut AnyConnection,
    by: Cluster,
    since: i64,
    least: i64,
    limit: i64,
) -> Result<Vec<RepeatIncidentRow>, StoreError> {
    let clustered = match by {
        Cluster::Item => {
            "ticket_cis l JOIN tickets t ON t.id = l.ticket_id JOIN cis g ON g.id = l.ci_id"
        }
        Cluster::Category => "tickets t JOIN categories g ON g.id = t.category_id",
    };
    let sql = format!(
        "SELECT cluster_id, cluster_name, ticket_type, number, organization_id, incidents FROM (\
         SELECT g.id AS cluster_id, g.name AS cluster_name, t.ticket_type, t.number, \
         t.organization_id, t.created_at, COUNT(*) OVER (PARTITION BY g.id) AS incidents \
         FROM {clustered} WHERE t.ticket_type = 'incident' AND t.created_at >= $1 \
         AND t.merged_into_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM ticket_links k JOIN tickets p ON p.id = k.target_id \
         WHERE k.ticket_id = t.id AND k.link_type = 'caused_by' AND p.ticket_type = 'problem')\
         ) clustered WHERE incidents >= $2 \
         ORDER BY incidents DESC, cluster_id, created_at, number LIMIT $3"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(since)
        .bind(least)
        .bind(limit)
        .fetch_all(conn)
        .await?)
}
