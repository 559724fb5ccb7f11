//! The CMDB: configuration items by class, with owner, organization, lifecycle and history;
//! relations between them and what fails when one goes down; identification, so agents,
//! imports and people update one item per machine; and the tickets and monitors about each.

mod agents;
mod agreements;
mod classes;
mod duplicates;
mod impact;
mod links;
mod relations;
mod stocktake;
mod transfer;
mod vendors;
mod vulnerabilities;

use std::collections::BTreeMap;

use jiff::Timestamp;
use opsdesk_domain::cmdb::{self as rules, CiClass, Lifecycle, Source};
use opsdesk_store::Conn;
use opsdesk_store::cmdb::{self as store, CiFilter, CiRow, CiValues};
use serde::{Deserialize, Serialize};

use classes::checked_fields;
use duplicates::note_twins;

pub use agents::{AgentStatus, EnrolmentToken, InstalledPackage, Inventory, NewEnrolment, Update};
pub use agreements::{Contract, Licence, NewContract, NewLicence, Terms, TermsPatch};
pub use classes::{CiClassFields, CiField};
pub use duplicates::SuspectedDuplicate;
pub(crate) use impact::GraphCache;
pub use impact::{Impact, ImpactedCi};
pub use links::{CiMonitor, CiTicket, InventoryChange, TicketCi};
pub use relations::{CiRef, NewRelation, Relation};
pub use stocktake::{Scan, Scanned, Stocktake};
pub use transfer::{
    ImportOutcome, ImportReport, ImportRow, ImportedRow, TransferFormat, cis_to_csv, read_rows,
};
pub use vendors::{
    NewVendor, NewVendorWait, Vendor, VendorContact, VendorPatch, VendorRef, VendorWait,
};
pub use vulnerabilities::{
    AdvisoryImport, AdvisorySummary, Compliance, Finding, FindingCounts, FindingsRefresh,
    HostCompliance, OrganizationCompliance, UpdateAges,
};

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, FieldError, Precondition, Principal, timestamp};

/// Agent reports taken at once; more wait for a later turn (`Retry-After`).
pub(crate) const REPORTS_AT_ONCE: usize = 4;
/// The most items one search returns.
const MOST_RESULTS: i64 = 500;

/// A configuration item as staff see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ci {
    pub id: i64,
    /// `laptop`, `server`, `virtual_machine`, `network_device`, `printer`, `software`,
    /// `licence`, `service` or `contract`.
    pub class: String,
    pub name: String,
    pub organization: Option<String>,
    /// The owner's e-mail address.
    pub owner: Option<String>,
    pub location: String,
    /// `ordered`, `in_stock`, `deployed`, `in_repair` or `retired`.
    pub lifecycle: String,
    pub asset_tag: Option<String>,
    pub serial_number: Option<String>,
    pub smbios_uuid: Option<String>,
    pub hostname: Option<String>,
    pub macs: Vec<String>,
    /// Of the items it depends on, how many must be up for it to be up; all when absent.
    pub needed: Option<i64>,
    /// The class's custom fields.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// ISO date.
    pub purchased_on: Option<String>,
    pub purchase_cost: Option<String>,
    /// ISO date.
    pub warranty_ends_on: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: i64,
}

/// A new configuration item.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCi {
    pub class: String,
    pub name: String,
    /// By name.
    #[serde(default)]
    pub organization: Option<String>,
    /// By e-mail address.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    /// `in_stock` when absent.
    #[serde(default)]
    pub lifecycle: Option<String>,
    #[serde(default)]
    pub asset_tag: Option<String>,
    #[serde(default)]
    pub serial_number: Option<String>,
    #[serde(default)]
    pub smbios_uuid: Option<String>,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub macs: Vec<String>,
    #[serde(default)]
    pub needed: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub purchased_on: Option<String>,
    #[serde(default)]
    pub purchase_cost: Option<String>,
    #[serde(default)]
    pub warranty_ends_on: Option<String>,
}

