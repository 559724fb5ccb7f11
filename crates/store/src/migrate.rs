//! Versioned, append-only schema migrations, one folder per dialect, embedded in the binary.
//! Each applied migration's checksum is kept so an edited file is caught, not silently skipped.

use sha2::{Digest, Sha256};
use sqlx::AnyConnection;

use crate::db::Backend;
use crate::error::StoreError;

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

macro_rules! migrations {
    ($dialect:literal: $($version:literal $name:literal),* $(,)?) => {
        &[$(Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../migrations/", $dialect, "/", $name, ".sql")),
        }),*]
    };
}

const SQLITE: &[Migration] = migrations!("sqlite": 1 "0001_foundation", 2 "0002_service_desk", 3 "0003_sla", 4 "0004_mail", 5 "0005_monitoring", 6 "0006_portal", 7 "0007_attachments", 8 "0008_job_owned_claims", 9 "0009_monitor_tags_and_recurring_maintenance", 10 "0010_mail_templates", 11 "0011_outage_failure_notes", 16 "0016_audit_head_follows_log", 17 "0017_search_status_facet", 18 "0018_ticket_list_orders", 19 "0019_catalog_version", 20 "0020_ticket_numbers_in_one_statement", 21 "0021_search_index_at_commit", 22 "0022_one_attachment_store");
const POSTGRES: &[Migration] = migrations!("postgres": 1 "0001_foundation", 2 "0002_service_desk", 3 "0003_sla", 4 "0004_mail", 5 "0005_monitoring", 6 "0006_portal", 7 "0007_attachments", 8 "0008_job_owned_claims", 9 "0009_monitor_tags_and_recurring_maintenance", 10 "0010_mail_templates", 11 "0011_outage_failure_notes", 16 "0016_audit_head_follows_log", 18 "0018_ticket_list_orders", 19 "0019_catalog_version", 22 "0022_one_attachment_store");

/// Brings the schema up to date. On PostgreSQL an advisory lock makes nodes starting together
/// take turns; the SQLite caller holds the only writing connection.
pub(crate) async fn run(conn: &mut AnyConnection, backend: Backend) -> Result<(), StoreError> {
    migrate_to(conn, backend, i64::MAX).await
}

/// Brings the schema up to migration `version` and no further; tests use it to build a
/// database as an older release left it, then upgrade it with [`Db::open`](crate::Db::open).
pub async fn migrate_to(
    conn: &mut AnyConnection,
    backend: Backend,
    version: i64,
) -> Result<(), StoreError> {
    let migrations = match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    };
    let migrations = &migrations[..migrations.partition_point(|m| m.version <= version)];
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock(7320151)")
            .execute(&mut *conn)
            .await?;
    }
    let mut result = apply(conn, migrations).await;
    // SQLite cannot hash in SQL: the files 0022 moved are given their SHA-256 key here.
    if result.is_ok() && version >= 22 {
        result = crate::attachments::hash_moved_mail_files(conn).await;
    }
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock(7320151)")
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(conn: &mut AnyConnection, migrations: &[Migration]) -> Result<(), StoreError> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(&mut *conn)
    .await?;
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await?;
    for (version, checksum) in &applied {
        match migrations.iter().find(|m| m.version == *version) {
            None => return Err(StoreError::MigrationUnknown(*version)),
            Some(known) if checksum_of(known.sql) != *checksum => {
                return Err(StoreError::MigrationChanged {
                    version: known.version,
                    name: known.name.to_owned(),
                });
            }
            Some(_) => {}
        }
    }
    for migration in migrations {
        if applied
            .iter()
            .any(|(version, _)| *version == migration.version)
        {
            continue;
        }
        let failed = |source| StoreError::Migration {
            version: migration.version,
            name: migration.name.to_owned(),
            source,
        };
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(migration.sql)
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(checksum_of(migration.sql))
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    Ok(())
}

fn checksum_of(sql: &str) -> String {
    let digest = Sha256::digest(sql.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}
