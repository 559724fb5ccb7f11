//! Working on machines from the desk over HTTP: diagnostics from a ticket, runbook runs on
//! a host through its agent, script approvals, the work agents poll for, and remote access.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use opsdesk_app::AppError;
use opsdesk_app::diagnostics::{Diagnostic, NewDiagnostic};
use opsdesk_app::remote::{Access, NewAccess, RemoteSession, SessionNote};
use opsdesk_app::runbooks::{NewRunbookRun, RunbookRun, Script};
use opsdesk_domain::agent_work::{WorkReply, WorkResult};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::Problem;
use crate::extract::{ApiJson, Auth};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(run_diagnostic))
        .routes(routes!(start_runbook_run))
        .routes(routes!(get_runbook_run))
        .routes(routes!(ticket_runbook_runs))
        .routes(routes!(list_scripts))
        .routes(routes!(approve_script, withdraw_script))
        .routes(routes!(agent_work))
        .routes(routes!(agent_work_result))
        .routes(routes!(ci_access, set_ci_access))
        .routes(routes!(connect))
        .routes(routes!(note_remote_session))
}

/// Runs a diagnostic for a ticket (staff, 10 a minute each): `ping`, `traceroute`, `dns`,
/// `tcp`, `http` or `tls` against `target` (the ticket's item's host name when absent),
/// from the server or from `agent`'s host. The target must be one of the ticket's items or
/// on the server's `diagnostics_allow` list. The result is also added to the ticket as an
/// internal note. From an agent, the answer is awaited up to 30 s: 202 with state `queued`
/// or `running` when it has not come yet (the note follows when it does).
#[utoipa::path(post, path = "/api/v1/tickets/{id}/diagnostics", tag = "operations",
    params(("id" = String, Path, description = "Ticket number (`INC-42`) or id")),
    request_body = NewDiagnostic,
    responses((status = 200, body = Diagnostic), (status = 202, body = Diagnostic),
        (status = 429, body = Problem)))]
async fn run_diagnostic(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<NewDiagnostic>,
) -> Result<(StatusCode, Json<Diagnostic>), ApiError> {
    let result = state.app.run_diagnostic(&principal, &id, input).await?;
    let status = if matches!(result.state.as_str(), "queued" | "running") {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(result)))
}

/// Runs a runbook's script steps on a ticket's host through its agent (staff), one after
/// another, stopping at the first that fails; each step's output becomes an internal note.
/// 409 when a script step's exact version is not approved.
#[utoipa::path(post, path = "/api/v1/runbook-runs", tag = "operations",
    request_body = NewRunbookRun, responses((status = 201, body = RunbookRun)))]
async fn start_runbook_run(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewRunbookRun>,
) -> Result<(StatusCode, Json<RunbookRun>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.start_runbook_run(&principal, input).await?),
    ))
}

/// A runbook run and how each step went (staff).
#[utoipa::path(get, path = "/api/v1/runbook-runs/{id}", tag = "operations",
    params(("id" = i64, Path)), responses((status = 200, body = RunbookRun)))]
async fn get_runbook_run(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<RunbookRun>, ApiError> {
    Ok(Json(state.app.runbook_run(&principal, id).await?))
}

/// A ticket's runbook runs, newest first (staff).
#[utoipa::path(get, path = "/api/v1/tickets/{id}/runbook-runs", tag = "operations",
    params(("id" = String, Path, description = "Ticket number (`INC-42`) or id")),
    responses((status = 200, body = [RunbookRun])))]
async fn ticket_runbook_runs(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<RunbookRun>>, ApiError> {
    Ok(Json(state.app.ticket_runbook_runs(&principal, &id).await?))
}

/// Every runbook script version, those waiting for approval first (staff).
#[utoipa::path(get, path = "/api/v1/scripts", tag = "operations",
    responses((status = 200, body = [Script])))]
async fn list_scripts(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<Script>>, ApiError> {
    Ok(Json(state.app.scripts(&principal).await?))
}

/// Approves one exact script version (admins); any edit to the script needs a new approval.
#[utoipa::path(post, path = "/api/v1/scripts/{hash}/approve", tag = "operations",
    params(("hash" = String, Path, description = "The script version's SHA-256, in hex")),
    responses((status = 200, body = Script)))]
