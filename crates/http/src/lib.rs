//! opsdesk's HTTP channel: the JSON API under `/api/v1` (with its OpenAPI document),
//! health and metrics endpoints, and the web UI (agent console, customer portal, admin). Handlers turn requests into application calls; they hold
//! no business rules and never touch the store.

mod api;
mod download;
mod error;
mod extract;
mod middleware;
mod web;

use std::net::SocketAddr;

use axum::Router;
use opsdesk_app::App;
use tokio::net::TcpListener;

pub use error::ApiError;

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Mark cookies `Secure` (set when opsdesk is served over HTTPS).
    pub secure_cookies: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 10 * 1024 * 1024,
            secure_cookies: false,
        }
    }
}

/// State every handler receives.
#[derive(Clone)]
pub(crate) struct AppState {
    pub app: App,
    pub config: HttpConfig,
    pub openapi: std::sync::Arc<String>,
    /// Who is writing a reply to which ticket (web UI, this node).
    pub presence: web::Presence,
}

/// The whole HTTP surface as one router.
pub fn router(app: App, config: HttpConfig) -> Router {
    let (api, openapi) = api::router_and_document();
    let openapi = openapi
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    let state = AppState {
        app,
        config: config.clone(),
        openapi: std::sync::Arc::new(openapi),
        presence: web::Presence::default(),
    };
    middleware::wrap(
        api.merge(api::system_routes())
            .merge(web::routes())
            .with_state(state.clone()),
        state,
    )
}

/// The OpenAPI document, for `opsdesk openapi` and tests.
pub fn openapi_json() -> String {
    let (_, openapi) = api::router_and_document();
    openapi.to_pretty_json().unwrap_or_default()
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes open requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
