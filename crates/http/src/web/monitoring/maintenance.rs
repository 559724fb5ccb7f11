//! Maintenance windows: the list, creating one (one-off or recurring) and deleting one.

use super::*;

/// The maintenance form: what was sent when it comes back with mistakes, and the mistakes.
#[derive(Default)]
struct WindowForm {
    values: HashMap<String, String>,
    errors: Vec<FieldError>,
}

impl WindowForm {
    fn v(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| form_field(e) == field)
            .map(|e| e.message.as_str())
    }

    fn other_errors(&self) -> Vec<&FieldError> {
        const FIELDS: &[&str] = &[
            "monitor_id",
            "tag",
            "starts_at",
            "ends_at",
            "schedule",
            "timezone",
            "duration_minutes",
            "reason",
        ];
        self.errors
            .iter()
            .filter(|e| !FIELDS.contains(&form_field(e)))
            .collect()
    }

    fn selected_monitor(&self, id: &i64) -> bool {
        self.v("monitor_id") == id.to_string()
    }
}

/// A maintenance window as the list shows it.
struct WindowRow {
    w: Maintenance,
    scope: String,
    starts: String,
    ends: String,
}

#[derive(Template)]
#[template(path = "maintenance.html")]
struct MaintenancePage {
    c: Chrome,
    rows: Vec<WindowRow>,
    monitors: Vec<Monitor>,
    form: WindowForm,
}

async fn maintenance_page(
    state: &AppState,
    principal: &Principal,
    form: WindowForm,
    status: StatusCode,
) -> Result<Response, WebError> {
    staff(principal)?;
    let l = Locale::of(principal);
    let monitors = state.app.monitors(principal, 0, LIMIT).await?;
    let names: HashMap<i64, &str> = monitors.iter().map(|m| (m.id, m.name.as_str())).collect();
    let rows = state
        .app
        .maintenance_windows(principal, &MaintenanceQuery::default(), 0, LIMIT)
        .await?
        .into_iter()
        .map(|w| WindowRow {
            scope: match (w.monitor_id, &w.tag) {
                (Some(id), _) => names
                    .get(&id)
                    .map_or_else(|| id.to_string(), |n| (*n).to_owned()),
                (None, Some(tag)) => format!("{} {tag}", l.t("maintenance.tag")),
                (None, None) => l.t("maintenance.every_monitor").to_owned(),
            },
            starts: l.when(w.starts_at),
            ends: w.ends_at.map(|at| l.when(at)).unwrap_or_default(),
            w,
        })
        .collect();
    let mut c = Chrome::new(principal, l.t("maintenance.title"));
    if !form.errors.is_empty() {
        c.notice = Some(l.t("form.fix_errors").to_owned());
    }
    let page = MaintenancePage {
        c,
        rows,
        monitors,
        form,
    };
    Ok((status, render(&page)).into_response())
}

pub(super) async fn maintenance(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    maintenance_page(&state, &p, WindowForm::default(), StatusCode::OK).await
}

/// A time typed into the `datetime-local` field `name`, in the time zone of whoever sent the
/// form.
pub(crate) fn form_time(
    form: &SignedForm,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<jiff::Timestamp> {
    let text = form.get(name);
    if text.is_empty() {
        return None;
    }
    let locale = Locale::of(&form.principal);
    let parsed = locale.read_field(text);
    if parsed.is_none() {
        errors.push(FieldError::new(name, locale.zoned("maintenance.time.hint")));
    }
    parsed
}

/// Creates through the same use case as `POST /api/v1/maintenance-windows`.
pub(super) async fn create_maintenance(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    staff(&form.principal)?;
    let mut errors = Vec::new();
    let starts_at = form_time(&form, "starts_at", &mut errors);
    if starts_at.is_none() && !errors.iter().any(|e| e.field == "starts_at") {
        errors.push(FieldError::new("starts_at", Lang.t("form.required")));
    }
    let recurrence = form.opt("schedule").map(|schedule| NewRecurrence {
        schedule,
        timezone: form.opt("timezone"),
        duration_s: number::<i64>(&form, "duration_minutes", &mut errors)
            .unwrap_or(0)
            .saturating_mul(60),
    });
    let input = NewMaintenance {
        monitor_id: number(&form, "monitor_id", &mut errors),
        tag: form.opt("tag"),
        starts_at: starts_at.unwrap_or_default(),
        ends_at: form_time(&form, "ends_at", &mut errors),
        recurrence,
        reason: form.get("reason").to_owned(),
    };
    if errors.is_empty() {
        match state.app.create_maintenance(&form.principal, input).await {
            Ok(_) => return Ok(Redirect::to("/maintenance").into_response()),
            Err(error) => errors = form_errors(error)?,
        }
    }
    let sent = WindowForm {
        values: form.sent(),
        errors: errors
            .into_iter()
            .map(|e| match e.field.as_str() {
                "recurrence.duration_s" => FieldError::new("duration_minutes", e.message),
                _ => e,
            })
            .collect(),
    };
    maintenance_page(
        &state,
        &form.principal,
        sent,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

pub(super) async fn delete_maintenance(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.delete_maintenance(&form.principal, id).await?;
    Ok(Redirect::to("/maintenance"))
}
