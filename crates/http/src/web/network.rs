//! Network devices pages: the devices with a form adding one by its address and SNMP
//! credentials, and a device's interfaces with their monitors (whose page has the traffic
//! chart).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use opsdesk_app::AppError;
use opsdesk_app::network::{NetworkDevice, NewNetworkDevice};
use opsdesk_domain::network::InterfaceThresholds;

use super::cmdb::{SentForm, form_errors, text};
use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cmdb/network-devices", get(devices).post(add_device))
        .route("/cmdb/network-devices/{id}", get(device))
}

#[derive(Template)]
#[template(path = "cmdb_network_devices.html")]
struct DevicesPage {
    c: Chrome,
    devices: Vec<NetworkDevice>,
    form: SentForm,
}

#[derive(Template)]
#[template(path = "cmdb_network_device.html")]
struct DevicePage {
    c: Chrome,
    device: NetworkDevice,
}

async fn devices_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    form: SentForm,
) -> Result<Response, WebError> {
    let devices = state.app.network_devices(principal).await?;
    let failed = form.has_errors();
    let mut c = Chrome::new(principal, Lang.t("network.devices"));
    if failed {
        c.notice = Some(Lang.t("form.fix_errors").to_owned());
    }
    let status = if failed {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, render(&DevicesPage { c, devices, form })).into_response())
}

async fn devices(State(state): State<AppState>, WebUser(p): WebUser) -> Result<Response, WebError> {
    p.require_staff()?;
    devices_page(&state, &p, SentForm::default()).await
}

/// A number from the form, or the field's mistake.
fn number<T: std::str::FromStr>(form: &SignedForm, name: &str) -> Result<Option<T>, AppError> {
    text(form, name)
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| AppError::invalid(name, "a number"))
        })
        .transpose()
}

/// The SNMP credentials the form names, as the API takes them.
fn credentials(form: &SignedForm) -> serde_json::Value {
    if form.get("version") == "3" {
        serde_json::json!({"version": "3", "user": form.get("user"),
            "auth_protocol": form.get("auth_protocol"), "auth_password": form.get("auth_password"),
            "privacy_protocol": form.get("privacy_protocol"),
            "privacy_password": form.get("privacy_password")})
    } else {
        serde_json::json!({"version": "2c", "community": form.get("community")})
    }
}

async fn add_device(State(state): State<AppState>, form: SignedForm) -> Result<Response, WebError> {
    let p = form.principal.clone();
    let read = || -> Result<NewNetworkDevice, AppError> {
        Ok(NewNetworkDevice {
            address: form.get("address").to_owned(),
            snmp: credentials(&form),
            organization: text(&form, "organization"),
            name: text(&form, "name"),
            interval_s: number(&form, "interval_s")?,
            thresholds: Some(InterfaceThresholds {
                max_utilisation_pct: number(&form, "max_utilisation_pct")?,
                max_errors_per_min: number(&form, "max_errors_per_min")?,
                max_discards_per_min: number(&form, "max_discards_per_min")?,
            }),
        })
    };
    let added = match read() {
        Ok(input) => state.app.add_network_device(&p, input).await,
        Err(error) => Err(error),
    };
    match added {
        Ok(device) => {
            Ok(Redirect::to(&format!("/cmdb/network-devices/{}", device.id)).into_response())
        }
        Err(error) => {
            // Secrets never travel back into the page.
            let mut sent = SentForm::of(&form, form_errors(error)?);
            for secret in ["community", "auth_password", "privacy_password"] {
                sent.forget(secret);
            }
            devices_page(&state, &p, sent).await
        }
    }
}

async fn device(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    let device = state.app.network_device(&p, id).await?;
    let c = Chrome::new(&p, format!("{}: {}", Lang.t("network.device"), device.name));
    Ok(render(&DevicePage { c, device }).into_response())
}
