//! Copies of the whole database: a consistent snapshot of SQLite taken while it serves, a
//! content digest per table that means the same on both backends, and the copy of every row
//! from SQLite into PostgreSQL that moves a growing desk.
//!
//! Values are read in one canonical form on both backends — integers and text as text, blobs
//! as upper-case hex, floats as floats — so a table's digest on PostgreSQL equals its digest on
//! the SQLite file it was copied from, and the copy binds the same forms back.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Connection, Row};

use crate::db::Backend;
use crate::error::StoreError;

mod one_ticket;

pub use one_ticket::{TicketRows, read_ticket, write_ticket};

/// Tables that describe one backend's own history rather than the desk's data.
const BACKEND_TABLES: [&str; 1] = ["schema_migrations"];
/// Tables only SQLite keeps, for what PostgreSQL does its own way: ticket numbers come from
/// one sequence per type there, and its search index is a table rebuilt from the tickets.
const SQLITE_ONLY: [&str; 2] = ["ticket_counters", "ticket_search_stale"];
/// PostgreSQL accepts at most 65,535 bound values per statement.
const MAX_BOUND_VALUES: usize = 60_000;
const MAX_ROWS_PER_INSERT: usize = 1_000;

/// How a column's values are read and written, the same way on both backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueForm {
    Float,
    Blob,
    Text,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    form: ValueForm,
    /// The declared type, for the casts PostgreSQL needs when text is bound.
    sql_type: String,
}

/// A table of the desk's data as one backend has it.
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    columns: Vec<Column>,
}

impl Table {
    /// The column names, in the table's order.
    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// This table narrowed to `names`, in that order; `None` when a name is missing.
    pub fn with_columns(&self, names: &[String]) -> Option<Table> {
        let columns = names
            .iter()
            .map(|name| self.columns.iter().find(|c| &c.name == name).cloned())
            .collect::<Option<Vec<_>>>()?;
        Some(Table {
            name: self.name.clone(),
            columns,
        })
    }
}

/// What a table holds: its row count and a digest of its rows that ignores their order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDigest {
    pub rows: u64,
    pub sha256: String,
}

/// The tables of the desk's data on the database behind `conn`, by name.
pub async fn tables(conn: &mut AnyConnection) -> Result<BTreeMap<String, Table>, StoreError> {
    let backend = Backend::of(conn);
    let names: Vec<String> = match backend {
        // `pragma_table_list` tells tables from full-text indexes and their shadow tables.
        Backend::Sqlite => sqlx::query_scalar(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        ),
        Backend::Postgres => sqlx::query_scalar(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema() \
             ORDER BY tablename",
        ),
    }
    .fetch_all(&mut *conn)
    .await?;
    let mut tables = BTreeMap::new();
    for name in names {
        if BACKEND_TABLES.contains(&name.as_str()) {
            continue;
        }
        let columns = columns_of(conn, backend, &name).await?;
        tables.insert(name.clone(), Table { name, columns });
    }
    Ok(tables)
}

async fn columns_of(
    conn: &mut AnyConnection,
    backend: Backend,
    table: &str,
) -> Result<Vec<Column>, StoreError> {
    // Generated columns (PostgreSQL's search vectors) are computed again wherever rows land.
    let declared: Vec<(String, String)> = match backend {
        Backend::Sqlite => sqlx::query_as(
            "SELECT name, type FROM pragma_table_xinfo($1) WHERE hidden = 0 ORDER BY cid",
        ),
        Backend::Postgres => sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
             WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped \
             AND a.attgenerated = '' ORDER BY a.attnum",
        ),
    }
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    Ok(declared
        .into_iter()
        .map(|(name, sql_type)| {
            let upper = sql_type.to_ascii_uppercase();
            let form = if ["REAL", "FLOA", "DOUB"].iter().any(|t| upper.contains(t)) {
                ValueForm::Float
            } else if upper.contains("BLOB") || upper.contains("BYTEA") {
                ValueForm::Blob
            } else {
                ValueForm::Text
            };
            Column {
                name,
                form,
                sql_type,
            }
        })
        .collect())
}

