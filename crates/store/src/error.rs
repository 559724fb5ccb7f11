use thiserror::Error;

/// What can go wrong talking to the database.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("the database could not be opened at {location}: {source}")]
    Open {
        location: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: String,
        #[source]
        source: sqlx::Error,
    },
    #[error(
        "migration {version} ({name}) was changed after it was applied; restore the original file"
    )]
    MigrationChanged { version: i64, name: String },
    #[error(
        "the database has migration {0}, which this opsdesk does not know: it was written by a newer version"
    )]
    MigrationUnknown(i64),
    #[error("a record with this {0} already exists")]
    Duplicate(&'static str),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Duplicate`] naming `what`, so
    /// callers can tell the user which value is taken. Other errors pass through.
    pub fn on_unique(self, what: &'static str) -> Self {
        match self {
            StoreError::Sql(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                StoreError::Duplicate(what)
            }
            other => other,
        }
    }
}
