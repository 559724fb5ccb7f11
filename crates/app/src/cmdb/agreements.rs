//! Contracts and licences: items of those classes with terms (vendor, dates, notice), a
//! renewal reminder when the notice period begins, the items a contract covers, and a
//! licence's installs against what was bought.

use jiff::civil::Date;
use opsdesk_domain::cmdb::CiClass;
use opsdesk_domain::cmdb::agreement::{self as rules, ContractKind, LicenceModel};
use opsdesk_store::Conn;
use opsdesk_store::cmdb as cmdb_store;
use opsdesk_store::suppliers::{self as store, AgreementRow};
use serde::{Deserialize, Serialize};

use super::vendors::{VendorRef, read_hours};
use super::{Ci, CiRef, NewCi, load, optional_date, optional_text, visible};
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::tickets::NewTicket;
use crate::{App, AppError, FieldError, Principal};

/// What contracts and licences have alike: who from, which number, and when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Terms {
    pub vendor: Option<VendorRef>,
    /// The vendor's contract number.
    pub reference: String,
    pub starts_on: Option<String>,
    pub ends_on: Option<String>,
    pub notice_days: i64,
    /// When the renewal reminder is due.
    pub renew_by: Option<String>,
    /// `upcoming`, `active`, `renewal_due` or `ended`.
    pub status: String,
}

/// A support, warranty, lease or maintenance contract and the items it covers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Contract {
    /// The contract's item: name, organization, owner, cost and history.
    pub item: Ci,
    /// `support`, `warranty`, `lease` or `maintenance`.
    pub kind: String,
    #[serde(flatten)]
    pub terms: Terms,
    /// Hours the vendor has to answer a case about a covered item.
    pub response_hours: Option<i64>,
    /// Items related to it by `covered_by`.
    pub covers: Vec<CiRef>,
}

/// A licence with its installs against what was bought.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Licence {
    pub item: Ci,
    /// `per_seat`, `per_device` or `site`.
    pub model: String,
    #[serde(flatten)]
    pub terms: Terms,
    /// Seats or devices bought; none for a site licence.
    pub purchased: Option<i64>,
    /// The package agents report for the software; installs are counted from it.
    pub package: Option<String>,
    /// Machines with the package installed (within the licence's organization), or
    /// without a package, the items related to it by `covered_by`.
    pub installed: i64,
    pub available: Option<i64>,
    /// Installs beyond what was bought.
    pub over: i64,
    pub compliant: bool,
}

/// A new contract.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewContract {
    pub name: String,
    pub kind: String,
    pub vendor: Option<i64>,
    pub organization: Option<String>,
    /// The e-mail address of who renews it; the renewal reminder is theirs.
    pub owner: Option<String>,
    pub reference: Option<String>,
    pub starts_on: Option<String>,
    pub ends_on: Option<String>,
    /// Days before the end the renewal reminder is due (30 when absent).
    pub notice_days: Option<i64>,
    pub response_hours: Option<i64>,
    pub cost: Option<String>,
    /// Items it covers, by id.
    #[serde(default)]
    pub covers: Vec<i64>,
}

/// A new licence.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLicence {
    pub name: String,
    pub model: String,
    pub vendor: Option<i64>,
    pub organization: Option<String>,
    pub owner: Option<String>,
    pub reference: Option<String>,
    pub starts_on: Option<String>,
    pub ends_on: Option<String>,
    pub notice_days: Option<i64>,
    pub purchased: Option<i64>,
    pub package: Option<String>,
    pub cost: Option<String>,
}

/// New terms for a contract or licence; absent fields stay as they are. `kind` is a
/// contract's kind or a licence's model; `covers` replaces the items a contract covers.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsPatch {
    pub kind: Option<String>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<i64>)]
    pub vendor: Option<Option<i64>>,
    pub reference: Option<String>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub starts_on: Option<Option<String>>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub ends_on: Option<Option<String>>,
    pub notice_days: Option<i64>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<i64>)]
    pub response_hours: Option<Option<i64>>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<i64>)]
    pub purchased: Option<Option<i64>>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub package: Option<Option<String>>,
    pub covers: Option<Vec<i64>>,
}

impl From<&NewContract> for TermsPatch {
    fn from(c: &NewContract) -> Self {
        TermsPatch {
            kind: Some(c.kind.clone()),
            vendor: Some(c.vendor),
            reference: c.reference.clone(),
            starts_on: Some(c.starts_on.clone()),
            ends_on: Some(c.ends_on.clone()),
            notice_days: c.notice_days,
            response_hours: Some(c.response_hours),
            purchased: None,
            package: None,
            covers: Some(c.covers.clone()),
        }
    }
}

