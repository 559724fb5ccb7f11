//! Statements that go to the database together.
//!
//! On SQLite every statement is a round trip to the connection's own thread, and on the
//! single writer those hand-offs, not the statements, were most of a write's cost. A
//! [`Batch`] collects the statements of one change whose values are already known and sends
//! them as one multi-statement query: one round trip. On PostgreSQL, whose protocol takes one
//! statement per prepared query, they run one after another.

use sqlx::any::AnyArguments;
use sqlx::error::BoxDynError;
use sqlx::{Any, AnyConnection, Arguments, Encode, Type};

use crate::db::Backend;
use crate::error::StoreError;

/// Statements to run together, in order, inside the caller's transaction.
pub struct Batch {
    backend: Backend,
    /// SQLite: one entry holding every statement; PostgreSQL: one entry per statement.
    statements: Vec<(String, AnyArguments)>,
    bind_error: Option<BoxDynError>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sql: Vec<&str> = self
            .statements
            .iter()
            .map(|(sql, _)| sql.as_str())
            .collect();
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
        match self.backend {
            Backend::Sqlite => {
                if self.statements.is_empty() {
                    self.statements
                        .push((String::new(), AnyArguments::default()));
                }
                let (combined, arguments) = &mut self.statements[0];
                if !combined.is_empty() {
                    combined.push_str(";\n");
                }
                combined.push_str(&shift_placeholders(sql, arguments.len()));
            }
            Backend::Postgres => self
                .statements
                .push((sql.to_owned(), AnyArguments::default())),
        }
        let last = self.statements.len() - 1;
        Binder {
            arguments: &mut self.statements[last].1,
            bind_error: &mut self.bind_error,
        }
    }

    /// Runs the statements in order; the first failure stops the rest and is returned.
    pub async fn run(self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        if let Some(error) = self.bind_error {
            return Err(StoreError::Sql(sqlx::Error::Encode(error)));
        }
        for (sql, arguments) in self.statements {
            sqlx::query_with(sqlx::AssertSqlSafe(sql), arguments)
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
    use super::shift_placeholders;
    use proptest::prelude::*;

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
