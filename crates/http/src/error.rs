//! Errors as RFC 9457 problem details (`application/problem+json`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opsdesk_app::{AppError, FieldError, error_chain};
use serde::Serialize;

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; its fragment is a stable code.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The fields at fault, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error leaving the HTTP API.
#[derive(Debug)]
pub enum ApiError {
    App(AppError),
    /// The request itself is malformed (not JSON, wrong types, unknown fields).
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    PayloadTooLarge {
        limit: usize,
    },
    NotFound,
}

impl ApiError {
    /// An uploaded body that could not be read: too large for the server's limit, or cut
    /// short.
    pub(crate) fn unreadable_body(
        state: &crate::AppState,
        rejection: &axum::extract::rejection::BytesRejection,
    ) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: state.config.max_body_bytes,
            }
        } else {
            ApiError::BadRequest {
                detail: format!("the file could not be read: {rejection}"),
                errors: Vec::new(),
            }
        }
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError::App(error)
    }
}

pub(crate) fn problem(
    status: StatusCode,
    code: &str,
    title: &str,
    detail: String,
    errors: Vec<FieldError>,
) -> Response {
    let body = Problem {
        kind: format!("https://opsdesk.dev/problems#{code}"),
        title: title.to_owned(),
        status: status.as_u16(),
        detail,
        errors,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::BadRequest { detail, errors } => problem(
                StatusCode::BAD_REQUEST,
                "bad-request",
                "Malformed request",
                detail,
                errors,
            ),
            ApiError::PayloadTooLarge { limit } => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload-too-large",
                "Request body too large",
                format!("the request body exceeds the limit of {limit} bytes"),
                Vec::new(),
            ),
            ApiError::NotFound => problem(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "there is nothing at this address".into(),
                Vec::new(),
            ),
            ApiError::App(error) => app_problem(error),
        }
    }
}

/// How an application error is answered, on the API and in the web UI alike.
pub(crate) struct ErrorClass {
    pub status: StatusCode,
    /// The fragment of the problem type URI: a stable code clients may match on.
    pub code: &'static str,
    pub title: &'static str,
}

/// The one table from application errors to HTTP.
pub(crate) fn class_of(error: &AppError) -> ErrorClass {
    let (status, code, title) = match error {
        AppError::Unauthenticated(_) => {
            (StatusCode::UNAUTHORIZED, "unauthenticated", "Not signed in")
        }
        AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Not allowed"),
        AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
        AppError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid", "Invalid input"),
        AppError::Conflict { .. } => (StatusCode::CONFLICT, "conflict", "Conflict"),
        // Whether the version came in `If-Match` (API) or in a form (web UI), the change was
        // based on a version that is no longer current.
        AppError::Stale => (
            StatusCode::PRECONDITION_FAILED,
            "stale",
            "Changed by someone else",
        ),
        AppError::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many attempts",
        ),
        // A search query that does not parse is an unacceptable value of `q`, answered like
        // every other invalid query parameter.
        AppError::QueryError { .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-query",
            "Invalid search query",
        ),
        AppError::Internal { .. } | AppError::Store(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
        ),
    };
    ErrorClass {
        status,
        code,
        title,
    }
}

/// What an error says about itself, for a person to read: each invalid field, or the message.
pub(crate) fn error_detail(error: &AppError) -> String {
    match error {
        AppError::Invalid(errors) => errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

fn app_problem(error: AppError) -> Response {
    let class = class_of(&error);
    let chain = error_chain(&error);
    let mut detail = error_detail(&error);
    let mut headers = Vec::new();
    let errors = match error {
        AppError::Invalid(errors) => errors,
        AppError::Conflict {
            field: Some(field), ..
        } => vec![FieldError::new(field, &detail)],
        AppError::QueryError { position, message } => {
            detail = message;
            vec![FieldError::new(
                "q",
                format!("position {position}: {detail}"),
            )]
        }
        AppError::Unauthenticated(_) => {
            headers.push((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"opsdesk\""),
            ));
            Vec::new()
        }
        AppError::RateLimited { retry_after_secs } => {
            headers.extend(
                HeaderValue::from_str(&retry_after_secs.max(1).to_string())
                    .ok()
                    .map(|value| (header::RETRY_AFTER, value)),
            );
            Vec::new()
        }
        AppError::Internal { .. } | AppError::Store(_) => {
            tracing::error!(error = %chain, "request failed");
            detail = "something went wrong on our side; the request id in the x-request-id \
                      header helps find it in the log"
                .into();
            Vec::new()
        }
        _ => Vec::new(),
    };
    let mut response = problem(class.status, class.code, class.title, detail, errors);
    response.headers_mut().extend(headers);
    response
}

#[cfg(test)]
mod tests {
    use super::{class_of, error_chain};
    use opsdesk_app::AppError;

    #[test]
    fn an_internal_error_keeps_its_cause_for_the_log_and_answers_500() {
        let cause = std::io::Error::other("disk on fire");
        let error = AppError::internal("reading the template", cause);
        assert_eq!(error_chain(&error), "reading the template: disk on fire");
        assert_eq!(class_of(&error).status.as_u16(), 500);
        assert_eq!(
            error_chain(&AppError::broken("a view went missing")),
            "a view went missing"
        );
    }

    #[test]
    fn a_stale_version_is_412_on_every_channel() {
        assert_eq!(class_of(&AppError::Stale).status.as_u16(), 412);
    }
}
