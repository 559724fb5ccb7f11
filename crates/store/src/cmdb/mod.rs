//! Configuration items: their rows, search, identifiers, history and stocktake; their
//! relations and impact reads ([`relations`]), suspected duplicates ([`duplicates`]), links
//! to tickets and monitors ([`links`]) and class fields ([`classes`]).

mod classes;
mod duplicates;
mod links;
mod relations;

pub use classes::*;
pub use duplicates::*;
pub use links::*;
pub use relations::*;

use sqlx::AnyConnection;

use crate::accounts::placeholders;
use crate::error::StoreError;

/// A configuration item as stored, with its organization's name and its owner's e-mail.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CiRow {
    pub id: i64,
    pub class: String,
    pub name: String,
    pub organization_id: Option<i64>,
    pub organization: Option<String>,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
    pub location: String,
    pub lifecycle: String,
    pub asset_tag: Option<String>,
    pub serial_number: Option<String>,
    pub smbios_uuid: Option<String>,
    pub hostname: Option<String>,
    pub needed: Option<i64>,
    pub fields: String,
    pub sources: String,
    pub purchased_on: Option<String>,
    pub purchase_cost: Option<String>,
    pub warranty_ends_on: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

const CI_SELECT: &str = "SELECT c.id, c.class, c.name, c.organization_id, o.name AS organization, \
     c.owner_id, u.email AS owner, c.location, c.lifecycle, c.asset_tag, c.serial_number, \
     c.smbios_uuid, c.hostname, c.needed, c.fields, c.sources, c.purchased_on, c.purchase_cost, \
     c.warranty_ends_on, c.created_at, c.updated_at, c.version \
     FROM cis c LEFT JOIN organizations o ON o.id = c.organization_id \
     LEFT JOIN users u ON u.id = c.owner_id";

/// The attributes written on creation and on every update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CiValues {
    pub class: String,
    pub name: String,
    pub organization_id: Option<i64>,
    pub owner_id: Option<i64>,
    pub location: String,
    pub lifecycle: String,
    pub asset_tag: Option<String>,
    pub serial_number: Option<String>,
    pub smbios_uuid: Option<String>,
    pub hostname: Option<String>,
    pub needed: Option<i64>,
    pub fields: String,
    pub sources: String,
    pub purchased_on: Option<String>,
    pub purchase_cost: Option<String>,
    pub warranty_ends_on: Option<String>,
}

impl CiValues {
    fn search_text(&self) -> String {
        [
            Some(self.name.as_str()),
            self.hostname.as_deref(),
            self.asset_tag.as_deref(),
            self.serial_number.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
    }
}

impl From<&CiRow> for CiValues {
    fn from(row: &CiRow) -> Self {
        CiValues {
            class: row.class.clone(),
            name: row.name.clone(),
            organization_id: row.organization_id,
            owner_id: row.owner_id,
            location: row.location.clone(),
            lifecycle: row.lifecycle.clone(),
            asset_tag: row.asset_tag.clone(),
            serial_number: row.serial_number.clone(),
            smbios_uuid: row.smbios_uuid.clone(),
            hostname: row.hostname.clone(),
            needed: row.needed,
            fields: row.fields.clone(),
            sources: row.sources.clone(),
            purchased_on: row.purchased_on.clone(),
            purchase_cost: row.purchase_cost.clone(),
            warranty_ends_on: row.warranty_ends_on.clone(),
        }
    }
}

/// Binds `values` as `$first`, `$first+1`, … in [`CiValues`]' order, then its search text.
fn bind_values<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    values: &'q CiValues,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    query
        .bind(&values.class)
        .bind(&values.name)
        .bind(values.organization_id)
        .bind(values.owner_id)
        .bind(&values.location)
        .bind(&values.lifecycle)
        .bind(&values.asset_tag)
        .bind(&values.serial_number)
        .bind(&values.smbios_uuid)
        .bind(&values.hostname)
        .bind(values.needed)
        .bind(&values.fields)
        .bind(&values.sources)
        .bind(&values.purchased_on)
        .bind(&values.purchase_cost)
        .bind(&values.warranty_ends_on)
        .bind(values.search_text())
}

pub async fn insert_ci(
    conn: &mut AnyConnection,
    values: &CiValues,
    now: i64,
) -> Result<i64, StoreError> {
    use sqlx::Row;
    let query = sqlx::query(
        "INSERT INTO cis (class, name, organization_id, owner_id, location, lifecycle, asset_tag, \
         serial_number, smbios_uuid, hostname, needed, fields, sources, purchased_on, \
         purchase_cost, warranty_ends_on, search_text, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $18) RETURNING id",
    );
    let row = bind_values(query, values).bind(now).fetch_one(conn).await?;
    Ok(row.try_get(0)?)
}

