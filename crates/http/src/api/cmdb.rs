//! The CMDB over HTTP: configuration items, relations, impact, history, inventory,
//! suspected duplicates, ticket links, and the host agents' enrolment and reports.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opsdesk_app::AppError;
use opsdesk_app::cmdb::{
    AdvisorySummary, Ci, CiChange, CiClassFields, CiField, CiPatch, Compliance, EnrolmentToken,
    Finding, Impact, ImportReport, Inventory, InventoryChange, NewCi, NewEnrolment, NewRelation,
    Relation, Scan, Stocktake, SuspectedDuplicate, TicketCi, TransferFormat,
};
use opsdesk_domain::inventory::{Enrolled, Enrolment, Report, ReportReply};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::accounts::tagged;
use crate::error::Problem;
use crate::extract::{ApiJson, ApiQuery, Auth, IfMatch};
use crate::{ApiError, AppState};

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_ci, search_cis))
        .routes(routes!(import_cis))
        .routes(routes!(export_cis))
        .routes(routes!(get_ci, update_ci, delete_ci))
        .routes(routes!(ci_relations, add_relation))
        .routes(routes!(remove_relation))
        .routes(routes!(ci_impact))
        .routes(routes!(ci_history))
        .routes(routes!(ci_inventory))
        .routes(routes!(ci_inventory_changes))
        .routes(routes!(list_classes))
        .routes(routes!(set_class_fields))
        .routes(routes!(stocktake_scan))
        .routes(routes!(stocktake))
        .routes(routes!(list_duplicates))
        .routes(routes!(settle_duplicate))
        .routes(routes!(link_monitor, unlink_monitor))
        .routes(routes!(ticket_cis))
        .routes(routes!(link_ticket_ci, unlink_ticket_ci))
        .routes(routes!(create_enrolment))
        .routes(routes!(enrol))
        .routes(routes!(report))
        .routes(routes!(revoke_agent))
        .routes(routes!(list_vulnerabilities))
        .routes(routes!(ci_vulnerabilities))
        .routes(routes!(compliance))
}

/// Creates a configuration item (staff). Items sharing an identifier with it (serial
/// number, SMBIOS UUID, MAC, hostname) are listed as suspected duplicates.
#[utoipa::path(post, path = "/api/v1/cis", tag = "cmdb", request_body = NewCi,
    responses((status = 201, body = Ci)))]
async fn create_ci(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<NewCi>,
) -> Result<Response, ApiError> {
    let ci = state.app.create_ci(&principal, input).await?;
    Ok(tagged(StatusCode::CREATED, ci.version, ci))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct CiSearch {
    /// `class:server package:openssl<3.0.13 organization:Acme updates:security web`.
    q: Option<String>,
    /// Items with an id above this one (the last id of the previous page).
    after: Option<i64>,
    /// At most this many, 1 to 500 (100 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Items fitting a search, in id order (staff; customers see their organization's).
#[utoipa::path(get, path = "/api/v1/cis", tag = "cmdb", params(CiSearch),
    responses((status = 200, body = Vec<Ci>)))]
async fn search_cis(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(search): ApiQuery<CiSearch>,
) -> Result<Json<Vec<Ci>>, ApiError> {
    let limit = search.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid("limit", "must be 1 to 500").into());
    }
    let q = search.q.unwrap_or_default();
    Ok(Json(
        state
            .app
            .search_cis(&principal, &q, search.after.unwrap_or(0), limit)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ImportParams {
    /// Report what the import would do and write nothing (false when absent).
    dry_run: Option<bool>,
}

/// Imports items from CSV (a header row of `class,name,organization,owner,location,lifecycle,
/// asset_tag,serial_number,smbios_uuid,hostname,macs,needed,purchased_on,purchase_cost,
/// warranty_ends_on` and `field:NAME` per custom field; `macs` space-separated) or from a
/// JSON array of items as `POST /api/v1/cis` takes them (staff). Each row updates the item
/// its class's identifiers or asset tag find, else creates one; empty cells change nothing.
/// A row's problems are in the report (`rows[3].purchased_on`); an unknown column refuses
/// the file with 422.
#[utoipa::path(post, path = "/api/v1/cis/import", tag = "cmdb", params(ImportParams),
    request_body(content((String = "text/csv"), (Vec<NewCi> = "application/json"))),
    responses((status = 200, body = ImportReport)))]
