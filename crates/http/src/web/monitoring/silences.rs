//! Silences: the list (active and upcoming, or all), creating one with a few matcher lines,
//! and expiring one.

use super::*;
use opsdesk_app::alerts::Integration;
use opsdesk_app::silences::{NewSilence, Silence, SilenceMatcher};

use super::maintenance::form_time;

/// Matcher lines the form offers.
const LINES: usize = 4;
/// How long a silence made on the page lasts, in hours.
const DURATIONS: &[i64] = &[1, 2, 4, 8, 24, 72, 168];

/// The silence form: what was sent when it comes back with mistakes, and the mistakes, by
/// the form's own field names (`matcher-2-value`).
#[derive(Default)]
struct SilenceForm {
    values: HashMap<String, String>,
    errors: Vec<FieldError>,
}

impl SilenceForm {
    fn v(&self, field: &str) -> &str {
        self.values.get(field).map_or("", String::as_str)
    }

    /// The value of part `part` of matcher line `line`.
    fn line(&self, line: &usize, part: &str) -> &str {
        self.v(&format!("matcher-{line}-{part}"))
    }

    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    fn line_error(&self, line: &usize, part: &str) -> Option<&str> {
        self.error(&format!("matcher-{line}-{part}"))
    }

    fn selected(&self, field: &str, value: &str) -> bool {
        self.v(field) == value
    }

    /// Whether `hours` is the duration chosen: two hours until the user picks one.
    fn hours_chosen(&self, hours: &i64) -> bool {
        match self.v("hours") {
            "" => *hours == 2,
            chosen => chosen == hours.to_string(),
        }
    }

    fn other_errors(&self) -> Vec<&FieldError> {
        const FIELDS: &[&str] = &["integration", "starts_at", "hours", "comment"];
        self.errors
            .iter()
            .filter(|e| !FIELDS.contains(&e.field.as_str()) && !e.field.starts_with("matcher-"))
            .collect()
    }
}

#[derive(Template)]
#[template(path = "silences.html")]
struct SilencesPage {
    c: Chrome,
    silences: Vec<Silence>,
    integrations: Vec<Integration>,
    /// Whether expired silences are listed too.
    all: bool,
    form: SilenceForm,
}

impl SilencesPage {
    fn lines(&self) -> std::ops::Range<usize> {
        0..LINES
    }

    fn ops(&self) -> &'static [&'static str] {
        opsdesk_domain::silence::MatchOp::NAMES
    }

    fn durations(&self) -> &'static [i64] {
        DURATIONS
    }

    /// A silence's matchers as Alertmanager writes them: `alertname="DiskFull"`.
    fn written(&self, matchers: &[SilenceMatcher]) -> String {
        matchers
            .iter()
            .map(|m| format!("{}{}\"{}\"", m.name, m.op, m.value))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn silences_page(
    state: &AppState,
    principal: &Principal,
    all: bool,
    form: SilenceForm,
    status: StatusCode,
) -> Result<Response, WebError> {
    staff(principal)?;
    let silences = state.app.silences(principal, all, LIMIT).await?;
    let integrations = state.app.integrations(principal).await?;
    let mut c = Chrome::new(principal, Lang.t("silence.title"));
    if !form.errors.is_empty() {
        c.notice = Some(Lang.t("form.fix_errors").to_owned());
    }
    let page = SilencesPage {
        c,
        silences,
        integrations,
        all,
        form,
    };
    Ok((status, render(&page)).into_response())
}

#[derive(Deserialize)]
pub(super) struct SilenceParams {
    all: Option<bool>,
}

pub(super) async fn silences(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Query(params): Query<SilenceParams>,
) -> Result<Response, WebError> {
    let all = params.all.unwrap_or(false);
    silences_page(&state, &p, all, SilenceForm::default(), StatusCode::OK).await
}

/// Creates through the same use case as `POST /api/v1/silences`, from the lines that have
/// a label name or a value; mistakes come back next to their line.
pub(super) async fn create_silence(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    staff(&form.principal)?;
    let mut errors = Vec::new();
    // The form's line of each matcher sent, to put a mistake in `matchers[i]` back on it.
    let mut lines = Vec::new();
    let mut matchers = Vec::new();
    for line in 0..LINES {
        let part = |name: &str| form.get(&format!("matcher-{line}-{name}")).to_owned();
        let (name, value) = (part("name"), part("value"));
        if name.trim().is_empty() && value.is_empty() {
            continue;
        }
        lines.push(line);
        matchers.push(SilenceMatcher {
            name: name.trim().to_owned(),
            op: part("op"),
            value,
        });
    }
    let starts_at = form_time(&form, "starts_at", &mut errors);
    let hours = form
        .get("hours")
        .parse::<i64>()
        .ok()
        .filter(|h| DURATIONS.contains(h));
    if hours.is_none() {
        errors.push(FieldError::new("hours", Lang.t("silence.hours.hint")));
    }
    let ends_at = starts_at
        .unwrap_or_else(|| state.app.now())
        .checked_add(jiff::SignedDuration::from_hours(hours.unwrap_or(1)))
        .map_err(|e| AppError::invalid("hours", e))?;
    let input = NewSilence {
        integration: form.opt("integration"),
        matchers,
        starts_at,
        ends_at,
        comment: form.get("comment").to_owned(),
    };
    if errors.is_empty() {
        match state.app.create_silence(&form.principal, input).await {
            Ok(_) => return Ok(Redirect::to("/silences").into_response()),
            Err(error) => errors = form_errors(error)?,
        }
    }
    let on_form = |e: FieldError| {
        let matcher = e
            .field
            .strip_prefix("matchers[")
            .and_then(|rest| rest.split_once("]."))
            .and_then(|(index, part)| {
                let line = lines.get(index.parse::<usize>().ok()?)?;
                Some(format!("matcher-{line}-{part}"))
            });
        match (matcher, e.field.as_str()) {
            (Some(field), _) => FieldError::new(field, e.message),
            (None, "ends_at") => FieldError::new("hours", e.message),
            (None, "matchers") => FieldError::new("matcher-0-name", e.message),
            _ => e,
        }
    };
    let sent = SilenceForm {
        values: form.sent(),
        errors: errors.into_iter().map(on_form).collect(),
    };
    silences_page(
        &state,
        &form.principal,
        false,
        sent,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

pub(super) async fn expire_silence(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Redirect, WebError> {
    state.app.expire_silence(&form.principal, id).await?;
    Ok(Redirect::to("/silences"))
}
