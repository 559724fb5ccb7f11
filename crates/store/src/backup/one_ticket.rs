//! One ticket brought back from a backup into the live desk after it was deleted there: the
//! ticket's row and every row that hangs from it (conversation, timeline, files, SLA clock,
//! links, pages, runbook runs…), found by following the schema's foreign keys down from the
//! ticket, so a table added later comes along without a change here.
//!
//! Rows that outlived the ticket (a mail or an alert whose link was cleared when it went) get
//! their link back; everything else is inserted with the ids it had, on either backend.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::AnyConnection;

use super::{
    CopyError, ForeignKey, INDEX_POSTGRES_SEARCH, MAX_BOUND_VALUES, MAX_ROWS_PER_INSERT,
    SQLITE_ONLY, Table, Value, bind, foreign_keys, insert_rows, insertion_order, quoted, read_row,
    select_where, tables, write_expression,
};
use crate::db::Backend;

/// Tables whose rows are kept once however many records refer to them, and go with the last
/// one: a deleted ticket's file contents come back with it when the desk no longer has them.
const SHARED_CONTENT: [&str; 1] = ["attachment_blobs"];
/// Tables computed from others, written again rather than copied.
const DERIVED: [&str; 1] = ["ticket_search"];

/// A ticket's rows as a backup holds them, table by table in the order they can be inserted.
#[derive(Debug, Clone)]
pub struct TicketRows {
    pub ticket_id: i64,
    pub ticket_type: String,
    pub number: i64,
    tables: Vec<TableRows>,
}

#[derive(Debug, Clone)]
struct TableRows {
    table: Table,
    rows: Vec<Vec<Value>>,
    /// Shared content, inserted only where the desk lacks it.
    shared: bool,
}

impl TicketRows {
    /// How many rows of which tables come back, by table.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        self.tables
            .iter()
            .map(|t| (t.table.name.clone(), t.rows.len()))
            .collect()
    }
}

/// The expression that reads `column` as text on `backend`, for comparing with ids.
fn as_text(backend: Backend, column: &str) -> String {
    match backend {
        Backend::Sqlite => format!("CAST({} AS TEXT)", quoted(column)),
        Backend::Postgres => format!("{}::text", quoted(column)),
    }
}