/// Writes `values` over item `id` if it is still at `version`; false when it changed
/// meanwhile (or is gone).
pub async fn update_ci(
    conn: &mut AnyConnection,
    id: i64,
    version: i64,
    values: &CiValues,
    now: i64,
) -> Result<bool, StoreError> {
    let query = sqlx::query(
        "UPDATE cis SET class = $1, name = $2, organization_id = $3, owner_id = $4, \
         location = $5, lifecycle = $6, asset_tag = $7, serial_number = $8, smbios_uuid = $9, \
         hostname = $10, needed = $11, fields = $12, sources = $13, purchased_on = $14, \
         purchase_cost = $15, warranty_ends_on = $16, search_text = $17, updated_at = $18, \
         version = version + 1 WHERE id = $19 AND version = $20",
    );
    let done = bind_values(query, values)
        .bind(now)
        .bind(id)
        .bind(version)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn ci(conn: &mut AnyConnection, id: i64) -> Result<Option<CiRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{CI_SELECT} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

pub async fn cis_by_ids(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<CiRow>, StoreError> {
    rows_by_ids(conn, CI_SELECT, ids).await
}

/// The rows `select` (a query of `cis c`) finds for items `ids`, in id order, 500 ids a
/// statement.
async fn rows_by_ids<T>(
    conn: &mut AnyConnection,
    select: &str,
    ids: &[i64],
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> + Send + Unpin,
{
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = sql!(
            "{select} WHERE c.id IN ({}) ORDER BY c.id",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query_as(sql);
        for id in chunk {
            query = query.bind(*id);
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

pub async fn delete_ci(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    Ok(sqlx::query("DELETE FROM cis WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?
        .rows_affected()
        > 0)
}

/// A search of items: every set condition must hold.
#[derive(Debug, Clone, Default)]
pub struct CiFilter {
    pub classes: Vec<String>,
    pub lifecycles: Vec<String>,
    /// Lower-case organization names.
    pub organizations: Vec<String>,
    /// Owners' user ids; `Some(vec![])` is "no owner".
    pub owners: Option<Vec<i64>>,
    /// Words each found in the search text.
    pub words: Vec<String>,
    /// Only these items (from a package or update search).
    pub ids: Option<Vec<i64>>,
    /// The organizations the reader may see; `None`: all. Items of no organization
    /// are shown when `include_unowned`.
    pub visible: Option<Vec<i64>>,
    pub include_unowned: bool,
    /// Items with an id above this (paging).
    pub after: i64,
    pub limit: i64,
}

pub async fn search_cis(
    conn: &mut AnyConnection,
    filter: &CiFilter,
) -> Result<Vec<CiRow>, StoreError> {
    enum Value<'a> {
        Text(&'a str),
        Owned(String),
        Id(i64),
    }
    let mut clauses = vec!["c.id > $1".to_owned()];
    let mut values: Vec<Value> = vec![Value::Id(filter.after)];
    fn in_list<'a>(
        column: &str,
        items: Vec<Value<'a>>,
        values: &mut Vec<Value<'a>>,
        clauses: &mut Vec<String>,
    ) {
        if items.is_empty() {
            clauses.push("1 = 0".to_owned());
        } else {
            let first = values.len() + 1;
            clauses.push(format!(
                "{column} IN ({})",
                placeholders(first, items.len())
            ));
            values.extend(items);
        }
    }
    if !filter.classes.is_empty() {
        in_list(
            "c.class",
            filter.classes.iter().map(|c| Value::Text(c)).collect(),
            &mut values,
            &mut clauses,
        );
    }
    if !filter.lifecycles.is_empty() {
        in_list(
            "c.lifecycle",
            filter.lifecycles.iter().map(|c| Value::Text(c)).collect(),
            &mut values,
            &mut clauses,
        );
    }
    if !filter.organizations.is_empty() {
        in_list(
            "lower(o.name)",
            filter
                .organizations
                .iter()
                .map(|c| Value::Text(c))
                .collect(),
            &mut values,
            &mut clauses,
        );
    }
    match &filter.owners {
        None => {}
        Some(owners) if owners.is_empty() => clauses.push("c.owner_id IS NULL".to_owned()),
        Some(owners) => in_list(
            "c.owner_id",
            owners.iter().map(|id| Value::Id(*id)).collect(),
            &mut values,
            &mut clauses,
        ),
    }
    if let Some(ids) = &filter.ids {
        in_list(
            "c.id",
            ids.iter().map(|id| Value::Id(*id)).collect(),
            &mut values,
            &mut clauses,
        );
    }
    if let Some(visible) = &filter.visible {
        let mut clause = if visible.is_empty() {
            "1 = 0".to_owned()
        } else {
            let mut inner = Vec::new();
            in_list(
                "c.organization_id",
                visible.iter().map(|id| Value::Id(*id)).collect(),
                &mut values,
                &mut inner,
            );
            inner.remove(0)
        };
        if filter.include_unowned {
            clause = format!("({clause} OR c.organization_id IS NULL)");
        }
        clauses.push(clause);
    }
    for word in &filter.words {
        let at = values.len() + 1;
        clauses.push(format!("c.search_text LIKE ${at}"));
        values.push(Value::Owned(format!("%{}%", word.replace(['%', '_'], ""))));
    }
    let at = values.len() + 1;
    let sql = sql!(
        "{CI_SELECT} WHERE {} ORDER BY c.id LIMIT ${at}",
        clauses.join(" AND ")
    );
    let mut query = sqlx::query_as(sql);
    for value in values {
        query = match value {
            Value::Text(text) => query.bind(text),
            Value::Owned(text) => query.bind(text),
            Value::Id(id) => query.bind(id),
        };
    }
    Ok(query.bind(filter.limit).fetch_all(conn).await?)
}

/// Replaces an item's MAC addresses.
pub async fn set_macs(
    conn: &mut AnyConnection,
    ci_id: i64,
    macs: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM ci_macs WHERE ci_id = $1")
        .bind(ci_id)
        .execute(&mut *conn)
        .await?;
    for mac in macs {
        sqlx::query("INSERT INTO ci_macs (ci_id, mac) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(ci_id)
            .bind(mac)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

pub async fn macs(conn: &mut AnyConnection, ci_id: i64) -> Result<Vec<String>, StoreError> {
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT mac FROM ci_macs WHERE ci_id = $1 ORDER BY mac")
            .bind(ci_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(mac,)| mac).collect())
}

/// Items of one of `classes` that an identifier names: `column` is `smbios_uuid`,
/// `serial_number`, `hostname` (compared in lower case), `name` or `mac`.
pub async fn ids_identified_by(
    conn: &mut AnyConnection,
    column: &str,
    value: &str,
    classes: &[&str],
) -> Result<Vec<i64>, StoreError> {
    let condition = match column {
        "smbios_uuid" => "c.smbios_uuid = $1",
        "serial_number" => "c.serial_number = $1",
        "hostname" => "lower(c.hostname) = lower($1)",
        "name" => "lower(c.name) = lower($1)",
        "mac" => "c.id IN (SELECT ci_id FROM ci_macs WHERE mac = $1)",
        _ => return Ok(Vec::new()),
    };
    let sql = sql!(
        "SELECT c.id FROM cis c WHERE {condition} AND c.lifecycle <> 'retired' \
         AND c.class IN ({}) ORDER BY c.id",
        placeholders(2, classes.len())
    );
    let mut query = sqlx::query_as::<_, (i64,)>(sql).bind(value);
    for class in classes {
        query = query.bind(*class);
    }
    Ok(query
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct HistoryRow {
    pub at: i64,
    pub actor: String,
    pub field: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

pub async fn insert_history(
    conn: &mut AnyConnection,
    ci_id: i64,
    at: i64,
    actor: &str,
    field: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO ci_history (ci_id, at, actor, field, before, after) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(ci_id)
    .bind(at)
    .bind(actor)
    .bind(field)
    .bind(before)
    .bind(after)
    .execute(conn)
    .await?;
    Ok(())
}

/// An item's changes, the latest first.
pub async fn history(
    conn: &mut AnyConnection,
    ci_id: i64,
    limit: i64,
) -> Result<Vec<HistoryRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT at, actor, field, before, after FROM ci_history WHERE ci_id = $1 \
         ORDER BY at DESC, id DESC LIMIT $2",
    )
    .bind(ci_id)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The item with asset tag `tag`.
pub async fn ci_by_asset_tag(
    conn: &mut AnyConnection,
    tag: &str,
) -> Result<Option<CiRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{CI_SELECT} WHERE c.asset_tag = $1"))
        .bind(tag)
        .fetch_optional(conn)
        .await?)
}

/// Items in use or in stock at `location` (retired ones are not looked for).
pub async fn cis_at(conn: &mut AnyConnection, location: &str) -> Result<Vec<CiRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "{CI_SELECT} WHERE lower(c.location) = lower($1) AND c.lifecycle <> 'retired' \
         ORDER BY c.name, c.id LIMIT 5000"
    ))
    .bind(location)
    .fetch_all(conn)
    .await?)
}

/// The items scanned at `location` since `since`, each with its last scan there.
pub async fn scanned_at(
    conn: &mut AnyConnection,
    location: &str,
    since: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT ci_id, MAX(at) FROM ci_history WHERE field = 'stocktake' \
         AND lower(after) = lower($1) AND at >= $2 GROUP BY ci_id",
    )
    .bind(location)
    .bind(since)
    .fetch_all(conn)
    .await?)
}