async fn import_cis(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ImportParams>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ImportReport>, ApiError> {
    principal.require_staff()?;
    let body = body.map_err(|rejection| ApiError::unreadable_body(&state, &rejection))?;
    let format = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(TransferFormat::of_media_type)
        .ok_or_else(|| AppError::invalid("Content-Type", "text/csv or application/json"))?;
    let rows = opsdesk_app::cmdb::read_rows(format, body.to_vec()).await?;
    let dry_run = params.dry_run.unwrap_or(false);
    Ok(Json(state.app.import_cis(&principal, rows, dry_run).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    /// A search as `GET /api/v1/cis` takes it; every item when absent.
    q: Option<String>,
    /// `csv` or `json` (json when absent).
    format: Option<String>,
}

/// Every item fitting a search, as a CSV file or a JSON array that `POST /api/v1/cis/import`
/// reads back unchanged (staff).
#[utoipa::path(get, path = "/api/v1/cis/export", tag = "cmdb", params(ExportParams),
    responses((status = 200, content((String = "text/csv"), (Vec<Ci> = "application/json")))))]
async fn export_cis(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let format = params.format.as_deref().unwrap_or("json").parse()?;
    let q = params.q.unwrap_or_default();
    let cis = state.app.export_cis(&principal, &q).await?;
    match format {
        TransferFormat::Json => Ok(Json(cis).into_response()),
        TransferFormat::Csv => Ok(crate::download::items_file(&cis, format)?),
    }
}

#[utoipa::path(get, path = "/api/v1/cis/{id}", tag = "cmdb",
    responses((status = 200, body = Ci)))]
async fn get_ci(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let ci = state.app.ci(&principal, id).await?;
    Ok(tagged(StatusCode::OK, ci.version, ci))
}

/// Changes an item (staff); each changed attribute goes to its history. Lifecycle moves
/// follow ordered → in stock → deployed → in repair → retired; retired is final.
#[utoipa::path(patch, path = "/api/v1/cis/{id}", tag = "cmdb", request_body = CiPatch,
    responses((status = 200, body = Ci)))]
async fn update_ci(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    IfMatch(precondition): IfMatch,
    ApiJson(patch): ApiJson<CiPatch>,
) -> Result<Response, ApiError> {
    let ci = state
        .app
        .update_ci(&principal, id, precondition, patch)
        .await?;
    Ok(tagged(StatusCode::OK, ci.version, ci))
}

/// Deletes an item made by mistake, with its relations (admins). Retire machines instead:
/// that keeps their history.
#[utoipa::path(delete, path = "/api/v1/cis/{id}", tag = "cmdb", responses((status = 204)))]
async fn delete_ci(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.delete_ci(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RelationFilter {
    /// `true` lists removed relations too.
    all: Option<bool>,
}

/// An item's relations either way, the latest first (staff).
#[utoipa::path(get, path = "/api/v1/cis/{id}/relations", tag = "cmdb", params(RelationFilter),
    responses((status = 200, body = Vec<Relation>)))]
async fn ci_relations(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiQuery(filter): ApiQuery<RelationFilter>,
) -> Result<Json<Vec<Relation>>, ApiError> {
    let all = filter.all.unwrap_or(false);
    Ok(Json(state.app.ci_relations(&principal, id, all).await?))
}

/// Relates the item to another: `{id} {kind} {target}` (`app runs_on vm`) (staff).
#[utoipa::path(post, path = "/api/v1/cis/{id}/relations", tag = "cmdb",
    request_body = NewRelation, responses((status = 201, body = Relation)))]
async fn add_relation(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(input): ApiJson<NewRelation>,
) -> Result<(StatusCode, Json<Relation>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.add_relation(&principal, id, input).await?),
    ))
}