impl From<&NewLicence> for TermsPatch {
    fn from(l: &NewLicence) -> Self {
        TermsPatch {
            kind: Some(l.model.clone()),
            vendor: Some(l.vendor),
            reference: l.reference.clone(),
            starts_on: Some(l.starts_on.clone()),
            ends_on: Some(l.ends_on.clone()),
            notice_days: l.notice_days,
            response_hours: None,
            purchased: Some(l.purchased),
            package: Some(l.package.clone()),
            covers: None,
        }
    }
}

/// Which of the two an agreement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Agreement {
    Contract,
    Licence,
}

impl Agreement {
    fn class(self) -> CiClass {
        match self {
            Agreement::Contract => CiClass::Contract,
            Agreement::Licence => CiClass::Licence,
        }
    }

    fn check_kind(self, kind: &str) -> Result<String, String> {
        match self {
            Agreement::Contract => kind.parse::<ContractKind>().map(|k| k.as_str().to_owned()),
            Agreement::Licence => kind.parse::<LicenceModel>().map(|m| m.as_str().to_owned()),
        }
        .map_err(|e| e.to_string())
    }
}

fn date(text: &Option<String>) -> Option<Date> {
    text.as_deref().and_then(|d| d.parse().ok())
}

/// `terms` with `patch` applied and checked; field errors name the request's fields.
fn apply(
    agreement: Agreement,
    mut terms: AgreementRow,
    patch: &TermsPatch,
) -> Result<AgreementRow, AppError> {
    let mut errors = Vec::new();
    let kind_field = match agreement {
        Agreement::Contract => "kind",
        Agreement::Licence => "model",
    };
    if let Some(kind) = &patch.kind {
        match agreement.check_kind(kind) {
            Ok(kind) => terms.kind = kind,
            Err(e) => errors.push(FieldError::new(kind_field, e)),
        }
    }
    if let Some(vendor) = patch.vendor {
        terms.vendor_id = vendor;
    }
    if let Some(reference) = &patch.reference {
        terms.reference =
            optional_text("reference", Some(reference), 100, &mut errors).unwrap_or_default();
    }
    if let Some(starts_on) = &patch.starts_on {
        terms.starts_on = optional_date("starts_on", starts_on.as_deref(), &mut errors);
    }
    if let Some(ends_on) = &patch.ends_on {
        terms.ends_on = optional_date("ends_on", ends_on.as_deref(), &mut errors);
    }
    if let Some(days) = patch.notice_days {
        if (0..=rules::MOST_NOTICE_DAYS).contains(&days) {
            terms.notice_days = days;
        } else {
            errors.push(FieldError::new(
                "notice_days",
                format!("from 0 to {} days", rules::MOST_NOTICE_DAYS),
            ));
        }
    }
    if let Some(hours) = patch.response_hours {
        terms.response_hours = read_hours("response_hours", hours, &mut errors);
    }
    if let Some(purchased) = patch.purchased {
        terms.purchased = match purchased {
            Some(n) if !(0..=10_000_000).contains(&n) => {
                errors.push(FieldError::new("purchased", "from 0 to 10000000"));
                None
            }
            other => other,
        };
    }
    if let Some(package) = &patch.package {
        terms.package = optional_text("package", package.as_deref(), 200, &mut errors);
    }
    if terms.kind.is_empty() {
        errors.push(FieldError::new(kind_field, "must not be empty"));
    }
    if let Err(e) = rules::check_dates(date(&terms.starts_on), date(&terms.ends_on)) {
        errors.push(FieldError::new("ends_on", e));
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    terms.renew_by =
        date(&terms.ends_on).map(|end| rules::renew_by(end, terms.notice_days).to_string());
    Ok(terms)
}

/// The day of `now` in UTC, as terms' dates are kept.
fn today(now: i64) -> Date {
    jiff::tz::TimeZone::UTC
        .to_datetime(crate::timestamp(now))
        .date()
}

fn status_of(terms: &AgreementRow, now: i64) -> String {
    rules::status(
        date(&terms.starts_on),
        date(&terms.ends_on),
        terms.notice_days,
        today(now),
    )
    .as_str()
    .to_owned()
}

async fn vendor_ref(conn: &mut Conn, id: Option<i64>) -> Result<Option<VendorRef>, AppError> {
    let Some(id) = id else { return Ok(None) };
    Ok(store::vendor(conn, id).await?.map(|v| VendorRef {
        id: v.id,
        name: v.name,
    }))
}

/// The current `covered_by` relations to `contract`, as the items covered.
async fn covered(conn: &mut Conn, contract: i64) -> Result<Vec<CiRef>, AppError> {
    Ok(cmdb_store::relations_of(conn, contract, false)
        .await?
        .into_iter()
        .filter(|r| r.kind == "covered_by" && r.target_id == contract)
        .map(|r| CiRef {
            id: r.source_id,
            name: r.source_name,
            class: r.source_class,
        })
        .collect())
}

async fn terms_view(conn: &mut Conn, terms: &AgreementRow, now: i64) -> Result<Terms, AppError> {
    Ok(Terms {
        vendor: vendor_ref(conn, terms.vendor_id).await?,
        reference: terms.reference.clone(),
        starts_on: terms.starts_on.clone(),
        ends_on: terms.ends_on.clone(),
        notice_days: terms.notice_days,
        renew_by: terms.renew_by.clone(),
        status: status_of(terms, now),
    })
}

async fn contract_view(
    conn: &mut Conn,
    item: Ci,
    terms: AgreementRow,
    now: i64,
) -> Result<Contract, AppError> {
    Ok(Contract {
        terms: terms_view(conn, &terms, now).await?,
        covers: covered(conn, item.id).await?,
        item,
        kind: terms.kind,
        response_hours: terms.response_hours,
    })
}

async fn licence_view(
    conn: &mut Conn,
    item: Ci,
    terms: AgreementRow,
    now: i64,
) -> Result<Licence, AppError> {
    let organization = cmdb_store::ci(conn, item.id)
        .await?
        .and_then(|r| r.organization_id);
    let installed = match &terms.package {
        Some(package) => store::count_installs(conn, package, organization).await?,
        None => covered(conn, item.id).await?.len() as i64,
    };
    let model = terms.kind.parse().unwrap_or(LicenceModel::PerSeat);
    let position = rules::position(model, terms.purchased, installed);
    Ok(Licence {
        terms: terms_view(conn, &terms, now).await?,
        item,
        model: terms.kind,
        purchased: terms.purchased,
        package: terms.package,
        installed,
        available: position.available,
        over: position.over,
        compliant: position.compliant(),
    })
}

/// Writes `terms` for item `id` and makes the items in `covers` (when given) exactly those
/// covered, with a history line on each item that starts or stops being covered.
async fn write_terms(
    tx: &mut crate::change::Tx<'_>,
    id: i64,
    terms: &AgreementRow,
    covers: Option<&[i64]>,
) -> Result<(), AppError> {
    if let Some(vendor) = terms.vendor_id
        && store::vendor(tx.conn, vendor).await?.is_none()
    {
        return Err(AppError::invalid("vendor", "no vendor has this id"));
    }
    store::put_agreement(tx.conn, terms).await?;
    let Some(covers) = covers else { return Ok(()) };
    let actor = tx.actor.to_owned();
    let contract = load(tx.conn, id).await?;
    for (index, item) in covers.iter().enumerate() {
        if *item == id {
            return Err(AppError::invalid(
                format!("covers[{index}]"),
                "a contract cannot cover itself",
            ));
        }
        visible(tx.conn, tx.principal, *item)
            .await
            .map_err(|_| AppError::invalid(format!("covers[{index}]"), "no item has this id"))?;
        if cmdb_store::insert_relation(tx.conn, *item, "covered_by", id, &actor, tx.now)
            .await?
            .is_some()
        {
            let line = format!("covered_by {}", contract.name);
            cmdb_store::insert_history(
                tx.conn,
                *item,
                tx.now,
                &actor,
                "relation",
                None,
                Some(&line),
            )
            .await?;
        }
    }
    for relation in cmdb_store::relations_of(tx.conn, id, false).await? {
        if relation.kind == "covered_by"
            && relation.target_id == id
            && !covers.contains(&relation.source_id)
        {
            cmdb_store::remove_relation(tx.conn, relation.id, &actor, tx.now).await?;
            let line = format!("covered_by {}", contract.name);
            cmdb_store::insert_history(
                tx.conn,
                relation.source_id,
                tx.now,
                &actor,
                "relation",
                Some(&line),
                None,
            )
            .await?;
        }
    }
    Ok(())
}

/// Item `id` and its terms, if it is an agreement of that kind the principal may see.
async fn agreement_terms(
    conn: &mut Conn,
    principal: &Principal,
    agreement: Agreement,
    id: i64,
) -> Result<(Ci, AgreementRow), AppError> {
    let row = visible(conn, principal, id).await?;
    if row.class != agreement.class().as_str() {
        return Err(AppError::NotFound(match agreement {
            Agreement::Contract => "contract",
            Agreement::Licence => "licence",
        }));
    }
    let terms = store::agreement(conn, id).await?.unwrap_or(AgreementRow {
        ci_id: id,
        notice_days: 30,
        ..AgreementRow::default()
    });
    Ok((load(conn, id).await?, terms))
}

/// The item an agreement is: deployed from the start, its cost its purchase cost.
fn agreement_item(
    agreement: Agreement,
    name: &str,
    organization: &Option<String>,
    owner: &Option<String>,
    cost: &Option<String>,
) -> NewCi {
    NewCi {
        class: agreement.class().as_str().to_owned(),
        name: name.to_owned(),
        organization: organization.clone(),
        owner: owner.clone(),
        lifecycle: Some("deployed".to_owned()),
        purchase_cost: cost.clone(),
        ..NewCi::default()
    }
}

impl App {
    /// Adds a contract (staff): an item of class `contract` with its terms.
    pub async fn create_contract(
        &self,
        principal: &Principal,
        input: NewContract,
    ) -> Result<Contract, AppError> {
        let item = agreement_item(
            Agreement::Contract,
            &input.name,
            &input.organization,
            &input.owner,
            &input.cost,
        );
        let id = self
            .create_agreement(
                principal,
                Agreement::Contract,
                item,
                TermsPatch::from(&input),
            )
            .await?;
        self.contract(principal, id).await
    }

    /// Adds a licence (staff): an item of class `licence` with its terms.
    pub async fn create_licence(
        &self,
        principal: &Principal,
        input: NewLicence,
    ) -> Result<Licence, AppError> {
        let item = agreement_item(
            Agreement::Licence,
            &input.name,
            &input.organization,
            &input.owner,
            &input.cost,
        );
        let id = self
            .create_agreement(
                principal,
                Agreement::Licence,
                item,
                TermsPatch::from(&input),
            )
            .await?;
        self.licence(principal, id).await
    }

    /// Creates the item, then its terms. The terms are checked first so that a mistake in
    /// them leaves no item behind; should writing them still fail, the item is removed.
    async fn create_agreement(
        &self,
        principal: &Principal,
        agreement: Agreement,
        item: NewCi,
        patch: TermsPatch,
    ) -> Result<i64, AppError> {
        principal.require_staff()?;
        let terms = apply(
            agreement,
            AgreementRow {
                notice_days: 30,
                ..AgreementRow::default()
            },
            &patch,
        )?;
        let id = self.create_ci(principal, item).await?.id;
        let written = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let terms = AgreementRow { ci_id: id, ..terms };
                    write_terms(&mut tx, id, &terms, patch.covers.as_deref()).await?;
                    tx.record(Event::updated(
                        Entity::Ci,
                        id,
                        &(),
                        &serde_json::json!({ "terms": terms.kind }),
                    ))
                    .await
                })
            })
            .await;
        if let Err(error) = written {
            let error_text = error.to_string();
            self.change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    cmdb_store::delete_ci(tx.conn, id).await?;
                    let why = serde_json::json!({ "terms_not_written": error_text });
                    tx.record(Event::deleted(Entity::Ci, id, &why)).await
                })
            })
            .await?;
            return Err(error);
        }
        self.cmdb_changed();
        Ok(id)
    }

    /// One contract (staff, or a customer of its organization).
    pub async fn contract(&self, principal: &Principal, id: i64) -> Result<Contract, AppError> {
        let mut conn = self.db().reader().await?;
        let (item, terms) = agreement_terms(&mut conn, principal, Agreement::Contract, id).await?;
        contract_view(&mut conn, item, terms, self.now_ms()).await
    }

    /// One licence (staff, or a customer of its organization).
    pub async fn licence(&self, principal: &Principal, id: i64) -> Result<Licence, AppError> {
        let mut conn = self.db().reader().await?;
        let (item, terms) = agreement_terms(&mut conn, principal, Agreement::Licence, id).await?;
        licence_view(&mut conn, item, terms, self.now_ms()).await
    }

    /// Contracts the principal may see, those ending first first.
    pub async fn contracts(&self, principal: &Principal) -> Result<Vec<Contract>, AppError> {
        let mut list = Vec::new();
        let items = self
            .search_cis(principal, "class:contract", 0, super::MOST_RESULTS)
            .await?;
        let mut conn = self.db().reader().await?;
        for item in items {
            let terms = store::agreement(&mut conn, item.id)
                .await?
                .unwrap_or_default();
            list.push(contract_view(&mut conn, item, terms, self.now_ms()).await?);
        }
        list.sort_by_key(|c| (c.terms.ends_on.is_none(), c.terms.ends_on.clone()));
        Ok(list)
    }

    /// Licences the principal may see, by name.
    pub async fn licences(&self, principal: &Principal) -> Result<Vec<Licence>, AppError> {
        let mut list = Vec::new();
        let items = self
            .search_cis(principal, "class:licence", 0, super::MOST_RESULTS)
            .await?;
        let mut conn = self.db().reader().await?;
        for item in items {
            let terms = store::agreement(&mut conn, item.id)
                .await?
                .unwrap_or_default();
            list.push(licence_view(&mut conn, item, terms, self.now_ms()).await?);
        }
        list.sort_by(|a, b| a.item.name.cmp(&b.item.name));
        Ok(list)
    }

    /// Changes a contract's terms (staff).
    pub async fn update_contract(
        &self,
        principal: &Principal,
        id: i64,
        patch: TermsPatch,
    ) -> Result<Contract, AppError> {
        self.update_terms(principal, Agreement::Contract, id, patch)
            .await?;
        self.contract(principal, id).await
    }

    /// Changes a licence's terms (staff).
    pub async fn update_licence(
        &self,
        principal: &Principal,
        id: i64,
        patch: TermsPatch,
    ) -> Result<Licence, AppError> {
        if patch.covers.is_some() || patch.response_hours.is_some() {
            return Err(AppError::invalid(
                if patch.covers.is_some() {
                    "covers"
                } else {
                    "response_hours"
                },
                "only contracts have this",
            ));
        }
        self.update_terms(principal, Agreement::Licence, id, patch)
            .await?;
        self.licence(principal, id).await
    }

    async fn update_terms(
        &self,
        principal: &Principal,
        agreement: Agreement,
        id: i64,
        patch: TermsPatch,
    ) -> Result<(), AppError> {
        if agreement == Agreement::Contract
            && (patch.purchased.is_some() || patch.package.is_some())
        {
            return Err(AppError::invalid(
                if patch.purchased.is_some() {
                    "purchased"
                } else {
                    "package"
                },
                "only licences have this",
            ));
        }
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let (_, before) = agreement_terms(tx.conn, tx.principal, agreement, id).await?;
                let after = apply(agreement, before.clone(), &patch)?;
                write_terms(&mut tx, id, &after, patch.covers.as_deref()).await?;
                let actor = tx.actor.to_owned();
                for (field, a, b) in [
                    ("ends_on", &before.ends_on, &after.ends_on),
                    ("starts_on", &before.starts_on, &after.starts_on),
                ] {
                    if a != b {
                        cmdb_store::insert_history(
                            tx.conn,
                            id,
                            tx.now,
                            &actor,
                            field,
                            a.as_deref(),
                            b.as_deref(),
                        )
                        .await?;
                    }
                }
                tx.record(Event::updated(
                    Entity::Ci,
                    id,
                    &serde_json::json!({ "kind": before.kind, "ends_on": before.ends_on }),
                    &serde_json::json!({ "kind": after.kind, "ends_on": after.ends_on }),
                ))
                .await
            })
        })
        .await?;
        self.cmdb_changed();
        Ok(())
    }

    /// Opens a renewal task for each contract and licence whose notice period began, once
    /// per end date, assigned to the item's owner when it has one; returns how many.
    pub async fn remind_renewals(&self) -> Result<usize, AppError> {
        let today = today(self.now_ms()).to_string();
        let due = self
            .system_change("cmdb", move |tx| {
                Box::pin(async move { Ok(store::claim_due_renewals(tx.conn, &today).await?) })
            })
            .await?;
        for renewal in &due {
            // Only a desk without any admin has no one to ask.
            let Some(requester) = renewal.requester.clone() else {
                continue;
            };
            let what = if renewal.class == "licence" {
                "licence"
            } else {
                "contract"
            };
            self.create_ticket(
                &Principal::system("cmdb"),
                NewTicket {
                    ticket_type: "service_request".into(),
                    title: format!("Renew {what}: {} (ends {})", renewal.name, renewal.ends_on),
                    description: format!(
                        "The {what} {} ends on {}. Renew it, or end it and retire its item, at \
                         /cmdb/{}.",
                        renewal.name, renewal.ends_on, renewal.ci_id
                    ),
                    impact: "low".into(),
                    urgency: "medium".into(),
                    requester: Some(requester),
                    assignee: renewal.assignee.clone(),
                    source: Some("web".into()),
                    tags: vec!["renewal".to_owned()],
                    ..NewTicket::default()
                },
            )
            .await?;
        }
        Ok(due.len())
    }
}
