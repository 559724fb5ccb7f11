//! Alert integrations and the alerts they received.

use opsdesk_domain::alert::Pipeline;
use sqlx::AnyConnection;

use crate::batch::Batch;
use crate::db::Backend;
use crate::error::StoreError;

/// An integration as stored (its secret only as a hash).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct IntegrationRow {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub requester_id: i64,
    pub requester_email: String,
    pub group_by: String,
    pub escalation_policy_id: Option<i64>,
    pub escalation_policy: Option<String>,
    pub created_at: i64,
    pub hold_back_minutes: i64,
    pub resolve_after_minutes: i64,
    pub open_after_count: i64,
    pub open_after_minutes: i64,
    pub max_incidents_per_hour: i64,
    pub silent_after_minutes: i64,
    /// An e-mail integration's address.
    pub address: Option<String>,
    pub version: i64,
    pub last_received_at: Option<i64>,
    /// When its dead-man's switch found it silent, until it is heard from again.
    pub silent_since: Option<i64>,
}

impl IntegrationRow {
    /// How its alerts become incidents.
    pub fn pipeline(&self) -> Pipeline {
        Pipeline {
            hold_back_minutes: self.hold_back_minutes,
            resolve_after_minutes: self.resolve_after_minutes,
            open_after_count: self.open_after_count,
            open_after_minutes: self.open_after_minutes,
            max_incidents_per_hour: self.max_incidents_per_hour,
            silent_after_minutes: self.silent_after_minutes,
        }
    }
}

const INTEGRATION_SELECT: &str = "SELECT i.id, i.name, i.kind, i.requester_id, \
     u.email AS requester_email, i.group_by, i.escalation_policy_id, \
     e.name AS escalation_policy, i.created_at, i.hold_back_minutes, \
     i.resolve_after_minutes, i.open_after_count, i.open_after_minutes, \
     i.max_incidents_per_hour, i.silent_after_minutes, i.address, i.version, \
     i.last_received_at, i.silent_since \
     FROM integrations i JOIN users u ON u.id = i.requester_id \
     LEFT JOIN escalation_policies e ON e.id = i.escalation_policy_id";

pub struct NewIntegration<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub requester_id: i64,
    pub token_hash: &'a str,
    pub group_by: &'a str,
    pub escalation_policy_id: Option<i64>,
    pub pipeline: Pipeline,
    pub address: Option<&'a str>,
}

pub async fn insert_integration(
    conn: &mut AnyConnection,
    new: &NewIntegration<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO integrations (name, kind, requester_id, token_hash, group_by, \
         escalation_policy_id, created_at, hold_back_minutes, resolve_after_minutes, \
         open_after_count, open_after_minutes, max_incidents_per_hour, silent_after_minutes, \
         address, last_received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $7) RETURNING id",
    )
    .bind(new.name)
    .bind(new.kind)
    .bind(new.requester_id)
    .bind(new.token_hash)
    .bind(new.group_by)
    .bind(new.escalation_policy_id)
    .bind(now)
    .bind(new.pipeline.hold_back_minutes)
    .bind(new.pipeline.resolve_after_minutes)
    .bind(new.pipeline.open_after_count)
    .bind(new.pipeline.open_after_minutes)
    .bind(new.pipeline.max_incidents_per_hour)
    .bind(new.pipeline.silent_after_minutes)
    .bind(new.address)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))?;
    Ok(id)
}

pub async fn integrations(conn: &mut AnyConnection) -> Result<Vec<IntegrationRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{INTEGRATION_SELECT} ORDER BY i.name"
    )))
    .fetch_all(conn)
    .await?)
}

pub async fn integration(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<IntegrationRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{INTEGRATION_SELECT} WHERE i.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn integration_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<IntegrationRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("{INTEGRATION_SELECT} WHERE i.name = $1"))
            .bind(name)
            .fetch_optional(conn)
            .await?,
    )
}

/// The e-mail integration mail to `address` (in lower case) goes to.
pub async fn integration_by_address(
    conn: &mut AnyConnection,
    address: &str,
) -> Result<Option<IntegrationRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("{INTEGRATION_SELECT} WHERE i.address = $1"))
            .bind(address)
            .fetch_optional(conn)
            .await?,
    )
}

