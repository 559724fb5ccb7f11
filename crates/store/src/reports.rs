//! The reports' aggregate queries. Every counted figure is a ticket set ([`Base`]) and a
//! condition on it ([`Counted::condition`]); the totals and the drill-down lists are built
//! from the same two SQL texts, so a drill-down always lists exactly the tickets counted.

use opsdesk_domain::ticket::TicketStatus;
use sqlx::AnyConnection;

use crate::error::StoreError;

/// Charts count per quarter hour: every time zone's days begin on one.
pub const QUARTER_MS: i64 = 900_000;
const DAY_MS: i64 = 86_400_000;

/// Which organizations' tickets a report covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// `Some`: only these organizations; `None`: all.
    pub organizations: Option<Vec<i64>>,
    /// Whether tickets of no organization count too (staff).
    pub unowned: bool,
    /// `Some`: of the restricted tickets (security incidents), only those of these groups
    /// count; `None`: all of them.
    pub restricted_groups: Option<Vec<i64>>,
}

/// The tickets a figure is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    /// Created in the period.
    Created,
    /// Resolved in the period (and resolved or closed still).
    Resolved,
    /// Open now, whatever the period.
    Open,
}

/// What a volume is broken down by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Category,
    Organization,
    Group,
    Agent,
    Channel,
}

impl Dimension {
    pub const ALL: [Dimension; 5] = [
        Dimension::Category,
        Dimension::Organization,
        Dimension::Group,
        Dimension::Agent,
        Dimension::Channel,
    ];

    /// The ticket column a volume is grouped on.
    fn column(self) -> &'static str {
        match self {
            Dimension::Category => "t.category_id",
            Dimension::Organization => "t.organization_id",
            Dimension::Group => "t.group_id",
            Dimension::Agent => "t.assignee_id",
            Dimension::Channel => "t.source",
        }
    }

    /// The column's key as text and its readable label.
    fn key_and_label(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Dimension::Category => (
                "CAST(t.category_id AS TEXT)",
                "x.name",
                "LEFT JOIN categories x ON x.id = t.category_id",
            ),
            Dimension::Organization => (
                "CAST(t.organization_id AS TEXT)",
                "x.name",
                "LEFT JOIN organizations x ON x.id = t.organization_id",
            ),
            Dimension::Group => (
                "CAST(t.group_id AS TEXT)",
                "x.name",
                "LEFT JOIN groups x ON x.id = t.group_id",
            ),
            Dimension::Agent => (
                "CAST(t.assignee_id AS TEXT)",
                "x.name",
                "LEFT JOIN users x ON x.id = t.assignee_id",
            ),
            Dimension::Channel => ("t.source", "t.source", ""),
        }
    }
}

/// One value of a volume's dimension: an id, a channel's name, or none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Id(i64),
    Text(String),
    None,
}

/// Ages of open tickets, from the youngest: under 1 day, 1–3, 3–7, 7–30, over 30 days.
pub const AGE_LIMITS_DAYS: [i64; 4] = [1, 3, 7, 30];

/// A figure that counts tickets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Counted {
    Created,
    /// Created in the period and answered: the tickets MTTA averages over.
    Responded,
    ResponseMet,
    ResponseBreached,
    ResolutionMet,
    ResolutionBreached,
    /// Resolved in the period: the tickets MTTR averages over.
    Resolved,
    FirstContact,
    Reopened,
    /// Resolved in the period and rated by the requester's survey.
    Rated,
    /// Rated 4 or 5 (satisfied): the CSAT share is these of the rated.
    Satisfied,
    /// Open now, by age bucket (an index into the buckets of [`AGE_LIMITS_DAYS`]).
    Backlog(usize),
    Volume(Dimension, Key),
}

/// Whether the ticket was ever reopened: by a requester's reply, or moved back from resolved
/// (kept on the ticket as it happens; see `tickets::update`).
const REOPENED: &str = "t.reopened_count > 0";
/// The start of "the requester rated the ticket's resolution", closed by the caller.
const RATED: &str =
    "EXISTS (SELECT 1 FROM satisfaction_surveys v WHERE v.ticket_id = t.id AND v.score IS NOT NULL";