/// `column IN ($n, …)` over `values`, whose binds are appended to `binds`.
fn one_of(
    backend: Backend,
    column: &str,
    values: &BTreeSet<String>,
    binds: &mut Vec<String>,
) -> String {
    let placeholders = values
        .iter()
        .map(|value| {
            binds.push(value.clone());
            format!("${}", binds.len())
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("{} IN ({placeholders})", as_text(backend, column))
}

async fn rows_where(
    conn: &mut AnyConnection,
    table: &Table,
    condition: &str,
    binds: &[String],
) -> Result<Vec<Vec<Value>>, CopyError> {
    let sql = select_where(Backend::of(conn), table, condition);
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for value in binds {
        query = query.bind(value.clone());
    }
    let rows = query.fetch_all(&mut *conn).await?;
    Ok(rows
        .iter()
        .map(|row| read_row(row, table))
        .collect::<Result<_, _>>()?)
}

/// The values of `column` in `rows` of `table`, nulls left out.
fn values_of(table: &Table, rows: &[Vec<Value>], column: &str) -> BTreeSet<String> {
    let Some(index) = table.columns.iter().position(|c| c.name == column) else {
        return BTreeSet::new();
    };
    rows.iter()
        .filter_map(|row| match row.get(index) {
            Some(Value::Text(text)) => Some(text.clone()),
            Some(Value::Float(f)) => Some(f.to_string()),
            _ => None,
        })
        .collect()
}

/// Reads ticket `ticket_type` `number` and everything that hangs from it from the database
/// behind `source` (a backup's copy); `None` when the backup does not hold it.
pub async fn read_ticket(
    source: &mut AnyConnection,
    ticket_type: &str,
    number: i64,
) -> Result<Option<TicketRows>, CopyError> {
    let backend = Backend::of(source);
    let all = tables(source).await?;
    let keys = foreign_keys(source).await?;
    let tickets = all
        .get("tickets")
        .ok_or_else(|| CopyError::MissingTable("tickets".into()))?;
    let found = rows_where(
        source,
        tickets,
        "ticket_type = $1 AND CAST(number AS TEXT) = $2",
        &[ticket_type.to_owned(), number.to_string()],
    )
    .await?;
    let Some(ticket_id) = values_of(tickets, &found, "id").into_iter().next() else {
        return Ok(None);
    };
    let mut picked: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    picked.insert("tickets".into(), BTreeSet::from([ticket_id.clone()]));
    let mut taken = vec![TableRows {
        table: tickets.clone(),
        rows: found,
        shared: false,
    }];
    // Each table after the tables it refers to, so a row's parents are picked before it.
    for name in insertion_order(all.keys(), &keys)? {
        let skipped = [
            SQLITE_ONLY.as_slice(),
            &DERIVED,
            &SHARED_CONTENT,
            &["tickets"],
        ];
        if skipped.iter().any(|list| list.contains(&name.as_str())) {
            continue;
        }
        let Some(table) = all.get(&name) else {
            continue;
        };
        let mut binds = Vec::new();
        let condition = keys
            .iter()
            .filter(|k| k.table == name && k.referenced != name && k.referenced_column == "id")
            .filter_map(|k| Some((k, picked.get(&k.referenced)?)))
            .map(|(k, ids)| one_of(backend, &k.column, ids, &mut binds))
            .collect::<Vec<_>>()
            .join(" OR ");
        if condition.is_empty() {
            continue;
        }
        let rows = rows_where(source, table, &condition, &binds).await?;
        if rows.is_empty() {
            continue;
        }
        let ids = values_of(table, &rows, "id");
        if !ids.is_empty() {
            picked.insert(name.clone(), ids);
        }
        taken.push(TableRows {
            table: table.clone(),
            rows,
            shared: false,
        });
    }
    let mut shared = Vec::new();
    for name in SHARED_CONTENT {
        let Some(table) = all.get(name) else {
            continue;
        };
        for key in keys.iter().filter(|k| k.referenced == name) {
            let wanted: BTreeSet<String> = taken
                .iter()
                .filter(|t| t.table.name == key.table)
                .flat_map(|t| values_of(&t.table, &t.rows, &key.column))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let mut binds = Vec::new();
            let condition = one_of(backend, &key.referenced_column, &wanted, &mut binds);
            let rows = rows_where(source, table, &condition, &binds).await?;
            shared.push(TableRows {
                table: table.clone(),
                rows,
                shared: true,
            });
        }
    }
    shared.extend(taken);
    Ok(Some(TicketRows {
        ticket_id: ticket_id.parse().unwrap_or_default(),
        ticket_type: ticket_type.to_owned(),
        number,
        tables: shared,
    }))
}

/// Writes `ticket` back into the desk behind `dest`, in the caller's transaction. Refuses when
/// the ticket is still there, or when a row refers to a record the desk no longer has (a
/// ticket it was linked to, say), naming it.
pub async fn write_ticket(dest: &mut AnyConnection, ticket: &TicketRows) -> Result<(), CopyError> {
    let backend = Backend::of(dest);
    let present: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM tickets WHERE id = $1 OR (ticket_type = $2 AND number = $3)",
    )
    .bind(ticket.ticket_id)
    .bind(&ticket.ticket_type)
    .bind(ticket.number)
    .fetch_optional(&mut *dest)
    .await?;
    if present.is_some() {
        return Err(CopyError::TicketInDesk(format!(
            "{} {}",
            ticket.ticket_type, ticket.number
        )));
    }
    let dest_tables = tables(dest).await?;
    let keys = foreign_keys(dest).await?;
    let mut targets = Vec::new();
    for taken in &ticket.tables {
        let name = &taken.table.name;
        let target = dest_tables
            .get(name)
            .ok_or_else(|| CopyError::MissingTable(name.clone()))?
            .with_columns(&taken.table.column_names())
            .ok_or_else(|| CopyError::MissingColumn {
                table: name.clone(),
                column: String::new(),
            })?;
        targets.push(target);
    }
    let coming: BTreeMap<&str, BTreeSet<String>> = ticket
        .tables
        .iter()
        .filter(|t| !t.shared)
        .map(|t| (t.table.name.as_str(), values_of(&t.table, &t.rows, "id")))
        .collect();
    check_references(dest, ticket, &keys, &coming).await?;
    for (taken, target) in ticket.tables.iter().zip(&targets) {
        let per_insert =
            (MAX_BOUND_VALUES / target.columns.len().max(1)).clamp(1, MAX_ROWS_PER_INSERT);
        if taken.shared {
            for chunk in taken.rows.chunks(per_insert) {
                insert_rows(dest, target, chunk, " ON CONFLICT DO NOTHING").await?;
            }
            continue;
        }
        let (kept, missing) = split_outliving(dest, target, &taken.rows).await?;
        for chunk in missing.chunks(per_insert) {
            insert_rows(dest, target, chunk, "").await?;
        }
        let links: Vec<&ForeignKey> = keys
            .iter()
            .filter(|k| k.table == target.name && k.referenced_column == "id")
            .filter(|k| coming.contains_key(k.referenced.as_str()))
            .collect();
        relink(dest, target, &kept, &links).await?;
    }
    match backend {
        // The writer writes the entry from the rows when it commits.
        Backend::Sqlite => {
            sqlx::query("INSERT OR IGNORE INTO ticket_search_stale (ticket_id) VALUES ($1)")
                .bind(ticket.ticket_id)
                .execute(&mut *dest)
                .await?;
        }
        Backend::Postgres => {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{INDEX_POSTGRES_SEARCH} WHERE t.id = $1"
            )))
            .bind(ticket.ticket_id)
            .execute(&mut *dest)
            .await?;
        }
    }
    Ok(())
}

