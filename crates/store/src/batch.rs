//! Statements that go to the database together.
//!
//! On SQLite every statement is a round trip to the connection's own thread, and on the
//! single writer those hand-offs, not the statements, were most of a write's cost. A
//! [`Batch`] collects the statements of one change whose values are already known and sends
//! them as one multi-statement query: one round trip. PostgreSQL's protocol takes one statement
//! per prepared query, so there consecutive inserts become one statement of data-modifying
//! `WITH` clauses, and other statements run on their own, in order.

use sqlx::any::AnyArguments;
use sqlx::error::BoxDynError;
use sqlx::{Any, AnyConnection, Arguments, Encode, Type};

use crate::db::Backend;
use crate::error::StoreError;

/// Statements to run together, in order, inside the caller's transaction.
pub struct Batch {
    backend: Backend,
    /// SQLite: one entry holding every statement. PostgreSQL: one entry per statement sent,
    /// which may hold several inserts.
    statements: Vec<Statement>,
    bind_error: Option<BoxDynError>,
}

/// What is sent to the database as one statement.
#[derive(Default)]
struct Statement {
    /// The statements it is made of, with placeholders numbered across all of them.
    parts: Vec<String>,
    arguments: AnyArguments,
    /// For a PostgreSQL statement made of inserts only: the tables they insert into, each
    /// with whether it has an `ON CONFLICT` clause. `None` for any other statement.
    inserts: Option<Vec<(String, bool)>>,
}

impl Statement {
    /// Whether `insert` may join this statement as one more `WITH` clause. All clauses of a
    /// statement see the database as it was before the statement, so only inserts join,
    /// and only into a table no other clause inserts into: the clauses run in no set order,
    /// so two inserts into one table could take their ids (and a timeline its order) the
    /// wrong way round, and an upsert could miss the other's row.
    fn takes(&self, insert: &(String, bool)) -> bool {
        self.inserts
            .as_ref()
            .is_some_and(|inserts| inserts.iter().all(|(table, _)| *table != insert.0))
    }

    fn sql(&self) -> String {
        match self.parts.split_last() {
            Some((last, [])) => last.clone(),
            Some((last, clauses)) => {
                let clauses: Vec<String> = clauses
                    .iter()
                    .enumerate()
                    .map(|(n, clause)| format!("s{n} AS ({clause})"))
                    .collect();
                format!("WITH {} {last}", clauses.join(", "))
            }
            None => String::new(),
        }
    }
}

/// The table `sql` inserts into and whether it has an `ON CONFLICT` clause, if it is an
/// `INSERT INTO` statement.
fn insert_target(sql: &str) -> Option<(String, bool)> {
    let rest = sql.trim_start().strip_prefix("INSERT INTO ")?;
    let table = rest
        .split(|c: char| c.is_whitespace() || c == '(')
        .next()
        .filter(|table| !table.is_empty())?;
    Some((table.to_owned(), sql.contains("ON CONFLICT")))
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sql: Vec<String> = self.statements.iter().map(Statement::sql).collect();
        f.debug_struct("Batch")
            .field("backend", &self.backend)
            .field("sql", &sql)
            .finish_non_exhaustive()
    }
}

/// The values of the statement just added to a [`Batch`], in placeholder order.
pub struct Binder<'b> {
    arguments: &'b mut AnyArguments,
    bind_error: &'b mut Option<BoxDynError>,
}

impl Binder<'_> {
    /// Binds the statement's next placeholder.
    pub fn bind<'t, T>(self, value: T) -> Self
    where
        T: Encode<'t, Any> + Type<Any>,
    {
        if let Err(error) = self.arguments.add(value) {
            self.bind_error.get_or_insert(error);
        }
        self
    }
}

impl Batch {
    /// An empty batch for statements that will run on `conn`.
    pub fn new(conn: &AnyConnection) -> Self {
        Self::for_backend(Backend::of(conn))
    }

    /// An empty batch for `backend`.
    pub fn for_backend(backend: Backend) -> Self {
        Self {
            backend,
            statements: Vec::new(),
            bind_error: None,
        }
    }