/// The expression that reads `column` in its canonical form.
fn read_expression(backend: Backend, column: &Column) -> String {
    let name = quoted(&column.name);
    match (backend, column.form) {
        (Backend::Sqlite, ValueForm::Float) => name,
        (Backend::Sqlite, ValueForm::Blob) => format!("hex({name})"),
        (Backend::Sqlite, ValueForm::Text) => format!("CAST({name} AS TEXT)"),
        (Backend::Postgres, ValueForm::Float) => format!("{name}::float8"),
        (Backend::Postgres, ValueForm::Blob) => format!("upper(encode({name}, 'hex'))"),
        // SQLite keeps booleans as 0 and 1.
        (Backend::Postgres, ValueForm::Text) if column.sql_type == "boolean" => {
            format!("{name}::int::text")
        }
        (Backend::Postgres, ValueForm::Text) => format!("{name}::text"),
    }
}

fn select_all(backend: Backend, table: &Table) -> String {
    select_where(backend, table, "TRUE")
}

/// The rows of `table` for which `condition` holds, in their canonical form.
fn select_where(backend: Backend, table: &Table, condition: &str) -> String {
    let columns = table
        .columns
        .iter()
        .map(|c| read_expression(backend, c))
        .collect::<Vec<_>>()
        .join(", ");
    // SQLite's rows in insertion order, so the copy meets them as they were written.
    let order = match backend {
        Backend::Sqlite => " ORDER BY rowid",
        Backend::Postgres => "",
    };
    format!(
        "SELECT {columns} FROM {} WHERE {condition}{order}",
        quoted(&table.name)
    )
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// One value in its canonical form.
#[derive(Debug, Clone)]
enum Value {
    Null,
    Float(f64),
    Text(String),
}

fn read_row(row: &AnyRow, table: &Table) -> Result<Vec<Value>, StoreError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            Ok(match column.form {
                ValueForm::Float => row.try_get::<Option<f64>, _>(i)?.map(Value::Float),
                ValueForm::Blob | ValueForm::Text => {
                    row.try_get::<Option<String>, _>(i)?.map(Value::Text)
                }
            }
            .unwrap_or(Value::Null))
        })
        .collect()
}

fn row_digest(values: &[Value]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for value in values {
        match value {
            Value::Null => hasher.update(b"N"),
            Value::Float(f) => {
                hasher.update(b"F");
                hasher.update(f.to_bits().to_le_bytes());
            }
            Value::Text(text) => {
                hasher.update(b"T");
                hasher.update((text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
        }
    }
    hasher.finalize().into()
}

/// Rows' digests added up, lane by lane: the sum does not depend on the order rows come in
/// (which differs between backends), and unlike an exclusive or, a row twice does not cancel.
#[derive(Default)]
struct DigestSum([u64; 4], u64);

impl DigestSum {
    fn add(&mut self, digest: [u8; 32]) {
        for (lane, chunk) in self.0.iter_mut().zip(digest.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *lane = lane.wrapping_add(u64::from_le_bytes(bytes));
        }
        self.1 += 1;
    }

    fn finish(self) -> TableDigest {
        let mut hasher = Sha256::new();
        for lane in self.0 {
            hasher.update(lane.to_le_bytes());
        }
        hasher.update(self.1.to_le_bytes());
        TableDigest {
            rows: self.1,
            sha256: hex::encode(hasher.finalize()),
        }
    }
}

/// The digest of `table`'s rows on the database behind `conn`; `on_rows` hears how many
/// rows were read, now and then.
pub async fn digest(
    conn: &mut AnyConnection,
    table: &Table,
    on_rows: &mut (dyn FnMut(u64) + Send),
) -> Result<TableDigest, StoreError> {
    let backend = Backend::of(conn);
    let select = select_all(backend, table);
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(&mut *conn);
    let mut sum = DigestSum::default();
    while let Some(row) = rows.try_next().await? {
        sum.add(row_digest(&read_row(&row, table)?));
        if sum.1 % 10_000 == 0 {
            on_rows(10_000);
        }
    }
    on_rows(sum.1 % 10_000);
    Ok(sum.finish())
}

/// How many rows `table` holds.
pub async fn row_count(conn: &mut AnyConnection, table: &Table) -> Result<u64, StoreError> {
    let count: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {}",
        quoted(&table.name)
    )))
    .fetch_one(&mut *conn)
    .await?;
    Ok(count.max(0) as u64)
}

