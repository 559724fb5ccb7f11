//! The version of the catalog (groups, categories, custom fields, priority matrices, SLA
//! policies and calendars) that nodes keep in memory; every change to those tables gives it a
//! new random value (migration 0019).

use sqlx::AnyConnection;

use crate::StoreError;

/// The catalog's current version, as `conn` sees it.
pub async fn version(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let (version,): (i64,) = sqlx::query_as("SELECT version FROM catalog_version WHERE id = 1")
        .fetch_one(conn)
        .await?;
    Ok(version)
}

/// `(organization id, matrix as JSON)` of the organizations with a priority matrix of their own.
pub async fn priority_matrices(conn: &mut AnyConnection) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, priority_matrix FROM organizations WHERE priority_matrix IS NOT NULL",
    )
    .fetch_all(conn)
    .await?)
}