/// Public replies by staff (kept on the ticket as they are written).
const STAFF_REPLIES: &str = "t.staff_replies";
/// A response's time: business time where the SLA clock measured it, else wall time.
const RESPONSE_MS: &str = "CASE WHEN s.response_met_at IS NOT NULL THEN s.response_elapsed * 1000 \
     ELSE t.first_response_at - t.created_at END";
const RESOLUTION_MS: &str = "CASE WHEN s.resolution_met_at IS NOT NULL \
     THEN s.resolution_elapsed * 1000 ELSE t.resolved_at - t.created_at END";

/// A statement's text and its values, placeholders numbered as they are added.
#[derive(Debug, Default)]
struct Statement {
    text: String,
    values: Vec<Bound>,
}

#[derive(Debug, Clone)]
enum Bound {
    Int(i64),
    Text(String),
}

impl Statement {
    fn int(&mut self, value: i64) -> String {
        self.values.push(Bound::Int(value));
        format!("${}", self.values.len())
    }

    fn text_value(&mut self, value: &str) -> String {
        self.values.push(Bound::Text(value.to_owned()));
        format!("${}", self.values.len())
    }

    fn query_as<'q, T>(&'q self) -> sqlx::query::QueryAs<'q, sqlx::Any, T, sqlx::any::AnyArguments>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let mut query = sqlx::query_as(sqlx::AssertSqlSafe(self.text.as_str()));
        for value in &self.values {
            query = match value {
                Bound::Int(v) => query.bind(*v),
                Bound::Text(v) => query.bind(v.as_str()),
            };
        }
        query
    }

    /// The scope's condition on `t`.
    fn scope(&mut self, scope: &Scope) -> String {
        let Some(organizations) = &scope.organizations else {
            return "1 = 1".to_owned();
        };
        let listed: Vec<String> = organizations.iter().map(|id| self.int(*id)).collect();
        let within = if listed.is_empty() {
            "1 = 0".to_owned()
        } else {
            format!("t.organization_id IN ({})", listed.join(", "))
        };
        if scope.unowned {
            format!("({within} OR t.organization_id IS NULL)")
        } else {
            within
        }
    }

    /// The scope's condition on tickets `t`: its organizations, and of the restricted
    /// tickets only those the reader may see.
    fn ticket_scope(&mut self, scope: &Scope) -> String {
        let within = self.scope(scope);
        match scope.restricted_groups.as_deref() {
            None => within,
            Some([]) => format!("{within} AND t.restricted_group_id IS NULL"),
            Some(groups) => {
                let listed: Vec<String> = groups.iter().map(|id| self.int(*id)).collect();
                format!(
                    "{within} AND (t.restricted_group_id IS NULL OR t.restricted_group_id IN ({}))",
                    listed.join(", ")
                )
            }
        }
    }

    /// The base set's condition on `t` for the period `[from, to)`.
    fn base(&mut self, base: Base, from: i64, to: i64) -> String {
        match base {
            Base::Created => {
                let (from, to) = (self.int(from), self.int(to));
                // Every status named, so the (status, created_at) index finds the period
                // instead of a scan of all tickets.
                let every: Vec<String> = TicketStatus::ALL
                    .iter()
                    .map(|s| format!("'{}'", s.as_str()))
                    .collect();
                format!(
                    "t.status IN ({}) AND t.created_at >= {from} AND t.created_at < {to}",
                    every.join(", ")
                )
            }
            Base::Resolved => {
                let (from, to) = (self.int(from), self.int(to));
                format!(
                    "t.status IN ('resolved', 'closed') AND t.resolved_at >= {from} AND t.resolved_at < {to}"
                )
            }
            Base::Open => "t.status IN ('new', 'open', 'pending')".to_owned(),
        }
    }
}

impl Counted {
    /// The ticket set this figure is drawn from.
    pub fn base(&self) -> Base {
        match self {
            Counted::Created
            | Counted::Responded
            | Counted::ResponseMet
            | Counted::ResponseBreached
            | Counted::ResolutionMet
            | Counted::ResolutionBreached
            | Counted::Volume(..) => Base::Created,
            Counted::Resolved
            | Counted::FirstContact
            | Counted::Reopened
            | Counted::Rated
            | Counted::Satisfied => Base::Resolved,
            Counted::Backlog(_) => Base::Open,
        }
    }