/// Writes a consistent copy of the SQLite database behind `conn` to `file`, which must not
/// exist. `VACUUM INTO` reads in one transaction, which in WAL mode blocks no writer, so the
/// desk keeps serving; the copy is compacted and needs no WAL of its own.
pub async fn snapshot_sqlite(conn: &mut AnyConnection, file: &Path) -> Result<(), StoreError> {
    sqlx::query("VACUUM INTO $1")
        .bind(file.display().to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Opens the SQLite database file `file` on its own, outside any server's pools: a backup
/// set's copy, which nothing else uses.
pub async fn open_sqlite_file(file: &Path) -> Result<AnyConnection, StoreError> {
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}?mode=rw", file.display());
    AnyConnection::connect(&url)
        .await
        .map_err(|source| StoreError::Open {
            location: file.display().to_string(),
            source,
        })
}

/// Closes a connection from [`open_sqlite_file`], waiting until SQLite has let go of the
/// file, so that it can be written or moved safely afterwards.
pub async fn close_file(conn: AnyConnection) -> Result<(), StoreError> {
    Ok(conn.close().await?)
}

/// Connects to the PostgreSQL database at `url` on its own, without migrating it.
pub async fn connect(url: &str) -> Result<AnyConnection, StoreError> {
    sqlx::any::install_default_drivers();
    AnyConnection::connect(url)
        .await
        .map_err(|source| StoreError::Open {
            location: crate::db::redact(url),
            source,
        })
}

/// Runs one statement without arguments (`BEGIN …`, `COMMIT`).
pub async fn execute(conn: &mut AnyConnection, statement: &'static str) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(statement))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Names the snapshot of the open `REPEATABLE READ` transaction on `conn`, so that `pg_dump
/// --snapshot` reads exactly what this connection reads.
pub async fn export_snapshot(conn: &mut AnyConnection) -> Result<String, StoreError> {
    Ok(sqlx::query_scalar("SELECT pg_export_snapshot()")
        .fetch_one(&mut *conn)
        .await?)
}

/// Whether the PostgreSQL database behind `conn` holds an opsdesk desk already.
pub async fn holds_desk(conn: &mut AnyConnection) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() \
         AND tablename = 'schema_migrations')",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Drops every table, view, sequence and function of the current schema, for a restore that
/// replaces the desk.
pub async fn drop_all_tables(conn: &mut AnyConnection) -> Result<(), StoreError> {
    sqlx::raw_sql(
        "DO $$ DECLARE item record; BEGIN \
           FOR item IN SELECT tablename FROM pg_tables WHERE schemaname = current_schema() LOOP \
             EXECUTE format('DROP TABLE IF EXISTS %I CASCADE', item.tablename); END LOOP; \
           FOR item IN SELECT p.oid::regprocedure AS signature FROM pg_proc p \
             WHERE p.pronamespace = current_schema()::regnamespace LOOP \
             EXECUTE format('DROP FUNCTION IF EXISTS %s CASCADE', item.signature); END LOOP; \
         END $$",
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Creates database `name` on the server at `url`.
pub async fn create_database(url: &str, name: &str) -> Result<(), StoreError> {
    let mut conn = connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {}",
        quoted(name)
    )))
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// Drops database `name` on the server at `url`.
pub async fn drop_database(url: &str, name: &str) -> Result<(), StoreError> {
    let mut conn = connect(url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quoted(name)
    )))
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// The newest migration applied to the database behind `conn`.
pub async fn schema_version(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar::<_, Option<i64>>("SELECT max(version) FROM schema_migrations")
            .fetch_one(&mut *conn)
            .await?
            .unwrap_or(0),
    )
}

