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

const SQLITE: &[Migration] = migrations!("sqlite": 1 "0001_foundation", 2 "0002_service_desk", 3 "0003_sla", 4 "0004_mail", 5 "0005_monitoring", 6 "0006_portal", 7 "0007_attachments", 8 "0008_job_owned_claims", 9 "0009_monitor_tags_and_recurring_maintenance", 10 "0010_mail_templates", 11 "0011_outage_failure_notes", 16 "0016_audit_head_follows_log", 17 "0017_search_status_facet", 18 "0018_ticket_list_orders", 19 "0019_catalog_version", 20 "0020_ticket_numbers_in_one_statement", 21 "0021_search_index_at_commit", 22 "0022_one_attachment_store", 24 "0024_node_liveness", 25 "0025_knowledge_base", 26 "0026_runbooks_and_reviews", 27 "0027_ticket_imports", 28 "0028_triage_models", 29 "0029_portal_visits", 30 "0030_article_approvers", 31 "0031_article_files", 32 "0032_alerts", 33 "0033_on_call", 34 "0034_paging", 35 "0035_alert_pipeline", 36 "0036_automation_rules", 37 "0037_cmdb", 38 "0038_vulnerabilities", 39 "0039_vendors_contracts_licences", 40 "0040_silent_sources", 41 "0041_email_integrations", 42 "0042_alert_notifications", 43 "0043_on_call_preferences", 44 "0044_runbook_runs_and_remote_access", 45 "0045_network_devices", 46 "0046_changes_and_problems", 47 "0047_satisfaction_surveys", 48 "0048_reporting_views", 49 "0049_identities_sessions_second_factor", 50 "0050_oidc_providers", 51 "0051_ldap_directories", 52 "0052_scim_provisioning", 53 "0053_security_incidents", 54 "0054_password_reset_approvals", 55 "0055_ticket_report_counters", 56 "0056_report_subscriptions", 57 "0057_user_time_zone", 58 "0058_report_rollups");
const POSTGRES: &[Migration] = migrations!("postgres": 1 "0001_foundation", 2 "0002_service_desk", 3 "0003_sla", 4 "0004_mail", 5 "0005_monitoring", 6 "0006_portal", 7 "0007_attachments", 8 "0008_job_owned_claims", 9 "0009_monitor_tags_and_recurring_maintenance", 10 "0010_mail_templates", 11 "0011_outage_failure_notes", 16 "0016_audit_head_follows_log", 18 "0018_ticket_list_orders", 19 "0019_catalog_version", 22 "0022_one_attachment_store", 23 "0023_creation_takes_no_row_lock_early", 24 "0024_node_liveness", 25 "0025_knowledge_base", 26 "0026_runbooks_and_reviews", 27 "0027_ticket_imports", 28 "0028_triage_models", 29 "0029_portal_visits", 30 "0030_article_approvers", 31 "0031_article_files", 32 "0032_alerts", 33 "0033_on_call", 34 "0034_paging", 35 "0035_alert_pipeline", 36 "0036_automation_rules", 37 "0037_cmdb", 38 "0038_vulnerabilities", 39 "0039_vendors_contracts_licences", 40 "0040_silent_sources", 41 "0041_email_integrations", 42 "0042_alert_notifications", 43 "0043_on_call_preferences", 44 "0044_runbook_runs_and_remote_access", 45 "0045_network_devices", 46 "0046_changes_and_problems", 47 "0047_satisfaction_surveys", 48 "0048_reporting_views", 49 "0049_identities_sessions_second_factor", 50 "0050_oidc_providers", 51 "0051_ldap_directories", 52 "0052_scim_provisioning", 53 "0053_security_incidents", 54 "0054_password_reset_approvals", 55 "0055_ticket_report_counters", 56 "0056_report_subscriptions", 57 "0057_user_time_zone", 58 "0058_report_rollups");

/// Brings the schema up to date. On PostgreSQL an advisory lock makes nodes starting together
/// take turns; the SQLite caller holds the only writing connection.
pub(crate) async fn run(conn: &mut AnyConnection, backend: Backend) -> Result<(), StoreError> {
    migrate_to(conn, backend, i64::MAX).await
}

