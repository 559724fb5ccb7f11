//! The CMDB: configuration items by class, with owner, organization, lifecycle and history;
//! relations between them and what fails when one goes down; identification, so agents,
//! imports and people update one item per machine; and the tickets and monitors about each.

mod agents;
mod impact;
mod stocktake;
mod vulnerabilities;

use std::collections::BTreeMap;

use jiff::Timestamp;
use opsdesk_domain::cmdb::{self as rules, CiClass, Identifier, Lifecycle, RelationKind, Source};
use opsdesk_store::Conn;
use opsdesk_store::cmdb::{self as store, CiFilter, CiRow, CiValues};
use serde::{Deserialize, Serialize};

pub use agents::{AgentStatus, EnrolmentToken, InstalledPackage, Inventory, NewEnrolment, Update};
pub(crate) use impact::GraphCache;
pub use impact::{Impact, ImpactedCi};
pub use stocktake::{Scan, Scanned, Stocktake};
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

/// A relation between two items: `source kind target`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Relation {
    pub id: i64,
    pub source: CiRef,
    /// `runs_on`, `depends_on`, `connects_to`, `used_by`, `installed_on` or `covered_by`.
    pub kind: String,
    pub target: CiRef,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub created_by: String,
    /// When it was removed; current relations have none.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub removed_at: Option<Timestamp>,
    pub removed_by: Option<String>,
}

/// An item named by another.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiRef {
    pub id: i64,
    pub name: String,
    pub class: String,
}

/// A new relation from an item.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRelation {
    pub kind: String,
    /// The item at the other end, by id.
    pub target: i64,
}

/// A pair of items that look like one machine recorded twice.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SuspectedDuplicate {
    pub id: i64,
    pub ci: CiRef,
    pub other: CiRef,
    /// Which identifier they share: `serial_number ABC123`.
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub found_at: Timestamp,
}

/// A ticket or monitor about an item, on its page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiTicket {
    pub id: i64,
    /// `INC-42`.
    pub number: String,
    pub title: String,
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiMonitor {
    pub id: i64,
    pub name: String,
    pub kind: String,
    /// `up`, `down`, `paused` or `pending`.
    pub status: String,
}

/// What changed in an item's inventory.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InventoryChange {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub section: String,
    /// `openssl 3.0.11 → 3.0.13`.
    pub summary: String,
}

/// An item a ticket is about, with what the desk wants to know beside it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketCi {
    pub ci: Ci,
    /// Its other open tickets.
    pub open_tickets: Vec<CiTicket>,
    pub monitors: Vec<CiMonitor>,
    /// Inventory changes of the last seven days, the latest first.
    pub inventory_changes: Vec<InventoryChange>,
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
async fn visible(conn: &mut Conn, principal: &Principal, id: i64) -> Result<CiRow, AppError> {
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

/// A custom field of a class, as admins define it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiField {
    /// The key in an item's `fields`: lower-case letters, digits and `_`.
    pub name: String,
    pub label: String,
    /// `text`, `number`, `date` or `boolean`.
    pub kind: String,
    #[serde(default)]
    pub required: bool,
}

/// A class with its custom fields.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiClassFields {
    pub class: String,
    pub fields: Vec<CiField>,
}

fn class_field(row: store::ClassFieldRow) -> rules::fields::ClassField {
    rules::fields::ClassField {
        kind: row.kind.parse().unwrap_or(rules::fields::FieldKind::Text),
        name: row.name,
        label: row.label,
        required: row.required != 0,
    }
}

/// An item's custom field values checked against its class's fields, as stored JSON.
async fn checked_fields(
    conn: &mut Conn,
    class: CiClass,
    values: &BTreeMap<String, serde_json::Value>,
) -> Result<String, AppError> {
    let definitions: Vec<_> = store::class_fields(conn, Some(class.as_str()))
        .await?
        .into_iter()
        .map(class_field)
        .collect();
    let kept = rules::fields::check_values(&definitions, values).map_err(|problems| {
        AppError::Invalid(
            problems
                .into_iter()
                .map(|(field, message)| FieldError::new(field, message))
                .collect(),
        )
    })?;
    serde_json::to_string(&kept).map_err(|e| AppError::internal("storing custom fields", e))
}