/// How many attachments there are, and their bytes.
pub async fn attachment_totals(conn: &mut AnyConnection) -> Result<(u64, u64), StoreError> {
    let (files, bytes): (i64, i64) = sqlx::query_as(
        "SELECT count(*), CAST(coalesce(sum(length(content)), 0) AS BIGINT) FROM attachment_blobs",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((files.max(0) as u64, bytes.max(0) as u64))
}

/// The attachments whose content no longer hashes to the key they are stored under, and how
/// many attachments and bytes were checked.
pub async fn damaged_attachments(
    conn: &mut AnyConnection,
) -> Result<(Vec<String>, u64, u64), StoreError> {
    let mut rows =
        sqlx::query_as::<_, (String, Vec<u8>)>("SELECT sha256, content FROM attachment_blobs")
            .fetch(&mut *conn);
    let (mut damaged, mut files, mut bytes) = (Vec::new(), 0u64, 0u64);
    while let Some((key, content)) = rows.try_next().await? {
        files += 1;
        bytes += content.len() as u64;
        if hex::encode(Sha256::digest(&content)) != key {
            damaged.push(key);
        }
    }
    Ok((damaged, files, bytes))
}

/// `PRAGMA integrity_check` on SQLite: the problems found, empty when the file is sound.
pub async fn sqlite_integrity_problems(
    conn: &mut AnyConnection,
) -> Result<Vec<String>, StoreError> {
    let lines: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await?;
    Ok(lines.into_iter().filter(|line| line != "ok").collect())
}

/// Why rows cannot be copied from one schema into another.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("table {0} is missing from the destination; is it an older opsdesk?")]
    MissingTable(String),
    #[error("column {table}.{column} is missing from the destination")]
    MissingColumn { table: String, column: String },
    #[error("the tables' foreign keys form a cycle through {0}")]
    Cycle(String),
    #[error("{0} is in the desk; only a deleted ticket can be brought back")]
    TicketInDesk(String),
    #[error(
        "the ticket's {table}.{column} refers to {referenced} {value}, which the desk no \
         longer has; bring that back first"
    )]
    MissingReference {
        table: String,
        column: String,
        referenced: String,
        value: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CopyError {
    fn from(error: sqlx::Error) -> Self {
        CopyError::Store(error.into())
    }
}

/// Copies every row of `source`'s tables (SQLite) into `dest` (PostgreSQL, same schema
/// version), replacing what the destination's tables held. Runs in one transaction on the
/// destination, so a failed copy leaves nothing behind. `on_rows(table, n)` hears progress.
/// Returns the destination's tables, for digests.
pub async fn copy_into_postgres(
    source: &mut AnyConnection,
    dest: &mut AnyConnection,
    on_rows: &mut (dyn FnMut(&str, u64) + Send),
) -> Result<BTreeMap<String, Table>, CopyError> {
    let source_tables = tables(source).await?;
    sqlx::query("BEGIN").execute(&mut *dest).await?;
    let result = copy_tables(&source_tables, source, dest, on_rows).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    sqlx::query(sqlx::AssertSqlSafe(end))
        .execute(&mut *dest)
        .await?;
    result
}

async fn copy_tables(
    source_tables: &BTreeMap<String, Table>,
    source: &mut AnyConnection,
    dest: &mut AnyConnection,
    on_rows: &mut (dyn FnMut(&str, u64) + Send),
) -> Result<BTreeMap<String, Table>, CopyError> {
    let dest_tables = tables(dest).await?;
    let references = foreign_keys(dest).await?;
    let mut pairs = Vec::new();
    for (name, table) in source_tables {
        if SQLITE_ONLY.contains(&name.as_str()) {
            continue;
        }
        let Some(target) = dest_tables.get(name) else {
            return Err(CopyError::MissingTable(name.clone()));
        };
        let Some(target) = target.with_columns(&table.column_names()) else {
            let column = table
                .column_names()
                .into_iter()
                .find(|c| target.columns.iter().all(|d| &d.name != c))
                .unwrap_or_default();
            return Err(CopyError::MissingColumn {
                table: name.clone(),
                column,
            });
        };
        pairs.push((table, target));
    }
    // Whatever the destination's migrations seeded gives way to the copy.
    let all = dest_tables
        .keys()
        .map(|n| quoted(n))
        .collect::<Vec<_>>()
        .join(", ");
    if !all.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "TRUNCATE TABLE {all} RESTART IDENTITY CASCADE"
        )))
        .execute(&mut *dest)
        .await?;
    }
    for name in insertion_order(source_tables.keys(), &references)? {
        let Some((table, target)) = pairs.iter().find(|(t, _)| t.name == name) else {
            continue;
        };
        let own = references
            .iter()
            .filter(|r| r.table == name && r.referenced == name)
            .map(|r| r.column.clone())
            .collect::<Vec<_>>();
        // Triggers (the audit head, the catalog version) would recompute rows the copy brings.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {} DISABLE TRIGGER USER",
            quoted(&name)
        )))
        .execute(&mut *dest)
        .await?;
        copy_table(table, target, &own, source, dest, &mut |n| {
            on_rows(&name, n)
        })
        .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {} ENABLE TRIGGER USER",
            quoted(&name)
        )))
        .execute(&mut *dest)
        .await?;
    }
    restart_identities(dest).await?;
    continue_ticket_numbers(source, dest).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "{INDEX_POSTGRES_SEARCH} WHERE TRUE"
    )))
    .execute(&mut *dest)
    .await?;
    Ok(pairs
        .into_iter()
        .map(|(_, target)| (target.name.clone(), target))
        .collect())
}

