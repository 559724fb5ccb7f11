//! The triage assistant's page: the model in service, training now, the versions kept (and
//! going back to one), the categories it applies itself with their thresholds, and how its
//! suggestions fared week by week.

use opsdesk_app::triage::{ThresholdInput, TriageThreshold, TriageVersion, WeeklyAccuracy};

use super::*;

/// Everything the page shows, and what the last action said.
pub(super) struct TriagePage {
    pub(super) versions: Vec<TriageVersion>,
    pub(super) thresholds: Vec<TriageThreshold>,
    pub(super) weeks: Vec<WeeklyAccuracy>,
    pub(super) categories: Vec<Category>,
    pub(super) said: Option<String>,
    pub(super) errors: Vec<FieldError>,
}

impl TriagePage {
    /// The mistake in `field`, if any.
    pub(super) fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }
}

async fn show(
    state: &AppState,
    p: &Principal,
    said: Option<String>,
    errors: Vec<FieldError>,
) -> Result<Response, WebError> {
    let failed = !errors.is_empty();
    let section = Section::Triage(Box::new(TriagePage {
        versions: state.app.triage_versions(p).await?,
        thresholds: state.app.triage_thresholds(p).await?,
        weeks: state.app.triage_accuracy(p, 8).await?,
        categories: state.app.categories().await?,
        said,
        errors,
    }));
    let mut response = page(p, "triage", section)?;
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

pub(super) async fn triage(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    admin(&p)?;
    show(&state, &p, None, Vec::new()).await
}

/// Trains a version now; too little history is said on the page.
pub(super) async fn train(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let said = match state.app.train_triage(&form.principal).await {
        Ok(report) => Lang
            .t("admin.triage.trained")
            .replace("{model}", &report.model)
            .replace("{tickets}", &report.trained_on.to_string()),
        Err(AppError::Conflict { message, .. }) => message,
        Err(other) => return Err(other.into()),
    };
    show(&state, &form.principal, Some(said), Vec::new()).await
}

/// Goes back to a kept version.
pub(super) async fn activate(
    State(state): State<AppState>,
    Path(version): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let active = state
        .app
        .activate_triage_version(&form.principal, &version)
        .await?;
    let said = Lang
        .t("admin.triage.activated")
        .replace("{model}", &active.report.model);
    show(&state, &form.principal, Some(said), Vec::new()).await
}

/// Sets or (left empty) removes a category's threshold, given in percent.
pub(super) async fn set_threshold(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let threshold = match form.get("threshold").trim() {
        "" => Ok(None),
        text => text
            .trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .map(|percent| Some(percent / 100.0))
            .map_err(|_| FieldError::new("threshold", "not a number")),
    };
    let result = match threshold {
        Ok(threshold) => {
            let input = ThresholdInput {
                category: form.get("category").to_owned(),
                threshold,
            };
            state.app.set_triage_threshold(&form.principal, input).await
        }
        Err(error) => Err(AppError::Invalid(vec![error])),
    };
    match result {
        Ok(()) => show(&state, &form.principal, None, Vec::new()).await,
        Err(AppError::Invalid(errors)) => {
            // The form speaks in percent, the rule in shares.
            let errors = errors
                .into_iter()
                .map(|e| match e.field.as_str() {
                    "threshold" => {
                        FieldError::new("threshold", Lang.t("admin.triage.threshold.number"))
                    }
                    _ => e,
                })
                .collect();
            show(&state, &form.principal, None, errors).await
        }
        Err(other) => Err(other.into()),
    }
}