/// The integration whose secret hashes to `token_hash`.
pub async fn integration_by_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<IntegrationRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{INTEGRATION_SELECT} WHERE i.token_hash = $1"
    )))
    .bind(token_hash)
    .fetch_optional(conn)
    .await?)
}

/// What a change of an integration's settings writes.
pub struct IntegrationSettings<'a> {
    /// JSON list of label names.
    pub group_by: &'a str,
    pub escalation_policy_id: Option<i64>,
    pub pipeline: Pipeline,
}

/// Changes an integration's grouping, escalation policy and pipeline settings from
/// `version`; false when it is no longer at that version.
pub async fn update_settings(
    conn: &mut AnyConnection,
    id: i64,
    version: i64,
    settings: &IntegrationSettings<'_>,
) -> Result<bool, StoreError> {
    let pipeline = &settings.pipeline;
    let done = sqlx::query(
        "UPDATE integrations SET hold_back_minutes = $3, resolve_after_minutes = $4, \
         open_after_count = $5, open_after_minutes = $6, max_incidents_per_hour = $7, \
         silent_after_minutes = $8, group_by = $9, escalation_policy_id = $10, \
         version = version + 1 WHERE id = $1 AND version = $2",
    )
    .bind(id)
    .bind(version)
    .bind(pipeline.hold_back_minutes)
    .bind(pipeline.resolve_after_minutes)
    .bind(pipeline.open_after_count)
    .bind(pipeline.open_after_minutes)
    .bind(pipeline.max_incidents_per_hour)
    .bind(pipeline.silent_after_minutes)
    .bind(settings.group_by)
    .bind(settings.escalation_policy_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// How often a busy source's `last_received_at` is written.
const RECEIVED_EVERY_MS: i64 = 10_000;

impl IntegrationRow {
    /// Whether a request at `now` has nothing to note ([`note_received`]): as read, the
    /// integration is not silent and was heard from within the last ten seconds — too
    /// recently for its dead-man's switch (a minute at least) to have fired since.
    pub fn heard_lately(&self, now: i64) -> bool {
        self.silent_since.is_none()
            && self
                .last_received_at
                .is_some_and(|at| at >= now - RECEIVED_EVERY_MS)
    }
}

/// Notes that integration `id` received a request at `now`; true when its dead-man's switch
/// had fired, which this turns off. A busy source writes at most every ten seconds.
pub async fn note_received(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let was_silent: Option<(Option<i64>,)> = sqlx::query_as(
        "SELECT silent_since FROM integrations WHERE id = $1 AND silent_since IS NOT NULL",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE integrations SET last_received_at = $2, silent_since = NULL \
         WHERE id = $1 AND (silent_since IS NOT NULL OR last_received_at IS NULL \
         OR last_received_at < $3)",
    )
    .bind(id)
    .bind(now)
    .bind(now - RECEIVED_EVERY_MS)
    .execute(conn)
    .await?;
    Ok(was_silent.is_some())
}

/// Marks the integrations whose dead-man's switch is due at `now` (silent longer than their
/// `silent_after_minutes`) as silent, and returns them: each silence fires once, also with
/// several nodes.
pub async fn claim_silent(
    conn: &mut AnyConnection,
    now: i64,
) -> Result<Vec<IntegrationRow>, StoreError> {
    let ids: Vec<(i64,)> = sqlx::query_as(
        "UPDATE integrations SET silent_since = $1 WHERE silent_after_minutes > 0 \
         AND silent_since IS NULL \
         AND COALESCE(last_received_at, created_at) + silent_after_minutes * 60000 <= $1 \
         RETURNING id",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let mut rows = Vec::with_capacity(ids.len());
    for (id,) in ids {
        rows.extend(integration(conn, id).await?);
    }
    Ok(rows)
}

pub async fn delete_integration(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM integrations WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// One alert as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AlertRow {
    pub id: i64,
    pub integration_id: i64,
    pub integration: String,
    pub fingerprint: String,
    pub group_key: String,
    pub status: String,
    pub title: String,
    pub severity: String,
    pub labels: String,
    pub ticket_id: Option<i64>,
    pub first_at: i64,
    pub last_at: i64,
    pub resolved_at: Option<i64>,
    pub occurrences: i64,
    /// The silence that muted its last notification.
    pub silence_id: Option<i64>,
}

const ALERT_SELECT: &str = "SELECT a.id, a.integration_id, i.name AS integration, a.fingerprint, \
     a.group_key, a.status, a.title, a.severity, a.labels, a.ticket_id, a.first_at, a.last_at, \
     a.resolved_at, a.occurrences, a.silence_id \
     FROM alerts a JOIN integrations i ON i.id = a.integration_id";

pub async fn alert_by_fingerprint(
    conn: &mut AnyConnection,
    integration_id: i64,
    fingerprint: &str,
) -> Result<Option<AlertRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{ALERT_SELECT} WHERE a.integration_id = $1 AND a.fingerprint = $2"
    )))
    .bind(integration_id)
    .bind(fingerprint)
    .fetch_optional(conn)
    .await?)
}