/// A column of `table` that refers to `referenced_column` of `referenced`.
/// Writes PostgreSQL's search rows of the tickets a `WHERE` clause after it picks (`t`).
const INDEX_POSTGRES_SEARCH: &str = "\
    INSERT INTO ticket_search (ticket_id, title, description, conversation, notes) \
    SELECT t.id, t.title, t.description, \
      coalesce((SELECT string_agg(c.body, ' ' ORDER BY c.id) FROM comments c \
                WHERE c.ticket_id = t.id AND c.public = 1), ''), \
      coalesce((SELECT string_agg(c.body, ' ' ORDER BY c.id) FROM comments c \
                WHERE c.ticket_id = t.id AND c.public = 0), '') \
    FROM tickets t";

struct ForeignKey {
    table: String,
    column: String,
    referenced: String,
    referenced_column: String,
}

/// Every single-column foreign key of the desk's tables on the database behind `conn`.
async fn foreign_keys(conn: &mut AnyConnection) -> Result<Vec<ForeignKey>, StoreError> {
    let rows: Vec<(String, String, String, String)> = match Backend::of(conn) {
        // A reference that names no column refers to the primary key, `id` in every table.
        Backend::Sqlite => sqlx::query_as(
            "SELECT m.name, k.\"from\", k.\"table\", coalesce(k.\"to\", 'id') \
             FROM sqlite_master m, pragma_foreign_key_list(m.name) k WHERE m.type = 'table'",
        ),
        Backend::Postgres => sqlx::query_as(
            "SELECT c.conrelid::regclass::text, a.attname::text, c.confrelid::regclass::text, \
                    r.attname::text \
             FROM pg_constraint c \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             JOIN pg_attribute r ON r.attrelid = c.confrelid AND r.attnum = c.confkey[1] \
             WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace",
        ),
    }
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(table, column, referenced, referenced_column)| ForeignKey {
                table,
                column,
                referenced,
                referenced_column,
            },
        )
        .collect())
}

/// Tables ordered so that each comes after the tables it refers to.
fn insertion_order<'a>(
    names: impl Iterator<Item = &'a String>,
    references: &[ForeignKey],
) -> Result<Vec<String>, CopyError> {
    let mut waiting: BTreeMap<String, BTreeSet<String>> = names
        .map(|name| {
            let needs = references
                .iter()
                .filter(|r| &r.table == name && &r.referenced != name)
                .map(|r| r.referenced.clone())
                .collect();
            (name.clone(), needs)
        })
        .collect();
    let mut order = Vec::new();
    while !waiting.is_empty() {
        let ready: Vec<String> = waiting
            .iter()
            .filter(|(_, needs)| needs.iter().all(|n| !waiting.contains_key(n)))
            .map(|(name, _)| name.clone())
            .collect();
        if ready.is_empty() {
            let stuck = waiting.keys().next().cloned().unwrap_or_default();
            return Err(CopyError::Cycle(stuck));
        }
        for name in ready {
            waiting.remove(&name);
            order.push(name);
        }
    }
    Ok(order)
}

