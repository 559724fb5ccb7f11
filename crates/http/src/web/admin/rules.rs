//! Automation rules: each with whether it runs, its runs and its last run; a form that writes
//! a rule or changes one, a row per condition and per action (the JSON lists the API takes,
//! written for the admin); enabling and disabling; and a dry run against recent tickets.

use opsdesk_app::automation::{AutomationRule, DryRun, NewRule, RulePatch};
use opsdesk_domain::automation::{ConditionField, RuleEvent, SetField};
use serde_json::{Value, json};

use super::*;

/// Tickets a dry run from the page looks at.
const DRY_RUN_TICKETS: i64 = 100;
/// Empty rows the form offers below a rule's conditions and actions.
const BLANK_ROWS: usize = 2;
/// A condition on the ticket's title and description rather than a field.
const TEXT: &str = "text";
/// A condition on the time of the event.
const BUSINESS_HOURS: &str = "business_hours";
/// The action opening a linked ticket, written `type: title` in its row.
const OPEN_LINKED: &str = "open_linked";
/// The actions that take one text, by the name the API gives them.
const ONE_TEXT_ACTIONS: [&str; 6] = [
    "assign",
    "add_tag",
    "apply_macro",
    "note",
    "page",
    "webhook",
];

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

    /// What a condition row can test: the ticket's fields, its text, business hours.
    pub(super) fn subjects(&self) -> Vec<&'static str> {
        let mut subjects = ConditionField::NAMES.to_vec();
        subjects.extend([TEXT, BUSINESS_HOURS]);
        subjects
    }

    /// What an action row can do: set one field, or one of the other actions.
    pub(super) fn action_kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = SetField::NAMES
            .iter()
            .map(|field| format!("set.{field}"))
            .collect();
        kinds.extend(ONE_TEXT_ACTIONS.iter().map(|kind| (*kind).to_owned()));
        kinds.push(OPEN_LINKED.to_owned());
        kinds
    }
}

/// One condition as its row shows it: what it tests, how, and the value (several, comma
/// separated, for `in`; `yes` or `no` for business hours).
#[derive(Default, Clone)]
pub(super) struct ConditionRow {
    pub(super) subject: String,
    pub(super) op: String,
    pub(super) value: String,
}

/// One action as its row shows it: `set.priority`, `add_tag`… and its value.
#[derive(Default, Clone)]
pub(super) struct ActionRow {
    pub(super) kind: String,
    pub(super) value: String,
}

fn text_of(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

impl ConditionRow {
    fn of(condition: &Value) -> Self {
        let field = |name: &str| condition.get(name);
        if let Some(text) = field("text_contains") {
            return Self {
                subject: TEXT.to_owned(),
                op: "is".to_owned(),
                value: text_of(Some(text)),
            };
        }
        if let Some(inside) = field(BUSINESS_HOURS) {
            let value = if inside.as_bool() == Some(false) {
                "no"
            } else {
                "yes"
            };
            return Self {
                subject: BUSINESS_HOURS.to_owned(),
                op: "is".to_owned(),
                value: value.to_owned(),
            };
        }
        let value = match field("values") {
            Some(Value::Array(values)) => values
                .iter()
                .map(|v| text_of(Some(v)))
                .collect::<Vec<_>>()
                .join(", "),
            _ => text_of(field("value")),
        };
        Self {
            subject: text_of(field("field")),
            op: text_of(field("op")),
            value,
        }
    }

    fn is_blank(&self) -> bool {
        self.subject.is_empty() && self.value.is_empty()
    }

    /// The condition as the API takes it; the application names what is wrong with it.
    /// Text and business hours take no "how" but "is": another is sent along for the
    /// application to refuse, rather than dropped unseen.
    fn to_json(&self) -> Value {
        let mut condition = match self.subject.as_str() {
            TEXT => json!({ "text_contains": self.value }),
            BUSINESS_HOURS => match self.value.to_lowercase().as_str() {
                "yes" | "true" | "inside" => json!({ BUSINESS_HOURS: true }),
                "no" | "false" | "outside" => json!({ BUSINESS_HOURS: false }),
                other => json!({ BUSINESS_HOURS: other }),
            },
            _ => return self.field_json(),
        };
        if self.op != "is" {
            condition["op"] = json!(self.op);
        }
        condition
    }

    fn field_json(&self) -> Value {
        match self.subject.as_str() {
            field if self.op == "in" => {
                let values: Vec<&str> = self
                    .value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.is_empty())
                    .collect();
                json!({ "field": field, "op": "in", "values": values })
            }
            field => json!({ "field": field, "op": self.op, "value": self.value }),
        }
    }
}

impl ActionRow {
    /// The rows of one action as the API writes it (a `set` of several fields is a row each).
    fn of(action: &Value) -> Vec<Self> {
        let Some((kind, value)) = action.as_object().and_then(|a| a.iter().next()) else {
            return Vec::new();
        };
        match (kind.as_str(), value) {
            ("set", Value::Object(fields)) => fields
                .iter()
                .map(|(field, value)| Self {
                    kind: format!("set.{field}"),
                    value: text_of(Some(value)),
                })
                .collect(),
            (OPEN_LINKED, linked) => vec![Self {
                kind: OPEN_LINKED.to_owned(),
                value: format!(
                    "{}: {}",
                    text_of(linked.get("type")),
                    text_of(linked.get("title"))
                ),
            }],
            (kind, value) => vec![Self {
                kind: kind.to_owned(),
                value: text_of(Some(value)),
            }],
        }
    }

    fn is_blank(&self) -> bool {
        self.kind.is_empty() && self.value.is_empty()
    }

