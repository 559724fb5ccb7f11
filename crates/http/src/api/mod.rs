//! The JSON API under `/api/v1`, plus health, readiness, metrics and the OpenAPI document.

mod accounts;
mod admin;
mod mail;
mod monitors;
mod portal;
mod session;
mod sla;
mod status_page;
mod system;
mod tickets;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

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

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(accounts::routes())
        .merge(session::routes())
        .merge(admin::routes())
        .merge(tickets::routes())
        .merge(sla::routes())
        .merge(portal::routes())
        .merge(monitors::routes())
        .merge(status_page::routes())
        .merge(mail::routes())
}
