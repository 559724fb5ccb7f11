//! The admins' page for SCIM provisioning: the identity providers allowed to push users and
//! groups, each with its token (shown once) and the base URL to enter at the provider.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use opsdesk_app::accounts::{Organization, OrganizationRef};
use opsdesk_app::scim::{NewScimClient, ScimClient};
use opsdesk_app::{AppError, Principal};

use super::super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

#[derive(Template)]
#[template(path = "provisioning_admin.html")]
pub(super) struct ProvisioningPage {
    c: Chrome,
    clients: Vec<ScimClient>,
    organizations: Vec<Organization>,
    /// The SCIM base URL to enter at the identity provider.
    base_url: String,
    /// A token just made, shown once.
    created: Option<String>,
}

impl ProvisioningPage {
    fn organization_name(&self, id: &Option<i64>) -> String {
        match id {
            None => Lang.t("provisioning.staff").to_owned(),
            Some(id) => self
                .organizations
                .iter()
                .find(|o| o.id == *id)
                .map_or_else(|| id.to_string(), |o| o.name.clone()),
        }
    }
}

async fn show(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    created: Option<String>,
    notice: Option<String>,
    status: StatusCode,
) -> Result<Response, WebError> {
    principal.require_admin()?;
    let mut c = Chrome::new(principal, Lang.t("admin.provisioning"));
    c.notice = notice;
    let page = ProvisioningPage {
        c,
        clients: state.app.scim_clients(principal).await?,
        organizations: state.app.organizations(principal, 0, 500).await?,
        base_url: crate::api::absolute_url("/scim/v2", headers).unwrap_or_default(),
        created,
    };
    Ok((status, render(&page)).into_response())
}

pub(super) async fn provisioning(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    show(&state, &p, &headers, None, None, StatusCode::OK).await
}

pub(super) async fn create_client(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: SignedForm,
) -> Result<Response, WebError> {
    let p = &form.principal;
    let organization = form
        .get("organization")
        .parse::<i64>()
        .ok()
        .map(OrganizationRef::Id);
    let input = NewScimClient {
        name: form.get("name").to_owned(),
        organization,
    };
    match state.app.create_scim_client(p, input).await {
        Ok(created) => {
            show(
                &state,
                p,
                &headers,
                Some(created.token),
                None,
                StatusCode::CREATED,
            )
            .await
        }
        Err(AppError::Invalid(errors)) => {
            let message = errors.first().map(|e| e.message.clone());
            show(
                &state,
                p,
                &headers,
                None,
                message,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(AppError::Conflict { message, .. }) => {
            show(
                &state,
                p,
                &headers,
                None,
                Some(message),
                StatusCode::CONFLICT,
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

pub(super) async fn revoke_client(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    state.app.revoke_scim_client(&form.principal, id).await?;
    Ok(Redirect::to("/admin/provisioning").into_response())
}
