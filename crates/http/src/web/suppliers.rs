//! Vendors, contracts and licences pages, and a ticket's wait on a vendor.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use opsdesk_app::cmdb::{
    Contract, Licence, NewContract, NewLicence, NewVendor, NewVendorWait, Terms, TermsPatch,
    Vendor, VendorContact, VendorPatch,
};
use opsdesk_app::{AppError, Precondition};
use opsdesk_domain::cmdb::agreement::{ContractKind, LicenceModel};

use super::agent::encode;
use super::cmdb::{SentForm, form_errors, text};
use super::{Chrome, Lang, SignedForm, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cmdb/vendors", get(vendors).post(create_vendor))
        .route("/cmdb/vendors/{id}", get(vendor).post(update_vendor))
        .route("/cmdb/vendors/{id}/contacts", post(add_contact))
        .route(
            "/cmdb/vendors/{id}/contacts/{index}/remove",
            post(remove_contact),
        )
        .route(
            "/cmdb/contracts",
            get(agreements::<CONTRACT>).post(create_agreement::<CONTRACT>),
        )
        .route(
            "/cmdb/contracts/{id}",
            get(agreement::<CONTRACT>).post(update_agreement::<CONTRACT>),
        )
        .route(
            "/cmdb/licences",
            get(agreements::<LICENCE>).post(create_agreement::<LICENCE>),
        )
        .route(
            "/cmdb/licences/{id}",
            get(agreement::<LICENCE>).post(update_agreement::<LICENCE>),
        )
        .route("/tickets/{number}/vendor-wait", post(wait_on_vendor))
        .route("/tickets/{number}/vendor-wait/end", post(end_vendor_wait))
}

pub(super) fn status_of(form: &SentForm) -> StatusCode {
    if form.has_errors() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

pub(super) fn chrome(principal: &opsdesk_app::Principal, title: &str, form: &SentForm) -> Chrome {
    let mut c = Chrome::new(principal, Lang.t(title));
    if form.has_errors() {
        c.notice = Some(Lang.t("form.fix_errors").to_owned());
    }
    c
}

/// A whole number from a form field; text that is no number is the field's mistake.
fn number(form: &SignedForm, name: &str) -> Result<Option<i64>, AppError> {
    match text(form, name) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| AppError::invalid(name, "a whole number")),
    }
}

/// Field mistakes back to the form that made them, shown by `page`.
pub(super) async fn or_form<T, F, Fut>(
    done: Result<T, AppError>,
    form: &SignedForm,
    ok: impl FnOnce(T) -> String,
    page: F,
) -> Result<Response, WebError>
where
    F: FnOnce(SentForm) -> Fut,
    Fut: std::future::Future<Output = Result<Response, WebError>>,
{
    match done {
        Ok(value) => Ok(Redirect::to(&ok(value)).into_response()),
        Err(error) => page(SentForm::of(form, form_errors(error)?)).await,
    }
}

#[derive(Template)]
#[template(path = "cmdb_vendors.html")]
struct VendorsPage {
    c: Chrome,
    vendors: Vec<Vendor>,
    form: SentForm,
}

async fn vendors_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    form: SentForm,
) -> Result<Response, WebError> {
    let vendors = state.app.vendors(principal).await?;
    let c = chrome(principal, "supply.vendors", &form);
    Ok((status_of(&form), render(&VendorsPage { c, vendors, form })).into_response())
}

async fn vendors(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    vendors_page(&state, &principal, SentForm::default()).await
}

async fn create_vendor(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let done = match number(&form, "response_hours") {
        Ok(response_hours) => {
            let input = NewVendor {
                name: form.get("name").to_owned(),
                website: text(&form, "website"),
                support_email: text(&form, "support_email"),
                support_phone: text(&form, "support_phone"),
                response_hours,
                notes: text(&form, "notes"),
                contacts: Vec::new(),
            };
            state.app.create_vendor(&form.principal, input).await
        }
        Err(e) => Err(e),
    };
    or_form(
        done,
        &form,
        |v| format!("/cmdb/vendors/{}", v.id),
        |sent| vendors_page(&state, &form.principal, sent),
    )
    .await
}

