//! Vendors with their contacts, the terms of contract and licence items, and tickets
//! waiting on a vendor.

use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VendorRow {
    pub id: i64,
    pub name: String,
    pub website: String,
    pub support_email: String,
    pub support_phone: String,
    pub response_hours: Option<i64>,
    pub notes: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// What a vendor's creation and updates write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VendorValues {
    pub name: String,
    pub website: String,
    pub support_email: String,
    pub support_phone: String,
    pub response_hours: Option<i64>,
    pub notes: String,
}

impl From<&VendorRow> for VendorValues {
    fn from(row: &VendorRow) -> Self {
        VendorValues {
            name: row.name.clone(),
            website: row.website.clone(),
            support_email: row.support_email.clone(),
            support_phone: row.support_phone.clone(),
            response_hours: row.response_hours,
            notes: row.notes.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ContactRow {
    pub vendor_id: i64,
    pub name: String,
    pub role: String,
    pub email: String,
    pub phone: String,
}

const VENDOR_SELECT: &str = "SELECT id, name, website, support_email, support_phone, \
     response_hours, notes, created_at, updated_at, version FROM vendors";

/// Binds `$1`–`$7`, which insert and update share: the values, then the time of writing.
fn bind_vendor<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    values: &'q VendorValues,
    now: i64,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(&values.name)
        .bind(&values.website)
        .bind(&values.support_email)
        .bind(&values.support_phone)
        .bind(values.response_hours)
        .bind(&values.notes)
        .bind(now)
}

pub async fn insert_vendor(
    conn: &mut AnyConnection,
    values: &VendorValues,
    now: i64,
) -> Result<i64, StoreError> {
    use sqlx::Row;
    let query = sqlx::query(
        "INSERT INTO vendors (name, website, support_email, support_phone, response_hours, \
         notes, updated_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    );
    let row = bind_vendor(query, values, now).fetch_one(conn).await?;
    Ok(row.try_get(0)?)
}

/// Writes `values` over vendor `id` if it is still at `version`; false when it changed.
pub async fn update_vendor(
    conn: &mut AnyConnection,
    id: i64,
    version: i64,
    values: &VendorValues,
    now: i64,
) -> Result<bool, StoreError> {
    let query = sqlx::query(
        "UPDATE vendors SET name = $1, website = $2, support_email = $3, support_phone = $4, \
         response_hours = $5, notes = $6, updated_at = $7, version = version + 1 \
         WHERE id = $8 AND version = $9",
    );
    let done = bind_vendor(query, values, now)
        .bind(id)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn vendor(conn: &mut AnyConnection, id: i64) -> Result<Option<VendorRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{VENDOR_SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// Every vendor, by name.
pub async fn vendors(conn: &mut AnyConnection) -> Result<Vec<VendorRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{VENDOR_SELECT} ORDER BY name, id"))
        .fetch_all(conn)
        .await?)
}

pub async fn delete_vendor(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM vendors WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected()
        > 0)
}

/// The contacts of `vendor_ids`, each vendor's in their order.
pub async fn contacts(
    conn: &mut AnyConnection,
    vendor_ids: &[i64],
) -> Result<Vec<ContactRow>, StoreError> {
    if vendor_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = crate::accounts::placeholders(1, vendor_ids.len());
    let mut query = sqlx::query_as(sql!(
        "SELECT vendor_id, name, role, email, phone FROM vendor_contacts \
         WHERE vendor_id IN ({list}) ORDER BY vendor_id, position"
    ));
    for id in vendor_ids {
        query = query.bind(id);
    }
    Ok(query.fetch_all(conn).await?)
}

pub async fn replace_contacts(
    conn: &mut AnyConnection,
    vendor_id: i64,
    contacts: &[ContactRow],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM vendor_contacts WHERE vendor_id = $1")
        .bind(vendor_id)
        .execute(&mut *conn)
        .await?;
    for (position, contact) in contacts.iter().enumerate() {
        sqlx::query(
            "INSERT INTO vendor_contacts (vendor_id, position, name, role, email, phone) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(vendor_id)
        .bind(position as i64)
        .bind(&contact.name)
        .bind(&contact.role)
        .bind(&contact.email)
        .bind(&contact.phone)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The terms of a contract or licence item.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct AgreementRow {
    pub ci_id: i64,
    pub vendor_id: Option<i64>,
    pub kind: String,
    pub reference: String,
    pub starts_on: Option<String>,
    pub ends_on: Option<String>,
    pub notice_days: i64,
    pub renew_by: Option<String>,
    pub response_hours: Option<i64>,
    pub purchased: Option<i64>,
    pub package: Option<String>,
}

const AGREEMENT_SELECT: &str = "SELECT ci_id, vendor_id, kind, reference, starts_on, ends_on, \
     notice_days, renew_by, response_hours, purchased, package FROM agreements";

/// Writes an item's terms, replacing any it had. A changed end date may remind again.
pub async fn put_agreement(conn: &mut AnyConnection, row: &AgreementRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO agreements (ci_id, vendor_id, kind, reference, starts_on, ends_on, \
         notice_days, renew_by, response_hours, purchased, package) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (ci_id) DO UPDATE SET vendor_id = excluded.vendor_id, \
         kind = excluded.kind, reference = excluded.reference, \
         starts_on = excluded.starts_on, ends_on = excluded.ends_on, \
         notice_days = excluded.notice_days, renew_by = excluded.renew_by, \
         response_hours = excluded.response_hours, purchased = excluded.purchased, \
         package = excluded.package",
    )
    .bind(row.ci_id)
    .bind(row.vendor_id)
    .bind(&row.kind)
    .bind(&row.reference)
    .bind(&row.starts_on)
    .bind(&row.ends_on)
    .bind(row.notice_days)
    .bind(&row.renew_by)
    .bind(row.response_hours)
    .bind(row.purchased)
    .bind(&row.package)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn agreement(
    conn: &mut AnyConnection,
    ci_id: i64,
) -> Result<Option<AgreementRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{AGREEMENT_SELECT} WHERE ci_id = $1"))
        .bind(ci_id)
        .fetch_optional(conn)
        .await?)
}

/// The terms of `ids`' items that have some.
pub async fn agreements_of(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<AgreementRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = crate::accounts::placeholders(1, ids.len());
    let mut query = sqlx::query_as(sql!("{AGREEMENT_SELECT} WHERE ci_id IN ({list})"));
    for id in ids {
        query = query.bind(id);
    }
    Ok(query.fetch_all(conn).await?)
}

/// An agreement whose renewal is due, as its reminder names it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RenewalRow {
    pub ci_id: i64,
    pub name: String,
    pub class: String,
    /// Who asks for the renewal: the item's owner, else the first admin.
    pub requester: Option<String>,
    /// Who does it: the item's owner when they are staff.
    pub assignee: Option<String>,
    pub ends_on: String,
}

/// Marks the agreements whose renewal day has come (`today`, `YYYY-MM-DD`) as reminded
/// for their end date and returns them: each end reminds once, also with several nodes.
pub async fn claim_due_renewals(
    conn: &mut AnyConnection,
    today: &str,
) -> Result<Vec<RenewalRow>, StoreError> {
    let ids: Vec<(i64,)> = sqlx::query_as(
        "UPDATE agreements SET reminded_for = ends_on WHERE renew_by IS NOT NULL \
         AND renew_by <= $1 AND (reminded_for IS NULL OR reminded_for <> ends_on) \
         AND ci_id IN (SELECT id FROM cis WHERE lifecycle <> 'retired') RETURNING ci_id",
    )
    .bind(today)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = crate::accounts::placeholders(1, ids.len());
    let mut query = sqlx::query_as(sql!(
        "SELECT c.id AS ci_id, c.name, c.class, \
         COALESCE((SELECT email FROM users WHERE id = c.owner_id AND active = 1), \
         (SELECT email FROM users WHERE role = 'admin' AND active = 1 ORDER BY id LIMIT 1)) \
         AS requester, (SELECT email FROM users WHERE id = c.owner_id AND active = 1 \
         AND role <> 'customer') AS assignee, a.ends_on FROM cis c \
         JOIN agreements a ON a.ci_id = c.id WHERE c.id IN ({list}) ORDER BY c.id"
    ));
    for id in &ids {
        query = query.bind(id);
    }
    Ok(query.fetch_all(conn).await?)
}

/// How many distinct items have `package` installed, within organization `organization`
/// when given.
pub async fn count_installs(
    conn: &mut AnyConnection,
    package: &str,
    organization: Option<i64>,
) -> Result<i64, StoreError> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(DISTINCT p.ci_id) FROM ci_packages p JOIN cis c ON c.id = p.ci_id \
         WHERE p.name = $1 AND c.lifecycle <> 'retired' \
         AND ($2 IS NULL OR c.organization_id = $2)",
    )
    .bind(package)
    .bind(organization)
    .fetch_one(conn)
    .await?;
    Ok(count)
}