    fn to_json(&self) -> Value {
        if let Some(field) = self.kind.strip_prefix("set.") {
            return json!({ "set": { field: self.value } });
        }
        if self.kind == OPEN_LINKED {
            let (ticket_type, title) = self.value.split_once(':').unwrap_or((&self.value, ""));
            return json!({ OPEN_LINKED: { "type": ticket_type.trim(), "title": title.trim() } });
        }
        json!({ self.kind.as_str(): self.value })
    }
}

/// The filled rows, then `BLANK_ROWS` empty ones to add more.
fn with_blank_rows<T: Default>(mut rows: Vec<T>) -> Vec<T> {
    rows.extend(std::iter::repeat_with(T::default).take(BLANK_ROWS));
    rows
}

/// The form's fields as text.
#[derive(Default)]
pub(super) struct RuleForm {
    pub(super) name: String,
    pub(super) event: String,
    pub(super) after_hours: String,
    pub(super) max_runs_per_hour: String,
    pub(super) conditions: Vec<ConditionRow>,
    pub(super) actions: Vec<ActionRow>,
}

impl RuleForm {
    fn of(rule: &AutomationRule) -> Self {
        Self {
            name: rule.name.clone(),
            event: rule.event.clone(),
            after_hours: rule.after_hours.map(|h| h.to_string()).unwrap_or_default(),
            max_runs_per_hour: rule.max_runs_per_hour.to_string(),
            conditions: with_blank_rows(rule.conditions.iter().map(ConditionRow::of).collect()),
            actions: with_blank_rows(rule.actions.iter().flat_map(ActionRow::of).collect()),
        }
    }

    fn blank() -> Self {
        Self {
            event: RuleEvent::TicketCreated.as_str().to_owned(),
            conditions: with_blank_rows(Vec::new()),
            actions: with_blank_rows(Vec::new()),
            ..Self::default()
        }
    }

    /// The form as sent. Each row sends all its fields, in order, so the n-th value of each
    /// field belongs to the n-th row; rows left empty are dropped, so that the n-th row
    /// shown again is the n-th item of the lists (`conditions[n]`) a mistake names.
    fn read(form: &SignedForm) -> Self {
        let column = |name: &str| -> Vec<String> {
            form.fields
                .iter()
                .filter(|(key, _)| key == name)
                .map(|(_, value)| value.trim().to_owned())
                .collect()
        };
        let (subjects, ops, values) = (
            column("condition_subject"),
            column("condition_op"),
            column("condition_value"),
        );
        let conditions = subjects
            .into_iter()
            .enumerate()
            .map(|(n, subject)| ConditionRow {
                subject,
                op: ops.get(n).cloned().unwrap_or_default(),
                value: values.get(n).cloned().unwrap_or_default(),
            })
            .filter(|row| !row.is_blank())
            .collect();
        let action_values = column("action_value");
        let actions = column("action_kind")
            .into_iter()
            .enumerate()
            .map(|(n, kind)| ActionRow {
                kind,
                value: action_values.get(n).cloned().unwrap_or_default(),
            })
            .filter(|row| !row.is_blank())
            .collect();
        Self {
            name: form.get("name").to_owned(),
            event: form.get("event").to_owned(),
            after_hours: form.get("after_hours").to_owned(),
            max_runs_per_hour: form.get("max_runs_per_hour").to_owned(),
            conditions,
            actions,
        }
    }

    /// The form as a rule the application checks; a list or number that does not read is
    /// a mistake in its field.
    fn rule(&self) -> Result<NewRule, Vec<FieldError>> {
        let mut errors = Vec::new();
        let conditions = self.conditions.iter().map(ConditionRow::to_json).collect();
        let actions = self.actions.iter().map(ActionRow::to_json).collect();
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
            form: RuleForm {
                conditions: with_blank_rows(written.conditions),
                actions: with_blank_rows(written.actions),
                ..written
            },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(subject: &str, op: &str, value: &str) -> ConditionRow {
        ConditionRow {
            subject: subject.to_owned(),
            op: op.to_owned(),
            value: value.to_owned(),
        }
    }

    #[test]
    fn condition_rows_become_the_conditions_the_api_takes_and_back() {
        for (written, condition) in [
            (row("text", "is", "vpn"), json!({"text_contains": "vpn"})),
            (
                row("business_hours", "is", "No"),
                json!({"business_hours": false}),
            ),
            (
                row("type", "in", "incident, problem,"),
                json!({"field": "type", "op": "in", "values": ["incident", "problem"]}),
            ),
            (
                row("priority", "is_not", "P1"),
                json!({"field": "priority", "op": "is_not", "value": "P1"}),
            ),
        ] {
            assert_eq!(written.to_json(), condition);
            let shown = ConditionRow::of(&condition);
            assert_eq!(shown.to_json(), condition, "{condition} shown again");
        }
    }

    #[test]
    fn a_how_that_text_does_not_take_is_sent_for_the_application_to_refuse() {
        assert_eq!(
            row("text", "is_not", "vpn").to_json(),
            json!({"text_contains": "vpn", "op": "is_not"})
        );
    }

    #[test]
    fn action_rows_become_the_actions_the_api_takes_and_back() {
        for (kind, value, action) in [
            ("set.priority", "P2", json!({"set": {"priority": "P2"}})),
            ("add_tag", "network", json!({"add_tag": "network"})),
            (
                "open_linked",
                "problem: Recurring VPN drops",
                json!({"open_linked": {"type": "problem", "title": "Recurring VPN drops"}}),
            ),
        ] {
            let written = ActionRow {
                kind: kind.to_owned(),
                value: value.to_owned(),
            };
            assert_eq!(written.to_json(), action);
            let shown = ActionRow::of(&action);
            assert_eq!(shown.len(), 1);
            assert_eq!(shown[0].to_json(), action);
        }
    }
}
