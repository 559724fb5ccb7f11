//! The forms that create and change monitors of every kind, and pause or resume them.

use opsdesk_domain::network::InterfaceThresholds;

use super::*;

/// The form creating or changing a monitor: what it shows (the stored monitor, defaults,
/// or what was sent when it comes back with mistakes) and the mistakes, by field.
struct MonitorForm {
    /// Set when changing a monitor.
    id: Option<i64>,
    kind: String,
    version: i64,
    values: HashMap<String, String>,
    errors: Vec<FieldError>,
    organizations: Vec<Organization>,
    groups: Vec<String>,
}

/// The fields of the monitor form, which show their own mistakes.
const MONITOR_FIELDS: &[&str] = &[
    "name",
    "target",
    "interval_s",
    "schedule",
    "timezone",
    "timeout_s",
    "retries",
    "recover_after",
    "grace_s",
    "organization_id",
    "tags",
    "impact",
    "urgency",
    "group",
    "method",
    "headers",
    "body",
    "expected_status",
    "keyword",
    "regex",
    "max_latency_ms",
    "min_days_left",
    "record_type",
    "expected",
    "resolver",
    "count",
    "max_loss_percent",
];

/// The form field a mistake belongs to: `tags[2]` is the tags field, `incident.impact`
/// the impact select.
pub(super) fn form_field(error: &FieldError) -> &str {
    let field = error.field.split('[').next().unwrap_or_default();
    field
        .strip_prefix("incident.")
        .or_else(|| field.strip_prefix("recurrence."))
        .unwrap_or(field)
}

impl MonitorForm {
    /// The value of `field`; empty when unset.
    fn v(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    /// Whether the checkbox `field` is ticked.
    fn checked(&self, field: &str) -> bool {
        self.v(field) == "on"
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| form_field(e) == field)
            .map(|e| e.message.as_str())
    }

    fn other_errors(&self) -> Vec<&FieldError> {
        self.errors
            .iter()
            .filter(|e| !MONITOR_FIELDS.contains(&form_field(e)))
            .collect()
    }

    fn is(&self, kind: &str) -> bool {
        self.kind == kind
    }

    fn levels(&self) -> &'static [&'static str] {
        Impact::NAMES
    }

    fn action(&self) -> String {
        match self.id {
            Some(id) => format!("/monitors/{id}/edit"),
            None => "/monitors/new".to_owned(),
        }
    }

    fn selected_organization(&self, id: &i64) -> bool {
        self.v("organization_id") == id.to_string()
    }
}