pub async fn alert(conn: &mut AnyConnection, id: i64) -> Result<Option<AlertRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{ALERT_SELECT} WHERE a.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// The last payload received for an alert.
pub async fn alert_payload(conn: &mut AnyConnection, id: i64) -> Result<String, StoreError> {
    let (payload,): (String,) = sqlx::query_as("SELECT payload FROM alerts WHERE id = $1")
        .bind(id)
        .fetch_one(conn)
        .await?;
    Ok(payload)
}

/// The ids and last notification times of an integration's firing alerts.
pub async fn firing_alerts(
    conn: &mut AnyConnection,
    integration_id: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, last_at FROM alerts WHERE integration_id = $1 AND status = 'firing'",
    )
    .bind(integration_id)
    .fetch_all(conn)
    .await?)
}

/// What one notification says of an alert.
pub struct AlertUpdate<'a> {
    pub integration_id: i64,
    pub fingerprint: &'a str,
    pub group_key: &'a str,
    pub status: &'a str,
    pub title: &'a str,
    pub severity: &'a str,
    pub labels: &'a str,
    pub ticket_id: Option<i64>,
    pub silence_id: Option<i64>,
    /// What a search of alerts looks in (see [`alerts`]).
    pub search_text: &'a str,
    pub payload: &'a str,
}

/// Adds to `batch` the recording of an alert notice: its notification, kept for the rule
/// simulator, and the alert itself, made or brought up to date by fingerprint.
pub fn save_alert_in(batch: &mut Batch, update: &AlertUpdate<'_>, now: i64) {
    let resolved_at = (update.status == "resolved").then_some(now);
    batch
        .push(
            "INSERT INTO alert_notifications (integration_id, received_at, fingerprint, status, \
             title, severity, labels) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(update.integration_id)
        .bind(now)
        .bind(update.fingerprint)
        .bind(update.status)
        .bind(update.title)
        .bind(update.severity)
        .bind(update.labels);
    batch
        .push(
            "INSERT INTO alerts (integration_id, fingerprint, group_key, status, title, severity, \
             labels, ticket_id, first_at, last_at, resolved_at, occurrences, payload, silence_id, \
             search_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, 1, $11, $12, $13) \
             ON CONFLICT (integration_id, fingerprint) DO UPDATE SET group_key = excluded.group_key, \
             status = excluded.status, title = excluded.title, severity = excluded.severity, \
             labels = excluded.labels, ticket_id = excluded.ticket_id, \
             silence_id = excluded.silence_id, search_text = excluded.search_text, \
             first_at = CASE WHEN alerts.status = 'resolved' AND excluded.status = 'firing' \
               THEN excluded.first_at ELSE alerts.first_at END, \
             last_at = excluded.last_at, resolved_at = excluded.resolved_at, \
             occurrences = alerts.occurrences + 1, payload = excluded.payload",
        )
        .bind(update.integration_id)
        .bind(update.fingerprint)
        .bind(update.group_key)
        .bind(update.status)
        .bind(update.title)
        .bind(update.severity)
        .bind(update.labels)
        .bind(update.ticket_id)
        .bind(now)
        .bind(resolved_at)
        .bind(update.payload)
        .bind(update.silence_id)
        .bind(update.search_text);
}

/// The id of integration `integration_id`'s alert `fingerprint`.
pub async fn alert_id(
    conn: &mut AnyConnection,
    integration_id: i64,
    fingerprint: &str,
) -> Result<i64, StoreError> {
    let (id,): (i64,) =
        sqlx::query_as("SELECT id FROM alerts WHERE integration_id = $1 AND fingerprint = $2")
            .bind(integration_id)
            .bind(fingerprint)
            .fetch_one(conn)
            .await?;
    Ok(id)
}

/// One notification as received, for the rule simulator.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    pub received_at: i64,
    pub fingerprint: String,
    pub status: String,
    pub title: String,
    pub severity: String,
    pub labels: String,
}

