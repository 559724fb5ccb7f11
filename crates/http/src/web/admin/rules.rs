//! Automation rules: each with whether it runs, its runs and its last run; a form that writes
//! a rule or changes one (conditions and actions as JSON lists, as the API takes them);
//! enabling and disabling; and a dry run against recent tickets.

use opsdesk_app::automation::{AutomationRule, DryRun, NewRule, RulePatch};
use opsdesk_domain::automation::RuleEvent;

use super::*;

/// Tickets a dry run from the page looks at.
const DRY_RUN_TICKETS: i64 = 100;

/// Everything the page shows.
pub(super) struct RulesPage {
    pub(super) rules: Vec<AutomationRule>,
    /// The rule the form changes; a new one when absent.
    pub(super) editing: Option<i64>,
    pub(super) form: RuleForm,
    pub(super) errors: Vec<FieldError>,
    /// A dry run's rule, what it found, and how many matched, in words.
    pub(super) dry_run: Option<(String, DryRun, String)>,
}

impl RulesPage {
    pub(super) fn events(&self) -> &'static [&'static str] {
        RuleEvent::NAMES
    }
}

/// The form's fields as text.
#[derive(Default)]
pub(super) struct RuleForm {
    pub(super) name: String,
    pub(super) event: String,
    pub(super) after_hours: String,
    pub(super) max_runs_per_hour: String,
    pub(super) conditions: String,
    pub(super) actions: String,
}

impl RuleForm {
    fn of(rule: &AutomationRule) -> Self {
        let list = |items: &Vec<serde_json::Value>| {
            serde_json::to_string_pretty(items).unwrap_or_default()
        };
        Self {
            name: rule.name.clone(),
            event: rule.event.clone(),
            after_hours: rule.after_hours.map(|h| h.to_string()).unwrap_or_default(),
            max_runs_per_hour: rule.max_runs_per_hour.to_string(),
            conditions: list(&rule.conditions),
            actions: list(&rule.actions),
        }
    }

    fn blank() -> Self {
        Self {
            event: RuleEvent::TicketCreated.as_str().to_owned(),
            conditions: "[]".to_owned(),
            actions: "[]".to_owned(),
            ..Self::default()
        }
    }

    fn read(form: &SignedForm) -> Self {
        Self {
            name: form.get("name").to_owned(),
            event: form.get("event").to_owned(),
            after_hours: form.get("after_hours").to_owned(),
            max_runs_per_hour: form.get("max_runs_per_hour").to_owned(),
            conditions: form.get("conditions").to_owned(),
            actions: form.get("actions").to_owned(),
        }
    }

    /// The form as a rule the application checks; a list or number that does not read is
    /// a mistake in its field.
    fn rule(&self) -> Result<NewRule, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut list = |field: &str, text: &str| {
            serde_json::from_str::<Vec<serde_json::Value>>(text)
                .map_err(|_| errors.push(FieldError::new(field, Lang.t("admin.rules.not_a_list"))))
                .unwrap_or_default()
        };
        let conditions = list("conditions", &self.conditions);
        let actions = list("actions", &self.actions);
        let mut number = |field: &str, text: &str| match text.trim() {
            "" => None,
            text => text
                .parse::<i64>()
                .map_err(|_| {
                    errors.push(FieldError::new(field, Lang.t("admin.rules.not_a_number")))
                })
                .ok(),
        };
        let after_hours = number("after_hours", &self.after_hours);
        let max_runs_per_hour = number("max_runs_per_hour", &self.max_runs_per_hour);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NewRule {
            name: self.name.clone(),
            enabled: true,
            event: self.event.clone(),
            after_hours,
            conditions,
            actions,
            max_runs_per_hour,
        })
    }
}

async fn show(state: &AppState, p: &Principal, mut rules: RulesPage) -> Result<Response, WebError> {
    let failed = !rules.errors.is_empty();
    rules.rules = state.app.rules(p).await?;
    let mut response = page(p, "rules", Section::Rules(Box::new(rules)))?;
    if failed {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

fn fresh() -> RulesPage {
    RulesPage {
        rules: Vec::new(),
        editing: None,
        form: RuleForm::blank(),
        errors: Vec::new(),
        dry_run: None,
    }
}

#[derive(Deserialize)]
pub(super) struct RulesParams {
    edit: Option<i64>,
}

pub(super) async fn rules(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Query(params): Query<RulesParams>,
) -> Result<Response, WebError> {
    admin(&p)?;
    let mut shown = fresh();
    if let Some(id) = params.edit {
        shown.form = RuleForm::of(&state.app.rule(&p, id).await?);
        shown.editing = Some(id);
    }
    show(&state, &p, shown).await
}

/// Writes the form: a new rule, or over rule `id`. A mistake comes back on the form.
async fn save(state: &AppState, form: SignedForm, id: Option<i64>) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let written = RuleForm::read(&form);
    let saved = match written.rule() {
        Err(errors) => Err(errors),
        Ok(rule) => {
            let result = match id {
                None => state.app.create_rule(&form.principal, rule).await,
                Some(id) => {
                    let patch = RulePatch {
                        name: Some(rule.name),
                        event: Some(rule.event),
                        after_hours: rule.after_hours,
                        conditions: Some(rule.conditions),
                        actions: Some(rule.actions),
                        max_runs_per_hour: rule.max_runs_per_hour,
                        ..RulePatch::default()
                    };
                    state.app.update_rule(&form.principal, id, patch).await
                }
            };
            match result {
                Ok(_) => Ok(()),
                Err(AppError::Invalid(errors)) => Err(errors),
                Err(other) => return Err(other.into()),
            }
        }
    };
    let shown = match saved {
        Ok(()) => fresh(),
        Err(errors) => RulesPage {
            editing: id,
            form: written,
            errors,
            ..fresh()
        },
    };
    show(state, &form.principal, shown).await
}

pub(super) async fn create_rule(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    save(&state, form, None).await
}

pub(super) async fn update_rule(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    save(&state, form, Some(id)).await
}

/// Starts or stops a rule.
pub(super) async fn set_enabled(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let patch = RulePatch {
        enabled: Some(form.get("enabled") == "true"),
        ..RulePatch::default()
    };
    state.app.update_rule(&form.principal, id, patch).await?;
    Ok(Redirect::to("/admin/rules"))
}

/// Shows what a rule would do to the recent tickets.
pub(super) async fn dry_run(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let rule = state.app.rule(&form.principal, id).await?;
    let run = state
        .app
        .dry_run_rule(&form.principal, id, DRY_RUN_TICKETS)
        .await?;
    let said = Lang
        .t("admin.rules.matched")
        .replace("{matched}", &run.matched.to_string())
        .replace("{tickets}", &DRY_RUN_TICKETS.to_string());
    let shown = RulesPage {
        dry_run: Some((rule.name, run, said)),
        ..fresh()
    };
    show(&state, &form.principal, shown).await
}
