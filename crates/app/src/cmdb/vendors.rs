//! Vendors with their contacts, and tickets waiting on one: the vendor's promised response
//! time runs while the ticket waits, so the desk sees when to chase them.

use jiff::Timestamp;
use opsdesk_store::suppliers::{self as store, ContactRow, VendorRow, VendorValues};
use serde::{Deserialize, Serialize};

use super::optional_text;
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, FieldError, Precondition, Principal, timestamp};

/// The longest response time a vendor or contract may promise: a year, in hours.
const MOST_RESPONSE_HOURS: i64 = 8_784;

/// A supplier of hardware, software or services.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Vendor {
    pub id: i64,
    pub name: String,
    pub website: String,
    pub support_email: String,
    pub support_phone: String,
    /// Hours the vendor has to answer a case; contracts may promise less.
    pub response_hours: Option<i64>,
    pub notes: String,
    pub contacts: Vec<VendorContact>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub version: i64,
}

/// A person at a vendor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VendorContact {
    pub name: String,
    /// `Account manager`, `Support`, …
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub phone: String,
}

/// A new vendor.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVendor {
    pub name: String,
    pub website: Option<String>,
    pub support_email: Option<String>,
    pub support_phone: Option<String>,
    pub response_hours: Option<i64>,
    pub notes: Option<String>,
    #[serde(default)]
    pub contacts: Vec<VendorContact>,
}

/// Changes to a vendor; `contacts`, when given, replaces the list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VendorPatch {
    pub name: Option<String>,
    pub website: Option<String>,
    pub support_email: Option<String>,
    pub support_phone: Option<String>,
    #[serde(default, with = "crate::accounts::double_option")]
    #[schema(value_type = Option<i64>)]
    pub response_hours: Option<Option<i64>>,
    pub notes: Option<String>,
    pub contacts: Option<Vec<VendorContact>>,
}

/// A ticket waiting on a vendor.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VendorWait {
    pub vendor: VendorRef,
    /// The vendor's own case number.
    pub reference: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// When their answer is due: the shortest response time of a contract of theirs
    /// covering the ticket's items, else the vendor's own; none when neither promises one.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub due_at: Option<Timestamp>,
    /// Whether the answer is late at the time of asking.
    pub overdue: bool,
}

/// A vendor named by another record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VendorRef {
    pub id: i64,
    pub name: String,
}

/// Starting a ticket's wait on a vendor.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVendorWait {
    pub vendor: i64,
    #[serde(default)]
    pub reference: String,
}

fn view(row: VendorRow, contacts: Vec<VendorContact>) -> Vendor {
    Vendor {
        id: row.id,
        name: row.name,
        website: row.website,
        support_email: row.support_email,
        support_phone: row.support_phone,
        response_hours: row.response_hours,
        notes: row.notes,
        contacts,
        created_at: timestamp(row.created_at),
        updated_at: timestamp(row.updated_at),
        version: row.version,
    }
}

fn contact_view(row: ContactRow) -> VendorContact {
    VendorContact {
        name: row.name,
        role: row.role,
        email: row.email,
        phone: row.phone,
    }
}

/// A response time in hours, from 1 to a year.
pub(super) fn read_hours(
    field: &str,
    hours: Option<i64>,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    match hours {
        Some(h) if !(1..=MOST_RESPONSE_HOURS).contains(&h) => {
            errors.push(FieldError::new(
                field,
                format!("from 1 to {MOST_RESPONSE_HOURS} hours"),
            ));
            None
        }
        other => other,
    }
}

