//! Errors as RFC 9457 problem details (`application/problem+json`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opsdesk_app::{AppError, FieldError};
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

fn app_problem(error: AppError) -> Response {
    let detail = error.to_string();
    match error {
        AppError::Unauthenticated(_) => {
            let mut response = problem(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Not signed in",
                detail,
                Vec::new(),
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"opsdesk\""),
            );
            response
        }
        AppError::Forbidden(_) => problem(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Not allowed",
            detail,
            Vec::new(),
        ),
        AppError::NotFound(_) => problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "Not found",
            detail,
            Vec::new(),
        ),
        AppError::Invalid(errors) => {
            let detail = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ");
            problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Invalid input",
                detail,
                errors,
            )
        }
        AppError::Conflict { field, .. } => {
            let errors = field
                .map(|field| vec![FieldError::new(field, &detail)])
                .unwrap_or_default();
            problem(StatusCode::CONFLICT, "conflict", "Conflict", detail, errors)
        }
        AppError::Stale => problem(
            StatusCode::PRECONDITION_FAILED,
            "stale",
            "Changed by someone else",
            detail,
            Vec::new(),
        ),
        AppError::RateLimited { retry_after_secs } => {
            let mut response = problem(
                StatusCode::TOO_MANY_REQUESTS,
                "rate-limited",
                "Too many attempts",
                detail,
                Vec::new(),
            );
            if let Ok(value) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        // A search query that does not parse is an unacceptable value of `q`, answered like
        // every other invalid query parameter.
        AppError::QueryError { position, message } => problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-query",
            "Invalid search query",
            message.clone(),
            vec![FieldError::new(
                "q",
                format!("position {position}: {message}"),
            )],
        ),
        AppError::Internal(_) | AppError::Store(_) => {
            tracing::error!(error = %detail, "request failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "something went wrong on our side; the request id in the x-request-id header helps find it in the log".into(),
                Vec::new(),
            )
        }
    }
}