/// Ends a relation (staff); it stays in the history.
#[utoipa::path(delete, path = "/api/v1/cis/{id}/relations/{relation}", tag = "cmdb",
    responses((status = 204)))]
async fn remove_relation(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, relation)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    state.app.remove_relation(&principal, id, relation).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What goes down or degrades if the item goes down, honouring redundancy (an item needing
/// 2 of its 3 providers is degraded by one failure, down by two) and which of those are
/// already failing by opsdesk's own monitors (staff).
#[utoipa::path(get, path = "/api/v1/cis/{id}/impact", tag = "cmdb",
    responses((status = 200, body = Impact)))]
async fn ci_impact(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Impact>, ApiError> {
    Ok(Json(state.app.ci_impact(&principal, id).await?))
}

/// Every change to the item, lifecycle moves and relations included, the latest first
/// (staff).
#[utoipa::path(get, path = "/api/v1/cis/{id}/history", tag = "cmdb",
    responses((status = 200, body = Vec<CiChange>)))]
async fn ci_history(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Vec<CiChange>>, ApiError> {
    Ok(Json(state.app.ci_history(&principal, id).await?))
}

/// What the machine's agent last reported: hardware, OS, packages, pending updates,
/// listening services and local users (staff).
#[utoipa::path(get, path = "/api/v1/cis/{id}/inventory", tag = "cmdb",
    responses((status = 200, body = Inventory)))]
async fn ci_inventory(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Inventory>, ApiError> {
    Ok(Json(state.app.ci_inventory(&principal, id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ChangesSince {
    /// Days back, 1 to 365 (7 when absent).
    #[param(minimum = 1, maximum = 365)]
    days: Option<i64>,
}

/// What changed in the machine's inventory (`openssl 3.0.11 → 3.0.13`), the latest first
/// (staff).
#[utoipa::path(get, path = "/api/v1/cis/{id}/inventory/changes", tag = "cmdb",
    params(ChangesSince), responses((status = 200, body = Vec<InventoryChange>)))]
async fn ci_inventory_changes(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiQuery(since): ApiQuery<ChangesSince>,
) -> Result<Json<Vec<InventoryChange>>, ApiError> {
    let days = since.days.unwrap_or(7);
    if !(1..=365).contains(&days) {
        return Err(AppError::invalid("days", "must be 1 to 365").into());
    }
    let since = state.app.now_ms() - days * 24 * 3_600_000;
    Ok(Json(
        state
            .app
            .ci_inventory_changes(&principal, id, since)
            .await?,
    ))
}

/// Every class with its custom fields (staff).
#[utoipa::path(get, path = "/api/v1/ci-classes", tag = "cmdb",
    responses((status = 200, body = Vec<CiClassFields>)))]
async fn list_classes(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<CiClassFields>>, ApiError> {
    Ok(Json(state.app.ci_classes(&principal).await?))
}

/// Replaces a class's custom fields (admins). Items' values must then be of these fields
/// and kinds, and required ones present, when items are created or changed.
#[utoipa::path(put, path = "/api/v1/ci-classes/{class}/fields", tag = "cmdb",
    request_body = Vec<CiField>, responses((status = 200, body = CiClassFields)))]
