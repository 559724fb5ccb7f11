//! Request extractors: JSON bodies and query strings whose errors name the field, the
//! authenticated principal, `If-Match` versions and pagination parameters.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use opsdesk_app::{AppError, FieldError, Precondition, Principal, Via};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{ApiError, AppState};

/// Name of the browser session cookie.
pub(crate) const SESSION_COOKIE: &str = "opsdesk_session";
/// Header carrying the CSRF token on state-changing requests made with a session cookie.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON body. Syntax errors are 400; wrong types, unknown and missing fields are 422
/// naming the field by its path.
pub(crate) struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = AppState::from_ref(state).config.max_body_bytes;
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| {
                let essence = value.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
            });
        if !is_json {
            return Err(ApiError::BadRequest {
                detail: "the body must be JSON, sent with `Content-Type: application/json`".into(),
                errors: vec![FieldError::new("Content-Type", "expected application/json")],
            });
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge { limit }
                } else {
                    ApiError::BadRequest {
                        detail: format!("the body could not be read: {rejection}"),
                        errors: Vec::new(),
                    }
                }
            })?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = strip_position(&inner.to_string());
        // A wrong type can come to light before a syntax error further on; malformed wins.
        let well_formed = serde_json::from_slice::<serde::de::IgnoredAny>(bytes);
        match (inner.classify(), well_formed) {
            (serde_json::error::Category::Data, Ok(_)) => {
                let field = if path == "." {
                    unknown_field(&message).unwrap_or(path)
                } else {
                    path
                };
                ApiError::App(AppError::invalid(field, message))
            }
            (_, Err(syntax)) => not_json(&syntax),
            (_, Ok(_)) => not_json(&inner),
        }
    })?;
    deserializer.end().map_err(|error| not_json(&error))?;
    // Only an escaped `\u0000` can put NUL in a JSON string; look closer only then.
    if bytes.windows(6).any(|window| window == br"\u0000")
        && let Ok(whole) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(field) = nul_at(&whole, ".")
    {
        return Err(AppError::invalid(field, NUL_REFUSED).into());
    }
    Ok(value)
}

/// Text never needs NUL, and PostgreSQL cannot store it: it is refused at the edge, on every
/// backend alike, instead of failing deep in the database.
const NUL_REFUSED: &str = "must not contain the NUL character (U+0000)";

/// The path (`a.b[2]`, as serde_path_to_error writes it) of the first string or key in
/// `value` that contains NUL.
fn nul_at(value: &serde_json::Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path == "." {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(text) => text.contains('\0').then(|| path.to_owned()),
        serde_json::Value::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            let prefix = if path == "." { "" } else { path };
            nul_at(item, &format!("{prefix}[{index}]"))
        }),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(join(key))
            } else {
                nul_at(item, &join(key))
            }
        }),
        _ => None,
    }
}

fn not_json(error: &serde_json::Error) -> ApiError {
    ApiError::BadRequest {
        detail: format!("the body is not valid JSON: {error}"),
        errors: Vec::new(),
    }
}

/// A query string. A parameter that is unknown, missing, of the wrong type or repeated is 422
/// naming it in `errors[].field`, as a JSON body's fields are: the URL was understood, one of
/// its values was not acceptable.
pub(crate) struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if let Some((name, _)) = form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
    {
        return Err(AppError::invalid(name, NUL_REFUSED).into());
    }
    let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(pairs).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = if path == "." {
            unknown_field(&message).unwrap_or_else(|| "query".to_owned())
        } else {
            path
        };
        ApiError::App(AppError::invalid(field, message))
    })
}

/// serde names an unknown or missing field only in its message; pull it out for `field`.
fn unknown_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let end = message[start..].find('`')? + start;
    Some(message[start..end].to_owned())
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

/// The authenticated principal: a bearer token, or a session cookie plus, on requests that
/// change something, the session's CSRF token in `X-CSRF-Token`.
pub(crate) struct Auth(pub Principal);