/// The notifications integration `integration_id` received after `since`, oldest first, at
/// most `limit`.
pub async fn notifications_since(
    conn: &mut AnyConnection,
    integration_id: i64,
    since: i64,
    limit: i64,
) -> Result<Vec<NotificationRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT received_at, fingerprint, status, title, severity, labels \
         FROM alert_notifications WHERE integration_id = $1 AND received_at > $2 \
         ORDER BY received_at, id LIMIT $3",
    )
    .bind(integration_id)
    .bind(since)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Forgets the notifications received before `before`; returns how many.
pub async fn prune_notifications(conn: &mut AnyConnection, before: i64) -> Result<u64, StoreError> {
    let done = sqlx::query("DELETE FROM alert_notifications WHERE received_at < $1")
        .bind(before)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// When each incident the integration's alerts opened after `since` was opened, and whether
/// it was its alert storm incident.
pub async fn incidents_opened(
    conn: &mut AnyConnection,
    integration_id: i64,
    since: i64,
) -> Result<Vec<(i64, bool)>, StoreError> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT opened_at, kind FROM alert_incidents \
         WHERE integration_id = $1 AND opened_at > $2 ORDER BY opened_at",
    )
    .bind(integration_id)
    .bind(since)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, kind)| (at, kind == IncidentKind::Storm.as_str()))
        .collect())
}

/// Who was paged first for the incidents the integration's alerts opened after `since`
/// (the first level anyone was paged at, in the first round), with how many times each.
pub async fn first_paged(
    conn: &mut AnyConnection,
    integration_id: i64,
    since: i64,
) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.email, COUNT(*) FROM page_notifications n \
         JOIN pages p ON p.id = n.page_id \
         JOIN alert_incidents i ON i.ticket_id = p.ticket_id \
         JOIN users u ON u.id = n.user_id \
         WHERE i.integration_id = $1 AND i.opened_at > $2 AND n.round = 0 \
         AND n.level = (SELECT MIN(m.level) FROM page_notifications m \
                        WHERE m.page_id = n.page_id AND m.round = 0) \
         GROUP BY u.email ORDER BY COUNT(*) DESC, u.email",
    )
    .bind(integration_id)
    .bind(since)
    .fetch_all(conn)
    .await?)
}

/// Holds the group `group_key` of an integration until the transaction ends, so that two
/// alerts of a new problem arriving together open one incident, not two. SQLite's single
/// writer already does; PostgreSQL takes a transaction-scoped advisory lock on the group.
pub async fn lock_group(
    conn: &mut AnyConnection,
    backend: Backend,
    integration_id: i64,
    group_key: &str,
) -> Result<(), StoreError> {
    advisory_lock(conn, backend, integration_id, Some(group_key)).await
}

/// Holds a whole integration until the transaction ends, so that its storm cap counts the
/// incidents of alerts arriving together. Taken before any group's, so that the two kinds
/// of lock cannot wait on each other in a circle.
pub async fn lock_integration(
    conn: &mut AnyConnection,
    backend: Backend,
    integration_id: i64,
) -> Result<(), StoreError> {
    advisory_lock(conn, backend, integration_id, None).await
}

