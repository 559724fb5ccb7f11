//! Each figure a report counts, as a [`Figure`]: from the tickets, from the roll-ups of
//! whole days, and summed over a period ([`over_period`]).

use super::*;

/// A figure of a period: counted from its tickets, read from its days' roll-ups, and summed.
pub(super) trait Figure {
    type Value: Default;

    /// Counts the tickets `part` in `[from, to)`.
    async fn count(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        part: Part,
        from: i64,
        to: i64,
    ) -> Result<Self::Value, StoreError>;

    /// Sums the roll-ups of the UTC days `[first, end)`.
    async fn roll_up(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        first: i64,
        end: i64,
    ) -> Result<Self::Value, StoreError>;

    fn add(&self, total: &mut Self::Value, more: Self::Value);
}

/// `figure` over `[from, to)`: its rolled-up days from their roll-ups and restricted tickets,
/// the rest from the tickets.
pub(super) async fn over_period<F: Figure>(
    figure: &F,
    conn: &mut AnyConnection,
    scope: &Scope,
    from: i64,
    to: i64,
) -> Result<F::Value, StoreError> {
    let plan = rollups::plan(conn, from, to).await?;
    let mut total = F::Value::default();
    for (from, to) in plan.counted {
        figure.add(
            &mut total,
            figure.count(conn, scope, Part::All, from, to).await?,
        );
    }
    for (first, end) in plan.rolled {
        figure.add(&mut total, figure.roll_up(conn, scope, first, end).await?);
        if scope.sees_restricted() {
            let restricted = figure
                .count(conn, scope, Part::Restricted, first * DAY_MS, end * DAY_MS)
                .await?;
            figure.add(&mut total, restricted);
        }
    }
    Ok(total)
}

/// Sums of roll-up columns, named as the columns.
fn sums(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| format!("CAST(COALESCE(SUM(r.{c}), 0) AS BIGINT) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The roll-ups `r` of the days `[first, end)` in `scope`.
fn rolled_days(s: &mut Statement, scope: &Scope, first: i64, end: i64) -> String {
    let (first, end) = (s.int(first), s.int(end));
    let within = s.organizations(scope, "r.organization_key", "r.organization_key = 0");
    format!("r.day >= {first} AND r.day < {end} AND {within}")
}

/// Totals over a base set: counted by `figures` from tickets `t` and their SLA clocks `s`,
/// rolled up as `columns` of `table`.
pub(super) struct Totals<T> {
    base: Base,
    figures: fn(&mut Statement) -> String,
    columns: &'static [&'static str],
    table: &'static str,
    add: fn(&mut T, T),
}

pub(super) const CREATED: Totals<CreatedTotals> = Totals {
    base: Base::Created,
    figures: created_figures,
    columns: &CREATED_COLUMNS,
    table: "rollup_created",
    add: CreatedTotals::absorb,
};

pub(super) const RESOLVED: Totals<ResolvedTotals> = Totals {
    base: Base::Resolved,
    figures: resolved_figures,
    columns: &RESOLVED_COLUMNS,
    table: "rollup_resolved",
    add: ResolvedTotals::absorb,
};

impl CreatedTotals {
    fn absorb(&mut self, more: CreatedTotals) {
        self.created += more.created;
        self.responded += more.responded;
        self.response_ms += more.response_ms;
        self.response_met += more.response_met;
        self.response_breached += more.response_breached;
        self.resolution_met += more.resolution_met;
        self.resolution_breached += more.resolution_breached;
    }
}

impl ResolvedTotals {
    fn absorb(&mut self, more: ResolvedTotals) {
        self.resolved += more.resolved;
        self.resolution_ms += more.resolution_ms;
        self.first_contact += more.first_contact;
        self.reopened += more.reopened;
        self.rated += more.rated;
        self.satisfied += more.satisfied;
    }
}

impl<T> Figure for Totals<T>
where
    T: Default + Send + Unpin + for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    type Value = T;

    async fn count(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        part: Part,
        from: i64,
        to: i64,
    ) -> Result<T, StoreError> {
        let mut s = Statement::default();
        let base = s.part(self.base, part, from, to);
        let within = s.ticket_scope(scope);
        let figures = (self.figures)(&mut s);
        s.text = format!(
            "SELECT {figures} FROM tickets t LEFT JOIN ticket_sla s ON s.ticket_id = t.id \
             WHERE {base} AND {within}"
        );
        Ok(s.query_as()?.fetch_one(conn).await?)
    }

    async fn roll_up(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        first: i64,
        end: i64,
    ) -> Result<T, StoreError> {
        let mut s = Statement::default();
        let days = rolled_days(&mut s, scope, first, end);
        s.text = format!(
            "SELECT {} FROM {} r WHERE {days}",
            sums(self.columns),
            self.table
        );
        Ok(s.query_as()?.fetch_one(conn).await?)
    }

    fn add(&self, total: &mut T, more: T) {
        (self.add)(total, more);
    }
}

/// The volume by one dimension.
pub(super) struct Volume(pub(super) Dimension);