async fn set_class_fields(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(class): Path<String>,
    ApiJson(fields): ApiJson<Vec<CiField>>,
) -> Result<Json<CiClassFields>, ApiError> {
    Ok(Json(
        state
            .app
            .set_class_fields(&principal, &class, fields)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ScanInput {
    /// Where the scan happens: a room, a shelf.
    location: String,
    /// The asset tag read from the label (`CI-<id>` for an item without one).
    code: String,
}

/// Checks off the item whose label was scanned at a location (staff); an item recorded
/// elsewhere moves there, in its history.
#[utoipa::path(post, path = "/api/v1/stocktake/scans", tag = "cmdb", request_body = ScanInput,
    responses((status = 200, body = Scan)))]
async fn stocktake_scan(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<ScanInput>,
) -> Result<Json<Scan>, ApiError> {
    Ok(Json(
        state
            .app
            .stocktake_scan(&principal, &input.location, &input.code)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct StocktakeQuery {
    location: String,
    /// When the stocktake started (RFC 3339); scans before it do not count.
    #[param(value_type = String, format = DateTime)]
    since: jiff::Timestamp,
}

/// A stocktake of a location: the items scanned there since it started, and those
/// recorded there and not scanned yet (staff).
#[utoipa::path(get, path = "/api/v1/stocktake", tag = "cmdb", params(StocktakeQuery),
    responses((status = 200, body = Stocktake)))]
async fn stocktake(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(query): ApiQuery<StocktakeQuery>,
) -> Result<Json<Stocktake>, ApiError> {
    Ok(Json(
        state
            .app
            .stocktake(&principal, &query.location, query.since.as_millisecond())
            .await?,
    ))
}

/// Pairs of items that look like one machine recorded twice (staff).
#[utoipa::path(get, path = "/api/v1/ci-duplicates", tag = "cmdb",
    responses((status = 200, body = Vec<SuspectedDuplicate>)))]
async fn list_duplicates(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Vec<SuspectedDuplicate>>, ApiError> {
    Ok(Json(state.app.suspected_duplicates(&principal).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Settlement {
    /// The id of the item to keep: the other merges into it. `null` dismisses the pair
    /// as two items.
    keep: Option<i64>,
}

/// Merges a suspected duplicate into the item kept, or dismisses it (staff). The merged
/// item's relations, tickets, monitors, agents and history move to the one kept.
#[utoipa::path(post, path = "/api/v1/ci-duplicates/{id}", tag = "cmdb",
    request_body = Settlement, responses((status = 200, body = Option<Ci>)))]
async fn settle_duplicate(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
    ApiJson(settlement): ApiJson<Settlement>,
) -> Result<Json<Option<Ci>>, ApiError> {
    Ok(Json(
        state
            .app
            .settle_duplicate(&principal, id, settlement.keep)
            .await?,
    ))
}

/// Makes a monitor watch the item (staff): while it is down, impact analyses count the
/// item as already failing. A monitor watches one item at a time.
#[utoipa::path(put, path = "/api/v1/cis/{id}/monitors/{monitor}", tag = "cmdb",
    responses((status = 204)))]
async fn link_monitor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, monitor)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    state.app.link_monitor_ci(&principal, id, monitor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops a monitor watching the item (staff).
#[utoipa::path(delete, path = "/api/v1/cis/{id}/monitors/{monitor}", tag = "cmdb",
    responses((status = 204)))]
async fn unlink_monitor(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, monitor)): Path<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    state.app.unlink_monitor_ci(&principal, id, monitor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The items a ticket is about, each with its other open tickets, its monitors and what
/// changed in its inventory in the last seven days (staff).
#[utoipa::path(get, path = "/api/v1/tickets/{id}/cis", tag = "cmdb",
    responses((status = 200, body = Vec<TicketCi>)))]
async fn ticket_cis(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Json<Vec<TicketCi>>, ApiError> {
    Ok(Json(state.app.ticket_cis(&principal, &id).await?))
}

/// Links a ticket to an item (staff).
#[utoipa::path(put, path = "/api/v1/tickets/{id}/cis/{ci}", tag = "cmdb",
    responses((status = 204)))]
async fn link_ticket_ci(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, ci)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    state.app.link_ticket_ci(&principal, &id, ci).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unlinks a ticket from an item (staff).
#[utoipa::path(delete, path = "/api/v1/tickets/{id}/cis/{ci}", tag = "cmdb",
    responses((status = 204)))]
async fn unlink_ticket_ci(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((id, ci)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    state.app.unlink_ticket_ci(&principal, &id, ci).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a one-time token a host agent enrols with (admins), shown once with the command
/// to run on the machine.
#[utoipa::path(post, path = "/api/v1/agent-enrolments", tag = "cmdb",
    request_body = NewEnrolment, responses((status = 201, body = EnrolmentToken)))]
