//! The append-only audit log and its hash chain.

use opsdesk_domain::audit::{AuditFields, StoredEntry, chain_hash};
use sqlx::AnyConnection;

use crate::batch::Batch;
use crate::db::Backend;
use crate::error::StoreError;

/// One change to append.
#[derive(Debug, Clone)]
pub struct NewAuditEntry<'a> {
    pub at: i64,
    pub actor: &'a str,
    pub entity: &'a str,
    pub entity_id: &'a str,
    pub action: &'a str,
    pub before: Option<&'a str>,
    pub after: Option<&'a str>,
}

/// Appends an entry in the caller's transaction, adding its insert to `batch`.
///
/// On SQLite this takes the next place in the chain now: the single writer is the only
/// appender. On PostgreSQL the entry waits in `audit_pending` for [`seal`], so that changes on
/// several connections and nodes do not wait for each other's commits (migration 0023).
pub async fn append(
    conn: &mut AnyConnection,
    batch: &mut Batch,
    entry: &NewAuditEntry<'_>,
) -> Result<(), StoreError> {
    if batch.backend() == Backend::Postgres {
        batch
            .push(
                "INSERT INTO audit_pending (at, actor, entity, entity_id, action, before, after) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(entry.at)
            .bind(entry.actor)
            .bind(entry.entity)
            .bind(entry.entity_id)
            .bind(entry.action)
            .bind(entry.before)
            .bind(entry.after);
        return Ok(());
    }
    let (seq, previous): (i64, String) =
        sqlx::query_as("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
            .fetch_one(&mut *conn)
            .await?;
    let hash = chain_hash(
        &previous,
        &AuditFields {
            seq,
            at_ms: entry.at,
            actor: entry.actor,
            entity: entry.entity,
            entity_id: entry.entity_id,
            action: entry.action,
            before: entry.before,
            after: entry.after,
        },
    );
    // The `audit_log_moves_head` trigger sets the head's hash to this entry's.
    batch
        .push(
            "INSERT INTO audit_log (seq, at, actor, entity, entity_id, action, before, after, \
             prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(seq)
        .bind(entry.at)
        .bind(entry.actor)
        .bind(entry.entity)
        .bind(entry.entity_id)
        .bind(entry.action)
        .bind(entry.before)
        .bind(entry.after)
        .bind(previous)
        .bind(hash);
    Ok(())
}

/// Chains up to `max_entries` entries waiting in `audit_pending` (PostgreSQL) in the order
/// they were added; returns how many it chained. Nothing waits on SQLite.
pub async fn seal(conn: &mut AnyConnection, max_entries: i32) -> Result<i64, StoreError> {
    if Backend::of(conn) == Backend::Sqlite {
        return Ok(0);
    }
    let (sealed,): (i32,) = sqlx::query_as("SELECT audit_seal($1)")
        .bind(max_entries)
        .fetch_one(conn)
        .await?;
    Ok(i64::from(sealed))
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    seq: i64,
    at: i64,
    actor: String,
    entity: String,
    entity_id: String,
    action: String,
    before: Option<String>,
    after: Option<String>,
    prev_hash: String,
    hash: String,
}

impl From<EntryRow> for StoredEntry {
    fn from(row: EntryRow) -> Self {
        StoredEntry {
            seq: row.seq,
            at_ms: row.at,
            actor: row.actor,
            entity: row.entity,
            entity_id: row.entity_id,
            action: row.action,
            before: row.before,
            after: row.after,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

/// Entries after `after_seq` in order, optionally for one entity (and one record of it).
pub async fn list(
    conn: &mut AnyConnection,
    after_seq: i64,
    limit: i64,
    entity: Option<&str>,
    entity_id: Option<&str>,
) -> Result<Vec<StoredEntry>, StoreError> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT seq, at, actor, entity, entity_id, action, before, after, prev_hash, hash \
         FROM audit_log WHERE seq > $1 AND ($2 IS NULL OR entity = $2) \
         AND ($3 IS NULL OR entity_id = $3) ORDER BY seq LIMIT $4",
    )
    .bind(after_seq)
    .bind(entity)
    .bind(entity_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(StoredEntry::from).collect())
}

/// The sequence number and hash at the head of the chain.
pub async fn head(conn: &mut AnyConnection) -> Result<(i64, String), StoreError> {
    Ok(
        sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_one(conn)
            .await?,
    )
}
