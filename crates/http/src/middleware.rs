//! The layers around every route: request ids, tracing, metrics, body limits, security
//! headers (with the Content-Security-Policy) and problem+json for requests no route matched.

use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::error::problem;
use crate::{ApiError, AppState};

/// Only our own script, styles and connections; no inline script, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'; object-src 'none'";

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// An unknown address: a page saying so for a browser, problem+json for everything else.
async fn not_found(request: Request) -> Response {
    let wants_page = !request.uri().path().starts_with("/api/")
        && request
            .headers()
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
    if wants_page {
        crate::web::WebError::App(opsdesk_app::AppError::NotFound("page")).into_response()
    } else {
        ApiError::NotFound.into_response()
    }
}

pub(crate) fn wrap(router: Router, state: AppState) -> Router {
    let limit = state.config.max_body_bytes;
    router
        .fallback(not_found)
        .layer(middleware::from_fn(plain_rejections_as_problems))
        .layer(middleware::from_fn(refuse_nul_in_path))
        .layer(middleware::from_fn_with_state(state, record_metrics))
        .layer(DefaultBodyLimit::max(limit))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request| {
                        let request_id = request
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!(
                            "request",
                            request_id = %request_id,
                            method = %request.method(),
                            uri = %request.uri().path(),
                        )
                    }),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(CONTENT_SECURITY_POLICY),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                )),
        )
}

/// Counts requests by route template (not raw path, which would explode the series).
async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await.into_response();
    state.app.metrics().observe_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Axum answers some requests itself, in plain text: a path segment or query string of the
/// wrong type, a method the route lacks. Those become problem details like every other error.
async fn plain_rejections_as_problems(request: Request, next: Next) -> Response {
    /// Axum's rejection messages are one line; anything longer is cut.
    const DETAIL_LIMIT: usize = 4096;
    let response = next.run(request).await;
    let status = response.status();
    // Problem details, and SCIM's own error format, are already what their clients read.
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            let value = value.as_bytes();
            value.starts_with(b"application/problem+json")
                || value.starts_with(b"application/scim+json")
        });
    // Pages answer errors with HTML meant for people; leave those alone.
    let is_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
    if !status.is_client_error() || is_problem || is_page {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let reason = status.canonical_reason().unwrap_or("Request refused");
    let detail = axum::body::to_bytes(body, DETAIL_LIMIT)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
        .ok()
        .filter(|text| !text.is_empty())
        .unwrap_or_else(|| reason.to_lowercase());
    let code = reason.to_lowercase().replace(' ', "-");
    let replacement = problem(status, &code, reason, detail, Vec::new());
    // Keep what axum said in headers (`Allow` on 405), but not the old body's framing.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    let (new_parts, new_body) = replacement.into_parts();
    parts.headers.extend(new_parts.headers);
    Response::from_parts(parts, new_body)
}

/// A path with an encoded NUL (`%00`) names nothing here, and PostgreSQL cannot even compare
/// such text: it is malformed, on every backend alike.
async fn refuse_nul_in_path(request: Request, next: Next) -> Response {
    let path = request.uri().path().as_bytes();
    if path.windows(3).any(|w| w.eq_ignore_ascii_case(b"%00")) {
        return ApiError::BadRequest {
            detail: "the path contains an encoded NUL character (%00)".into(),
            errors: Vec::new(),
        }
        .into_response();
    }
    next.run(request).await
}