#[derive(Template)]
#[template(path = "cmdb_vendor.html")]
struct VendorPage {
    c: Chrome,
    vendor: Vendor,
    form: SentForm,
}

async fn vendor_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    id: i64,
    form: SentForm,
) -> Result<Response, WebError> {
    let vendor = state.app.vendor(principal, id).await?;
    let mut c = chrome(principal, "supply.vendor", &form);
    c.title = vendor.name.clone();
    Ok((status_of(&form), render(&VendorPage { c, vendor, form })).into_response())
}

async fn vendor(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    vendor_page(&state, &principal, id, SentForm::default()).await
}

async fn update_vendor(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let done = match number(&form, "response_hours") {
        Ok(hours) => {
            let patch = VendorPatch {
                name: Some(form.get("name").to_owned()),
                website: Some(form.get("website").to_owned()),
                support_email: Some(form.get("support_email").to_owned()),
                support_phone: Some(form.get("support_phone").to_owned()),
                response_hours: Some(hours),
                notes: Some(form.get("notes").to_owned()),
                contacts: None,
            };
            state
                .app
                .update_vendor(
                    &form.principal,
                    id,
                    Precondition::from(form.get("version").parse::<i64>().ok()),
                    patch,
                )
                .await
        }
        Err(e) => Err(e),
    };
    or_form(
        done,
        &form,
        |v| format!("/cmdb/vendors/{}", v.id),
        |sent| vendor_page(&state, &form.principal, id, sent),
    )
    .await
}

/// Replaces the vendor's contacts with `contacts`.
async fn set_contacts(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    id: i64,
    contacts: Vec<VendorContact>,
) -> Result<Vendor, AppError> {
    let patch = VendorPatch {
        contacts: Some(contacts),
        ..VendorPatch::default()
    };
    state
        .app
        .update_vendor(principal, id, Precondition::Any, patch)
        .await
}

async fn add_contact(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut contacts = state.app.vendor(&form.principal, id).await?.contacts;
    let index = contacts.len();
    contacts.push(VendorContact {
        name: form.get("contact_name").to_owned(),
        role: form.get("contact_role").to_owned(),
        email: form.get("contact_email").to_owned(),
        phone: form.get("contact_phone").to_owned(),
    });
    // The use case names the new contact's fields `contacts[N].name`; the form's are
    // `contact_name`.
    let done = set_contacts(&state, &form.principal, id, contacts)
        .await
        .map_err(|e| match e {
            AppError::Invalid(errors) => AppError::Invalid(
                errors
                    .into_iter()
                    .map(|mut e| {
                        e.field = e.field.replace(&format!("contacts[{index}]."), "contact_");
                        e
                    })
                    .collect(),
            ),
            other => other,
        });
    or_form(
        done,
        &form,
        |v| format!("/cmdb/vendors/{}", v.id),
        |sent| vendor_page(&state, &form.principal, id, sent),
    )
    .await
}

async fn remove_contact(
    State(state): State<AppState>,
    Path((id, index)): Path<(i64, usize)>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let mut contacts = state.app.vendor(&form.principal, id).await?.contacts;
    if index < contacts.len() {
        contacts.remove(index);
    }
    set_contacts(&state, &form.principal, id, contacts).await?;
    Ok(Redirect::to(&format!("/cmdb/vendors/{id}")).into_response())
}

/// The contracts or the licences, with the form that adds one.
/// The const arguments the agreement handlers are instantiated with: one handler each
/// serves contracts and licences.
const CONTRACT: bool = false;
const LICENCE: bool = true;

fn list_path(licence: bool) -> &'static str {
    if licence {
        "/cmdb/licences"
    } else {
        "/cmdb/contracts"
    }
}

#[derive(Template)]
#[template(path = "cmdb_agreements.html")]
struct AgreementsPage {
    c: Chrome,
    /// Licences rather than contracts.
    licences: bool,
    contracts: Vec<Contract>,
    licence_list: Vec<Licence>,
    vendors: Vec<Vendor>,
    form: SentForm,
}

impl AgreementsPage {
    /// The contracts' kinds or the licences' models.
    fn kinds(&self) -> &'static [&'static str] {
        if self.licences {
            LicenceModel::NAMES
        } else {
            ContractKind::NAMES
        }
    }

    /// The field the use case names a mistake in the kind by.
    fn kind_field(&self) -> &'static str {
        if self.licences { "model" } else { "kind" }
    }
}

