//! Keeping the desk running: the mail quarantine, webhooks, alert integrations and
//! background jobs.

use super::*;

pub(super) async fn quarantine(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    admin(&p)?;
    let messages = state.app.quarantined_mail(&p, i64::MAX, LIMIT).await?;
    page(&p, "quarantine", Section::Quarantine(messages, None))
}

/// Routes a quarantined message again (after, say, its sender's domain was mapped to an
/// organization) and says what it became.
pub(super) async fn reprocess(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let outcome = state.app.reprocess_mail(&form.principal, id).await?;
    let said = match (&outcome.ticket, &outcome.reason) {
        (Some(ticket), _) => Lang
            .t("admin.quarantine.became")
            .replace("{status}", &Lang.label("mail_status", &outcome.status))
            .replace("{ticket}", ticket),
        (None, Some(reason)) => format!("{}: {reason}", Lang.label("mail_status", &outcome.status)),
        (None, None) => Lang.label("mail_status", &outcome.status),
    };
    let messages = state
        .app
        .quarantined_mail(&form.principal, i64::MAX, LIMIT)
        .await?;
    page(
        &form.principal,
        "quarantine",
        Section::Quarantine(messages, Some(said)),
    )
}

/// Takes a message out of the quarantine as needing nothing.
pub(super) async fn discard(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.discard_mail(&form.principal, id).await?;
    Ok(Redirect::to("/admin/quarantine"))
}

pub(super) async fn webhooks(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    admin(&p)?;
    let hooks = state.app.webhooks(&p).await?;
    page(&p, "webhooks", Section::Webhooks(hooks, None, Vec::new()))
}

/// Shows the new signing secret on the page itself, once; a mistake comes back on the form.
pub(super) async fn create_webhook(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let events: Vec<String> = form
        .get("events")
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    let input = NewWebhook {
        url: form.get("url").to_owned(),
        events,
    };
    let (secret, errors) = match state.app.create_webhook(&form.principal, input).await {
        Ok(created) => (created.secret, Vec::new()),
        Err(AppError::Invalid(errors)) => (None, errors),
        Err(other) => return Err(other.into()),
    };
    let failed = !errors.is_empty();
    let hooks = state.app.webhooks(&form.principal).await?;
    let mut response = page(
        &form.principal,
        "webhooks",
        Section::Webhooks(hooks, secret, errors),
    )?;
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

pub(super) async fn delete_webhook(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.delete_webhook(&form.principal, id).await?;
    Ok(Redirect::to("/admin/webhooks"))
}

#[derive(Deserialize)]
pub(super) struct JobParams {
    status: Option<String>,
}

pub(super) async fn jobs(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Query(params): Query<JobParams>,
) -> Result<Response, WebError> {
    admin(&p)?;
    let status = JOB_STATUSES
        .iter()
        .copied()
        .find(|s| Some(*s) == params.status.as_deref())
        .unwrap_or("");
    let filter = Some(status).filter(|s| !s.is_empty());
    let jobs = state.app.jobs(&p, filter, i64::MAX, LIMIT).await?;
    page(&p, "jobs", Section::Jobs(jobs, status))
}

pub(super) async fn retry_job(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.retry_job(&form.principal, id).await?;
    Ok(Redirect::to("/admin/jobs?status=dead"))
}

async fn integrations_page(
    state: &AppState,
    p: &Principal,
    url: Option<String>,
    errors: Vec<FieldError>,
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
    let names = policies.into_iter().map(|policy| policy.name).collect();
    let mut response = page(
        p,
        "integrations",
        Section::Integrations(list, url, errors, alerts, names),
    )?;
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
    integrations_page(&state, &p, None, Vec::new()).await
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
    let settings = pipeline_sent(&form, &mut errors);
    if !errors.is_empty() {
        return integrations_page(&state, &form.principal, None, errors).await;
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
    integrations_page(&state, &form.principal, url, errors).await
}

/// The pipeline settings a form sent; an empty field is left as it is (or off, for a new
/// integration). The threshold's two fields go together.
fn pipeline_sent(form: &SignedForm, errors: &mut Vec<FieldError>) -> IntegrationPatch {
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
    IntegrationPatch {
        hold_back_minutes,
        resolve_after_minutes,
        open_after,
        max_incidents_per_hour,
        silent_after_minutes,
    }
}

/// Saves an integration's pipeline settings through the same use case as
/// `PATCH /api/v1/integrations/{id}`, from the version the page showed; mistakes come back
/// on the page.
pub(super) async fn update_integration(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let mut errors = Vec::new();
    let patch = pipeline_sent(&form, &mut errors);
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
    integrations_page(&state, &form.principal, None, errors).await
}

pub(super) async fn delete_integration(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.delete_integration(&form.principal, id).await?;
    Ok(Redirect::to("/admin/integrations"))
}
