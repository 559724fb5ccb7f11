//! Keeping the desk running: the mail quarantine, webhooks, background jobs and backups.

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

/// The server's backup settings and sets, and how far the log beside the newest reaches.
pub(super) async fn backups(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    let status = state.app.backup_status(&p)?;
    page(&p, "backups", Section::Backups(Box::new(status)))
}