/// A ticket's wait on a vendor.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct VendorWaitRow {
    pub ticket_id: i64,
    pub vendor_id: i64,
    pub vendor: String,
    pub reference: String,
    pub since: i64,
    pub due_at: Option<i64>,
}

pub async fn put_vendor_wait(
    conn: &mut AnyConnection,
    ticket_id: i64,
    vendor_id: i64,
    reference: &str,
    since: i64,
    due_at: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ticket_vendor_waits (ticket_id, vendor_id, reference, since, due_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ticket_id) DO UPDATE SET \
         vendor_id = excluded.vendor_id, reference = excluded.reference, \
         since = excluded.since, due_at = excluded.due_at",
    )
    .bind(ticket_id)
    .bind(vendor_id)
    .bind(reference)
    .bind(since)
    .bind(due_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn vendor_wait(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Option<VendorWaitRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT w.ticket_id, w.vendor_id, v.name AS vendor, w.reference, w.since, w.due_at \
         FROM ticket_vendor_waits w JOIN vendors v ON v.id = w.vendor_id WHERE w.ticket_id = $1",
    )
    .bind(ticket_id)
    .fetch_optional(conn)
    .await?)
}

pub async fn end_vendor_wait(conn: &mut AnyConnection, ticket_id: i64) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("DELETE FROM ticket_vendor_waits WHERE ticket_id = $1")
            .bind(ticket_id)
            .execute(conn)
            .await?
            .rows_affected()
            > 0,
    )
}

/// The shortest response time a contract of `vendor_id` promises for any of `ci_ids`.
pub async fn contract_response_hours(
    conn: &mut AnyConnection,
    vendor_id: i64,
    ci_ids: &[i64],
) -> Result<Option<i64>, StoreError> {
    if ci_ids.is_empty() {
        return Ok(None);
    }
    let list = crate::accounts::placeholders(2, ci_ids.len());
    let mut query = sqlx::query_as(sql!(
        "SELECT MIN(a.response_hours) FROM agreements a \
         JOIN ci_relations r ON r.target_id = a.ci_id AND r.kind = 'covered_by' \
         AND r.removed_at IS NULL \
         WHERE a.vendor_id = $1 AND a.response_hours IS NOT NULL AND r.source_id IN ({list})"
    ))
    .bind(vendor_id);
    for id in ci_ids {
        query = query.bind(id);
    }
    let (hours,): (Option<i64>,) = query.fetch_one(conn).await?;
    Ok(hours)
}