/// Changes to an item; absent fields stay as they are, `null` clears one.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiPatch {
    pub name: Option<String>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub organization: Option<Option<String>>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub owner: Option<Option<String>>,
    pub location: Option<String>,
    pub lifecycle: Option<String>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub asset_tag: Option<Option<String>>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub serial_number: Option<Option<String>>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub hostname: Option<Option<String>>,
    pub macs: Option<Vec<String>>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<i64>)]
    pub needed: Option<Option<i64>>,
    #[schema(value_type = Option<Object>)]
    pub fields: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub purchased_on: Option<Option<String>>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub purchase_cost: Option<Option<String>>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<String>)]
    pub warranty_ends_on: Option<Option<String>>,
}

/// One change in an item's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiChange {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

fn view(row: CiRow, macs: Vec<String>) -> Ci {
    Ci {
        id: row.id,
        class: row.class,
        name: row.name,
        organization: row.organization,
        owner: row.owner,
        location: row.location,
        lifecycle: row.lifecycle,
        asset_tag: row.asset_tag,
        serial_number: row.serial_number,
        smbios_uuid: row.smbios_uuid,
        hostname: row.hostname,
        macs,
        needed: row.needed,
        fields: serde_json::from_str(&row.fields).unwrap_or_default(),
        purchased_on: row.purchased_on,
        purchase_cost: row.purchase_cost,
        warranty_ends_on: row.warranty_ends_on,
        created_at: timestamp(row.created_at),
        updated_at: timestamp(row.updated_at),
        version: row.version,
    }
}

pub(crate) async fn load(conn: &mut Conn, id: i64) -> Result<Ci, AppError> {
    let row = store::ci(conn, id).await?.ok_or(AppError::NotFound("ci"))?;
    let macs = store::macs(conn, id).await?;
    Ok(view(row, macs))
}

/// Loads item `id` if `principal` may see it.
pub(crate) async fn visible(
    conn: &mut Conn,
    principal: &Principal,
    id: i64,
) -> Result<CiRow, AppError> {
    let row = store::ci(conn, id).await?.ok_or(AppError::NotFound("ci"))?;
    if !principal.can_see_organization(row.organization_id) {
        return Err(AppError::NotFound("ci"));
    }
    Ok(row)
}

/// An optional text trimmed, empty as none, at most `most` characters.
fn optional_text(
    field: &str,
    value: Option<&str>,
    most: usize,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    if value.chars().count() > most {
        errors.push(FieldError::new(field, format!("at most {most} characters")));
    }
    Some(value.to_owned())
}

fn optional_date(field: &str, value: Option<&str>, errors: &mut Vec<FieldError>) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    match value.parse::<jiff::civil::Date>() {
        Ok(date) => Some(date.to_string()),
        Err(_) => {
            errors.push(FieldError::new(field, "a date such as 2027-03-31"));
            None
        }
    }
}

fn read_macs(macs: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    let mut read = Vec::new();
    for (index, mac) in macs.iter().enumerate() {
        match rules::normal_mac(mac) {
            Some(mac) if !read.contains(&mac) => read.push(mac),
            Some(_) => {}
            None => errors.push(FieldError::new(
                format!("macs[{index}]"),
                "a MAC address such as 52:54:00:12:34:56",
            )),
        }
    }
    read.sort();
    read
}

fn read_needed(value: Option<i64>, errors: &mut Vec<FieldError>) -> Option<i64> {
    match value {
        Some(n) if !(1..=1000).contains(&n) => {
            errors.push(FieldError::new("needed", "from 1 to 1000"));
            None
        }
        other => other,
    }
}