/// The versions of the migrations this build carries for `backend`, oldest first.
pub fn migration_versions(backend: Backend) -> Vec<i64> {
    migrations_of(backend).iter().map(|m| m.version).collect()
}

/// Applies the migrations up to and including version `last`, leaving the schema as an
/// older opsdesk left it: upgrade tests start from there.
pub async fn migrate_to(
    conn: &mut AnyConnection,
    backend: Backend,
    last: i64,
) -> Result<(), StoreError> {
    let migrations = migrations_of(backend);
    let count = migrations.partition_point(|m| m.version <= last);
    let migrations = migrations.get(..count).unwrap_or(migrations);
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock(7320151)")
            .execute(&mut *conn)
            .await?;
    }
    let mut result = apply(conn, migrations).await;
    // SQLite cannot hash in SQL: the files 0022 moved are given their SHA-256 key here.
    if result.is_ok() && last >= 22 {
        result = crate::attachments::hash_moved_mail_files(conn).await;
    }
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock(7320151)")
            .execute(&mut *conn)
            .await?;
    }
    result
}

fn migrations_of(backend: Backend) -> &'static [Migration] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
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
        // SQLite changes a table's constraints only by rebuilding it, which must not cascade
        // to the rows referring to it: such a migration runs with foreign keys off (a pragma
        // that only takes effect outside a transaction) and checks them before committing.
        let keys_off = migration.sql.starts_with(FOREIGN_KEYS_OFF);
        if keys_off {
            sqlx::raw_sql("PRAGMA foreign_keys = OFF")
                .execute(&mut *conn)
                .await?;
        }
        let applied = apply_one(conn, migration, keys_off).await.map_err(failed);
        if keys_off {
            sqlx::raw_sql("PRAGMA foreign_keys = ON")
                .execute(&mut *conn)
                .await?;
        }
        applied?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    Ok(())
}

/// The first line of a SQLite migration that rebuilds a table others refer to.
const FOREIGN_KEYS_OFF: &str = "-- opsdesk: foreign keys off\n";

/// Runs one migration and records it, in one transaction; with `check_keys`, refuses to
/// commit a change that left a reference dangling.
async fn apply_one(
    conn: &mut AnyConnection,
    migration: &Migration,
    check_keys: bool,
) -> Result<(), sqlx::Error> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    sqlx::raw_sql(migration.sql).execute(&mut *tx).await?;
    if check_keys {
        let dangling = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut *tx)
            .await?
            .len();
        if dangling > 0 {
            return Err(sqlx::Error::Protocol(format!(
                "{dangling} rows refer to rows the migration removed"
            )));
        }
    }
    sqlx::query(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(migration.version)
        .bind(migration.name)
        .bind(checksum_of(migration.sql))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

fn checksum_of(sql: &str) -> String {
    let digest = Sha256::digest(sql.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// When a migration was applied: a fact about the database file, recorded before any
/// application (and its clock) exists.
#[allow(
    clippy::disallowed_methods,
    reason = "migrations run before the application's clock"
)]
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checksums of the migrations that are on `main`: a released migration is never edited,
    /// because databases that already applied it would refuse to start.
    const RELEASED: &str = include_str!("../migrations/released.sha256");

    #[test]
    fn released_migrations_are_unchanged_and_every_migration_is_listed() {
        let released: Vec<(&str, &str)> = RELEASED
            .lines()
            .filter_map(|line| line.split_once("  "))
            .collect();
        let mut faults = Vec::new();
        for (dialect, migrations) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            for pair in migrations.windows(2) {
                if let [earlier, later] = pair
                    && earlier.version >= later.version
                {
                    faults.push(format!("{dialect}/{} is out of order", later.name));
                }
            }
            for migration in migrations {
                let path = format!("{dialect}/{}.sql", migration.name);
                match released.iter().find(|(_, file)| *file == path) {
                    None => faults.push(format!(
                        "{path} is not in migrations/released.sha256: append its sha256sum line"
                    )),
                    Some((checksum, _)) if *checksum != checksum_of(migration.sql) => {
                        faults.push(format!(
                            "{path} was edited after release: restore it and add a new migration"
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        assert!(faults.is_empty(), "{}", faults.join("\n"));
    }
}
