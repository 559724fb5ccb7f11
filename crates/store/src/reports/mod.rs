//! The reports' aggregate queries. Every counted figure is a ticket set ([`Base`]) and a
//! condition on it ([`Counted::condition`]); the totals, the drill-down lists and the daily
//! roll-ups ([`rollups`]) are built from the same SQL texts, so a drill-down always lists
//! exactly the tickets counted.
//!
//! A period is counted from the roll-ups for its whole UTC days that are rolled up and
//! unchanged since, and from the tickets for the rest: its edges (in the reader's time zone),
//! the days not rolled up yet (today), the days changed since, and restricted tickets.

use opsdesk_domain::ticket::TicketStatus;
use sqlx::any::AnyArguments;
use sqlx::{AnyConnection, Arguments};

use crate::error::StoreError;

mod figures;
mod rollups;

use figures::{CREATED, Quarters, RESOLVED, StillOpen, Volume, over_period};

pub use rollups::{days_to_fold, fold_day};

/// Charts count per quarter hour: every time zone's days begin on one.
pub const QUARTER_MS: i64 = 900_000;
pub const DAY_MS: i64 = 86_400_000;

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

impl Scope {
    /// Whether any restricted ticket may count: they are never rolled up.
    fn sees_restricted(&self) -> bool {
        self.restricted_groups
            .as_ref()
            .is_none_or(|g| !g.is_empty())
    }
}

