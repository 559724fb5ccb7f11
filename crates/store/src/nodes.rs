//! Running nodes. Each renews its row while it runs; the leases a node holds on monitor
//! checks and jobs count only while its row is fresh, so a node that dies without a word
//! gives up its work within seconds.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// Records that node `name` is alive until `alive_until`.
pub async fn beat(
    conn: &mut AnyConnection,
    name: &str,
    alive_until: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO nodes (name, alive_until) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET alive_until = excluded.alive_until",
    )
    .bind(name)
    .bind(alive_until)
    .execute(conn)
    .await?;
    Ok(())
}

/// Frees the monitor and job leases held under `name`. Names are unique per running node,
/// so whatever a node starting under that name finds held was its dead predecessor's.
pub async fn release_leases(conn: &mut AnyConnection, name: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE monitors SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
    )
    .bind(name)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE jobs SET locked_until = 0 WHERE status = 'running' AND locked_by = $1")
        .bind(name)
        .execute(conn)
        .await?;
    Ok(())
}

/// An SQL condition: the lease held by `owner` (an SQL expression naming a node) lapsed at
/// `now` because that node is another than `me` and has not renewed its row. A node's own
/// leases never lapse this way, so a slow renewal cannot make it race itself.
pub(crate) fn holder_gone(owner: &str, me: &str, now: &str) -> String {
    format!(
        "({owner} <> {me} AND NOT EXISTS (SELECT 1 FROM nodes n \
         WHERE n.name = {owner} AND n.alive_until >= {now}))"
    )
}
