//! Alert integrations: creating one, changing its settings, trying a change on the rule
//! simulator first, and the recent alerts.

use std::collections::HashMap;

use opsdesk_app::alerts::simulate::{Simulation, SimulationDraft};

use super::*;

/// The alert integrations section.
pub(super) struct IntegrationsPage {
    pub(super) list: Vec<Integration>,
    /// The URL of one just created, shown once.
    pub(super) url: Option<String>,
    pub(super) errors: Vec<FieldError>,
    pub(super) alerts: Vec<Alert>,
    /// The escalation policies' names.
    pub(super) policies: Vec<String>,
    pub(super) simulated: Option<Simulated>,
}

/// A simulation just run from an integration's form, with the values tried.
pub(super) struct Simulated {
    pub(super) id: i64,
    pub(super) sent: HashMap<String, String>,
    pub(super) simulation: Simulation,
}

impl IntegrationsPage {
    /// What integration `id`'s form shows for `field`: the value tried on the simulator,
    /// else `current`.
    pub(super) fn value(&self, id: &i64, field: &str, current: String) -> String {
        match &self.simulated {
            Some(s) if s.id == *id => s.sent.get(field).cloned().unwrap_or(current),
            _ => current,
        }
    }

    /// The simulation of integration `id`, when one was just run.
    pub(super) fn simulation_of(&self, id: &i64) -> Option<&Simulation> {
        self.simulated
            .as_ref()
            .filter(|s| s.id == *id)
            .map(|s| &s.simulation)
    }
}

/// The page, with what the last form brought: a new URL, mistakes, a simulation.
async fn integrations_page(
    state: &AppState,
    p: &Principal,
    url: Option<String>,
    errors: Vec<FieldError>,
    simulated: Option<Simulated>,
) -> Result<Response, WebError> {
    let failed = !errors.is_empty();
    let list = state.app.integrations(p).await?;
    let recent = AlertFilter {
        firing_only: false,
        silenced: None,
        text: None,
        limit: 50,
    };
    let alerts = state.app.alerts(p, &recent).await?;
    let policies = state.app.escalation_policies(p).await?;
    let policies = policies.into_iter().map(|policy| policy.name).collect();
    let section = IntegrationsPage {
        list,
        url,
        errors,
        alerts,
        policies,
        simulated,
    };
    let mut response = page(p, "integrations", Section::Integrations(Box::new(section)))?;
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

pub(super) async fn integrations(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    admin(&p)?;
    integrations_page(&state, &p, None, Vec::new(), None).await
}

/// Shows the new integration's URL on the page itself, once; a mistake comes back on the
/// form.
pub(super) async fn create_integration(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let group_by = form
        .get("group_by")
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let mut errors = Vec::new();
    let settings = settings_sent(&form, &mut errors);
    if !errors.is_empty() {
        return integrations_page(&state, &form.principal, None, errors, None).await;
    }
    let input = NewIntegration {
        name: form.get("name").to_owned(),
        kind: form.get("kind").to_owned(),
        address: form.opt("address").filter(|a| !a.trim().is_empty()),
        requester: form.get("requester").to_owned(),
        group_by,
        escalation_policy: form.opt("escalation_policy"),
        hold_back_minutes: settings.hold_back_minutes.unwrap_or_default(),
        resolve_after_minutes: settings.resolve_after_minutes.unwrap_or_default(),
        open_after: settings.open_after.unwrap_or_default(),
        max_incidents_per_hour: settings.max_incidents_per_hour.unwrap_or_default(),
        silent_after_minutes: settings.silent_after_minutes.unwrap_or_default(),
    };
    let (url, errors) = match state.app.create_integration(&form.principal, input).await {
        Ok(created) => {
            // The URL is absolute, on the address the admin used.
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("localhost");
            let url = created.url_path.map(|path| format!("http://{host}{path}"));
            (url, Vec::new())
        }
        Err(AppError::Invalid(errors)) => (None, errors),
        Err(AppError::Conflict {
            field: Some(field),
            message,
        }) => (None, vec![FieldError::new(field, message)]),
        Err(other) => return Err(other.into()),
    };
    integrations_page(&state, &form.principal, url, errors, None).await
}

/// The settings a form sent: grouping and escalation policy when the form has them, and
/// the pipeline; an empty number is left as it is (or off, for a new integration). The
/// threshold's two fields go together.
fn settings_sent(form: &SignedForm, errors: &mut Vec<FieldError>) -> IntegrationPatch {
    let mut number = |name: &str| {
        let text = form.get(name).trim();
        if text.is_empty() {
            return None;
        }
        let parsed = text.parse::<i64>().ok();
        if parsed.is_none() {
            errors.push(FieldError::new(name, Lang.t("form.whole_number")));
        }
        parsed
    };
    let hold_back_minutes = number("hold_back_minutes");
    let resolve_after_minutes = number("resolve_after_minutes");
    let count = number("open_after_count");
    let minutes = number("open_after_minutes");
    let max_incidents_per_hour = number("max_incidents_per_hour");
    let silent_after_minutes = number("silent_after_minutes");
    let open_after = (count.is_some() || minutes.is_some()).then(|| OpenAfter {
        count: count.unwrap_or(1),
        minutes: minutes.unwrap_or(0),
    });
    let group_by = form.opt("group_by").map(|labels| {
        labels
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    });
    IntegrationPatch {
        group_by,
        escalation_policy: form.opt("escalation_policy"),
        hold_back_minutes,
        resolve_after_minutes,
        open_after,
        max_incidents_per_hour,
        silent_after_minutes,
    }
}

/// Saves an integration's settings through the same use case as
/// `PATCH /api/v1/integrations/{id}`, from the version the page showed; mistakes come back
/// on the page.
pub(super) async fn update_integration(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let mut errors = Vec::new();
    let patch = settings_sent(&form, &mut errors);
    let version = form.get("version").parse::<i64>().ok();
    if errors.is_empty() {
        match state
            .app
            .update_integration(&form.principal, id, Precondition::from(version), patch)
            .await
        {
            Ok(_) => return Ok(Redirect::to("/admin/integrations").into_response()),
            Err(AppError::Invalid(invalid)) => errors = invalid,
            Err(other) => return Err(other.into()),
        }
    }
    integrations_page(&state, &form.principal, None, errors, None).await
}

pub(super) async fn delete_integration(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.delete_integration(&form.principal, id).await?;
    Ok(Redirect::to("/admin/integrations"))
}

/// Replays the last thirty days through the settings in the form, through the same use case
/// as `POST /api/v1/integrations/{id}/simulate`, and shows the outcome beside the form, its
/// values kept for saving.
pub(super) async fn simulate_integration(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let mut errors = Vec::new();
    let changes = settings_sent(&form, &mut errors);
    if !errors.is_empty() {
        return integrations_page(&state, &form.principal, None, errors, None).await;
    }
    let draft = SimulationDraft {
        changes: Some(changes),
        ..SimulationDraft::default()
    };
    match state
        .app
        .simulate_integration(&form.principal, id, draft)
        .await
    {
        Ok(simulation) => {
            let simulated = Simulated {
                id,
                sent: form.sent(),
                simulation,
            };
            integrations_page(&state, &form.principal, None, Vec::new(), Some(simulated)).await
        }
        Err(AppError::Invalid(invalid)) => {
            integrations_page(&state, &form.principal, None, invalid, None).await
        }
        Err(other) => Err(other.into()),
    }
}