async fn agreements_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    licences: bool,
    form: SentForm,
) -> Result<Response, WebError> {
    let (contracts, licence_list, title) = if licences {
        (
            Vec::new(),
            state.app.licences(principal).await?,
            "supply.licences",
        )
    } else {
        (
            state.app.contracts(principal).await?,
            Vec::new(),
            "supply.contracts",
        )
    };
    let vendors = state.app.vendors(principal).await?;
    let page = AgreementsPage {
        c: chrome(principal, title, &form),
        licences,
        contracts,
        licence_list,
        vendors,
        form,
    };
    Ok((status_of(&page.form), render(&page)).into_response())
}

async fn agreements<const IS_LICENCE: bool>(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    agreements_page(&state, &principal, IS_LICENCE, SentForm::default()).await
}

/// The numbers an agreement form has, read from it.
struct FormTerms {
    vendor: Option<i64>,
    notice_days: Option<i64>,
    hours: Option<i64>,
    purchased: Option<i64>,
}

fn form_terms(form: &SignedForm) -> Result<FormTerms, AppError> {
    Ok(FormTerms {
        vendor: number(form, "vendor")?,
        notice_days: number(form, "notice_days")?,
        hours: number(form, "response_hours")?,
        purchased: number(form, "purchased")?,
    })
}

/// Adds a contract or a licence from the list page's form; returns the new item's id.
async fn new_agreement(
    state: &AppState,
    form: &SignedForm,
    licence: bool,
) -> Result<i64, AppError> {
    let terms = form_terms(form)?;
    let text = |name: &str| text(form, name);
    if licence {
        let input = NewLicence {
            name: form.get("name").to_owned(),
            model: form.get("kind").to_owned(),
            vendor: terms.vendor,
            organization: text("organization"),
            owner: text("owner"),
            reference: text("reference"),
            starts_on: text("starts_on"),
            ends_on: text("ends_on"),
            notice_days: terms.notice_days,
            purchased: terms.purchased,
            package: text("package"),
            cost: text("cost"),
        };
        Ok(state
            .app
            .create_licence(&form.principal, input)
            .await?
            .item
            .id)
    } else {
        let input = NewContract {
            name: form.get("name").to_owned(),
            kind: form.get("kind").to_owned(),
            vendor: terms.vendor,
            organization: text("organization"),
            owner: text("owner"),
            reference: text("reference"),
            starts_on: text("starts_on"),
            ends_on: text("ends_on"),
            notice_days: terms.notice_days,
            response_hours: terms.hours,
            cost: text("cost"),
            covers: Vec::new(),
        };
        Ok(state
            .app
            .create_contract(&form.principal, input)
            .await?
            .item
            .id)
    }
}

async fn create_agreement<const IS_LICENCE: bool>(
    State(state): State<AppState>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let done = new_agreement(&state, &form, IS_LICENCE).await;
    or_form(
        done,
        &form,
        |id| format!("{}/{id}", list_path(IS_LICENCE)),
        |sent| agreements_page(&state, &form.principal, IS_LICENCE, sent),
    )
    .await
}

/// A contract or a licence with its terms form.
#[derive(Template)]
#[template(path = "cmdb_agreement.html")]
struct AgreementPage {
    c: Chrome,
    /// The agreement's item id, its kind (or model) and its terms, either kind's.
    id: i64,
    kind: String,
    terms: Terms,
    contract: Option<Contract>,
    licence: Option<Licence>,
    vendors: Vec<Vendor>,
    form: SentForm,
}

impl AgreementPage {
    fn kinds(&self) -> &'static [&'static str] {
        if self.licence.is_some() {
            LicenceModel::NAMES
        } else {
            ContractKind::NAMES
        }
    }

    /// Whether vendor `id` is the agreement's.
    fn chosen(&self, id: &i64) -> bool {
        self.terms.vendor.as_ref().is_some_and(|v| v.id == *id)
    }

    /// What the form shows for `field`: what was sent, else `current`.
    fn value(&self, field: &str, current: String) -> String {
        if self.form.has_errors() {
            self.form.v(field).to_owned()
        } else {
            current
        }
    }
}