impl<S> FromRequestParts<S> for Auth
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state).app;
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                })
                .ok_or_else(|| {
                    AppError::Unauthenticated(
                        "the Authorization header must be `Bearer <token>`".into(),
                    )
                })?;
            return Ok(Auth(app.authenticate_token(token.trim()).await?));
        }
        let Some(session) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(AppError::Unauthenticated(
                "sign in, or send an API token as `Authorization: Bearer <token>`".into(),
            )
            .into());
        };
        let principal = app.authenticate_session(&session).await?;
        let changes_state = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if changes_state {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let expected = match &principal.via {
                Via::Session { csrf_token, .. } => csrf_token.as_str(),
                _ => "",
            };
            if expected.is_empty() || !constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
                return Err(AppError::Forbidden(
                    "missing or wrong CSRF token: send the session's token in the X-CSRF-Token header".into(),
                )
                .into());
            }
        }
        Ok(Auth(principal))
    }
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name`, if the request carries it.
pub(crate) fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The `If-Match` condition of an update (RFC 9110 §13.1.1): absent or `*` accepts any
/// current version; otherwise the record must be at one of the listed versions. Comparison
/// is strong, so a weak tag (`W/"v3"`) or a tag that is not one of ours matches nothing.
pub(crate) struct IfMatch(pub Precondition);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(header::IF_MATCH).iter().peekable();
        if values.peek().is_none() {
            return Ok(IfMatch(Precondition::Any));
        }
        let mut tags = Vec::new();
        for value in values {
            let value = value.to_str().map_err(|_| AppError::Stale)?;
            for tag in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                if tag == "*" {
                    return Ok(IfMatch(Precondition::Any));
                }
                tags.extend(strong_version(tag));
            }
        }
        Ok(IfMatch(Precondition::OneOf(tags)))
    }
}

/// The version in one of our strong entity tags (`"v3"`); `None` for weak or foreign tags.
fn strong_version(tag: &str) -> Option<i64> {
    tag.strip_prefix("\"v")?.strip_suffix('"')?.parse().ok()
}

/// The ETag for a record at `version`.
pub(crate) fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// `?cursor=&limit=` on every list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// Where the previous page ended (its `next_cursor`).
    pub cursor: Option<String>,
    /// Items per page, 1 to 500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

impl ListParams {
    /// The position after which to list, and the page size.
    pub fn resolve(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(AppError::invalid("limit", "must be between 1 and 500").into());
        }
        let after = match &self.cursor {
            None => 0,
            Some(cursor) => cursor
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| AppError::invalid("cursor", "not a cursor this API handed out"))?,
        };
        Ok((after, limit))
    }

    /// For lists newest first: the position before which to list (no cursor: from the
    /// newest), and the page size.
    pub fn resolve_newest_first(&self) -> Result<(i64, i64), ApiError> {
        let (before, limit) = self.resolve()?;
        Ok((if before == 0 { i64::MAX } else { before }, limit))
    }
}

/// One page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// A page from up to `limit + 1` fetched items: the extra one only proves there is more.
    pub fn from_overfetch(mut items: Vec<T>, limit: i64, position: impl Fn(&T) -> i64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let more = items.len() > limit;
        items.truncate(limit);
        let next_cursor = if more {
            items.last().map(|item| position(item).to_string())
        } else {
            None
        };
        Page { items, next_cursor }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        nested: Nested,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        count: u32,
    }

    fn field_of(body: &str) -> Option<String> {
        match parse_json::<Sample>(body.as_bytes()) {
            Err(ApiError::App(AppError::Invalid(errors))) => {
                errors.first().map(|e| e.field.clone())
            }
            _ => None,
        }
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Filter {
        limit: Option<i64>,
        name: String,
    }

    fn query_field_of(query: &str) -> Option<String> {
        match parse_query::<Filter>(query) {
            Err(ApiError::App(AppError::Invalid(errors))) => {
                errors.first().map(|e| e.field.clone())
            }
            _ => None,
        }
    }

    #[test]
    fn query_errors_name_the_parameter() {
        assert!(parse_query::<Filter>("name=a&limit=5").is_ok());
        assert_eq!(query_field_of("name=a&limit=x").as_deref(), Some("limit"));
        assert_eq!(
            query_field_of("name=a&colour=red").as_deref(),
            Some("colour")
        );
        assert_eq!(query_field_of("limit=5").as_deref(), Some("name"));
        assert_eq!(query_field_of("name=a&name=b").as_deref(), Some("name"));
        assert_eq!(query_field_of("name=a%00b").as_deref(), Some("name"));
    }

    #[test]
    fn nul_is_refused_naming_the_field() {
        assert_eq!(
            field_of(r#"{"name":"a\u0000","nested":{"count":1}}"#).as_deref(),
            Some("name")
        );
        let value = serde_json::json!({"a": [{"b": "x"}, {"b": "y\u{0}"}], "c": {"d\u{0}": 1}});
        assert_eq!(nul_at(&value, ".").as_deref(), Some("a[1].b"));
        let keys = serde_json::json!({"c": {"d\u{0}": 1}});
        assert_eq!(nul_at(&keys, ".").as_deref(), Some("c.d\u{0}"));
        // An escaped backslash before `u0000` is text, not NUL.
        assert!(parse_json::<Sample>(br#"{"name":"a\\u0000","nested":{"count":1}}"#).is_ok());
    }

    #[test]
    fn only_strong_tags_of_ours_name_a_version() {
        assert_eq!(strong_version("\"v12\""), Some(12));
        assert_eq!(strong_version("W/\"v12\""), None);
        assert_eq!(strong_version("\"12\""), None);
        assert_eq!(strong_version("v12"), None);
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of(r#"{"name":"a","nested":{"count":"x"}}"#).as_deref(),
            Some("nested.count")
        );
        assert_eq!(
            field_of(r#"{"name":"a","nested":{"count":1},"extra":1}"#).as_deref(),
            Some("extra")
        );
        assert_eq!(field_of(r#"{"name":"a"}"#).as_deref(), Some("nested"));
        assert!(matches!(
            parse_json::<Sample>(b"{\"name\":"),
            Err(ApiError::BadRequest { .. })
        ));
        assert!(matches!(
            parse_json::<Sample>(b"{} trailing"),
            Err(ApiError::BadRequest { .. })
        ));
    }
}
