use opsdesk_store::StoreError;
use serde::Serialize;

/// A problem with one field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field at fault, as a JSON path (`email`, `organizations[1]`).
    pub field: String,
    /// What is wrong with it, for a person to read.
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

/// Why a use case did not happen. Each channel maps these once (HTTP: problem+json).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No credentials, or credentials that are wrong, expired or revoked.
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but the role does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// Absent, or not visible to this user (the two are deliberately indistinguishable).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// One or more fields are invalid.
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The request conflicts with the current state (a taken name, an illegal transition).
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        message: String,
    },
    /// The record changed since the version the caller based its change on.
    #[error("the record was changed by someone else; fetch it again and retry")]
    Stale,
    /// Too many attempts; try again after the given number of seconds.
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    RateLimited { retry_after_secs: i64 },
    /// A search query that does not parse; `position` is the character where it goes wrong.
    #[error("{message}")]
    QueryError { position: usize, message: String },
    /// Something failed on our side: `context` says what was being done, `source` why.
    #[error("{context}")]
    Internal {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
    #[error(transparent)]
    Store(StoreError),
}

/// Any error, kept as the source of an internal one.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl AppError {
    /// An internal error caused by `source` while doing what `context` says.
    pub fn internal(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        AppError::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// An internal error with no error behind it: something that must hold did not.
    pub fn broken(context: impl Into<String>) -> Self {
        AppError::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// A single invalid field.
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        AppError::Invalid(vec![FieldError::new(field, message)])
    }

    /// A conflict with the record's state, of no one field.
    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict {
            field: None,
            message: message.into(),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Duplicate(what) => AppError::Conflict {
                field: Some(what.split(' ').next().unwrap_or(what).to_owned()),
                message: format!("a record with this {what} already exists"),
            },
            other => AppError::Store(other),
        }
    }
}

pub use opsdesk_network::error_chain;