async fn agreement_page(
    state: &AppState,
    principal: &opsdesk_app::Principal,
    id: i64,
    licence: bool,
    form: SentForm,
) -> Result<Response, WebError> {
    let vendors = state.app.vendors(principal).await?;
    let (contract, licence) = if licence {
        (None, Some(state.app.licence(principal, id).await?))
    } else {
        (Some(state.app.contract(principal, id).await?), None)
    };
    let (item, kind, terms) = match (&contract, &licence) {
        (Some(c), _) => (&c.item, &c.kind, &c.terms),
        (_, Some(l)) => (&l.item, &l.model, &l.terms),
        _ => return Err(AppError::NotFound("contract").into()),
    };
    let (title, kind, terms) = (item.name.clone(), kind.clone(), terms.clone());
    let mut c = chrome(principal, "supply.contracts", &form);
    c.title = title;
    let page = AgreementPage {
        c,
        id,
        kind,
        terms,
        contract,
        licence,
        vendors,
        form,
    };
    Ok((status_of(&page.form), render(&page)).into_response())
}

async fn agreement<const IS_LICENCE: bool>(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    agreement_page(&state, &principal, id, IS_LICENCE, SentForm::default()).await
}

/// The terms form's fields as a patch; `covers` is the list of item ids the form keeps.
fn terms_patch(form: &SignedForm, licence: bool) -> Result<TermsPatch, AppError> {
    let terms = form_terms(form)?;
    let covers = (!licence)
        .then(|| {
            form.fields
                .iter()
                .filter(|(k, _)| k == "covers")
                .filter_map(|(_, v)| v.trim().parse::<i64>().ok())
                .collect::<Vec<_>>()
        })
        .map(|mut covers| {
            if let Some(more) = text(form, "cover") {
                match more.trim().trim_start_matches('#').parse() {
                    Ok(id) => covers.push(id),
                    Err(_) => return Err(AppError::invalid("cover", "an item's number")),
                }
            }
            Ok(covers)
        })
        .transpose()?;
    Ok(TermsPatch {
        kind: Some(form.get("kind").to_owned()),
        vendor: Some(terms.vendor),
        reference: Some(form.get("reference").to_owned()),
        starts_on: Some(text(form, "starts_on")),
        ends_on: Some(text(form, "ends_on")),
        notice_days: terms.notice_days,
        response_hours: (!licence).then_some(terms.hours),
        purchased: licence.then_some(terms.purchased),
        package: licence.then(|| text(form, "package")),
        covers,
    })
}

async fn update_agreement<const IS_LICENCE: bool>(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let done = match terms_patch(&form, IS_LICENCE) {
        Ok(patch) if IS_LICENCE => {
            (state.app.update_licence(&form.principal, id, patch).await).map(|l| l.item.id)
        }
        Ok(patch) => {
            (state.app.update_contract(&form.principal, id, patch).await).map(|c| c.item.id)
        }
        Err(e) => Err(e),
    };
    or_form(
        done,
        &form,
        |id| format!("{}/{id}", list_path(IS_LICENCE)),
        |sent| agreement_page(&state, &form.principal, id, IS_LICENCE, sent),
    )
    .await
}

async fn wait_on_vendor(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    let vendor = number_of(&form, "vendor")?;
    let input = NewVendorWait {
        vendor,
        reference: form.get("reference").to_owned(),
    };
    state
        .app
        .wait_on_vendor(&form.principal, &number, input)
        .await?;
    Ok(Redirect::to(&format!("/tickets/{}#vendor-wait", encode(&number))).into_response())
}

fn number_of(form: &SignedForm, name: &str) -> Result<i64, AppError> {
    number(form, name)?.ok_or_else(|| AppError::invalid(name, "must not be empty"))
}

async fn end_vendor_wait(
    State(state): State<AppState>,
    Path(number): Path<String>,
    form: SignedForm,
) -> Result<Response, WebError> {
    state.app.end_vendor_wait(&form.principal, &number).await?;
    Ok(Redirect::to(&format!("/tickets/{}#vendor-wait", encode(&number))).into_response())
}