async fn advisory_lock(
    conn: &mut AnyConnection,
    backend: Backend,
    integration_id: i64,
    group_key: Option<&str>,
) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        // FNV-1a of the integration and key (a marker byte tells the whole integration from
        // a group): stable, and collisions only make two holders wait for each other.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let marker = [u8::from(group_key.is_some())];
        for byte in integration_id
            .to_le_bytes()
            .iter()
            .chain(&marker)
            .chain(group_key.unwrap_or_default().as_bytes())
        {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(i64::from_ne_bytes(hash.to_ne_bytes()))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// What a notice finds: the alert of its fingerprint (its status and incident), if known, and
/// the incident its group's alerts are on, if any.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct AlertState {
    /// None when the fingerprint is new.
    pub status: Option<String>,
    pub ticket_id: Option<i64>,
    /// The open incident of the group's latest alert that is firing or was resolved after
    /// `held_since` (a resolution still held back keeps its incident for the group).
    pub group_ticket: Option<i64>,
}

/// [`AlertState`] of alert `fingerprint` in group `group_key` of integration
/// `integration_id`, in one statement.
pub async fn alert_state(
    conn: &mut AnyConnection,
    integration_id: i64,
    fingerprint: &str,
    group_key: &str,
    held_since: i64,
) -> Result<AlertState, StoreError> {
    Ok(sqlx::query_as(
        "SELECT a.status, a.ticket_id, (SELECT g.ticket_id FROM alerts g \
         JOIN tickets t ON t.id = g.ticket_id \
         WHERE g.integration_id = $1 AND g.group_key = $3 \
         AND (g.status = 'firing' OR g.resolved_at > $4) \
         AND t.status IN ('new', 'open', 'pending') ORDER BY g.last_at DESC LIMIT 1) AS group_ticket \
         FROM (SELECT 1 AS one) o LEFT JOIN alerts a \
         ON a.integration_id = $1 AND a.fingerprint = $2",
    )
    .bind(integration_id)
    .bind(fingerprint)
    .bind(group_key)
    .bind(held_since)
    .fetch_one(conn)
    .await?)
}

/// When the last of an incident's alerts was resolved.
pub async fn last_resolution_of_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Option<i64>, StoreError> {
    let (at,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(resolved_at) FROM alerts WHERE ticket_id = $1")
            .bind(ticket_id)
            .fetch_one(conn)
            .await?;
    Ok(at)
}

/// Gives a group's firing alerts that wait for an incident (not muted, short of the
/// threshold) the incident `ticket_id`.
pub async fn adopt_waiting(
    conn: &mut AnyConnection,
    integration_id: i64,
    group_key: &str,
    ticket_id: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE alerts SET ticket_id = $3 WHERE integration_id = $1 AND group_key = $2 \
         AND status = 'firing' AND ticket_id IS NULL AND silence_id IS NULL",
    )
    .bind(integration_id)
    .bind(group_key)
    .bind(ticket_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts a firing notification of a group short of its threshold, forgets those before
/// `since`, and returns how many remain.
pub async fn count_firing(
    conn: &mut AnyConnection,
    integration_id: i64,
    group_key: &str,
    since: i64,
    now: i64,
) -> Result<i64, StoreError> {
    sqlx::query(
        "DELETE FROM alert_firings WHERE integration_id = $1 AND group_key = $2 AND at <= $3",
    )
    .bind(integration_id)
    .bind(group_key)
    .bind(since)
    .execute(&mut *conn)
    .await?;
    sqlx::query("INSERT INTO alert_firings (integration_id, group_key, at) VALUES ($1, $2, $3)")
        .bind(integration_id)
        .bind(group_key)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM alert_firings WHERE integration_id = $1 AND group_key = $2",
    )
    .bind(integration_id)
    .bind(group_key)
    .fetch_one(conn)
    .await?;
    Ok(count)
}

/// Forgets a group's counted firings, once it has its incident.
pub async fn forget_firings(
    conn: &mut AnyConnection,
    integration_id: i64,
    group_key: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM alert_firings WHERE integration_id = $1 AND group_key = $2")
        .bind(integration_id)
        .bind(group_key)
        .execute(conn)
        .await?;
    Ok(())
}

/// What an incident opened by alerts is to its integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentKind {
    /// One problem's.
    Group,
    /// The one new problems join beyond the storm cap.
    Storm,
}