/// A new item's attributes checked as far as they can be without the database: its class,
/// the values to store (organization, owner and custom fields still to resolve) and its MACs.
fn checked_new(
    input: &NewCi,
    errors: &mut Vec<FieldError>,
) -> (Option<CiClass>, CiValues, Vec<String>) {
    let class = input
        .class
        .parse::<CiClass>()
        .map_err(|e| errors.push(FieldError::new("class", e)))
        .ok();
    let name = crate::accounts::check_name("name", &input.name, errors);
    let lifecycle = match input.lifecycle.as_deref() {
        None => Lifecycle::InStock,
        Some(text) => text.parse::<Lifecycle>().unwrap_or_else(|e| {
            errors.push(FieldError::new("lifecycle", e));
            Lifecycle::InStock
        }),
    };
    let macs = read_macs(&input.macs, errors);
    let values = CiValues {
        class: class.map(CiClass::as_str).unwrap_or_default().to_owned(),
        name,
        organization_id: None,
        owner_id: None,
        location: optional_text("location", input.location.as_deref(), 200, errors)
            .unwrap_or_default(),
        lifecycle: lifecycle.as_str().to_owned(),
        asset_tag: optional_text("asset_tag", input.asset_tag.as_deref(), 64, errors),
        serial_number: optional_text("serial_number", input.serial_number.as_deref(), 128, errors),
        smbios_uuid: optional_text("smbios_uuid", input.smbios_uuid.as_deref(), 64, errors)
            .map(|u| u.to_lowercase()),
        hostname: optional_text("hostname", input.hostname.as_deref(), 253, errors),
        needed: read_needed(input.needed, errors),
        fields: "{}".to_owned(),
        sources: "{}".to_owned(),
        purchased_on: optional_date("purchased_on", input.purchased_on.as_deref(), errors),
        purchase_cost: optional_text("purchase_cost", input.purchase_cost.as_deref(), 64, errors),
        warranty_ends_on: optional_date(
            "warranty_ends_on",
            input.warranty_ends_on.as_deref(),
            errors,
        ),
    };
    (class, values, macs)
}

/// Resolves a new item's organization (one `principal` may see), owner and custom fields.
async fn resolve_new(
    conn: &mut Conn,
    principal: &Principal,
    class: CiClass,
    input: &NewCi,
    values: &mut CiValues,
) -> Result<(), AppError> {
    values.organization_id = organization_id(conn, input.organization.as_deref()).await?;
    if !principal.can_see_organization(values.organization_id) {
        return Err(AppError::invalid(
            "organization",
            "no organization has this name",
        ));
    }
    values.owner_id = owner_id(conn, input.owner.as_deref()).await?;
    values.fields = checked_fields(conn, class, &input.fields).await?;
    Ok(())
}

/// The sources of a new item whose discovered attributes `source` set.
fn mark_discovered(source: Source) -> String {
    rules::DISCOVERED
        .iter()
        .fold("{}".to_owned(), |sources, attribute| {
            mark_source(&sources, attribute, source)
        })
}