/// Which of a period's tickets a statement counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    All,
    /// Those a roll-up counts.
    Unrestricted,
    /// Those no roll-up counts.
    Restricted,
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

    /// The column's value as the reports key it: as text.
    fn key(self) -> &'static str {
        match self {
            Dimension::Category => "CAST(t.category_id AS TEXT)",
            Dimension::Organization => "CAST(t.organization_id AS TEXT)",
            Dimension::Group => "CAST(t.group_id AS TEXT)",
            Dimension::Agent => "CAST(t.assignee_id AS TEXT)",
            Dimension::Channel => "t.source",
        }
    }

    /// The table naming the dimension's ids; none for channels, which name themselves.
    fn names(self) -> Option<&'static str> {
        match self {
            Dimension::Category => Some("categories"),
            Dimension::Organization => Some("organizations"),
            Dimension::Group => Some("groups"),
            Dimension::Agent => Some("users"),
            Dimension::Channel => None,
        }
    }

    /// How the roll-ups name the dimension.
    fn rollup_name(self) -> &'static str {
        match self {
            Dimension::Category => "category",
            Dimension::Organization => "organization",
            Dimension::Group => "group",
            Dimension::Agent => "agent",
            Dimension::Channel => "channel",
        }
    }

    /// The label of key `key` (a text expression) and the join it needs.
    fn label_of(self, key: &str) -> (String, String) {
        match self.names() {
            Some(table) => (
                "x.name".to_owned(),
                format!("LEFT JOIN {table} x ON x.id = CAST({key} AS BIGINT)"),
            ),
            None => (key.to_owned(), String::new()),
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

/// The creation times `[from, to)` of the tickets of age bucket `bucket` at `now` (created
/// after `now` less the bucket's upper limit, at or before `now` less its lower limit);
/// none for a bucket that does not exist.
fn created_in_age(bucket: usize, now: i64) -> Option<(i64, i64)> {
    let after = |days: &i64| now - days * DAY_MS + 1;
    let from = AGE_LIMITS_DAYS.get(bucket).map_or(0, after);
    let to = match bucket.checked_sub(1) {
        None => i64::MAX,
        Some(younger) => after(AGE_LIMITS_DAYS.get(younger)?),
    };
    Some((from, to))
}

/// Open tickets `t`.
const OPEN: &str = "t.status IN ('new', 'open', 'pending')";

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

    /// The statement's values, bound in order.
    fn arguments(&self) -> Result<AnyArguments, StoreError> {
        let mut arguments = AnyArguments::default();
        for value in &self.values {
            match value {
                Bound::Int(v) => arguments.add(*v),
                Bound::Text(v) => arguments.add(v.clone()),
            }
            .map_err(|e| StoreError::Sql(sqlx::Error::Encode(e)))?;
        }
        Ok(arguments)
    }

    fn query_as<T>(
        &self,
    ) -> Result<sqlx::query::QueryAs<'_, sqlx::Any, T, AnyArguments>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        Ok(sqlx::query_as_with(
            sqlx::AssertSqlSafe(self.text.as_str()),
            self.arguments()?,
        ))
    }

    /// Runs the statement, for its changes.
    async fn execute(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        sqlx::query_with(sqlx::AssertSqlSafe(self.text.as_str()), self.arguments()?)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The scope's condition on `t`.
    fn scope(&mut self, scope: &Scope) -> String {
        self.organizations(scope, "t.organization_id", "t.organization_id IS NULL")
    }

    /// The scope's organizations as a condition on `column`; `unowned` is the condition of
    /// no organization.
    fn organizations(&mut self, scope: &Scope, column: &str, unowned: &str) -> String {
        let Some(organizations) = &scope.organizations else {
            return "1 = 1".to_owned();
        };
        let listed: Vec<String> = organizations.iter().map(|id| self.int(*id)).collect();
        let within = if listed.is_empty() {
            "1 = 0".to_owned()
        } else {
            format!("{column} IN ({})", listed.join(", "))
        };
        if scope.unowned {
            format!("({within} OR {unowned})")
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

    /// The base set's condition on `t` for the period `[from, to)`, of the tickets `part`.
    fn part(&mut self, base: Base, part: Part, from: i64, to: i64) -> String {
        match part {
            Part::All => self.base(base, from, to),
            Part::Unrestricted => {
                format!(
                    "{} AND t.restricted_group_id IS NULL",
                    self.base(base, from, to)
                )
            }
            // Few: found by their own index, not by the period's.
            Part::Restricted => {
                let (from, to) = (self.int(from), self.int(to));
                let period = match base {
                    Base::Created => format!("t.created_at >= {from} AND t.created_at < {to}"),
                    Base::Resolved => format!(
                        "t.status IN ('resolved', 'closed') AND t.resolved_at >= {from} AND t.resolved_at < {to}"
                    ),
                    Base::Open => OPEN.to_owned(),
                };
                format!("t.restricted_group_id IS NOT NULL AND {period}")
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
            Base::Open => OPEN.to_owned(),
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
            Counted::Backlog(bucket) => match created_in_age(*bucket, now) {
                Some((from, to)) => {
                    let (from, to) = (statement.int(from), statement.int(to));
                    format!("t.created_at >= {from} AND t.created_at < {to}")
                }
                None => "1 = 0".to_owned(),
            },
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

/// The columns of [`CreatedTotals`], in the order [`created_figures`] counts them.
const CREATED_COLUMNS: [&str; 7] = [
    "created",
    "responded",
    "response_met",
    "response_breached",
    "resolution_met",
    "resolution_breached",
    "response_ms",
];

/// The columns of [`ResolvedTotals`], in the order [`resolved_figures`] counts them.
const RESOLVED_COLUMNS: [&str; 6] = [
    "resolved",
    "first_contact",
    "reopened",
    "rated",
    "satisfied",
    "resolution_ms",
];

/// What [`CREATED_COLUMNS`] count of tickets `t` and their SLA clocks `s`.
fn created_figures(s: &mut Statement) -> String {
    let figures = [
        (Counted::Responded, "responded"),
        (Counted::ResponseMet, "response_met"),
        (Counted::ResponseBreached, "response_breached"),
        (Counted::ResolutionMet, "resolution_met"),
        (Counted::ResolutionBreached, "resolution_breached"),
    ]
    .iter()
    .map(|(counted, name)| tally(s, counted, 0, name))
    .collect::<Vec<_>>()
    .join(", ");
    let responded = Counted::Responded.condition(s, 0);
    format!(
        "COUNT(*) AS created, {figures}, \
         CAST(COALESCE(SUM(CASE WHEN {responded} THEN {RESPONSE_MS} ELSE 0 END), 0) AS BIGINT) AS response_ms"
    )
}

/// What [`RESOLVED_COLUMNS`] count of tickets `t` and their SLA clocks `s`.
fn resolved_figures(s: &mut Statement) -> String {
    let figures = [
        (Counted::FirstContact, "first_contact"),
        (Counted::Reopened, "reopened"),
        (Counted::Rated, "rated"),
        (Counted::Satisfied, "satisfied"),
    ]
    .iter()
    .map(|(counted, name)| tally(s, counted, 0, name))
    .collect::<Vec<_>>()
    .join(", ");
    format!(
        "COUNT(*) AS resolved, {figures}, \
         CAST(COALESCE(SUM({RESOLUTION_MS}), 0) AS BIGINT) AS resolution_ms"
    )
}

/// One value of a volume: its key (an id or a channel as text; none), label and count.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VolumeRow {
    pub key: Option<String>,
    pub label: Option<String>,
    pub tickets: i64,
}

/// Totals of the tickets created in `[from, to)`.
pub async fn created_totals(
    conn: &mut AnyConnection,
    scope: &Scope,
    from: i64,
    to: i64,
) -> Result<CreatedTotals, StoreError> {
    over_period(&CREATED, conn, scope, from, to).await
}

/// Totals of the tickets resolved in `[from, to)`.
pub async fn resolved_totals(
    conn: &mut AnyConnection,
    scope: &Scope,
    from: i64,
    to: i64,
) -> Result<ResolvedTotals, StoreError> {
    over_period(&RESOLVED, conn, scope, from, to).await
}

/// Open tickets per age bucket at `now`, youngest first.
pub async fn backlog(
    conn: &mut AnyConnection,
    scope: &Scope,
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut ages = Vec::new();
    for bucket in 0..=AGE_LIMITS_DAYS.len() {
        let (from, to) = created_in_age(bucket, now).unwrap_or_default();
        ages.push(over_period(&StillOpen, conn, scope, from, to).await?);
    }
    Ok(ages)
}

/// Tickets created in `[from, to)` by `dimension`, most first (then by label, none first).
pub async fn volume(
    conn: &mut AnyConnection,
    scope: &Scope,
    dimension: Dimension,
    from: i64,
    to: i64,
) -> Result<Vec<VolumeRow>, StoreError> {
    let mut rows = over_period(&Volume(dimension), conn, scope, from, to).await?;
    rows.sort_by(|a, b| {
        b.tickets
            .cmp(&a.tickets)
            .then_with(|| a.label.cmp(&b.label))
    });
    Ok(rows)
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
    over_period(&Quarters(base), conn, scope, from, to).await
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
    Ok(s.query_as()?.fetch_all(conn).await?)
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
    let rows: Vec<(i64,)> = s.query_as()?.fetch_all(conn).await?;
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
    Ok(s.query_as()?.fetch_one(conn).await?)
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
    Ok(s.query_as()?.fetch_all(conn).await?)
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
    let (count,): (i64,) = s.query_as()?.fetch_one(conn).await?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_buckets_meet_end_to_end_and_none_lies_beyond_them() {
        let now = 100 * DAY_MS + 12_345;
        let ages: Vec<(i64, i64)> = (0..=AGE_LIMITS_DAYS.len())
            .map(|bucket| created_in_age(bucket, now).unwrap_or_default())
            .collect();
        // Youngest first: a ticket created exactly one day ago is in the second bucket.
        assert_eq!(ages[0], (now - DAY_MS + 1, i64::MAX));
        assert_eq!(ages[1], (now - 3 * DAY_MS + 1, now - DAY_MS + 1));
        assert_eq!(ages[4], (0, now - 30 * DAY_MS + 1));
        for pair in ages.windows(2) {
            assert_eq!(pair[0].0, pair[1].1, "{pair:?}");
        }
        assert_eq!(created_in_age(AGE_LIMITS_DAYS.len() + 1, now), None);
    }
}
