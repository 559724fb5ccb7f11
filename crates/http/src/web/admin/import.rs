//! Importing another desk's tickets from a JSONL or CSV file: the plan first (how many
//! tickets, how many imported before, what the import would create, the lines it refuses),
//! then the import itself, through the same use case as `opsdesk import tickets`.

use opsdesk_app::tickets::{LineProblem, is_csv_name, read_ticket_file};

use super::*;

/// Everything the page shows.
pub(super) struct ImportPage {
    /// Whether the dry run box is ticked: it is until someone unticks it.
    pub(super) dry_run: bool,
    pub(super) create_missing: bool,
    pub(super) outcome: Option<ImportOutcome>,
    /// Why the file was refused whole.
    pub(super) errors: Vec<FieldError>,
}

/// What a file held and what the import did with it.
pub(super) struct ImportOutcome {
    pub(super) file: String,
    pub(super) tickets: usize,
    pub(super) already_imported: usize,
    pub(super) to_import: usize,
    /// What the import creates (or would), each with the line first naming it.
    pub(super) created: Vec<String>,
    /// The lines that stop it; nothing is written while there are any.
    pub(super) problems: Vec<LineProblem>,
    /// CSV columns that are not ticket fields, left out.
    pub(super) unknown_columns: Vec<String>,
    /// How many tickets were written; none on a dry run or a refused file.
    pub(super) imported: Option<usize>,
}

fn shown(p: &Principal, page_state: ImportPage) -> Result<Response, WebError> {
    let refused = !page_state.errors.is_empty()
        || page_state
            .outcome
            .as_ref()
            .is_some_and(|o| !o.problems.is_empty());
    let mut response = page(p, "import", Section::Import(Box::new(page_state)))?;
    if refused {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

pub(super) async fn import_page(WebUser(p): WebUser) -> Result<Response, WebError> {
    shown(
        &p,
        ImportPage {
            dry_run: true,
            create_missing: false,
            outcome: None,
            errors: Vec::new(),
        },
    )
}

/// Plans the chosen file and, unless it is a dry run or a line is refused, imports it.
pub(super) async fn import_file(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let mut page_state = ImportPage {
        dry_run: form.get("dry_run") == "on",
        create_missing: form.get("create_missing") == "on",
        outcome: None,
        errors: Vec::new(),
    };
    let Some(file) = form.files.first() else {
        page_state.errors = vec![FieldError::new("file", Lang.t("admin.import.no_file"))];
        return shown(&form.principal, page_state);
    };
    let read = match read_ticket_file(file.content.as_slice(), is_csv_name(&file.filename)) {
        Ok(read) => read,
        Err(error) => {
            page_state.errors = vec![FieldError::new("file", error)];
            return shown(&form.principal, page_state);
        }
    };
    let plan = state.app.plan_import(&form.principal, &read.lines).await?;
    let mut problems = read.problems;
    problems.extend(plan.refusals(
        page_state.create_missing,
        Lang.t("admin.import.create_hint"),
    ));
    problems.sort_by_key(|p| p.line);
    let created = plan
        .to_create(page_state.create_missing)
        .iter()
        .map(|missing| {
            format!(
                "{missing} ({} {})",
                Lang.t("admin.import.line"),
                missing.line()
            )
        })
        .collect();
    let imported = if problems.is_empty() && !page_state.dry_run {
        Some(
            state
                .app
                .write_import(&form.principal, &plan, read.lines, |_| {})
                .await?,
        )
    } else {
        None
    };
    page_state.outcome = Some(ImportOutcome {
        file: file.filename.clone(),
        tickets: plan.tickets,
        already_imported: plan.already_imported,
        to_import: plan.to_import(),
        created,
        problems,
        unknown_columns: read.unknown_columns,
        imported,
    });
    shown(&form.principal, page_state)
}