    /// The condition a ticket of the base set meets to be counted; `now` dates the backlog.
    fn condition(&self, statement: &mut Statement, now: i64) -> String {
        match self {
            Counted::Created | Counted::Resolved => "1 = 1".to_owned(),
            Counted::Responded => "t.first_response_at IS NOT NULL".to_owned(),
            Counted::ResponseMet => {
                "s.response_met_at IS NOT NULL AND s.response_breached = 0".to_owned()
            }
            Counted::ResponseBreached => "s.response_breached = 1".to_owned(),
            Counted::ResolutionMet => {
                "s.resolution_met_at IS NOT NULL AND s.resolution_breached = 0".to_owned()
            }
            Counted::ResolutionBreached => "s.resolution_breached = 1".to_owned(),
            Counted::FirstContact => format!("NOT {REOPENED} AND {STAFF_REPLIES} <= 1"),
            Counted::Reopened => REOPENED.to_owned(),
            Counted::Rated => format!("{RATED})"),
            Counted::Satisfied => format!("{RATED} AND v.score >= 4)"),
            Counted::Backlog(bucket) => {
                let younger = AGE_LIMITS_DAYS
                    .get(*bucket)
                    .map(|days| statement.int(now - days * DAY_MS));
                let older = bucket
                    .checked_sub(1)
                    .and_then(|b| AGE_LIMITS_DAYS.get(b))
                    .map(|days| statement.int(now - days * DAY_MS));
                match (younger, older) {
                    (Some(y), Some(o)) => format!("t.created_at > {y} AND t.created_at <= {o}"),
                    (Some(y), None) => format!("t.created_at > {y}"),
                    (None, Some(o)) => format!("t.created_at <= {o}"),
                    (None, None) => "1 = 0".to_owned(),
                }
            }
            Counted::Volume(dimension, key) => {
                let column = dimension.column();
                match key {
                    Key::None => format!("{column} IS NULL"),
                    Key::Id(id) => format!("{column} = {}", statement.int(*id)),
                    Key::Text(text) => format!("{column} = {}", statement.text_value(text)),
                }
            }
        }
    }
}

/// Totals over the tickets created in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct CreatedTotals {
    pub created: i64,
    pub responded: i64,
    /// Summed response times of the responded tickets, in milliseconds.
    pub response_ms: i64,
    pub response_met: i64,
    pub response_breached: i64,
    pub resolution_met: i64,
    pub resolution_breached: i64,
}

/// Totals over the tickets resolved in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct ResolvedTotals {
    pub resolved: i64,
    /// Summed resolution times, in milliseconds.
    pub resolution_ms: i64,
    pub first_contact: i64,
    pub reopened: i64,
    pub rated: i64,
    pub satisfied: i64,
}

/// `SUM(CASE WHEN condition THEN 1 …)` of a figure, named `name`.
fn tally(statement: &mut Statement, counted: &Counted, now: i64, name: &str) -> String {
    let condition = counted.condition(statement, now);
    format!("CAST(COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0) AS BIGINT) AS {name}")
}

/// Totals of the tickets created in `[from, to)`.
pub async fn created_totals(
    conn: &mut AnyConnection,
    scope: &Scope,
    from: i64,
    to: i64,
) -> Result<CreatedTotals, StoreError> {
    let mut s = Statement::default();
    let base = s.base(Base::Created, from, to);
    let within = s.ticket_scope(scope);
    let figures = [
        (Counted::Responded, "responded"),
        (Counted::ResponseMet, "response_met"),
        (Counted::ResponseBreached, "response_breached"),
        (Counted::ResolutionMet, "resolution_met"),
        (Counted::ResolutionBreached, "resolution_breached"),
    ]
    .iter()
    .map(|(counted, name)| tally(&mut s, counted, to, name))
    .collect::<Vec<_>>()
    .join(", ");
    let responded = Counted::Responded.condition(&mut s, to);
    s.text = format!(
        "SELECT COUNT(*) AS created, {figures}, \
         CAST(COALESCE(SUM(CASE WHEN {responded} THEN {RESPONSE_MS} ELSE 0 END), 0) AS BIGINT) AS response_ms \
         FROM tickets t LEFT JOIN ticket_sla s ON s.ticket_id = t.id WHERE {base} AND {within}"
    );
    Ok(s.query_as().fetch_one(conn).await?)
}

