//! The JSON API under `/api/v1`, plus health, readiness, metrics and the OpenAPI document.

mod accounts;
mod admin;
mod alerts;
mod changes;
mod cmdb;
mod directories;
mod identity_providers;
mod knowledge;
mod mail;
mod monitors;
mod network;
mod oncall;
mod operations;
mod paging;
mod portal;
mod problems;
pub(crate) mod reports;
mod rules;
mod scim;
mod security;
mod session;
mod sla;
mod status_page;
mod suppliers;
mod surveys;
mod system;
mod tickets;
mod triage;

use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{Object, Schema, SchemaType, Type};
use utoipa::openapi::{Content, Header, Ref, RefOr, Required};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub(crate) use monitors::absolute_url;
pub(crate) use session::client_info;
pub(crate) use system::system_routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "opsdesk API",
        description = "IT service management: accounts, organizations, audit, jobs. \
            Authenticate with `Authorization: Bearer <token>` (`opsdesk token create`). \
            Errors are RFC 9457 problem+json. Lists take `cursor` and `limit`. \
            Updates take `If-Match` with the ETag you read; a stale one gets 412."
    ),
    components(schemas(crate::error::Problem)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
        };
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The API's routes and its OpenAPI document, in which every operation declares the error
/// responses it can give (see [`declare_problems`]).
pub(crate) fn router_and_document() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = routes().split_for_parts();
    declare_problems(&mut openapi);
    scim::declare_errors(&mut openapi);
    (router, openapi)
}

fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(accounts::routes())
        .merge(alerts::routes())
        .merge(cmdb::routes())
        .merge(directories::routes())
        .merge(suppliers::routes())
        .merge(oncall::routes())
        .merge(paging::routes())
        .merge(rules::routes())
        .merge(session::routes())
        .merge(scim::routes())
        .merge(identity_providers::routes())
        .merge(admin::routes())
        .merge(tickets::routes())
        .merge(problems::routes())
        .merge(security::routes())
        .merge(reports::routes())
        .merge(surveys::routes())
        .merge(changes::routes())
        .merge(sla::routes())
        .merge(knowledge::routes())
        .merge(triage::routes())
        .merge(portal::routes())
        .merge(monitors::routes())
        .merge(network::routes())
        .merge(operations::routes())
        .merge(status_page::routes())
        .merge(mail::routes())
}

/// One error response of the API, declared once under `components.responses` and referenced
/// by every operation that can give it.
struct ProblemResponse {
    status: u16,
    name: &'static str,
    description: &'static str,
    /// A header the response always carries: name and meaning.
    header: Option<(&'static str, &'static str)>,
}

const BAD_REQUEST: ProblemResponse = ProblemResponse {
    status: 400,
    name: "BadRequest",
    description: "Malformed: a body that is not JSON or not sent as `application/json`, or a \
        path segment of the wrong type.",
    header: None,
};
const UNAUTHENTICATED: ProblemResponse = ProblemResponse {
    status: 401,
    name: "Unauthenticated",
    description: "No valid credentials: send `Authorization: Bearer <token>` or a session \
        cookie.",
    header: Some((
        "WWW-Authenticate",
        "The scheme to authenticate with: `Bearer`.",
    )),
};
const FORBIDDEN: ProblemResponse = ProblemResponse {
    status: 403,
    name: "Forbidden",
    description: "Signed in but not allowed: the role does not permit it, or a request made \
        with a session cookie lacks its `X-CSRF-Token`.",
    header: None,
};
const NOT_FOUND: ProblemResponse = ProblemResponse {
    status: 404,
    name: "NotFound",
    description: "Absent, or not yours: another organization's records are never revealed.",
    header: None,
};
const CONFLICT: ProblemResponse = ProblemResponse {
    status: 409,
    name: "Conflict",
    description: "The change clashes with the current state: a name already taken, a \
        transition the record's state does not allow, something already done.",
    header: None,
};
const PRECONDITION_FAILED: ProblemResponse = ProblemResponse {
    status: 412,
    name: "PreconditionFailed",
    description: "`If-Match` names a version that is no longer current: read the record \
        again and reapply the change.",
    header: None,
};
const PAYLOAD_TOO_LARGE: ProblemResponse = ProblemResponse {
    status: 413,
    name: "PayloadTooLarge",
    description: "The request body is larger than the server accepts (`max_body_bytes`).",
    header: None,
};
const INVALID: ProblemResponse = ProblemResponse {
    status: 422,
    name: "Invalid",
    description: "A value is not acceptable: a body field or query parameter that is \
        unknown, missing, of the wrong type or out of range. `errors` names each.",
    header: None,
};
const RATE_LIMITED: ProblemResponse = ProblemResponse {
    status: 429,
    name: "RateLimited",
    description: "Too many attempts: wait the seconds `Retry-After` gives.",
    header: Some(("Retry-After", "Seconds to wait before trying again.")),
};
const INTERNAL: ProblemResponse = ProblemResponse {
    status: 500,
    name: "Internal",
    description: "Something went wrong on the server; the `x-request-id` response header \
        finds it in the log.",
    header: None,
};

