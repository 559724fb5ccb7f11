//! SCIM 2.0 provisioning (RFC 7643/7644): identity providers (Entra ID, Okta, Authentik,
//! Keycloak plug-ins) push the accounts and groups they manage. Each client has its own
//! token and scope: an organization's client creates and updates only that organization's
//! customers; a staff client (no organization) manages agents and the support groups it
//! creates or adopts. Admin accounts are never provisioned, so a directory can never lock out
//! the local break-glass admin.

mod clients;
mod groups;
mod users;

use opsdesk_domain::scim::{self as rules, EqFilter, ScimError};
use serde::Serialize;

use crate::AppError;

pub use clients::{CreatedScimClient, NewScimClient, ScimCaller, ScimClient};
pub use groups::{ScimGroup, ScimMember};
pub use users::{ScimEmail, ScimName, ScimUser};

/// The largest page a list answers, whatever `count` asks for.
pub const MAX_PAGE: i64 = 200;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimMeta {
    pub resource_type: String,
    #[schema(value_type = String, format = DateTime)]
    pub created: jiff::Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_modified: jiff::Timestamp,
    pub location: String,
    pub version: String,
}

/// A page of resources.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScimList<T> {
    pub schemas: Vec<String>,
    pub total_results: i64,
    pub start_index: i64,
    pub items_per_page: i64,
    #[serde(rename = "Resources")]
    pub resources: Vec<T>,
}

fn scim_error(error: ScimError) -> AppError {
    let field = match error {
        ScimError::InvalidFilter(_) => "filter",
        ScimError::InvalidPath(_) => "path",
        ScimError::InvalidValue(_) => "value",
    };
    AppError::invalid(field, error)
}

fn not_found() -> AppError {
    AppError::NotFound("resource")
}

fn parse_id(id: &str) -> Result<i64, AppError> {
    id.parse().map_err(|_| not_found())
}

/// The list filter a client sent, if any (`userName eq "…"`).
fn parse_filter(filter: Option<&str>) -> Result<Option<EqFilter>, AppError> {
    filter
        .filter(|f| !f.trim().is_empty())
        .map(rules::parse_filter)
        .transpose()
        .map_err(scim_error)
}