async fn create_enrolment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<serde_json::Map<String, serde_json::Value>>,
) -> Result<(StatusCode, Json<EnrolmentToken>), ApiError> {
    // Read through an object first: every field is optional, and serde would otherwise
    // take a JSON array for the struct.
    let input: NewEnrolment = serde_json::from_value(serde_json::Value::Object(body))
        .map_err(|e| AppError::invalid("body", e))?;
    Ok((
        StatusCode::CREATED,
        Json(state.app.create_enrolment(&principal, input).await?),
    ))
}

/// A host agent trades an enrolment token for its own credential (no login: the token is
/// the credential; `opsdesk agent enrol` calls this). Body: `{"token", "hostname"}`.
#[utoipa::path(post, path = "/api/v1/agents/enrol", tag = "cmdb", security(()),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 201, body = Object), (status = 401, body = Problem)))]
async fn enrol(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<Enrolment>,
) -> Result<(StatusCode, Json<Enrolled>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(state.app.enrol_agent(input).await?),
    ))
}

/// A host agent's report, with `Authorization: Bearer <its credential>`: every section's
/// hash, and in full those that changed. The answer names sections to send again. When
/// the server is busy it answers 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/agents/report", tag = "cmdb", security(()),
    request_body(content = Object, content_type = "application/json"),
    responses((status = 200, body = Object), (status = 401, body = Problem),
        (status = 429, body = Problem)))]
async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<Report>,
) -> Result<Json<ReportReply>, ApiError> {
    let credential = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            AppError::Unauthenticated("send the agent's credential as `Bearer <credential>`".into())
        })?;
    Ok(Json(state.app.agent_report(credential, input).await?))
}

/// Revokes an agent's credential (admins): its next report is refused.
#[utoipa::path(delete, path = "/api/v1/agents/{id}", tag = "cmdb", responses((status = 204)))]
async fn revoke_agent(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.app.revoke_agent(&principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AdvisoryFilter {
    /// At least this severity: `critical`, `high`, `medium`, `low` or `unknown` (all).
    severity: Option<String>,
    /// Words in the id, a CVE alias or the summary: `CVE-2024-0727`, `openssl`.
    q: Option<String>,
    /// `true` lists only advisories affecting at least one machine.
    affecting: Option<bool>,
    /// At most this many, 1 to 500 (100 when absent).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

/// Imported security advisories with how many machines each affects, those affecting most
/// first (staff; the counts cover the organizations you may see). `opsdesk vuln import`
/// brings them in from an OSV feed.
#[utoipa::path(get, path = "/api/v1/vulnerabilities", tag = "cmdb", params(AdvisoryFilter),
    responses((status = 200, body = Vec<AdvisorySummary>)))]
async fn list_vulnerabilities(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(filter): ApiQuery<AdvisoryFilter>,
) -> Result<Json<Vec<AdvisorySummary>>, ApiError> {
    let limit = filter.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(AppError::invalid("limit", "must be 1 to 500").into());
    }
    Ok(Json(
        state
            .app
            .vulnerabilities(
                &principal,
                filter.severity.as_deref(),
                filter.q.as_deref().unwrap_or(""),
                filter.affecting.unwrap_or(false),
                limit,
            )
            .await?,
    ))
}

/// The advisories affecting the machine's installed packages, with the version that fixes
/// each and the incident opened for it, the worst first (staff).
#[utoipa::path(get, path = "/api/v1/cis/{id}/vulnerabilities", tag = "cmdb",
    responses((status = 200, body = Vec<Finding>)))]
async fn ci_vulnerabilities(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Finding>>, ApiError> {
    Ok(Json(state.app.ci_vulnerabilities(&principal, id).await?))
}

/// Patch compliance per organization and per machine: pending security updates by how long
/// they have waited (under 7 days, 7 to 30, over 30) and open findings by severity (staff;
/// of the organizations you may see).
#[utoipa::path(get, path = "/api/v1/compliance", tag = "cmdb",
    responses((status = 200, body = Compliance)))]
async fn compliance(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<Compliance>, ApiError> {
    Ok(Json(state.app.compliance(&principal).await?))
}
