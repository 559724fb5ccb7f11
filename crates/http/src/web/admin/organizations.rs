//! Editing an organization: name, domain, customers' visibility and the priority matrix.

use super::*;

/// The organization form: what is saved, or what was typed with what is wrong with it.
pub(super) struct OrganizationForm {
    pub(super) id: i64,
    pub(super) version: i64,
    pub(super) name: String,
    pub(super) domain: String,
    pub(super) customers_see_all: bool,
    /// The matrix's cells as `impact/urgency` → priority; empty for the ITIL default.
    pub(super) matrix: BTreeMap<String, String>,
    pub(super) errors: Vec<FieldError>,
}

impl OrganizationForm {
    fn of(organization: &Organization) -> Self {
        let matrix = organization
            .priority_matrix
            .as_ref()
            .and_then(|m| m.as_object())
            .map(|cells| {
                cells
                    .iter()
                    .filter_map(|(cell, p)| Some((cell.clone(), p.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: organization.id,
            version: organization.version,
            name: organization.name.clone(),
            domain: organization.domain.clone().unwrap_or_default(),
            customers_see_all: organization.customers_see_all,
            matrix,
            errors: Vec::new(),
        }
    }

    pub(super) fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    /// The priority a cell is set to; empty when it follows the ITIL default.
    pub(super) fn cell(&self, impact: &str, urgency: &str) -> &str {
        self.matrix
            .get(&format!("{impact}/{urgency}"))
            .map_or("", String::as_str)
    }

    pub(super) fn levels(&self) -> &'static [&'static str] {
        Impact::NAMES
    }

    pub(super) fn priorities(&self) -> &'static [&'static str] {
        Priority::NAMES
    }
}

pub(super) async fn edit_organization(
    State(state): State<AppState>,
    WebUser(p): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    admin(&p)?;
    let organization = state.app.organization(&p, id).await?;
    page(
        &p,
        "organizations",
        Section::EditOrganization(Box::new(OrganizationForm::of(&organization))),
    )
}

/// Saves the form; a mistake comes back on it, next to its field, with what was typed.
pub(super) async fn update_organization(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    admin(&form.principal)?;
    let mut matrix = BTreeMap::new();
    for impact in Impact::NAMES {
        for urgency in Urgency::NAMES {
            let cell = format!("{impact}/{urgency}");
            if let Some(priority) = form.opt(&format!("matrix.{cell}")) {
                matrix.insert(cell, priority);
            }
        }
    }
    let version = form.get("version").parse::<i64>().ok();
    let patch = OrganizationPatch {
        name: Some(form.get("name").to_owned()),
        domain: Some(form.opt("domain")),
        priority_matrix: Some((!matrix.is_empty()).then(|| matrix.clone())),
        customers_see_all: Some(form.get("customers_see_all") == "on"),
    };
    let errors = match state
        .app
        .update_organization(&form.principal, id, version, patch)
        .await
    {
        Ok(_) => return Ok(Redirect::to("/admin/organizations").into_response()),
        Err(AppError::Invalid(errors)) => errors,
        Err(AppError::Stale) => vec![FieldError::new("name", Lang.t("admin.stale"))],
        Err(AppError::Conflict {
            field: Some(field),
            message,
        }) => vec![FieldError::new(field, message)],
        Err(other) => return Err(other.into()),
    };
    let organization = state.app.organization(&form.principal, id).await?;
    let edited = OrganizationForm {
        name: form.get("name").to_owned(),
        domain: form.get("domain").to_owned(),
        customers_see_all: form.get("customers_see_all") == "on",
        matrix,
        errors,
        ..OrganizationForm::of(&organization)
    };
    let mut response = page(
        &form.principal,
        "organizations",
        Section::EditOrganization(Box::new(edited)),
    )?;
    *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    Ok(response)
}