    /// The engine the statements are written for, where the dialects differ.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Adds one statement whose placeholders are `$1`, `$2`, … of its own values, which the
    /// returned [`Binder`] takes in order. `sql` must not hold `$` followed by a digit
    /// anywhere but in placeholders.
    pub fn push(&mut self, sql: &str) -> Binder<'_> {
        let insert = match self.backend {
            Backend::Sqlite => None,
            Backend::Postgres => insert_target(sql),
        };
        let joins_last = match (self.backend, self.statements.last()) {
            (_, None) => false,
            (Backend::Sqlite, Some(_)) => true,
            (Backend::Postgres, Some(last)) => insert.as_ref().is_some_and(|i| last.takes(i)),
        };
        match (joins_last, insert, self.statements.last_mut()) {
            (true, Some(insert), Some(last)) => last.inserts.get_or_insert_default().push(insert),
            (true, _, _) => {}
            (false, insert, _) => self.statements.push(Statement {
                inserts: insert.map(|insert| vec![insert]),
                ..Statement::default()
            }),
        }
        let last = self.statements.len() - 1;
        let statement = &mut self.statements[last];
        statement
            .parts
            .push(shift_placeholders(sql, statement.arguments.len()));
        Binder {
            arguments: &mut statement.arguments,
            bind_error: &mut self.bind_error,
        }
    }

    /// Runs the statements in order; the first failure stops the rest and is returned.
    pub async fn run(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if let Some(error) = self.bind_error {
            return Err(StoreError::Sql(sqlx::Error::Encode(error)));
        }
        for statement in self.statements {
            let sql = match self.backend {
                Backend::Sqlite => statement.parts.join(";\n"),
                Backend::Postgres => statement.sql(),
            };
            sqlx::query_with(sqlx::AssertSqlSafe(sql), statement.arguments)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// Renumbers `$N` placeholders to `$(N + offset)`, so a statement's own values follow those
/// of the statements before it in a combined query. (sqlx's SQLite driver reads `$N` as the
/// N-th value of the whole query, whichever statement it is in.)
fn shift_placeholders(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut shifted = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(dollar) = rest.find('$') {
        shifted.push_str(&rest[..=dollar]);
        rest = &rest[dollar + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(number) = rest[..digits].parse::<usize>() {
            shifted.push_str(&(number + offset).to_string());
        }
        rest = &rest[digits..];
    }
    shifted.push_str(rest);
    shifted
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Batch, shift_placeholders};
    use crate::db::Backend;
    use proptest::prelude::*;
    use sqlx::Arguments;

    fn sent(batch: &Batch) -> Vec<String> {
        batch.statements.iter().map(super::Statement::sql).collect()
    }

    #[test]
    fn postgres_sends_consecutive_inserts_into_different_tables_as_one_statement_and_the_rest_alone()
     {
        let mut batch = Batch::for_backend(Backend::Postgres);
        batch.push("INSERT INTO a (x) VALUES ($1)").bind(1_i64);
        batch.push("INSERT INTO b (x) SELECT $1").bind(2_i64);
        batch.push("INSERT INTO a (x) VALUES ($1)").bind(3_i64);
        batch.push("DELETE FROM c WHERE x = $1").bind(4_i64);
        batch
            .push("INSERT INTO c (x) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(5_i64);
        batch.push("INSERT INTO c(x) VALUES ($1)").bind(6_i64);
        batch.push("INSERT INTO d (x) VALUES ($1)").bind(7_i64);
        assert_eq!(
            sent(&batch),
            [
                "WITH s0 AS (INSERT INTO a (x) VALUES ($1)) INSERT INTO b (x) SELECT $2",
                "INSERT INTO a (x) VALUES ($1)",
                "DELETE FROM c WHERE x = $1",
                "INSERT INTO c (x) VALUES ($1) ON CONFLICT DO NOTHING",
                "WITH s0 AS (INSERT INTO c(x) VALUES ($1)) INSERT INTO d (x) VALUES ($2)",
            ]
        );
        let values: Vec<usize> = batch.statements.iter().map(|s| s.arguments.len()).collect();
        assert_eq!(values, [2, 1, 1, 1, 2]);
    }

    #[test]
    fn sqlite_sends_every_statement_at_once() {
        let mut batch = Batch::for_backend(Backend::Sqlite);
        batch.push("INSERT INTO a (x) VALUES ($1)").bind(1_i64);
        batch.push("DELETE FROM a WHERE x = $1").bind(2_i64);
        assert_eq!(batch.statements.len(), 1);
        assert_eq!(
            batch.statements[0].parts,
            [
                "INSERT INTO a (x) VALUES ($1)",
                "DELETE FROM a WHERE x = $2"
            ]
        );
    }

    #[test]
    fn placeholders_move_by_the_offset_and_nothing_else_changes() {
        assert_eq!(
            shift_placeholders("INSERT INTO t VALUES ($1, $2, '$', $10)", 3),
            "INSERT INTO t VALUES ($4, $5, '$', $13)"
        );
        assert_eq!(shift_placeholders("SELECT $1", 0), "SELECT $1");
        assert_eq!(
            shift_placeholders("json_extract(x, '$.a')", 5),
            "json_extract(x, '$.a')"
        );
    }

    proptest! {
        #[test]
        fn shifting_twice_is_shifting_by_the_sum(numbers in proptest::collection::vec(1usize..100, 0..8), a in 0usize..50, b in 0usize..50) {
            let sql: Vec<String> = numbers.iter().map(|n| format!("${n}")).collect();
            let sql = format!("VALUES ({})", sql.join(", "));
            prop_assert_eq!(
                shift_placeholders(&shift_placeholders(&sql, a), b),
                shift_placeholders(&sql, a + b)
            );
        }
    }
}