const PROBLEM_RESPONSES: [ProblemResponse; 10] = [
    BAD_REQUEST,
    UNAUTHENTICATED,
    FORBIDDEN,
    NOT_FOUND,
    CONFLICT,
    PRECONDITION_FAILED,
    PAYLOAD_TOO_LARGE,
    INVALID,
    RATE_LIMITED,
    INTERNAL,
];

/// The media type of every error.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// Declares the problem+json responses once under `components.responses` and attaches to
/// every operation those its shape allows, so that a new route cannot forget them:
///
/// - every operation: 500;
/// - secured ones (all but the status page, heartbeat pings and signing in or out): 401, 403;
/// - with path parameters: 400 (a segment of the wrong type), 404, 422;
/// - with query parameters: 404 (a record the query names), 422;
/// - with a body: 400, 404 (a record the body names), 413, 422;
/// - secured POST, PUT, PATCH and DELETE: 409;
/// - PATCH, which every API route takes with an optional `If-Match`: 412, and the header.
///
/// Error responses a handler declares itself (429 on signing in) are pointed at the same
/// shared components.
fn declare_problems(openapi: &mut utoipa::openapi::OpenApi) {
    let components = openapi.components.get_or_insert_with(Default::default);
    for problem in &PROBLEM_RESPONSES {
        let mut response = ResponseBuilder::new()
            .description(problem.description)
            .content(
                PROBLEM_JSON,
                Content::new(Some(Ref::from_schema_name("Problem"))),
            );
        if let Some((name, meaning)) = problem.header {
            let mut header = Header::new(Object::with_type(Type::String));
            header.description = Some(meaning.to_owned());
            response = response.header(name, header);
        }
        components
            .responses
            .insert(problem.name.to_owned(), RefOr::T(response.build()));
    }
    let secured_by_default = openapi.security.as_ref().is_some_and(|s| !s.is_empty());
    for (path, item) in &mut openapi.paths.paths {
        // SCIM answers errors in its own format, declared on its routes.
        if path.starts_with(scim::PREFIX) {
            continue;
        }
        let operations = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                attach_problems(method, operation, secured_by_default);
                never_null_in_url(operation);
            }
        }
    }
}

fn attach_problems(method: &str, operation: &mut Operation, secured_by_default: bool) {
    let has = |place: ParameterIn| {
        operation
            .parameters
            .iter()
            .flatten()
            .any(|parameter| parameter.parameter_in == place)
    };
    let (in_path, in_query) = (has(ParameterIn::Path), has(ParameterIn::Query));
    let has_body = operation.request_body.is_some();
    // `security(())` on a route makes it public: an empty requirement.
    let secured = match &operation.security {
        None => secured_by_default,
        Some(requirements) => requirements
            .iter()
            .any(|requirement| *requirement != Default::default()),
    };
    let changes = matches!(method, "post" | "put" | "patch" | "delete");
    let mut applicable = vec![&INTERNAL];
    if secured {
        applicable.extend([&UNAUTHENTICATED, &FORBIDDEN]);
    }
    if in_path {
        applicable.extend([&BAD_REQUEST, &NOT_FOUND, &INVALID]);
    }
    if in_query {
        applicable.extend([&NOT_FOUND, &INVALID]);
    }
    if has_body {
        applicable.extend([&BAD_REQUEST, &NOT_FOUND, &PAYLOAD_TOO_LARGE, &INVALID]);
    }
    if secured && changes {
        applicable.push(&CONFLICT);
    }
    if method == "patch" {
        applicable.push(&PRECONDITION_FAILED);
        let declared = operation
            .parameters
            .iter()
            .flatten()
            .any(|p| p.name.eq_ignore_ascii_case("if-match"));
        if !declared {
            operation.parameters.get_or_insert_with(Vec::new).push(
                ParameterBuilder::new()
                    .name("If-Match")
                    .parameter_in(ParameterIn::Header)
                    .required(Required::False)
                    .description(Some(
                        "The `ETag` you last read; if the record changed since, 412. \
                         Without it the change applies to the current version.",
                    ))
                    .schema(Some(Object::with_type(Type::String)))
                    .build(),
            );
        }
    }
    let responses = &mut operation.responses.responses;
    // What handlers declared themselves points at the shared response too.
    let declared: Vec<u16> = responses
        .keys()
        .filter_map(|status| status.parse::<u16>().ok())
        .filter(|status| *status >= 400)
        .collect();
    for status in declared {
        if let Some(problem) = PROBLEM_RESPONSES.iter().find(|p| p.status == status) {
            applicable.push(problem);
        }
    }
    for problem in applicable {
        responses.insert(
            problem.status.to_string(),
            RefOr::Ref(Ref::new(format!("#/components/responses/{}", problem.name))),
        );
    }
}

/// An optional query parameter or header is absent, never `null`: the URL has no way to say
/// null. utoipa describes an `Option<T>` field as `[T, "null"]`; keep only `T`.
fn never_null_in_url(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if let Some(RefOr::T(Schema::Object(object))) = &mut parameter.schema
            && let SchemaType::Array(types) = &object.schema_type
        {
            let types: Vec<Type> = types
                .iter()
                .filter(|t| **t != Type::Null)
                .cloned()
                .collect();
            object.schema_type = match types.as_slice() {
                [one] => SchemaType::Type(one.clone()),
                _ => SchemaType::Array(types),
            };
        }
    }
}