async fn approve_script(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(hash): Path<String>,
) -> Result<Json<Script>, ApiError> {
    Ok(Json(state.app.approve_script(&principal, &hash).await?))
}

/// Withdraws a script version's approval (admins): steps not yet handed to an agent are
/// refused.
#[utoipa::path(delete, path = "/api/v1/scripts/{hash}/approve", tag = "operations",
    params(("hash" = String, Path, description = "The script version's SHA-256, in hex")),
    responses((status = 200, body = Script)))]
async fn withdraw_script(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(hash): Path<String>,
) -> Result<Json<Script>, ApiError> {
    Ok(Json(state.app.withdraw_script(&principal, &hash).await?))
}

fn agent_credential(headers: &HeaderMap) -> Result<&str, AppError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            AppError::Unauthenticated("send the agent's credential as `Bearer <credential>`".into())
        })
}

/// A host agent asks for its work, with `Authorization: Bearer <its credential>`: approved
/// scripts to run and diagnostics to run from its host, in order, and when to ask again.
#[utoipa::path(post, path = "/api/v1/agents/work", tag = "operations", security(()),
    responses((status = 200, body = Object), (status = 401, body = Problem)))]
async fn agent_work(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<WorkReply>, ApiError> {
    Ok(Json(
        state.app.agent_work(agent_credential(&headers)?).await?,
    ))
}

/// A host agent answers one piece of its work: the outcome, exit status, output and
/// duration (or a diagnostic's outcome). 409 when it was answered already.
#[utoipa::path(post, path = "/api/v1/agents/work/{id}", tag = "operations", security(()),
    params(("id" = i64, Path)),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 204), (status = 401, body = Problem), (status = 409, body = Problem)))]
async fn agent_work_result(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<WorkResult>,
) -> Result<StatusCode, ApiError> {
    state
        .app
        .agent_work_result(agent_credential(&headers)?, id, input)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How an item is reached: SSH, RDP, VNC or a web console, each with the link that opens
/// its client (staff).
#[utoipa::path(get, path = "/api/v1/cis/{id}/access", tag = "operations",
    params(("id" = i64, Path)), responses((status = 200, body = [Access])))]
async fn ci_access(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Access>>, ApiError> {
    Ok(Json(state.app.ci_access(&principal, id).await?))
}

/// Replaces how an item is reached (staff): `[{"method", "address", "username"?}]`.
#[utoipa::path(put, path = "/api/v1/cis/{id}/access", tag = "operations",
    params(("id" = i64, Path)), request_body = [NewAccess],
    responses((status = 200, body = [Access])))]
async fn set_ci_access(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<Vec<NewAccess>>,
) -> Result<Json<Vec<Access>>, ApiError> {
    Ok(Json(state.app.set_ci_access(&principal, id, input).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Connect {
    /// The access entry (of one of the ticket's items) to connect with.
    access: i64,
}

/// Connects to one of a ticket's items (staff): records on the ticket who connected to
/// what and when, and answers the link that opens the client.
#[utoipa::path(post, path = "/api/v1/tickets/{id}/remote-sessions", tag = "operations",
    params(("id" = String, Path, description = "Ticket number (`INC-42`) or id")),
    request_body = Connect, responses((status = 201, body = RemoteSession)))]
async fn connect(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<Connect>,
) -> Result<(StatusCode, Json<RemoteSession>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.connect(&principal, &id, input.access).await?),
    ))
}

/// Writes what was done during a remote session, as an internal note on its ticket (the
/// person who connected, or an admin).
#[utoipa::path(post, path = "/api/v1/remote-sessions/{id}/note", tag = "operations",
    params(("id" = i64, Path)), request_body = SessionNote,
    responses((status = 200, body = RemoteSession)))]
async fn note_remote_session(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<SessionNote>,
) -> Result<Json<RemoteSession>, ApiError> {
    Ok(Json(
        state.app.note_remote_session(&principal, id, input).await?,
    ))
}