/// Whether an item may move from lifecycle state `from` to `to`, or why not.
fn checked_move(from: Lifecycle, to: Lifecycle) -> Result<(), FieldError> {
    if from.may_move_to(to) {
        return Ok(());
    }
    let allowed = if from.next().is_empty() {
        "nothing: retired is final".to_owned()
    } else {
        from.next()
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(FieldError::new(
        "lifecycle",
        format!("a {from} item may move to {allowed}"),
    ))
}

/// Records `attribute` as last set by `source`.
pub(crate) fn mark_source(sources: &str, attribute: &str, source: Source) -> String {
    let mut map: BTreeMap<String, String> = serde_json::from_str(sources).unwrap_or_default();
    map.insert(attribute.to_owned(), source.as_str().to_owned());
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

fn source_of(sources: &str, attribute: &str) -> Option<Source> {
    let map: BTreeMap<String, String> = serde_json::from_str(sources).unwrap_or_default();
    map.get(attribute).and_then(|s| s.parse().ok())
}

pub(crate) async fn organization_id(
    conn: &mut Conn,
    name: Option<&str>,
) -> Result<Option<i64>, AppError> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let org = opsdesk_store::accounts::find_organization_by_name(conn, name)
        .await?
        .ok_or_else(|| AppError::invalid("organization", "no organization has this name"))?;
    Ok(Some(org.id))
}

async fn owner_id(conn: &mut Conn, email: Option<&str>) -> Result<Option<i64>, AppError> {
    let Some(email) = email.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let user = opsdesk_store::accounts::find_user_by_email(conn, email)
        .await?
        .ok_or_else(|| AppError::invalid("owner", "no user has this e-mail address"))?;
    Ok(Some(user.id))
}

/// An item's attributes as its history writes them, by name.
fn attributes(v: &CiValues) -> [(&'static str, Option<String>); 15] {
    let id = |n: Option<i64>| n.map(|n| n.to_string());
    [
        ("class", Some(v.class.clone())),
        ("name", Some(v.name.clone())),
        ("organization", id(v.organization_id)),
        ("owner", id(v.owner_id)),
        ("location", Some(v.location.clone())),
        ("lifecycle", Some(v.lifecycle.clone())),
        ("asset_tag", v.asset_tag.clone()),
        ("serial_number", v.serial_number.clone()),
        ("smbios_uuid", v.smbios_uuid.clone()),
        ("hostname", v.hostname.clone()),
        ("needed", id(v.needed)),
        ("fields", Some(v.fields.clone())),
        ("purchased_on", v.purchased_on.clone()),
        ("purchase_cost", v.purchase_cost.clone()),
        ("warranty_ends_on", v.warranty_ends_on.clone()),
    ]
}

/// The history lines between two versions of an item's attributes.
fn differences(
    before: &CiValues,
    after: &CiValues,
) -> Vec<(&'static str, Option<String>, Option<String>)> {
    attributes(before)
        .into_iter()
        .zip(attributes(after))
        .filter(|((_, a), (_, b))| a != b)
        .map(|((field, a), (_, b))| (field, a, b))
        .collect()
}

/// Writes the history lines of a change, by `actor`.
async fn record_history(
    conn: &mut Conn,
    id: i64,
    before: &CiValues,
    after: &CiValues,
    actor: &str,
    now: i64,
) -> Result<(), AppError> {
    for (field, a, b) in differences(before, after) {
        store::insert_history(conn, id, now, actor, field, a.as_deref(), b.as_deref()).await?;
    }
    Ok(())
}

impl App {
    /// Creates a configuration item (staff). Items sharing an identifier with it are noted
    /// as suspected duplicates.
    pub async fn create_ci(&self, principal: &Principal, input: NewCi) -> Result<Ci, AppError> {
        principal.require_staff()?;
        let mut errors = Vec::new();
        let (class, mut values, macs) = checked_new(&input, &mut errors);
        let Some(class) = class.filter(|_| errors.is_empty()) else {
            return Err(AppError::Invalid(errors));
        };
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                resolve_new(tx.conn, tx.principal, class, &input, &mut values).await?;
                values.sources = mark_discovered(Source::Staff);
                let id = store::insert_ci(tx.conn, &values, tx.now)
                    .await
                    .map_err(|e| e.on_unique("asset tag"))?;
                store::set_macs(tx.conn, id, &macs).await?;
                let actor = tx.actor.to_owned();
                store::insert_history(
                    tx.conn,
                    id,
                    tx.now,
                    &actor,
                    "lifecycle",
                    None,
                    Some(&values.lifecycle),
                )
                .await?;
                note_twins(tx.conn, id, class, &values, &macs, tx.now).await?;
                let ci = load(tx.conn, id).await?;
                tx.record(Event::created(Entity::Ci, id, &ci)).await?;
                Ok(ci)
            })
        })
        .await
    }

    /// One item (staff, or a customer of its organization).
    pub async fn ci(&self, principal: &Principal, id: i64) -> Result<Ci, AppError> {
        let mut conn = self.db().reader().await?;
        let row = visible(&mut conn, principal, id).await?;
        let macs = store::macs(&mut conn, id).await?;
        Ok(view(row, macs))
    }

    /// Changes an item (staff). A lifecycle move must be one the lifecycle allows; every
    /// changed attribute is written to the item's history.
    pub async fn update_ci(
        &self,
        principal: &Principal,
        id: i64,
        precondition: Precondition,
        patch: CiPatch,
    ) -> Result<Ci, AppError> {
        let done = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let row = visible(tx.conn, tx.principal, id).await?;
                    precondition.check(row.version)?;
                    let before = CiValues::from(&row);
                    let mut after = before.clone();
                    let mut errors = Vec::new();
                    if let Some(name) = &patch.name {
                        after.name = crate::accounts::check_name("name", name, &mut errors);
                    }
                    if let Some(location) = &patch.location {
                        after.location =
                            optional_text("location", Some(location), 200, &mut errors)
                                .unwrap_or_default();
                    }
                    if let Some(lifecycle) = &patch.lifecycle {
                        match lifecycle.parse::<Lifecycle>() {
                            Ok(to) => {
                                let from = row
                                    .lifecycle
                                    .parse::<Lifecycle>()
                                    .unwrap_or(Lifecycle::InStock);
                                match checked_move(from, to) {
                                    Ok(()) => after.lifecycle = to.as_str().to_owned(),
                                    Err(error) => errors.push(error),
                                }
                            }
                            Err(e) => errors.push(FieldError::new("lifecycle", e)),
                        }
                    }
                    if let Some(tag) = &patch.asset_tag {
                        after.asset_tag =
                            optional_text("asset_tag", tag.as_deref(), 64, &mut errors);
                    }
                    if let Some(serial) = &patch.serial_number {
                        after.serial_number =
                            optional_text("serial_number", serial.as_deref(), 128, &mut errors);
                        after.sources = mark_source(&after.sources, "serial_number", Source::Staff);
                    }
                    if let Some(hostname) = &patch.hostname {
                        after.hostname =
                            optional_text("hostname", hostname.as_deref(), 253, &mut errors);
                        after.sources = mark_source(&after.sources, "hostname", Source::Staff);
                    }
                    if let Some(needed) = patch.needed {
                        after.needed = read_needed(needed, &mut errors);
                    }
                    if let Some(date) = &patch.purchased_on {
                        after.purchased_on =
                            optional_date("purchased_on", date.as_deref(), &mut errors);
                    }
                    if let Some(cost) = &patch.purchase_cost {
                        after.purchase_cost =
                            optional_text("purchase_cost", cost.as_deref(), 64, &mut errors);
                    }
                    if let Some(date) = &patch.warranty_ends_on {
                        after.warranty_ends_on =
                            optional_date("warranty_ends_on", date.as_deref(), &mut errors);
                    }
                    let macs = patch.macs.as_ref().map(|m| read_macs(m, &mut errors));
                    if !errors.is_empty() {
                        return Err(AppError::Invalid(errors));
                    }
                    if let Some(org) = &patch.organization {
                        after.organization_id = organization_id(tx.conn, org.as_deref()).await?;
                        if !tx.principal.can_see_organization(after.organization_id) {
                            return Err(AppError::invalid(
                                "organization",
                                "no organization has this name",
                            ));
                        }
                    }
                    if let Some(owner) = &patch.owner {
                        after.owner_id = owner_id(tx.conn, owner.as_deref()).await?;
                    }
                    if let Some(fields) = &patch.fields {
                        let class = row.class.parse::<CiClass>().unwrap_or(CiClass::Server);
                        after.fields = checked_fields(tx.conn, class, fields).await?;
                    }
                    let actor = tx.actor.to_owned();
                    if let Some(macs) = &macs {
                        let old = store::macs(tx.conn, id).await?;
                        if &old != macs {
                            store::set_macs(tx.conn, id, macs).await?;
                            store::insert_history(
                                tx.conn,
                                id,
                                tx.now,
                                &actor,
                                "macs",
                                Some(&old.join(" ")),
                                Some(&macs.join(" ")),
                            )
                            .await?;
                            after.sources = mark_source(&after.sources, "macs", Source::Staff);
                        }
                    }
                    if after != before
                        && !store::update_ci(tx.conn, id, row.version, &after, tx.now)
                            .await
                            .map_err(|e| e.on_unique("asset tag"))?
                    {
                        return Err(AppError::Stale);
                    }
                    record_history(tx.conn, id, &before, &after, &actor, tx.now).await?;
                    let old = view(row, Vec::new());
                    let ci = load(tx.conn, id).await?;
                    tx.record(Event::updated(Entity::Ci, id, &old, &ci)).await?;
                    Ok(ci)
                })
            })
            .await;
        if done.is_ok() {
            self.cmdb_changed();
        }
        done
    }

    /// Deletes an item and its relations (admin). Retiring keeps its history; this is for
    /// records made by mistake.
    pub async fn delete_ci(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        let done = self
            .change(principal, Need::Admin, move |mut tx| {
                Box::pin(async move {
                    let row = visible(tx.conn, tx.principal, id).await?;
                    let ci = view(row, Vec::new());
                    store::delete_ci(tx.conn, id).await?;
                    tx.record(Event::deleted(Entity::Ci, id, &ci)).await
                })
            })
            .await;
        if done.is_ok() {
            self.cmdb_changed();
        }
        done
    }

    /// Items fitting a search in the CMDB language (`class:server package:openssl<3.0.13`),
    /// in id order after `after` (staff; customers see their organization's).
    pub async fn search_cis(
        &self,
        principal: &Principal,
        q: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<Ci>, AppError> {
        let query = rules::query::parse(q).map_err(|e| AppError::invalid("q", e))?;
        let mut conn = self.db().reader().await?;
        let mut ids: Option<Vec<i64>> = None;
        let mut narrow = |found: Vec<i64>| {
            ids = Some(match ids.take() {
                None => found,
                Some(current) => current
                    .into_iter()
                    .filter(|id| found.contains(id))
                    .collect(),
            });
        };
        for package in &query.packages {
            let installs = opsdesk_store::inventory::installs_of(&mut conn, &package.name).await?;
            let mut fitting: Vec<i64> = installs
                .into_iter()
                .filter(|(_, version)| package.fits(version))
                .map(|(id, _)| id)
                .collect();
            fitting.dedup();
            narrow(fitting);
        }
        if let Some(term) = &query.vulnerable {
            use rules::query::VulnerableTerm;
            let (rank, advisory) = match term {
                VulnerableTerm::Any => (0, None),
                VulnerableTerm::AtLeast(severity) => (severity.rank(), None),
                VulnerableTerm::Advisory(id) => (0, Some(id.as_str())),
            };
            // `package:openssl vulnerable:any`: a vulnerable openssl, not any vulnerability
            // on a machine that has openssl.
            let packages: Vec<String> = query.packages.iter().map(|p| p.name.clone()).collect();
            narrow(
                opsdesk_store::vulnerabilities::ids_vulnerable(
                    &mut conn, rank, advisory, &packages,
                )
                .await?,
            );
        }
        if let Some(updates) = query.updates {
            let security = updates == rules::query::UpdatesTerm::Security;
            narrow(opsdesk_store::inventory::ids_with_updates(&mut conn, security).await?);
        }
        let mut owners = None;
        if !query.owners.is_empty() {
            let mut found = Vec::new();
            for owner in &query.owners {
                match owner.as_str() {
                    "none" => {}
                    "me" => found.extend(principal.user_id),
                    email => found.extend(
                        opsdesk_store::accounts::find_user_by_email(&mut conn, email)
                            .await?
                            .map(|u| u.id),
                    ),
                }
            }
            if found.is_empty() && !query.owners.iter().any(|o| o == "none") {
                found.push(-1);
            }
            owners = Some(found);
        }
        let filter = CiFilter {
            classes: query
                .classes
                .iter()
                .map(|c| c.as_str().to_owned())
                .collect(),
            lifecycles: query
                .lifecycles
                .iter()
                .map(|l| l.as_str().to_owned())
                .collect(),
            organizations: query
                .organizations
                .iter()
                .map(|o| o.to_lowercase())
                .collect(),
            owners,
            words: query.words.clone(),
            ids,
            visible: principal.organization_filter(),
            include_unowned: principal.role.is_staff(),
            after,
            limit: limit.clamp(1, MOST_RESULTS),
        };
        let rows = store::search_cis(&mut conn, &filter).await?;
        let mut cis = Vec::with_capacity(rows.len());
        for row in rows {
            let macs = store::macs(&mut conn, row.id).await?;
            cis.push(view(row, macs));
        }
        Ok(cis)
    }

    /// An item's history, the latest first.
    pub async fn ci_history(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<CiChange>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        visible(&mut conn, principal, id).await?;
        let rows = store::history(&mut conn, id, 500).await?;
        Ok(rows
            .into_iter()
            .map(|r| CiChange {
                at: timestamp(r.at),
                actor: r.actor,
                field: r.field,
                before: r.before,
                after: r.after,
            })
            .collect())
    }
}