fn read_contacts(contacts: &[VendorContact], errors: &mut Vec<FieldError>) -> Vec<ContactRow> {
    contacts
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let field = |name: &str| format!("contacts[{index}].{name}");
            ContactRow {
                vendor_id: 0,
                name: crate::accounts::check_name(&field("name"), &c.name, errors),
                role: optional_text(&field("role"), Some(&c.role), 100, errors).unwrap_or_default(),
                email: optional_text(&field("email"), Some(&c.email), 254, errors)
                    .unwrap_or_default(),
                phone: optional_text(&field("phone"), Some(&c.phone), 50, errors)
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// `values` with `field` set from `given` when the caller gave it, checked.
fn set_text(
    target: &mut String,
    field: &str,
    given: Option<&str>,
    most: usize,
    errors: &mut Vec<FieldError>,
) {
    if let Some(given) = given {
        *target = optional_text(field, Some(given), most, errors).unwrap_or_default();
    }
}

async fn load(conn: &mut opsdesk_store::Conn, id: i64) -> Result<Vendor, AppError> {
    let row = store::vendor(conn, id)
        .await?
        .ok_or(AppError::NotFound("vendor"))?;
    let contacts = store::contacts(conn, &[id])
        .await?
        .into_iter()
        .map(contact_view)
        .collect();
    Ok(view(row, contacts))
}

impl App {
    /// Adds a vendor with its contacts (staff).
    pub async fn create_vendor(
        &self,
        principal: &Principal,
        input: NewVendor,
    ) -> Result<Vendor, AppError> {
        let mut errors = Vec::new();
        let mut values = VendorValues {
            name: crate::accounts::check_name("name", &input.name, &mut errors),
            response_hours: read_hours("response_hours", input.response_hours, &mut errors),
            ..VendorValues::default()
        };
        set_text(
            &mut values.website,
            "website",
            input.website.as_deref(),
            500,
            &mut errors,
        );
        set_text(
            &mut values.support_email,
            "support_email",
            input.support_email.as_deref(),
            254,
            &mut errors,
        );
        set_text(
            &mut values.support_phone,
            "support_phone",
            input.support_phone.as_deref(),
            50,
            &mut errors,
        );
        set_text(
            &mut values.notes,
            "notes",
            input.notes.as_deref(),
            5_000,
            &mut errors,
        );
        let contacts = read_contacts(&input.contacts, &mut errors);
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let id = store::insert_vendor(tx.conn, &values, tx.now)
                    .await
                    .map_err(|e| e.on_unique("vendor name"))?;
                store::replace_contacts(tx.conn, id, &contacts).await?;
                let vendor = load(tx.conn, id).await?;
                tx.record(Event::created(Entity::Vendor, id, &vendor))
                    .await?;
                Ok(vendor)
            })
        })
        .await
    }

    /// Every vendor with their contacts, by name (staff).
    pub async fn vendors(&self, principal: &Principal) -> Result<Vec<Vendor>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let rows = store::vendors(&mut conn).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut contacts = store::contacts(&mut conn, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let (mine, rest) = contacts.drain(..).partition(|c| c.vendor_id == row.id);
                contacts = rest;
                view(row, mine.into_iter().map(contact_view).collect())
            })
            .collect())
    }

    /// One vendor (staff).
    pub async fn vendor(&self, principal: &Principal, id: i64) -> Result<Vendor, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        load(&mut conn, id).await
    }

    /// Changes a vendor (staff).
    pub async fn update_vendor(
        &self,
        principal: &Principal,
        id: i64,
        precondition: Precondition,
        patch: VendorPatch,
    ) -> Result<Vendor, AppError> {
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let before = load(tx.conn, id).await?;
                precondition.check(before.version)?;
                let row = store::vendor(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("vendor"))?;
                let mut values = VendorValues::from(&row);
                let mut errors = Vec::new();
                if let Some(name) = &patch.name {
                    values.name = crate::accounts::check_name("name", name, &mut errors);
                }
                if let Some(hours) = patch.response_hours {
                    values.response_hours = read_hours("response_hours", hours, &mut errors);
                }
                set_text(
                    &mut values.website,
                    "website",
                    patch.website.as_deref(),
                    500,
                    &mut errors,
                );
                set_text(
                    &mut values.support_email,
                    "support_email",
                    patch.support_email.as_deref(),
                    254,
                    &mut errors,
                );
                set_text(
                    &mut values.support_phone,
                    "support_phone",
                    patch.support_phone.as_deref(),
                    50,
                    &mut errors,
                );
                set_text(
                    &mut values.notes,
                    "notes",
                    patch.notes.as_deref(),
                    5_000,
                    &mut errors,
                );
                let contacts = patch
                    .contacts
                    .as_ref()
                    .map(|c| read_contacts(c, &mut errors));
                if !errors.is_empty() {
                    return Err(AppError::Invalid(errors));
                }
                if !store::update_vendor(tx.conn, id, row.version, &values, tx.now)
                    .await
                    .map_err(|e| e.on_unique("vendor name"))?
                {
                    return Err(AppError::Stale);
                }
                if let Some(contacts) = &contacts {
                    store::replace_contacts(tx.conn, id, contacts).await?;
                }
                let after = load(tx.conn, id).await?;
                tx.record(Event::updated(Entity::Vendor, id, &before, &after))
                    .await?;
                Ok(after)
            })
        })
        .await
    }

    /// Deletes a vendor (admin): contracts and licences keep their terms without it, and
    /// tickets stop waiting on it.
    pub async fn delete_vendor(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = load(tx.conn, id).await?;
                store::delete_vendor(tx.conn, id).await?;
                tx.record(Event::deleted(Entity::Vendor, id, &before)).await
            })
        })
        .await
    }

    /// Starts (or replaces) ticket `ticket`'s wait on a vendor (staff). The answer is due
    /// after the shortest response time a contract of the vendor's covering one of the
    /// ticket's items promises, else after the vendor's own.
    pub async fn wait_on_vendor(
        &self,
        principal: &Principal,
        ticket: &str,
        input: NewVendorWait,
    ) -> Result<VendorWait, AppError> {
        principal.require_staff()?;
        let ticket = self.ticket(principal, ticket).await?;
        let mut errors = Vec::new();
        let reference = optional_text("reference", Some(&input.reference), 100, &mut errors)
            .unwrap_or_default();
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let now = self.now_ms();
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let vendor = store::vendor(tx.conn, input.vendor)
                    .await?
                    .ok_or_else(|| AppError::invalid("vendor", "no vendor has this id"))?;
                let items = opsdesk_store::cmdb::ticket_ci_ids(tx.conn, ticket.id).await?;
                let hours = store::contract_response_hours(tx.conn, vendor.id, &items)
                    .await?
                    .or(vendor.response_hours);
                let due_at = hours.map(|h| now + h * 3_600_000);
                let before = store::vendor_wait(tx.conn, ticket.id).await?;
                store::put_vendor_wait(tx.conn, ticket.id, vendor.id, &reference, now, due_at)
                    .await?;
                let wait = store::vendor_wait(tx.conn, ticket.id)
                    .await?
                    .map(|w| wait_view(w, now))
                    .ok_or(AppError::NotFound("vendor wait"))?;
                tx.record(Event::updated(
                    Entity::Ticket,
                    ticket.id,
                    &serde_json::json!({ "vendor_wait": before.map(|w| w.vendor) }),
                    &serde_json::json!({ "vendor_wait": &wait }),
                ))
                .await?;
                Ok(wait)
            })
        })
        .await
    }

    /// What ticket `ticket` waits for from a vendor, if anything (staff).
    pub async fn vendor_wait(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Option<VendorWait>, AppError> {
        principal.require_staff()?;
        let ticket = self.ticket(principal, ticket).await?;
        let mut conn = self.db().reader().await?;
        let now = self.now_ms();
        Ok(store::vendor_wait(&mut conn, ticket.id)
            .await?
            .map(|w| wait_view(w, now)))
    }

    /// Ends ticket `ticket`'s wait on a vendor: they answered (staff).
    pub async fn end_vendor_wait(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<(), AppError> {
        principal.require_staff()?;
        let ticket = self.ticket(principal, ticket).await?;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let Some(before) = store::vendor_wait(tx.conn, ticket.id).await? else {
                    return Err(AppError::NotFound("vendor wait"));
                };
                store::end_vendor_wait(tx.conn, ticket.id).await?;
                tx.record(Event::updated(
                    Entity::Ticket,
                    ticket.id,
                    &serde_json::json!({ "vendor_wait": before.vendor }),
                    &serde_json::json!({ "vendor_wait": null }),
                ))
                .await
            })
        })
        .await
    }
}

fn wait_view(row: store::VendorWaitRow, now: i64) -> VendorWait {
    VendorWait {
        vendor: VendorRef {
            id: row.vendor_id,
            name: row.vendor,
        },
        reference: row.reference,
        since: timestamp(row.since),
        due_at: row.due_at.map(timestamp),
        overdue: row.due_at.is_some_and(|due| now > due),
    }
}