/// Totals of the tickets resolved in `[from, to)`.
pub async fn resolved_totals(
    conn: &mut AnyConnection,
    scope: &Scope,
    from: i64,
    to: i64,
) -> Result<ResolvedTotals, StoreError> {
    let mut s = Statement::default();
    let base = s.base(Base::Resolved, from, to);
    let within = s.ticket_scope(scope);
    let first_contact = tally(&mut s, &Counted::FirstContact, to, "first_contact");
    let reopened = tally(&mut s, &Counted::Reopened, to, "reopened");
    let rated = tally(&mut s, &Counted::Rated, to, "rated");
    let satisfied = tally(&mut s, &Counted::Satisfied, to, "satisfied");
    s.text = format!(
        "SELECT COUNT(*) AS resolved, {first_contact}, {reopened}, {rated}, {satisfied}, \
         CAST(COALESCE(SUM({RESOLUTION_MS}), 0) AS BIGINT) AS resolution_ms \
         FROM tickets t LEFT JOIN ticket_sla s ON s.ticket_id = t.id WHERE {base} AND {within}"
    );
    Ok(s.query_as().fetch_one(conn).await?)
}

/// Open tickets per age bucket at `now`, youngest first.
pub async fn backlog(
    conn: &mut AnyConnection,
    scope: &Scope,
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut s = Statement::default();
    let base = s.base(Base::Open, now, now);
    let within = s.ticket_scope(scope);
    let buckets = (0..=AGE_LIMITS_DAYS.len())
        .map(|b| tally(&mut s, &Counted::Backlog(b), now, &format!("b{b}")))
        .collect::<Vec<_>>()
        .join(", ");
    s.text = format!("SELECT {buckets} FROM tickets t WHERE {base} AND {within}");
    let row: (i64, i64, i64, i64, i64) = s.query_as().fetch_one(conn).await?;
    Ok(vec![row.0, row.1, row.2, row.3, row.4])
}

/// One value of a volume: its key (an id or a channel as text; none), label and count.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VolumeRow {
    pub key: Option<String>,
    pub label: Option<String>,
    pub tickets: i64,
}

/// Tickets created in `[from, to)` by `dimension`, most first.
pub async fn volume(
    conn: &mut AnyConnection,
    scope: &Scope,
    dimension: Dimension,
    from: i64,
    to: i64,
) -> Result<Vec<VolumeRow>, StoreError> {
    let mut s = Statement::default();
    let base = s.base(Base::Created, from, to);
    let within = s.ticket_scope(scope);
    let (key, label, join) = dimension.key_and_label();
    s.text = format!(
        "SELECT {key} AS key, {label} AS label, COUNT(*) AS tickets FROM tickets t {join} \
         WHERE {base} AND {within} GROUP BY {key}, {label} ORDER BY COUNT(*) DESC, {label}"
    );
    Ok(s.query_as().fetch_all(conn).await?)
}

/// Tickets created and resolved per quarter hour (its start, in milliseconds) in `[from,
/// to)`, for charts in any time zone: every zone's days begin on a quarter hour.
pub async fn per_quarter_hour(
    conn: &mut AnyConnection,
    scope: &Scope,
    base: Base,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let column = match base {
        Base::Resolved => "t.resolved_at",
        Base::Created | Base::Open => "t.created_at",
    };
    let mut s = Statement::default();
    let condition = s.base(base, from, to);
    let within = s.ticket_scope(scope);
    s.text = format!(
        "SELECT ({column} / {QUARTER_MS}) * {QUARTER_MS} AS at, COUNT(*) AS tickets FROM tickets t \
         WHERE {condition} AND {within} GROUP BY ({column} / {QUARTER_MS}) * {QUARTER_MS}"
    );
    Ok(s.query_as().fetch_all(conn).await?)
}

/// One counted ticket, for a drill-down.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CountedTicket {
    pub id: i64,
    pub ticket_type: String,
    pub number: i64,
    pub title: String,
}

