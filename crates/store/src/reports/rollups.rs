//! Daily roll-ups of the report figures (migration 0058): what [`super::Figure`]s read for
//! whole UTC days instead of every ticket, and their folding once a day has ended.
//!
//! The triggers of migration 0058 record in `rollup_changes` every day whose figures a write
//! changes; a day is read from its roll-ups only while it is folded and unchanged since.

use std::collections::BTreeSet;

use sqlx::AnyConnection;

use super::{
    Base, CREATED_COLUMNS, DAY_MS, Dimension, OPEN, Part, QUARTER_MS, RESOLVED_COLUMNS, Statement,
    created_figures, resolved_figures,
};
use crate::db::Backend;
use crate::error::StoreError;

/// How a period is counted: the UTC days `[first, end)` of `rolled` from their roll-ups,
/// the milliseconds `[from, to)` of `counted` from the tickets.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Plan {
    pub rolled: Vec<(i64, i64)>,
    pub counted: Vec<(i64, i64)>,
}

impl Plan {
    /// Splits `[from, to)` around `usable` (ascending days whose roll-ups are current).
    fn split(from: i64, to: i64, usable: &[i64]) -> Plan {
        let mut plan = Plan::default();
        let mut cursor = from;
        let mut days = usable
            .iter()
            .copied()
            .filter(|day| day * DAY_MS >= from && (day + 1) * DAY_MS <= to)
            .peekable();
        while let Some(first) = days.next() {
            let mut end = first + 1;
            while days.next_if_eq(&end).is_some() {
                end += 1;
            }
            if cursor < first * DAY_MS {
                plan.counted.push((cursor, first * DAY_MS));
            }
            plan.rolled.push((first, end));
            cursor = end * DAY_MS;
        }
        if cursor < to {
            plan.counted.push((cursor, to));
        }
        plan
    }
}

/// How `[from, to)` is counted now.
pub(super) async fn plan(conn: &mut AnyConnection, from: i64, to: i64) -> Result<Plan, StoreError> {
    let (first, end) = (
        (from + DAY_MS - 1).div_euclid(DAY_MS),
        to.div_euclid(DAY_MS),
    );
    if first >= end {
        return Ok(Plan::split(from, to, &[]));
    }
    let usable: Vec<i64> = sqlx::query_scalar(
        "SELECT d.day FROM rollup_days d WHERE d.day >= $1 AND d.day < $2 \
         AND NOT EXISTS (SELECT 1 FROM rollup_changes c WHERE c.day = d.day) ORDER BY d.day",
    )
    .bind(first)
    .bind(end)
    .fetch_all(conn)
    .await?;
    Ok(Plan::split(from, to, &usable))
}

/// The days before `today` to fold: those changed since they were folded, or never folded
/// (from the first day anything was recorded on).
pub async fn days_to_fold(conn: &mut AnyConnection, today: i64) -> Result<Vec<i64>, StoreError> {
    let changed: Vec<i64> =
        sqlx::query_scalar("SELECT DISTINCT day FROM rollup_changes WHERE day < $1")
            .bind(today)
            .fetch_all(&mut *conn)
            .await?;
    let folded: BTreeSet<i64> = sqlx::query_scalar("SELECT day FROM rollup_days")
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect();
    let mut due: BTreeSet<i64> = changed.into_iter().collect();
    let first = due.first().into_iter().chain(folded.first()).min().copied();
    if let Some(first) = first {
        due.extend((first..today).filter(|day| !folded.contains(day)));
    }
    Ok(due.into_iter().collect())
}