impl Volume {
    /// `counts` (a statement giving `key` and `tickets`) with each key's label.
    fn labelled(&self, counts: &str) -> String {
        let (label, join) = self.0.label_of("k.key");
        format!(
            "SELECT k.key AS key, {label} AS label, k.tickets AS tickets FROM ({counts}) k {join}"
        )
    }
}

impl Figure for Volume {
    type Value = Vec<VolumeRow>;

    async fn count(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        part: Part,
        from: i64,
        to: i64,
    ) -> Result<Vec<VolumeRow>, StoreError> {
        let mut s = Statement::default();
        let base = s.part(Base::Created, part, from, to);
        let within = s.ticket_scope(scope);
        let key = self.0.key();
        s.text = self.labelled(&format!(
            "SELECT {key} AS key, COUNT(*) AS tickets FROM tickets t \
             WHERE {base} AND {within} GROUP BY {key}"
        ));
        Ok(s.query_as()?.fetch_all(conn).await?)
    }

    async fn roll_up(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        first: i64,
        end: i64,
    ) -> Result<Vec<VolumeRow>, StoreError> {
        let mut s = Statement::default();
        let dimension = s.text_value(self.0.rollup_name());
        let days = rolled_days(&mut s, scope, first, end);
        s.text = self.labelled(&format!(
            "SELECT NULLIF(r.key, '') AS key, CAST(SUM(r.tickets) AS BIGINT) AS tickets \
             FROM rollup_volumes r WHERE r.dimension = {dimension} AND {days} \
             GROUP BY NULLIF(r.key, '')"
        ));
        Ok(s.query_as()?.fetch_all(conn).await?)
    }

    fn add(&self, total: &mut Vec<VolumeRow>, more: Vec<VolumeRow>) {
        for row in more {
            match total.iter_mut().find(|r| r.key == row.key) {
                Some(counted) => counted.tickets += row.tickets,
                None => total.push(row),
            }
        }
    }
}

/// Tickets created or resolved per quarter hour.
pub(super) struct Quarters(pub(super) Base);

impl Figure for Quarters {
    type Value = Vec<(i64, i64)>;

    async fn count(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        part: Part,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let column = match self.0 {
            Base::Resolved => "t.resolved_at",
            Base::Created | Base::Open => "t.created_at",
        };
        let mut s = Statement::default();
        let condition = s.part(self.0, part, from, to);
        let within = s.ticket_scope(scope);
        s.text = format!(
            "SELECT ({column} / {QUARTER_MS}) * {QUARTER_MS} AS at, COUNT(*) AS tickets FROM tickets t \
             WHERE {condition} AND {within} GROUP BY ({column} / {QUARTER_MS}) * {QUARTER_MS}"
        );
        Ok(s.query_as()?.fetch_all(conn).await?)
    }

    async fn roll_up(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        first: i64,
        end: i64,
    ) -> Result<Vec<(i64, i64)>, StoreError> {
        let column = match self.0 {
            Base::Resolved => "r.resolved",
            Base::Created | Base::Open => "r.created",
        };
        let mut s = Statement::default();
        let per_day = DAY_MS / QUARTER_MS;
        let (first, end) = (s.int(first * per_day), s.int(end * per_day));
        let within = s.organizations(scope, "r.organization_key", "r.organization_key = 0");
        s.text = format!(
            "SELECT r.quarter * {QUARTER_MS} AS at, CAST(SUM({column}) AS BIGINT) AS tickets \
             FROM rollup_quarters r WHERE r.quarter >= {first} AND r.quarter < {end} \
             AND {column} > 0 AND {within} GROUP BY r.quarter"
        );
        Ok(s.query_as()?.fetch_all(conn).await?)
    }

    fn add(&self, total: &mut Vec<(i64, i64)>, more: Vec<(i64, i64)>) {
        total.extend(more);
    }
}

/// Tickets created in the period and open now.
pub(super) struct StillOpen;

impl Figure for StillOpen {
    type Value = i64;

    async fn count(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        part: Part,
        from: i64,
        to: i64,
    ) -> Result<i64, StoreError> {
        let mut s = Statement::default();
        // Open counted, not filtered on: the period's index, not the open tickets', finds them.
        let base = s.part(Base::Created, part, from, to);
        let within = s.ticket_scope(scope);
        s.text = format!(
            "SELECT CAST(COALESCE(SUM(CASE WHEN {OPEN} THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM tickets t WHERE {base} AND {within}"
        );
        let (open,): (i64,) = s.query_as()?.fetch_one(conn).await?;
        Ok(open)
    }

    async fn roll_up(
        &self,
        conn: &mut AnyConnection,
        scope: &Scope,
        first: i64,
        end: i64,
    ) -> Result<i64, StoreError> {
        let mut s = Statement::default();
        let days = rolled_days(&mut s, scope, first, end);
        s.text = format!(
            "SELECT CAST(COALESCE(SUM(r.still_open), 0) AS BIGINT) FROM rollup_created r WHERE {days}"
        );
        let (open,): (i64,) = s.query_as()?.fetch_one(conn).await?;
        Ok(open)
    }

    fn add(&self, total: &mut i64, more: i64) {
        *total += more;
    }
}