/// Records `attribute` as last set by `source`.
fn mark_source(sources: &str, attribute: &str, source: Source) -> String {
    let mut map: BTreeMap<String, String> = serde_json::from_str(sources).unwrap_or_default();
    map.insert(attribute.to_owned(), source.as_str().to_owned());
    serde_json::to_string(&map).unwrap_or_else(|_| "{}".to_owned())
}

fn source_of(sources: &str, attribute: &str) -> Option<Source> {
    let map: BTreeMap<String, String> = serde_json::from_str(sources).unwrap_or_default();
    map.get(attribute).and_then(|s| s.parse().ok())
}

async fn organization_id(conn: &mut Conn, name: Option<&str>) -> Result<Option<i64>, AppError> {
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

/// Notes every other item of `class` that `values` identifies as the same machine, in the
/// queue of suspected duplicates.
async fn note_twins(
    conn: &mut Conn,
    id: i64,
    class: CiClass,
    values: &CiValues,
    macs: &[String],
    now: i64,
) -> Result<(), AppError> {
    let classes: Vec<&str> = CiClass::ALL
        .iter()
        .filter(|c| c.is_hardware() == class.is_hardware())
        .map(|c| c.as_str())
        .collect();
    for identifier in class.identified_by() {
        let candidates: Vec<String> = match identifier {
            Identifier::SmbiosUuid => values.smbios_uuid.clone().into_iter().collect(),
            Identifier::SerialNumber => values.serial_number.clone().into_iter().collect(),
            Identifier::Hostname => values.hostname.clone().into_iter().collect(),
            Identifier::Name => vec![values.name.clone()],
            Identifier::Mac => macs.to_vec(),
        };
        for value in candidates {
            for other in
                store::ids_identified_by(conn, identifier.as_str(), &value, &classes).await?
            {
                if other != id {
                    let reason = format!("{identifier} {value}");
                    store::insert_duplicate(conn, id, other, &reason, now).await?;
                }
            }
        }
    }
    Ok(())
}

impl App {
    /// Creates a configuration item (staff). Items sharing an identifier with it are noted
    /// as suspected duplicates.
    pub async fn create_ci(&self, principal: &Principal, input: NewCi) -> Result<Ci, AppError> {
        principal.require_staff()?;
        let mut errors = Vec::new();
        let class = input
            .class
            .parse::<CiClass>()
            .map_err(|e| errors.push(FieldError::new("class", e)))
            .ok();
        let name = crate::accounts::check_name("name", &input.name, &mut errors);
        let lifecycle = match input.lifecycle.as_deref() {
            None => Lifecycle::InStock,
            Some(text) => text.parse::<Lifecycle>().unwrap_or_else(|e| {
                errors.push(FieldError::new("lifecycle", e));
                Lifecycle::InStock
            }),
        };
        let macs = read_macs(&input.macs, &mut errors);
        let mut values = CiValues {
            class: class.map(CiClass::as_str).unwrap_or_default().to_owned(),
            name,
            organization_id: None,
            owner_id: None,
            location: optional_text("location", input.location.as_deref(), 200, &mut errors)
                .unwrap_or_default(),
            lifecycle: lifecycle.as_str().to_owned(),
            asset_tag: optional_text("asset_tag", input.asset_tag.as_deref(), 64, &mut errors),
            serial_number: optional_text(
                "serial_number",
                input.serial_number.as_deref(),
                128,
                &mut errors,
            ),
            smbios_uuid: optional_text(
                "smbios_uuid",
                input.smbios_uuid.as_deref(),
                64,
                &mut errors,
            )
            .map(|u| u.to_lowercase()),
            hostname: optional_text("hostname", input.hostname.as_deref(), 253, &mut errors),
            needed: read_needed(input.needed, &mut errors),
            fields: "{}".to_owned(),
            sources: "{}".to_owned(),
            purchased_on: optional_date("purchased_on", input.purchased_on.as_deref(), &mut errors),
            purchase_cost: optional_text(
                "purchase_cost",
                input.purchase_cost.as_deref(),
                64,
                &mut errors,
            ),
            warranty_ends_on: optional_date(
                "warranty_ends_on",
                input.warranty_ends_on.as_deref(),
                &mut errors,
            ),
        };
        let Some(class) = class.filter(|_| errors.is_empty()) else {
            return Err(AppError::Invalid(errors));
        };
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                values.organization_id =
                    organization_id(tx.conn, input.organization.as_deref()).await?;
                if !tx.principal.can_see_organization(values.organization_id) {
                    return Err(AppError::invalid(
                        "organization",
                        "no organization has this name",
                    ));
                }
                values.owner_id = owner_id(tx.conn, input.owner.as_deref()).await?;
                values.fields = checked_fields(tx.conn, class, &input.fields).await?;
                let mut sources = values.sources.clone();
                for attribute in ["serial_number", "smbios_uuid", "hostname", "macs"] {
                    sources = mark_source(&sources, attribute, Source::Staff);
                }
                values.sources = sources;
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
                                if from.may_move_to(to) {
                                    after.lifecycle = to.as_str().to_owned();
                                } else {
                                    errors.push(FieldError::new(
                                        "lifecycle",
                                        format!(
                                            "a {from} item may move to {}",
                                            if from.next().is_empty() {
                                                "nothing: retired is final".to_owned()
                                            } else {
                                                from.next()
                                                    .iter()
                                                    .map(|l| l.as_str())
                                                    .collect::<Vec<_>>()
                                                    .join(", ")
                                            }
                                        ),
                                    ));
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

    /// An item's relations either way; with `ended`, removed ones too.
    pub async fn ci_relations(
        &self,
        principal: &Principal,
        id: i64,
        ended: bool,
    ) -> Result<Vec<Relation>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        visible(&mut conn, principal, id).await?;
        Ok(store::relations_of(&mut conn, id, ended)
            .await?
            .into_iter()
            .map(relation_view)
            .collect())
    }

    /// Relates item `id` to another (staff): `id kind target`.
    pub async fn add_relation(
        &self,
        principal: &Principal,
        id: i64,
        input: NewRelation,
    ) -> Result<Relation, AppError> {
        let kind = input
            .kind
            .parse::<RelationKind>()
            .map_err(|e| AppError::invalid("kind", e))?;
        if input.target == id {
            return Err(AppError::invalid(
                "target",
                "an item cannot relate to itself",
            ));
        }
        let done = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    visible(tx.conn, tx.principal, id).await?;
                    visible(tx.conn, tx.principal, input.target)
                        .await
                        .map_err(|_| AppError::invalid("target", "no item has this id"))?;
                    let actor = tx.actor.to_owned();
                    let relation_id = store::insert_relation(
                        tx.conn,
                        id,
                        kind.as_str(),
                        input.target,
                        &actor,
                        tx.now,
                    )
                    .await?
                    .ok_or_else(|| AppError::conflict("the items are already related so"))?;
                    let relation = store::relation(tx.conn, relation_id)
                        .await?
                        .map(relation_view)
                        .ok_or(AppError::NotFound("relation"))?;
                    store::insert_history(
                        tx.conn,
                        id,
                        tx.now,
                        &actor,
                        "relation",
                        None,
                        Some(&format!("{kind} {}", relation.target.name)),
                    )
                    .await?;
                    tx.record(Event::updated(Entity::Ci, id, &(), &relation))
                        .await?;
                    Ok(relation)
                })
            })
            .await;
        if done.is_ok() {
            self.cmdb_changed();
        }
        done
    }

    /// Ends one of item `id`'s relations (staff); it stays in the history.
    pub async fn remove_relation(
        &self,
        principal: &Principal,
        id: i64,
        relation_id: i64,
    ) -> Result<(), AppError> {
        let done = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    visible(tx.conn, tx.principal, id).await?;
                    let relation = store::relation(tx.conn, relation_id)
                        .await?
                        .filter(|r| r.source_id == id || r.target_id == id)
                        .ok_or(AppError::NotFound("relation"))?;
                    let actor = tx.actor.to_owned();
                    if !store::remove_relation(tx.conn, relation_id, &actor, tx.now).await? {
                        return Ok(());
                    }
                    store::insert_history(
                        tx.conn,
                        relation.source_id,
                        tx.now,
                        &actor,
                        "relation",
                        Some(&format!("{} {}", relation.kind, relation.target_name)),
                        None,
                    )
                    .await?;
                    let view = relation_view(relation);
                    tx.record(Event::updated(Entity::Ci, id, &view, &())).await
                })
            })
            .await;
        if done.is_ok() {
            self.cmdb_changed();
        }
        done
    }

    /// Suspected duplicates still to be merged or dismissed (staff).
    pub async fn suspected_duplicates(
        &self,
        principal: &Principal,
    ) -> Result<Vec<SuspectedDuplicate>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let rows = store::open_duplicates(&mut conn, 200).await?;
        let mut list = Vec::new();
        for row in rows {
            let (Some(a), Some(b)) = (
                store::ci(&mut conn, row.ci_id).await?,
                store::ci(&mut conn, row.other_id).await?,
            ) else {
                continue;
            };
            if !principal.can_see_organization(a.organization_id)
                || !principal.can_see_organization(b.organization_id)
            {
                continue;
            }
            list.push(SuspectedDuplicate {
                id: row.id,
                ci: CiRef {
                    id: a.id,
                    name: a.name,
                    class: a.class,
                },
                other: CiRef {
                    id: b.id,
                    name: b.name,
                    class: b.class,
                },
                reason: row.reason,
                found_at: timestamp(row.found_at),
            });
        }
        Ok(list)
    }

    /// Settles a suspected duplicate (staff): with `keep`, one of the pair's ids, the other
    /// item's relations, tickets, monitors, agents and history move to it and the other is
    /// deleted; without, the pair is dismissed as two items.
    pub async fn settle_duplicate(
        &self,
        principal: &Principal,
        duplicate_id: i64,
        keep: Option<i64>,
    ) -> Result<Option<Ci>, AppError> {
        let done = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let pair = store::duplicate(tx.conn, duplicate_id)
                        .await?
                        .ok_or(AppError::NotFound("duplicate"))?;
                    visible(tx.conn, tx.principal, pair.ci_id).await?;
                    visible(tx.conn, tx.principal, pair.other_id).await?;
                    let Some(keep) = keep else {
                        store::resolve_duplicate(tx.conn, duplicate_id, "dismissed", tx.now)
                            .await?;
                        return Ok(None);
                    };
                    let gone = if keep == pair.ci_id {
                        pair.other_id
                    } else if keep == pair.other_id {
                        pair.ci_id
                    } else {
                        return Err(AppError::invalid("keep", "one of the pair's ids"));
                    };
                    let merged = load(tx.conn, gone).await?;
                    store::resolve_duplicate(tx.conn, duplicate_id, "merged", tx.now).await?;
                    store::move_references(tx.conn, gone, keep).await?;
                    let actor = tx.actor.to_owned();
                    store::insert_history(
                        tx.conn,
                        keep,
                        tx.now,
                        &actor,
                        "merged",
                        Some(&format!("{} (#{gone})", merged.name)),
                        None,
                    )
                    .await?;
                    store::delete_ci(tx.conn, gone).await?;
                    let kept = load(tx.conn, keep).await?;
                    tx.record(Event {
                        entity: Entity::Ci,
                        entity_id: keep,
                        action: crate::audit::Action::Merged,
                        before: crate::audit::snapshot(&merged),
                        after: crate::audit::snapshot(&kept),
                    })
                    .await?;
                    Ok(Some(kept))
                })
            })
            .await;
        if done.is_ok() {
            self.cmdb_changed();
        }
        done
    }

    /// Links a ticket to an item (staff): both must be visible to them.
    pub async fn link_ticket_ci(
        &self,
        principal: &Principal,
        ticket: &str,
        ci_id: i64,
    ) -> Result<(), AppError> {
        let ticket = self.ticket(principal, ticket).await?;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let row = visible(tx.conn, tx.principal, ci_id)
                    .await
                    .map_err(|_| AppError::invalid("ci", "no item has this id"))?;
                if store::link_ticket(tx.conn, ticket.id, ci_id).await? {
                    let actor = tx.actor.to_owned();
                    store::insert_history(
                        tx.conn,
                        ci_id,
                        tx.now,
                        &actor,
                        "ticket",
                        None,
                        Some(&ticket.number),
                    )
                    .await?;
                    tx.record(Event {
                        entity: Entity::Ticket,
                        entity_id: ticket.id,
                        action: crate::audit::Action::Linked,
                        before: None,
                        after: Some(serde_json::json!({"ci": row.id, "name": row.name})),
                    })
                    .await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// Unlinks a ticket from an item (staff).
    pub async fn unlink_ticket_ci(
        &self,
        principal: &Principal,
        ticket: &str,
        ci_id: i64,
    ) -> Result<(), AppError> {
        let ticket = self.ticket(principal, ticket).await?;
        self.change(principal, Need::Staff, move |tx| {
            Box::pin(async move {
                store::unlink_ticket(tx.conn, ticket.id, ci_id).await?;
                Ok(())
            })
        })
        .await
    }

    /// The items a ticket is about, each with its other open tickets, its monitors and the
    /// last week's inventory changes ("openssl upgraded 2 h before the incident").
    pub async fn ticket_cis(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Vec<TicketCi>, AppError> {
        principal.require_staff()?;
        let ticket = self.ticket(principal, ticket).await?;
        let week_ago = self.now_ms() - 7 * 24 * 3_600_000;
        let mut conn = self.db().reader().await?;
        let mut list = Vec::new();
        for ci_id in store::ticket_ci_ids(&mut conn, ticket.id).await? {
            let Ok(row) = visible(&mut conn, principal, ci_id).await else {
                continue;
            };
            let macs = store::macs(&mut conn, ci_id).await?;
            let open_tickets = self
                .ci_tickets_in(&mut conn, principal, ci_id)
                .await?
                .into_iter()
                .filter(|t| {
                    t.id != ticket.id
                        && !matches!(t.status.as_str(), "resolved" | "closed" | "cancelled")
                })
                .collect();
            list.push(TicketCi {
                ci: view(row, macs),
                open_tickets,
                monitors: monitors_in(&mut conn, ci_id).await?,
                inventory_changes: changes_in(&mut conn, ci_id, week_ago).await?,
            });
        }
        Ok(list)
    }

    /// Tickets about an item, open ones first (staff).
    pub async fn ci_tickets(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<CiTicket>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        visible(&mut conn, principal, id).await?;
        self.ci_tickets_in(&mut conn, principal, id).await
    }

    async fn ci_tickets_in(
        &self,
        conn: &mut Conn,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<CiTicket>, AppError> {
        Ok(store::tickets_of(conn, id, 50)
            .await?
            .into_iter()
            .filter(|t| principal.can_see_organization(t.organization_id))
            .map(|t| CiTicket {
                id: t.id,
                number: crate::tickets::number_of(&t.ticket_type, t.number),
                title: t.title,
                status: t.status,
                created_at: timestamp(t.created_at),
            })
            .collect())
    }

    /// An item's monitors (staff).
    pub async fn ci_monitors(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<CiMonitor>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        visible(&mut conn, principal, id).await?;
        monitors_in(&mut conn, id).await
    }

    /// Makes monitor `monitor` watch item `ci` (staff): the item's page shows it, and
    /// while it is down, impact analyses count the item as failing. A monitor watches one
    /// item; linking it here unlinks it from any other.
    pub async fn link_monitor_ci(
        &self,
        principal: &Principal,
        ci: i64,
        monitor: i64,
    ) -> Result<(), AppError> {
        self.monitor(principal, monitor).await?;
        self.change(principal, Need::Staff, move |tx| {
            Box::pin(async move {
                visible(tx.conn, tx.principal, ci).await?;
                store::set_monitor_ci(tx.conn, monitor, Some(ci)).await?;
                Ok(())
            })
        })
        .await
    }

    /// Stops monitor `monitor` watching item `ci` (staff).
    pub async fn unlink_monitor_ci(
        &self,
        principal: &Principal,
        ci: i64,
        monitor: i64,
    ) -> Result<(), AppError> {
        self.change(principal, Need::Staff, move |tx| {
            Box::pin(async move {
                visible(tx.conn, tx.principal, ci).await?;
                if !store::monitors_of(tx.conn, ci)
                    .await?
                    .iter()
                    .any(|m| m.id == monitor)
                {
                    return Err(AppError::NotFound("monitor"));
                }
                store::set_monitor_ci(tx.conn, monitor, None).await?;
                Ok(())
            })
        })
        .await
    }

    /// Every class with its custom fields (staff).
    pub async fn ci_classes(&self, principal: &Principal) -> Result<Vec<CiClassFields>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let rows = store::class_fields(&mut conn, None).await?;
        Ok(CiClass::ALL
            .iter()
            .map(|class| CiClassFields {
                class: class.as_str().to_owned(),
                fields: rows
                    .iter()
                    .filter(|r| r.class == class.as_str())
                    .map(|r| CiField {
                        name: r.name.clone(),
                        label: r.label.clone(),
                        kind: r.kind.clone(),
                        required: r.required != 0,
                    })
                    .collect(),
            })
            .collect())
    }

    /// Replaces a class's custom fields (admin). Values items hold for a field no longer
    /// defined stay stored until the item is next changed.
    pub async fn set_class_fields(
        &self,
        principal: &Principal,
        class: &str,
        fields: Vec<CiField>,
    ) -> Result<CiClassFields, AppError> {
        let class = class
            .parse::<CiClass>()
            .map_err(|e| AppError::invalid("class", e))?;
        let mut errors = Vec::new();
        let mut definitions = Vec::new();
        for (index, field) in fields.iter().enumerate() {
            match field.kind.parse::<rules::fields::FieldKind>() {
                Ok(kind) => definitions.push(rules::fields::ClassField {
                    name: field.name.trim().to_owned(),
                    label: field.label.trim().to_owned(),
                    kind,
                    required: field.required,
                }),
                Err(e) => errors.push(FieldError::new(format!("fields[{index}].kind"), e)),
            }
        }
        errors.extend(
            rules::fields::check_definitions(&definitions)
                .into_iter()
                .map(|(field, message)| FieldError::new(field, message)),
        );
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let rows: Vec<store::ClassFieldRow> = definitions
            .iter()
            .enumerate()
            .map(|(position, f)| store::ClassFieldRow {
                class: class.as_str().to_owned(),
                name: f.name.clone(),
                label: f.label.clone(),
                kind: f.kind.as_str().to_owned(),
                required: i64::from(f.required),
                position: position as i64,
            })
            .collect();
        let view = CiClassFields {
            class: class.as_str().to_owned(),
            fields: definitions
                .iter()
                .map(|f| CiField {
                    name: f.name.clone(),
                    label: f.label.clone(),
                    kind: f.kind.as_str().to_owned(),
                    required: f.required,
                })
                .collect(),
        };
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before: Vec<_> = store::class_fields(tx.conn, Some(class.as_str()))
                    .await?
                    .into_iter()
                    .map(class_field)
                    .collect();
                store::replace_class_fields(tx.conn, class.as_str(), &rows).await?;
                let index = CiClass::ALL.iter().position(|c| *c == class).unwrap_or(0) as i64;
                tx.record(Event::updated(Entity::CiClass, index, &before, &view))
                    .await?;
                Ok(view)
            })
        })
        .await
    }

    /// What changed in an item's inventory since `since` (staff).
    pub async fn ci_inventory_changes(
        &self,
        principal: &Principal,
        id: i64,
        since: i64,
    ) -> Result<Vec<InventoryChange>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        visible(&mut conn, principal, id).await?;
        changes_in(&mut conn, id, since).await
    }
}