/// Copies one table. Columns referring to the same table (a ticket merged into a later one)
/// are filled in after all its rows are there.
async fn copy_table(
    table: &Table,
    target: &Table,
    own_references: &[String],
    source: &mut AnyConnection,
    dest: &mut AnyConnection,
    on_rows: &mut (dyn FnMut(u64) + Send),
) -> Result<(), CopyError> {
    let deferred: Vec<usize> = target
        .columns
        .iter()
        .enumerate()
        .filter(|(_, c)| own_references.contains(&c.name))
        .map(|(i, _)| i)
        .collect();
    let id_column = target.columns.iter().position(|c| c.name == "id");
    let per_insert = (MAX_BOUND_VALUES / target.columns.len().max(1)).clamp(1, MAX_ROWS_PER_INSERT);
    let select = select_all(Backend::Sqlite, table);
    let mut rows = sqlx::query(sqlx::AssertSqlSafe(select)).fetch(&mut *source);
    let mut batch = Vec::with_capacity(per_insert);
    let mut later: HashMap<usize, Vec<(Value, Value)>> = HashMap::new();
    while let Some(row) = rows.try_next().await? {
        let mut values = read_row(&row, table)?;
        for &i in &deferred {
            if let (Some(id), Some(value)) = (id_column, values.get_mut(i))
                && !matches!(value, Value::Null)
            {
                let value = std::mem::replace(value, Value::Null);
                let id = values.get(id).cloned().unwrap_or(Value::Null);
                later.entry(i).or_default().push((id, value));
            }
        }
        batch.push(values);
        if batch.len() == per_insert {
            insert_rows(dest, target, &batch, "").await?;
            on_rows(batch.len() as u64);
            batch.clear();
        }
    }
    drop(rows);
    if !batch.is_empty() {
        insert_rows(dest, target, &batch, "").await?;
        on_rows(batch.len() as u64);
    }
    for (i, pairs) in later {
        let Some(column) = target.columns.get(i) else {
            continue;
        };
        for chunk in pairs.chunks(MAX_ROWS_PER_INSERT) {
            let values = (0..chunk.len())
                .map(|k| format!("(${}::bigint, ${}::bigint)", 2 * k + 1, 2 * k + 2))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "UPDATE {t} SET {c} = v.value FROM (VALUES {values}) AS v (id, value) \
                 WHERE {t}.id = v.id",
                t = quoted(&target.name),
                c = quoted(&column.name),
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, value) in chunk {
                query = bind(bind(query, id), value);
            }
            query.execute(&mut *dest).await?;
        }
    }
    Ok(())
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind<'q>(query: AnyQuery<'q>, value: &Value) -> AnyQuery<'q> {
    match value {
        Value::Null => query.bind(None::<String>),
        Value::Float(f) => query.bind(*f),
        Value::Text(text) => query.bind(text.clone()),
    }
}

/// The placeholder for `column`, turned from the canonical form bound to it into the column's
/// type (SQLite converts text to a column's affinity by itself).
fn write_expression(backend: Backend, column: &Column, placeholder: usize) -> String {
    match (backend, column.form) {
        (Backend::Sqlite, ValueForm::Blob) => format!("unhex(${placeholder})"),
        (Backend::Sqlite, _) => format!("${placeholder}"),
        (Backend::Postgres, ValueForm::Float) => format!("${placeholder}::float8"),
        (Backend::Postgres, ValueForm::Blob) => format!("decode(${placeholder}, 'hex')"),
        (Backend::Postgres, ValueForm::Text) => format!("${placeholder}::{}", column.sql_type),
    }
}