/// The form's values for a stored monitor.
fn values_of(m: &Monitor) -> HashMap<String, String> {
    let s = &m.settings;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let number = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    let on = |v: Option<bool>| if v.unwrap_or(true) { "on" } else { "" }.to_owned();
    let pairs = [
        ("name", m.name.clone()),
        ("target", m.target.clone()),
        (
            "interval_s",
            m.interval_s.map(|i| i.to_string()).unwrap_or_default(),
        ),
        ("schedule", text(&m.schedule)),
        ("timezone", text(&m.timezone)),
        ("timeout_s", m.timeout_s.to_string()),
        ("retries", m.retries.to_string()),
        ("recover_after", m.recover_after.to_string()),
        (
            "grace_s",
            m.grace_s.map(|g| g.to_string()).unwrap_or_default(),
        ),
        (
            "organization_id",
            m.organization_id.map(|o| o.to_string()).unwrap_or_default(),
        ),
        ("tags", m.tags.join(", ")),
        ("impact", m.incident.impact.clone()),
        ("urgency", m.incident.urgency.clone()),
        ("group", text(&m.incident.group)),
        ("method", text(&s.method)),
        (
            "headers",
            s.headers
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        ("body", text(&s.body)),
        (
            "expected_status",
            s.expected_status
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        ("keyword", text(&s.keyword)),
        ("regex", text(&s.regex)),
        ("max_latency_ms", number(s.max_latency_ms)),
        ("follow_redirects", on(s.follow_redirects)),
        ("verify_tls", on(s.verify_tls)),
        ("min_days_left", number(s.min_days_left.map(u64::from))),
        ("record_type", text(&s.record_type)),
        ("expected", text(&s.expected)),
        ("resolver", text(&s.resolver)),
        ("count", number(s.count.map(u64::from))),
        (
            "max_loss_percent",
            number(s.max_loss_percent.map(u64::from)),
        ),
    ];
    let limits = s.interface.map(|i| i.thresholds).unwrap_or_default();
    let decimal = |v: Option<f64>| v.map(|n| n.to_string()).unwrap_or_default();
    let interface = [
        ("max_utilisation_pct", decimal(limits.max_utilisation_pct)),
        ("max_errors_per_min", decimal(limits.max_errors_per_min)),
        ("max_discards_per_min", decimal(limits.max_discards_per_min)),
    ];
    pairs
        .into_iter()
        .chain(interface)
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

/// Defaults of a new monitor of `kind`.
fn defaults() -> HashMap<String, String> {
    [
        ("interval_s", "60"),
        ("timeout_s", "10"),
        ("retries", "1"),
        ("recover_after", "1"),
        ("grace_s", "60"),
        ("impact", "medium"),
        ("urgency", "high"),
        ("follow_redirects", "on"),
        ("verify_tls", "on"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[derive(Template)]
#[template(path = "monitor_form.html")]
struct FormPage {
    c: Chrome,
    form: MonitorForm,
    kinds: &'static [&'static str],
}

async fn form_page(
    state: &AppState,
    principal: &Principal,
    mut form: MonitorForm,
    status: StatusCode,
) -> Result<Response, WebError> {
    form.organizations = state.app.organizations(principal, 0, LIMIT).await?;
    form.groups = state
        .app
        .groups(principal)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    let l = Lang;
    let title = match form.id {
        Some(_) => format!("{}: {}", l.t("monitor.edit"), form.v("name")),
        None => format!(
            "{} ({})",
            l.t("monitor.new"),
            l.label("monitor.kind", &form.kind)
        ),
    };
    let mut c = Chrome::new(principal, title);
    if !form.errors.is_empty() {
        c.notice = Some(l.t("form.fix_errors").to_owned());
    }
    let page = FormPage {
        c,
        form,
        kinds: FORM_KINDS,
    };
    Ok((status, render(&page)).into_response())
}

/// The kinds the form makes: an SNMP interface's monitor comes with its network device.
const FORM_KINDS: &[&str] = &["http", "tcp", "icmp", "dns", "tls", "heartbeat"];

#[derive(Deserialize)]
pub(super) struct KindParam {
    kind: Option<String>,
}

pub(super) async fn new_form(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Query(param): Query<KindParam>,
) -> Result<Response, WebError> {
    staff(&p)?;
    let kind = param
        .kind
        .filter(|k| FORM_KINDS.contains(&k.as_str()))
        .unwrap_or_else(|| "http".to_owned());
    let form = MonitorForm {
        id: None,
        kind,
        version: 0,
        values: defaults(),
        errors: Vec::new(),
        organizations: Vec::new(),
        groups: Vec::new(),
    };
    form_page(&state, &p, form, StatusCode::OK).await
}

/// A number typed into field `name`: `None` when empty, a mistake when not a number.
pub(super) fn number<T: std::str::FromStr>(
    form: &SignedForm,
    name: &str,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    let text = form.get(name);
    if text.is_empty() {
        return None;
    }
    let parsed = text.parse().ok();
    if parsed.is_none() {
        errors.push(FieldError::new(name, Lang.t("form.whole_number")));
    }
    parsed
}

/// A comma-separated list typed into one field.
fn split_list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The probe settings the form sent for a monitor of `kind`.
/// The probe settings the form sent; `current` keeps what the form does not show (an SNMP
/// interface's device and index).
fn settings_sent(
    form: &SignedForm,
    kind: &str,
    current: Option<&ProbeSettings>,
    errors: &mut Vec<FieldError>,
) -> ProbeSettings {
    let mut s = ProbeSettings::default();
    let tick = |name: &str| Some(form.get(name) == "on");
    match kind {
        "http" => {
            s.method = form.opt("method");
            s.body = form.opt("body");
            s.keyword = form.opt("keyword");
            s.regex = form.opt("regex");
            s.follow_redirects = tick("follow_redirects");
            s.verify_tls = tick("verify_tls");
            for line in form.get("headers").lines().filter(|l| !l.trim().is_empty()) {
                match line.split_once(':') {
                    Some((name, value)) => {
                        s.headers
                            .insert(name.trim().to_owned(), value.trim().to_owned());
                    }
                    None => errors.push(FieldError::new("headers", Lang.t("monitor.headers.hint"))),
                }
            }
            for code in split_list(form.get("expected_status")) {
                match code.parse() {
                    Ok(code) => s.expected_status.push(code),
                    Err(_) => errors.push(FieldError::new(
                        "expected_status",
                        Lang.t("form.whole_number"),
                    )),
                }
            }
        }
        "icmp" => {
            s.count = number(form, "count", errors);
            s.max_loss_percent = number(form, "max_loss_percent", errors);
        }
        "dns" => {
            s.record_type = form.opt("record_type");
            s.expected = form.opt("expected");
            s.resolver = form.opt("resolver");
        }
        "tls" => {
            s.min_days_left = number(form, "min_days_left", errors);
            s.verify_tls = tick("verify_tls");
        }
        "snmp_interface" => {
            let limit = |name: &str, errors: &mut Vec<FieldError>| {
                form.opt(name)
                    .filter(|v| !v.trim().is_empty())
                    .and_then(|v| match v.trim().parse::<f64>() {
                        Ok(n) => Some(n),
                        Err(_) => {
                            errors.push(FieldError::new(name, Lang.t("form.number")));
                            None
                        }
                    })
            };
            s.interface = current.and_then(|c| c.interface).map(|mut interface| {
                interface.thresholds = InterfaceThresholds {
                    max_utilisation_pct: limit("max_utilisation_pct", errors),
                    max_errors_per_min: limit("max_errors_per_min", errors),
                    max_discards_per_min: limit("max_discards_per_min", errors),
                };
                interface
            });
        }
        _ => {}
    }
    if matches!(kind, "http" | "tcp" | "icmp" | "dns") {
        s.max_latency_ms = number(form, "max_latency_ms", errors);
    }
    s
}

/// The incident settings the form sent, over those stored (category, requester, resolve).
fn incident_sent(form: &SignedForm, stored: Option<&IncidentSettings>) -> IncidentSettings {
    let mut incident = stored.cloned().unwrap_or_default();
    incident.impact = form.get("impact").to_owned();
    incident.urgency = form.get("urgency").to_owned();
    incident.group = form.opt("group");
    incident
}

/// Mistakes of a use case that belong on the form; other errors pass through.
pub(super) fn form_errors(error: AppError) -> Result<Vec<FieldError>, WebError> {
    match error {
        AppError::Invalid(errors) => Ok(errors),
        AppError::Conflict {
            field: Some(field),
            message,
        } => Ok(vec![FieldError::new(field, message)]),
        other => Err(other.into()),
    }
}

/// Creates through the same use case as `POST /api/v1/monitors`; mistakes come back next
/// to their field.
pub(super) async fn create(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    staff(&form.principal)?;
    let kind = form.get("kind").to_owned();
    let mut errors = Vec::new();
    let heartbeat = kind == "heartbeat";
    let input = NewMonitor {
        name: form.get("name").to_owned(),
        kind: kind.clone(),
        target: form.get("target").to_owned(),
        interval_s: number(&form, "interval_s", &mut errors),
        schedule: form.opt("schedule").filter(|_| heartbeat),
        timezone: form.opt("timezone").filter(|_| heartbeat),
        timeout_s: number(&form, "timeout_s", &mut errors),
        retries: number(&form, "retries", &mut errors),
        recover_after: number(&form, "recover_after", &mut errors),
        grace_s: number(&form, "grace_s", &mut errors).filter(|_| heartbeat),
        incident: Some(incident_sent(&form, None)),
        organization_id: number(&form, "organization_id", &mut errors),
        depends_on: None,
        paused: form.get("paused") == "on",
        tags: split_list(form.get("tags")),
        settings: settings_sent(&form, &kind, None, &mut errors),
    };
    let input = NewMonitor {
        // A heartbeat on a schedule has no period.
        interval_s: input.interval_s.filter(|_| input.schedule.is_none()),
        ..input
    };
    if errors.is_empty() {
        match state.app.create_monitor(&form.principal, input).await {
            Ok(created) => {
                return Ok(Redirect::to(&format!("/monitors/{}", created.id)).into_response());
            }
            Err(error) => errors = form_errors(error)?,
        }
    }
    let sent = MonitorForm {
        id: None,
        kind: if MonitorKind::NAMES.contains(&kind.as_str()) {
            kind
        } else {
            "http".to_owned()
        },
        version: 0,
        values: form.sent(),
        errors,
        organizations: Vec::new(),
        groups: Vec::new(),
    };
    form_page(
        &state,
        &form.principal,
        sent,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

pub(super) async fn edit_form(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    staff(&p)?;
    let m = state.app.monitor(&p, id).await?;
    let form = MonitorForm {
        id: Some(id),
        kind: m.kind.clone(),
        version: m.version,
        values: values_of(&m),
        errors: Vec::new(),
        organizations: Vec::new(),
        groups: Vec::new(),
    };
    form_page(&state, &p, form, StatusCode::OK).await
}

/// Saves the whole form through the same use case as `PATCH /api/v1/monitors/{id}`, based
/// on the version the form showed.
pub(super) async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    staff(&form.principal)?;
    let current = state.app.monitor(&form.principal, id).await?;
    let kind = current.kind.clone();
    let heartbeat = kind == "heartbeat";
    let mut errors = Vec::new();
    let schedule = form.opt("schedule").filter(|_| heartbeat);
    let patch = MonitorPatch {
        name: Some(form.get("name").to_owned()),
        target: (!heartbeat).then(|| form.get("target").to_owned()),
        interval_s: number(&form, "interval_s", &mut errors).filter(|_| schedule.is_none()),
        timezone: form.opt("timezone").filter(|_| schedule.is_some()),
        schedule,
        timeout_s: number(&form, "timeout_s", &mut errors),
        retries: number(&form, "retries", &mut errors),
        recover_after: number(&form, "recover_after", &mut errors),
        grace_s: number(&form, "grace_s", &mut errors).filter(|_| heartbeat),
        incident: Some(incident_sent(&form, Some(&current.incident))),
        depends_on: None,
        paused: None,
        tags: Some(split_list(form.get("tags"))),
        settings: Some(settings_sent(
            &form,
            &kind,
            Some(&current.settings),
            &mut errors,
        )),
    };
    let version = form.get("version").parse::<i64>().ok();
    if errors.is_empty() {
        match state
            .app
            .update_monitor(&form.principal, id, version, patch)
            .await
        {
            Ok(_) => return Ok(Redirect::to(&format!("/monitors/{id}")).into_response()),
            Err(error) => errors = form_errors(error)?,
        }
    }
    let mut values: HashMap<String, String> = form.sent();
    values.insert(
        "organization_id".to_owned(),
        current
            .organization_id
            .map(|o| o.to_string())
            .unwrap_or_default(),
    );
    let sent = MonitorForm {
        id: Some(id),
        kind,
        version: version.unwrap_or(current.version),
        values,
        errors,
        organizations: Vec::new(),
        groups: Vec::new(),
    };
    form_page(
        &state,
        &form.principal,
        sent,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// Pauses a running monitor or resumes a paused one.
pub(super) async fn pause(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    let patch = MonitorPatch {
        paused: Some(form.get("paused") == "true"),
        ..MonitorPatch::default()
    };
    state
        .app
        .update_monitor(&form.principal, id, None, patch)
        .await?;
    Ok(Redirect::to(&format!("/monitors/{id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_makes_every_kind_but_the_snmp_interface() {
        let made: Vec<&str> = MonitorKind::ALL
            .iter()
            .filter(|k| **k != MonitorKind::SnmpInterface)
            .map(|k| k.as_str())
            .collect();
        assert_eq!(FORM_KINDS, made.as_slice());
    }
}
