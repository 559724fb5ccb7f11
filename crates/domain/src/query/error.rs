//! Why a query could not be parsed, with the position to point at.

use super::Field;

fn known_fields() -> String {
    Field::ALL
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a query could not be parsed. Every variant has a character position (0-based)
/// into the query, for pointing at the problem in the UI; see [`QueryError::position`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The query is longer than [`MAX_QUERY_CHARS`](super::MAX_QUERY_CHARS).
    #[error("query is {len} characters long; the limit is {max}")]
    TooLong {
        /// The query's length in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The query has more than [`MAX_QUERY_TERMS`](super::MAX_QUERY_TERMS) terms.
    #[error(
        "too many terms at position {position}: a query may have at most {max} terms, counting each value in a list"
    )]
    TooManyTerms {
        /// Where the first term over the limit starts.
        position: usize,
        /// The limit.
        max: usize,
    },
    /// `name:` where `name` is not a field.
    #[error(
        "unknown field `{field}` at position {position}; {}known fields: {}; \
         to search for text containing `:`, put it in quotes",
        .suggestion.map(|s| format!("did you mean `{s}`? ")).unwrap_or_default(),
        known_fields()
    )]
    UnknownField {
        /// The name as written.
        field: String,
        /// Where the name starts.
        position: usize,
        /// A known field with a similar spelling.
        suggestion: Option<&'static str>,
    },
    /// A `"` without its closing partner.
    #[error("unterminated quote starting at position {position}")]
    UnterminatedQuote {
        /// Where the opening quote is.
        position: usize,
    },
    /// A field, operator or comma with nothing after it.
    #[error("expected {expected} after `{after}` at position {position}")]
    MissingValue {
        /// What should have followed.
        expected: &'static str,
        /// The text of the term up to the gap.
        after: String,
        /// Where the value should start.
        position: usize,
    },
    /// A character that cannot appear where it does.
    #[error("unexpected `{found}` at position {position}: {hint}")]
    UnexpectedCharacter {
        /// The character.
        found: char,
        /// Where it is.
        position: usize,
        /// What would have been valid.
        hint: &'static str,
    },
    /// A value that is not valid for its field.
    #[error("invalid value `{value}` for `{field}:` at position {position}: {reason}")]
    InvalidValue {
        /// The field.
        field: Field,
        /// The value as written (unquoted).
        value: String,
        /// Where the value starts.
        position: usize,
        /// Why it is invalid, including the valid values where they are few.
        reason: String,
    },
    /// `sort:` was misused: repeated, negated or given a list.
    #[error("invalid sort at position {position}: {reason}")]
    InvalidSort {
        /// Where the offending part starts.
        position: usize,
        /// What was wrong.
        reason: &'static str,
    },
}

impl QueryError {
    /// The 0-based character position the error points at.
    pub const fn position(&self) -> usize {
        match self {
            QueryError::TooLong { max, .. } => *max,
            QueryError::TooManyTerms { position, .. }
            | QueryError::UnknownField { position, .. }
            | QueryError::UnterminatedQuote { position }
            | QueryError::MissingValue { position, .. }
            | QueryError::UnexpectedCharacter { position, .. }
            | QueryError::InvalidValue { position, .. }
            | QueryError::InvalidSort { position, .. } => *position,
        }
    }
}