/// Inserts `rows` into `target`; `on_conflict` (e.g. ` ON CONFLICT DO NOTHING`) ends the
/// statement.
async fn insert_rows(
    dest: &mut AnyConnection,
    target: &Table,
    rows: &[Vec<Value>],
    on_conflict: &str,
) -> Result<(), StoreError> {
    let backend = Backend::of(dest);
    let width = target.columns.len();
    let tuples = (0..rows.len())
        .map(|r| {
            let values = target
                .columns
                .iter()
                .enumerate()
                .map(|(c, column)| write_expression(backend, column, r * width + c + 1))
                .collect::<Vec<_>>()
                .join(", ");
            format!("({values})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let columns = target
        .columns
        .iter()
        .map(|c| quoted(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    // Ids are copied as they were, which an identity column accepts only when told to.
    let overriding = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " OVERRIDING SYSTEM VALUE",
    };
    let sql = format!(
        "INSERT INTO {} ({columns}){overriding} VALUES {tuples}{on_conflict}",
        quoted(&target.name)
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for row in rows {
        for value in row {
            query = bind(query, value);
        }
    }
    query.execute(&mut *dest).await?;
    Ok(())
}

/// Ticket numbers go on from where SQLite's counters stood, gaps included.
async fn continue_ticket_numbers(
    source: &mut AnyConnection,
    dest: &mut AnyConnection,
) -> Result<(), StoreError> {
    let counters: Vec<(String, i64)> =
        sqlx::query_as("SELECT ticket_type, last_number FROM ticket_counters")
            .fetch_all(&mut *source)
            .await?;
    for (ticket_type, last_number) in counters {
        sqlx::query("SELECT setval(('ticket_number_' || $1)::regclass, GREATEST($2, 1), $2 > 0)")
            .bind(ticket_type)
            .bind(last_number)
            .execute(&mut *dest)
            .await?;
    }
    Ok(())
}

/// Moves every identity column's sequence past the ids the copy brought.
async fn restart_identities(dest: &mut AnyConnection) -> Result<(), StoreError> {
    let columns: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = current_schema() \
         AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')",
    )
    .fetch_all(&mut *dest)
    .await?;
    for (table, column) in columns {
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), \
             COALESCE((SELECT max({c}) FROM {t}), 0) + 1, false)",
            t = quoted(&table),
            c = quoted(&column),
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(quoted(&table))
            .bind(column)
            .execute(&mut *dest)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(table: &str, column: &str, referenced: &str) -> ForeignKey {
        ForeignKey {
            table: table.into(),
            column: column.into(),
            referenced: referenced.into(),
            referenced_column: "id".into(),
        }
    }

    #[test]
    fn tables_come_after_the_tables_they_refer_to() {
        let names = ["comments", "organizations", "tickets", "users"].map(String::from);
        let keys = [
            key("comments", "ticket_id", "tickets"),
            key("tickets", "requester_id", "users"),
            key("tickets", "merged_into_id", "tickets"),
            key("users", "organization_id", "organizations"),
        ];
        let order = insertion_order(names.iter(), &keys).unwrap_or_default();
        let at = |n: &str| order.iter().position(|o| o == n);
        assert_eq!(order.len(), 4);
        assert!(at("organizations") < at("users"));
        assert!(at("users") < at("tickets"));
        assert!(at("tickets") < at("comments"));
    }

    #[test]
    fn a_cycle_between_tables_is_refused() {
        let names = ["a", "b"].map(String::from);
        let keys = [key("a", "b_id", "b"), key("b", "a_id", "a")];
        assert!(matches!(
            insertion_order(names.iter(), &keys),
            Err(CopyError::Cycle(_))
        ));
    }

    #[test]
    fn a_table_digest_ignores_row_order_but_not_a_repeated_row() {
        let rows = [
            vec![Value::Text("1".into()), Value::Null],
            vec![Value::Text("2".into()), Value::Float(0.5)],
        ];
        let sum = |rows: &[&Vec<Value>]| {
            let mut sum = DigestSum::default();
            for row in rows {
                sum.add(row_digest(row));
            }
            sum.finish()
        };
        let forward = sum(&[&rows[0], &rows[1]]);
        assert_eq!(forward, sum(&[&rows[1], &rows[0]]));
        assert_eq!(forward.rows, 2);
        assert_ne!(forward, sum(&[&rows[0], &rows[1], &rows[1]]));
        assert_ne!(forward, sum(&[&rows[0]]));
    }

    #[test]
    fn a_value_and_its_neighbour_cannot_trade_characters() {
        let split = |a: &str, b: &str| row_digest(&[Value::Text(a.into()), Value::Text(b.into())]);
        assert_ne!(split("ab", "c"), split("a", "bc"));
        assert_ne!(
            row_digest(&[Value::Null]),
            row_digest(&[Value::Text(String::new())])
        );
    }
}