/// Every reference from the rows coming back to a record that does not come with them must
/// find that record in the desk.
async fn check_references(
    dest: &mut AnyConnection,
    ticket: &TicketRows,
    keys: &[ForeignKey],
    coming: &BTreeMap<&str, BTreeSet<String>>,
) -> Result<(), CopyError> {
    let backend = Backend::of(dest);
    for taken in ticket.tables.iter().filter(|t| !t.shared) {
        for key in keys.iter().filter(|k| k.table == taken.table.name) {
            if SHARED_CONTENT.contains(&key.referenced.as_str()) {
                continue;
            }
            let mut wanted = values_of(&taken.table, &taken.rows, &key.column);
            if key.referenced_column == "id"
                && let Some(ids) = coming.get(key.referenced.as_str())
            {
                wanted.retain(|value| !ids.contains(value));
            }
            if wanted.is_empty() {
                continue;
            }
            let mut binds = Vec::new();
            let sql = format!(
                "SELECT {} FROM {} WHERE {}",
                as_text(backend, &key.referenced_column),
                quoted(&key.referenced),
                one_of(backend, &key.referenced_column, &wanted, &mut binds)
            );
            let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
            for value in binds {
                query = query.bind(value);
            }
            let found: BTreeSet<String> = query.fetch_all(&mut *dest).await?.into_iter().collect();
            if let Some(value) = wanted.difference(&found).next() {
                return Err(CopyError::MissingReference {
                    table: key.table.clone(),
                    column: key.column.clone(),
                    referenced: key.referenced.clone(),
                    value: value.clone(),
                });
            }
        }
    }
    Ok(())
}

/// `rows` split into those whose id the desk still has (they outlived the ticket) and the rest.
async fn split_outliving(
    dest: &mut AnyConnection,
    target: &Table,
    rows: &[Vec<Value>],
) -> Result<(Vec<Vec<Value>>, Vec<Vec<Value>>), CopyError> {
    let ids = values_of(target, rows, "id");
    if ids.is_empty() {
        return Ok((Vec::new(), rows.to_vec()));
    }
    let backend = Backend::of(dest);
    let mut binds = Vec::new();
    let sql = format!(
        "SELECT {} FROM {} WHERE {}",
        as_text(backend, "id"),
        quoted(&target.name),
        one_of(backend, "id", &ids, &mut binds)
    );
    let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
    for value in binds {
        query = query.bind(value);
    }
    let still: BTreeSet<String> = query.fetch_all(&mut *dest).await?.into_iter().collect();
    let index = target.columns.iter().position(|c| c.name == "id");
    Ok(rows.iter().cloned().partition(
        |row| matches!(index.and_then(|i| row.get(i)), Some(Value::Text(id)) if still.contains(id)),
    ))
}

/// Gives rows that outlived the ticket their links (`links`) to the rows coming back.
async fn relink(
    dest: &mut AnyConnection,
    target: &Table,
    rows: &[Vec<Value>],
    links: &[&ForeignKey],
) -> Result<(), CopyError> {
    let backend = Backend::of(dest);
    let Some(id_index) = target.columns.iter().position(|c| c.name == "id") else {
        return Ok(());
    };
    for link in links {
        let Some((index, column)) = target
            .columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == link.column)
        else {
            continue;
        };
        for row in rows {
            let (Some(value), Some(id)) = (row.get(index), row.get(id_index)) else {
                continue;
            };
            if matches!(value, Value::Null) {
                continue;
            }
            let id_column = target.columns.get(id_index).unwrap_or(column);
            let sql = format!(
                "UPDATE {} SET {} = {} WHERE {} = {}",
                quoted(&target.name),
                quoted(&column.name),
                write_expression(backend, column, 1),
                quoted("id"),
                write_expression(backend, id_column, 2),
            );
            let query = sqlx::query(sqlx::AssertSqlSafe(sql));
            bind(bind(query, value), id).execute(&mut *dest).await?;
        }
    }
    Ok(())
}