impl IncidentKind {
    fn as_str(self) -> &'static str {
        match self {
            IncidentKind::Group => "group",
            IncidentKind::Storm => "storm",
        }
    }
}

/// Records that an integration's alerts opened incident `ticket_id`.
pub async fn record_incident(
    conn: &mut AnyConnection,
    ticket_id: i64,
    integration_id: i64,
    kind: IncidentKind,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO alert_incidents (ticket_id, integration_id, kind, opened_at) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(ticket_id)
    .bind(integration_id)
    .bind(kind.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many problems' incidents an integration's alerts opened after `since`.
pub async fn incidents_opened_since(
    conn: &mut AnyConnection,
    integration_id: i64,
    since: i64,
) -> Result<i64, StoreError> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM alert_incidents \
         WHERE integration_id = $1 AND kind = 'group' AND opened_at > $2",
    )
    .bind(integration_id)
    .bind(since)
    .fetch_one(conn)
    .await?;
    Ok(count)
}

/// The integration's alert storm incident, while it is open.
pub async fn storm_ticket(
    conn: &mut AnyConnection,
    integration_id: i64,
) -> Result<Option<i64>, StoreError> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT ai.ticket_id FROM alert_incidents ai JOIN tickets t ON t.id = ai.ticket_id \
         WHERE ai.integration_id = $1 AND ai.kind = 'storm' \
         AND t.status IN ('new', 'open', 'pending') ORDER BY ai.opened_at DESC LIMIT 1",
    )
    .bind(integration_id)
    .fetch_optional(conn)
    .await?;
    Ok(found.map(|(id,)| id))
}

/// How many alerts of an incident still fire.
pub async fn firing_of_ticket(conn: &mut AnyConnection, ticket_id: i64) -> Result<i64, StoreError> {
    let (count,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM alerts WHERE ticket_id = $1 AND status = 'firing'")
            .bind(ticket_id)
            .fetch_one(conn)
            .await?;
    Ok(count)
}

/// Which alerts a list shows.
#[derive(Debug, Clone, Default)]
pub struct AlertQuery<'a> {
    /// Only those still firing.
    pub firing_only: bool,
    /// Only those a silence muted (`true`) or did not (`false`).
    pub silenced: Option<bool>,
    /// Only those with this text (lower case) in their title, fingerprint, label values or
    /// integration's name.
    pub text: Option<&'a str>,
    pub limit: i64,
}

/// The most recent alerts that `query` asks for, newest first.
pub async fn alerts(
    conn: &mut AnyConnection,
    query: &AlertQuery<'_>,
) -> Result<Vec<AlertRow>, StoreError> {
    let mut clauses = Vec::new();
    if query.firing_only {
        clauses.push("a.status = 'firing'");
    }
    match query.silenced {
        Some(true) => clauses.push("a.silence_id IS NOT NULL"),
        Some(false) => clauses.push("a.silence_id IS NULL"),
        None => {}
    }
    // The text, when given, is $1; the limit follows.
    let pattern = query.text.map(|text| {
        clauses.push("(a.search_text LIKE $1 ESCAPE '\\' OR lower(i.name) LIKE $1 ESCAPE '\\')");
        format!("%{}%", escape_like(text))
    });
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    let limit_at = if pattern.is_some() { 2 } else { 1 };
    let sql = sql!("{ALERT_SELECT}{filter} ORDER BY a.last_at DESC, a.id DESC LIMIT ${limit_at}");
    let mut statement = sqlx::query_as(sql);
    if let Some(pattern) = pattern {
        statement = statement.bind(pattern);
    }
    Ok(statement.bind(query.limit).fetch_all(conn).await?)
}

/// `text` matched literally by `LIKE … ESCAPE '\'`.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