/// The tickets `counted` counts over `[from, to)` (at `now` for the backlog), by id after
/// `after`, at most `limit`.
#[allow(clippy::too_many_arguments)]
pub async fn counted_tickets(
    conn: &mut AnyConnection,
    scope: &Scope,
    counted: &Counted,
    from: i64,
    to: i64,
    now: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<CountedTicket>, StoreError> {
    let mut s = Statement::default();
    let base = s.base(counted.base(), from, to);
    let within = s.ticket_scope(scope);
    let condition = counted.condition(&mut s, now);
    let (after, limit) = (s.int(after), s.int(limit));
    s.text = format!(
        "SELECT t.id, t.ticket_type, t.number, t.title FROM tickets t \
         LEFT JOIN ticket_sla s ON s.ticket_id = t.id \
         WHERE {base} AND {within} AND {condition} AND t.id > {after} ORDER BY t.id LIMIT {limit}"
    );
    Ok(s.query_as().fetch_all(conn).await?)
}

/// Monitors of the scope (by their organization) and their outage minutes in a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct OutageTotals {
    pub outages: i64,
    /// Milliseconds of outage inside `[from, to)`, an open outage until `now`.
    pub down_ms: i64,
}

/// The ids of the monitors of the scope.
pub async fn monitor_ids(conn: &mut AnyConnection, scope: &Scope) -> Result<Vec<i64>, StoreError> {
    let mut s = Statement::default();
    // Named `t` like a ticket: the scope's condition reads `t.organization_id`.
    let within = s.scope(scope);
    s.text = format!("SELECT t.id FROM monitors t WHERE {within} ORDER BY t.id");
    let rows: Vec<(i64,)> = s.query_as().fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// Outages of the scope's monitors overlapping `[from, to)` and their time inside it.
pub async fn outages(
    conn: &mut AnyConnection,
    scope: &Scope,
    from: i64,
    to: i64,
    now: i64,
) -> Result<OutageTotals, StoreError> {
    let mut s = Statement::default();
    let within = s.scope(scope);
    let (from, to, now) = (s.int(from), s.int(to), s.int(now));
    let end = format!("COALESCE(o.ended_at, {now})");
    s.text = format!(
        "SELECT COUNT(*) AS outages, CAST(COALESCE(SUM( \
           (CASE WHEN {end} < {to} THEN {end} ELSE {to} END) - \
           (CASE WHEN o.started_at > {from} THEN o.started_at ELSE {from} END)), 0) AS BIGINT) AS down_ms \
         FROM monitor_outages o JOIN monitors t ON t.id = o.monitor_id \
         WHERE {within} AND o.started_at < {to} AND {end} > {from}"
    );
    Ok(s.query_as().fetch_one(conn).await?)
}

/// Open incidents of the scope per priority rank.
pub async fn open_incidents(
    conn: &mut AnyConnection,
    scope: &Scope,
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut s = Statement::default();
    let open = s.base(Base::Open, 0, 0);
    let within = s.ticket_scope(scope);
    s.text = format!(
        "SELECT t.priority, COUNT(*) FROM tickets t WHERE {open} AND t.ticket_type = 'incident' \
         AND {within} GROUP BY t.priority ORDER BY t.priority"
    );
    Ok(s.query_as().fetch_all(conn).await?)
}

/// Tickets of the scope with a response or resolution target missed in `[from, to)`.
pub async fn breaches(
    conn: &mut AnyConnection,
    scope: &Scope,
    from: i64,
    to: i64,
) -> Result<i64, StoreError> {
    let mut s = Statement::default();
    let within = s.ticket_scope(scope);
    let (from, to) = (s.int(from), s.int(to));
    s.text = format!(
        "SELECT COUNT(*) FROM ticket_sla s JOIN tickets t ON t.id = s.ticket_id WHERE {within} AND \
         ((s.response_breached = 1 AND s.response_due_at >= {from} AND s.response_due_at < {to}) \
         OR (s.resolution_breached = 1 AND s.resolution_due_at >= {from} AND s.resolution_due_at < {to}))"
    );
    let (count,): (i64,) = s.query_as().fetch_one(conn).await?;
    Ok(count)
}