async fn monitors_in(conn: &mut Conn, id: i64) -> Result<Vec<CiMonitor>, AppError> {
    Ok(store::monitors_of(conn, id)
        .await?
        .into_iter()
        .map(|m| CiMonitor {
            id: m.id,
            name: m.name,
            kind: m.kind,
            status: match (m.paused, m.up) {
                (1, _) => "paused",
                (_, Some(1)) => "up",
                (_, Some(_)) => "down",
                (_, None) => "pending",
            }
            .to_owned(),
        })
        .collect())
}

async fn changes_in(
    conn: &mut Conn,
    id: i64,
    since: i64,
) -> Result<Vec<InventoryChange>, AppError> {
    Ok(opsdesk_store::inventory::changes(conn, id, since, 200)
        .await?
        .into_iter()
        .map(|c| InventoryChange {
            at: timestamp(c.at),
            section: c.section,
            summary: c.summary,
        })
        .collect())
}

fn relation_view(row: opsdesk_store::cmdb::RelationRow) -> Relation {
    Relation {
        id: row.id,
        source: CiRef {
            id: row.source_id,
            name: row.source_name,
            class: row.source_class,
        },
        kind: row.kind,
        target: CiRef {
            id: row.target_id,
            name: row.target_name,
            class: row.target_class,
        },
        created_at: timestamp(row.created_at),
        created_by: row.created_by,
        removed_at: row.removed_at.map(timestamp),
        removed_by: row.removed_by,
    }
}