/// Rolls up `day` again from its tickets, and forgets the changes recorded for it, at `now`.
///
/// On PostgreSQL the fold reads one snapshot (repeatable read), so it forgets exactly the
/// changes it saw: one committed while it ran stays recorded for the next fold. It returns
/// `false` without folding when another node is folding the same day.
pub async fn fold_day(conn: &mut AnyConnection, day: i64, now: i64) -> Result<bool, StoreError> {
    if Backend::of(conn) == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *conn)
            .await?;
        let ours: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(7320152, $1)")
            .bind(i32::try_from(day).unwrap_or_default())
            .fetch_one(&mut *conn)
            .await?;
        if !ours {
            return Ok(false);
        }
    }
    let per_day = DAY_MS / QUARTER_MS;
    for cleared in [
        "DELETE FROM rollup_created WHERE day = $1",
        "DELETE FROM rollup_resolved WHERE day = $1",
        "DELETE FROM rollup_volumes WHERE dimension IN \
         ('category', 'organization', 'group', 'agent', 'channel') AND day = $1",
    ] {
        sqlx::query(cleared).bind(day).execute(&mut *conn).await?;
    }
    sqlx::query("DELETE FROM rollup_quarters WHERE quarter >= $1 AND quarter < $2")
        .bind(day * per_day)
        .bind((day + 1) * per_day)
        .execute(&mut *conn)
        .await?;
    let (from, to) = (day * DAY_MS, (day + 1) * DAY_MS);
    let organization = "COALESCE(t.organization_id, 0)";
    let tickets_and_clocks = "tickets t LEFT JOIN ticket_sla s ON s.ticket_id = t.id";

    let mut s = Statement::default();
    let day_value = s.int(day);
    let base = s.part(Base::Created, Part::Unrestricted, from, to);
    let figures = created_figures(&mut s);
    s.text = format!(
        "INSERT INTO rollup_created (day, organization_key, {}, still_open) \
         SELECT {day_value}, {organization}, {figures}, \
         SUM(CASE WHEN {OPEN} THEN 1 ELSE 0 END) FROM {tickets_and_clocks} \
         WHERE {base} GROUP BY {organization}",
        CREATED_COLUMNS.join(", ")
    );
    s.execute(conn).await?;

    let mut s = Statement::default();
    let day_value = s.int(day);
    let base = s.part(Base::Resolved, Part::Unrestricted, from, to);
    let figures = resolved_figures(&mut s);
    s.text = format!(
        "INSERT INTO rollup_resolved (day, organization_key, {}) \
         SELECT {day_value}, {organization}, {figures} FROM {tickets_and_clocks} \
         WHERE {base} GROUP BY {organization}",
        RESOLVED_COLUMNS.join(", ")
    );
    s.execute(conn).await?;

    for dimension in Dimension::ALL {
        let mut s = Statement::default();
        let name = s.text_value(dimension.rollup_name());
        let day_value = s.int(day);
        let base = s.part(Base::Created, Part::Unrestricted, from, to);
        let key = format!("COALESCE({}, '')", dimension.key());
        s.text = format!(
            "INSERT INTO rollup_volumes (dimension, day, organization_key, key, tickets) \
             SELECT {name}, {day_value}, {organization}, {key}, COUNT(*) FROM tickets t \
             WHERE {base} GROUP BY {organization}, {key}"
        );
        s.execute(conn).await?;
    }

    // Created first; the resolved join the same rows or add their own.
    for (base, column, counts) in [
        (Base::Created, "t.created_at", "COUNT(*), 0"),
        (Base::Resolved, "t.resolved_at", "0, COUNT(*)"),
    ] {
        let mut s = Statement::default();
        let condition = s.part(base, Part::Unrestricted, from, to);
        let quarter = format!("{column} / {QUARTER_MS}");
        s.text = format!(
            "INSERT INTO rollup_quarters (quarter, organization_key, created, resolved) \
             SELECT {quarter}, {organization}, {counts} FROM tickets t WHERE {condition} \
             GROUP BY {quarter}, {organization} \
             ON CONFLICT (quarter, organization_key) DO UPDATE SET resolved = excluded.resolved"
        );
        s.execute(conn).await?;
    }

    sqlx::query("DELETE FROM rollup_changes WHERE day = $1")
        .bind(day)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO rollup_days (day, folded_at) VALUES ($1, $2) \
         ON CONFLICT (day) DO UPDATE SET folded_at = excluded.folded_at",
    )
    .bind(day)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    #[test]
    fn a_period_is_rolled_up_on_its_whole_usable_days_and_counted_elsewhere() {
        // 10 Jan 05:30 to 15 Jan 05:30 (a zone 5½ hours east of UTC): days 10–14 are whole
        // from 11 to 14; 12 is changed (not usable).
        let (from, to) = (10 * DAY_MS + 5 * H + H / 2, 15 * DAY_MS + 5 * H + H / 2);
        let plan = Plan::split(from, to, &[9, 11, 13, 14, 15]);
        assert_eq!(plan.rolled, vec![(11, 12), (13, 15)]);
        assert_eq!(
            plan.counted,
            vec![
                (from, 11 * DAY_MS),
                (12 * DAY_MS, 13 * DAY_MS),
                (15 * DAY_MS, to)
            ]
        );
    }

    #[test]
    fn a_period_without_usable_days_is_counted_whole() {
        let plan = Plan::split(DAY_MS, 3 * DAY_MS, &[]);
        assert!(plan.rolled.is_empty());
        assert_eq!(plan.counted, vec![(DAY_MS, 3 * DAY_MS)]);
        let aligned = Plan::split(DAY_MS, 3 * DAY_MS, &[1, 2]);
        assert_eq!(aligned.rolled, vec![(1, 3)]);
        assert!(aligned.counted.is_empty());
    }

    proptest::proptest! {
        /// Every millisecond of the period is counted once: by a roll-up or from tickets.
        #[test]
        fn every_moment_is_counted_exactly_once(
            from in 0i64..(20 * DAY_MS),
            length in 0i64..(20 * DAY_MS),
            usable in proptest::collection::btree_set(0i64..45, 0..30),
        ) {
            let to = from + length;
            let usable: Vec<i64> = usable.into_iter().collect();
            let plan = Plan::split(from, to, &usable);
            let mut pieces: Vec<(i64, i64)> = plan.counted.clone();
            pieces.extend(plan.rolled.iter().map(|(a, b)| (a * DAY_MS, b * DAY_MS)));
            pieces.sort();
            let mut cursor = from;
            for (a, b) in pieces {
                proptest::prop_assert_eq!(a, cursor);
                proptest::prop_assert!(b > a);
                cursor = b;
            }
            proptest::prop_assert_eq!(cursor, to);
            for (a, b) in &plan.rolled {
                proptest::prop_assert!((*a..*b).all(|d| usable.contains(&d)));
            }
        }
    }
}
