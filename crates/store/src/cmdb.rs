//! Configuration items, their relations, history and suspected duplicates.

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

/// A relation as stored, with both ends' names and classes.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RelationRow {
    pub id: i64,
    pub source_id: i64,
    pub source_name: String,
    pub source_class: String,
    pub kind: String,
    pub target_id: i64,
    pub target_name: String,
    pub target_class: String,
    pub created_at: i64,
    pub created_by: String,
    pub removed_at: Option<i64>,
    pub removed_by: Option<String>,
}

const RELATION_SELECT: &str = "SELECT r.id, r.source_id, s.name AS source_name, \
     s.class AS source_class, r.kind, r.target_id, t.name AS target_name, \
     t.class AS target_class, r.created_at, r.created_by, r.removed_at, r.removed_by \
     FROM ci_relations r JOIN cis s ON s.id = r.source_id JOIN cis t ON t.id = r.target_id";

/// Records `source kind target`; `None` when that relation is already in place.
pub async fn insert_relation(
    conn: &mut AnyConnection,
    source_id: i64,
    kind: &str,
    target_id: i64,
    actor: &str,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO ci_relations (source_id, kind, target_id, created_at, created_by) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (source_id, kind, target_id) WHERE removed_at IS NULL DO NOTHING \
         RETURNING id",
    )
    .bind(source_id)
    .bind(kind)
    .bind(target_id)
    .bind(now)
    .bind(actor)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(id,)| id))
}

pub async fn relation(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<RelationRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{RELATION_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?)
}

/// Ends a relation; false when it had already ended.
pub async fn remove_relation(
    conn: &mut AnyConnection,
    id: i64,
    actor: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE ci_relations SET removed_at = $2, removed_by = $3 \
         WHERE id = $1 AND removed_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .bind(actor)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// An item's relations either way, current ones, or with `ended` those removed too,
/// the latest first.
pub async fn relations_of(
    conn: &mut AnyConnection,
    ci_id: i64,
    ended: bool,
) -> Result<Vec<RelationRow>, StoreError> {
    let current = if ended {
        ""
    } else {
        " AND r.removed_at IS NULL"
    };
    Ok(sqlx::query_as(sql!(
        "{RELATION_SELECT} WHERE (r.source_id = $1 OR r.target_id = $1){current} \
         ORDER BY r.created_at DESC, r.id DESC LIMIT 1000"
    ))
    .bind(ci_id)
    .fetch_all(conn)
    .await?)
}

/// How many active people the impact reaches: members of `organizations` and the
/// owners in `owners`.
pub async fn people_reached(
    conn: &mut AnyConnection,
    organizations: &[i64],
    owners: &[i64],
) -> Result<i64, StoreError> {
    if organizations.is_empty() && owners.is_empty() {
        return Ok(0);
    }
    let orgs = if organizations.is_empty() {
        "1 = 0".to_owned()
    } else {
        format!(
            "organization_id IN ({})",
            placeholders(1, organizations.len())
        )
    };
    let people = if owners.is_empty() {
        "1 = 0".to_owned()
    } else {
        format!(
            "id IN ({})",
            placeholders(organizations.len() + 1, owners.len())
        )
    };
    let mut query = sqlx::query_as::<_, (i64,)>(sql!(
        "SELECT COUNT(*) FROM users WHERE active = 1 AND ({orgs} OR {people})"
    ));
    for id in organizations.iter().chain(owners) {
        query = query.bind(*id);
    }
    Ok(query.fetch_one(conn).await?.0)
}

/// Records a suspected duplicate pair (once).
pub async fn insert_duplicate(
    conn: &mut AnyConnection,
    ci_id: i64,
    other_id: i64,
    reason: &str,
    now: i64,
) -> Result<(), StoreError> {
    let (low, high) = (ci_id.min(other_id), ci_id.max(other_id));
    sqlx::query(
        "INSERT INTO ci_duplicates (ci_id, other_id, reason, found_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (ci_id, other_id) DO NOTHING",
    )
    .bind(low)
    .bind(high)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DuplicateRow {
    pub id: i64,
    pub ci_id: i64,
    pub ci_name: String,
    pub other_id: i64,
    pub other_name: String,
    pub reason: String,
    pub found_at: i64,
}

/// Open suspected duplicates, the latest found first.
pub async fn open_duplicates(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<DuplicateRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT d.id, d.ci_id, a.name AS ci_name, d.other_id, b.name AS other_name, d.reason, \
         d.found_at FROM ci_duplicates d JOIN cis a ON a.id = d.ci_id \
         JOIN cis b ON b.id = d.other_id WHERE d.resolved_at IS NULL \
         ORDER BY d.found_at DESC, d.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

pub async fn duplicate(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<DuplicateRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT d.id, d.ci_id, a.name AS ci_name, d.other_id, b.name AS other_name, d.reason, \
         d.found_at FROM ci_duplicates d JOIN cis a ON a.id = d.ci_id \
         JOIN cis b ON b.id = d.other_id WHERE d.id = $1 AND d.resolved_at IS NULL",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn resolve_duplicate(
    conn: &mut AnyConnection,
    id: i64,
    resolution: &str,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE ci_duplicates SET resolved_at = $2, resolution = $3 \
         WHERE id = $1 AND resolved_at IS NULL",
    )
    .bind(id)
    .bind(now)
    .bind(resolution)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// Moves what points at item `from` to item `into`: relations, ticket links, monitors,
/// agents, MACs and inventory. Relations that would join `into` to itself are dropped.
pub async fn move_references(
    conn: &mut AnyConnection,
    from: i64,
    into: i64,
) -> Result<(), StoreError> {
    let statements = [
        "DELETE FROM ci_relations WHERE (source_id = $1 AND target_id = $2) \
         OR (source_id = $2 AND target_id = $1)",
        "UPDATE ci_relations SET source_id = $2 WHERE source_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM ci_relations o WHERE o.source_id = $2 AND o.kind = ci_relations.kind \
         AND o.target_id = ci_relations.target_id AND o.removed_at IS NULL)",
        "UPDATE ci_relations SET target_id = $2 WHERE target_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM ci_relations o WHERE o.target_id = $2 AND o.kind = ci_relations.kind \
         AND o.source_id = ci_relations.source_id AND o.removed_at IS NULL)",
        "INSERT INTO ticket_cis (ticket_id, ci_id) SELECT ticket_id, $2 FROM ticket_cis \
         WHERE ci_id = $1 ON CONFLICT DO NOTHING",
        "UPDATE monitors SET ci_id = $2 WHERE ci_id = $1",
        "UPDATE agents SET ci_id = $2 WHERE ci_id = $1",
        "INSERT INTO ci_macs (ci_id, mac) SELECT $2, mac FROM ci_macs WHERE ci_id = $1 \
         ON CONFLICT DO NOTHING",
        "UPDATE ci_inventory_changes SET ci_id = $2 WHERE ci_id = $1",
        "UPDATE ci_history SET ci_id = $2 WHERE ci_id = $1",
    ];
    for statement in statements {
        sqlx::query(statement)
            .bind(from)
            .bind(into)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Links a ticket to an item; false when it already was.
pub async fn link_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
    ci_id: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO ticket_cis (ticket_id, ci_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(ticket_id)
    .bind(ci_id)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

pub async fn unlink_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
    ci_id: i64,
) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("DELETE FROM ticket_cis WHERE ticket_id = $1 AND ci_id = $2")
            .bind(ticket_id)
            .bind(ci_id)
            .execute(conn)
            .await?
            .rows_affected()
            > 0,
    )
}

/// The items a ticket is about.
pub async fn ticket_ci_ids(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT ci_id FROM ticket_cis WHERE ticket_id = $1 ORDER BY ci_id")
            .bind(ticket_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A ticket linked to an item, for the item's page.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LinkedTicket {
    pub id: i64,
    pub ticket_type: String,
    pub number: i64,
    pub organization_id: Option<i64>,
    pub title: String,
    pub status: String,
    pub created_at: i64,
}

/// Tickets about item `ci_id`, open ones first, then the latest; of the restricted ones
/// only those of `restricted` groups (`None`: all).
pub async fn tickets_of(
    conn: &mut AnyConnection,
    ci_id: i64,
    limit: i64,
    restricted: Option<&[i64]>,
) -> Result<Vec<LinkedTicket>, StoreError> {
    let visible = crate::tickets::restricted_visible("t", restricted);
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t.id, t.ticket_type, t.number, t.organization_id, t.title, t.status, t.created_at \
         FROM ticket_cis l \
         JOIN tickets t ON t.id = l.ticket_id WHERE l.ci_id = $1 AND {visible} \
         ORDER BY CASE WHEN t.status IN ('resolved', 'closed') THEN 1 ELSE 0 END, \
         t.created_at DESC LIMIT $2"
    )))
    .bind(ci_id)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// The item monitor `monitor_id` watches, if it is linked to one.
pub async fn monitor_ci(
    conn: &mut AnyConnection,
    monitor_id: i64,
) -> Result<Option<i64>, StoreError> {
    let row: Option<(Option<i64>,)> = sqlx::query_as("SELECT ci_id FROM monitors WHERE id = $1")
        .bind(monitor_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.and_then(|(ci,)| ci))
}

/// A monitor of an item.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LinkedMonitor {
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub up: Option<i64>,
    pub paused: i64,
}

pub async fn monitors_of(
    conn: &mut AnyConnection,
    ci_id: i64,
) -> Result<Vec<LinkedMonitor>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, kind, up, paused FROM monitors WHERE ci_id = $1 ORDER BY name, id",
    )
    .bind(ci_id)
    .fetch_all(conn)
    .await?)
}

pub async fn set_monitor_ci(
    conn: &mut AnyConnection,
    monitor_id: i64,
    ci_id: Option<i64>,
) -> Result<bool, StoreError> {
    Ok(sqlx::query("UPDATE monitors SET ci_id = $2 WHERE id = $1")
        .bind(monitor_id)
        .bind(ci_id)
        .execute(conn)
        .await?
        .rows_affected()
        > 0)
}

/// A custom field of a class, as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClassFieldRow {
    pub class: String,
    pub name: String,
    pub label: String,
    pub kind: String,
    pub required: i64,
    pub position: i64,
}

/// The custom fields of `class` (every class's when `None`), in order.
pub async fn class_fields(
    conn: &mut AnyConnection,
    class: Option<&str>,
) -> Result<Vec<ClassFieldRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT class, name, label, kind, required, position FROM ci_class_fields \
         WHERE $1 IS NULL OR class = $1 ORDER BY class, position",
    )
    .bind(class)
    .fetch_all(conn)
    .await?)
}

/// Replaces the custom fields of `class`.
pub async fn replace_class_fields(
    conn: &mut AnyConnection,
    class: &str,
    fields: &[ClassFieldRow],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM ci_class_fields WHERE class = $1")
        .bind(class)
        .execute(&mut *conn)
        .await?;
    for field in fields {
        sqlx::query(
            "INSERT INTO ci_class_fields (class, name, label, kind, required, position) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(class)
        .bind(&field.name)
        .bind(&field.label)
        .bind(&field.kind)
        .bind(field.required)
        .bind(field.position)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
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

/// Every current relation, as `(source, kind, target)`.
pub async fn all_edges(conn: &mut AnyConnection) -> Result<Vec<(i64, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT source_id, kind, target_id FROM ci_relations WHERE removed_at IS NULL",
    )
    .fetch_all(conn)
    .await?)
}

/// Every item's `needed`, organization and owner: what an impact analysis reads of each.
pub async fn all_impact_facts(
    conn: &mut AnyConnection,
) -> Result<Vec<(i64, Option<i64>, Option<i64>, Option<i64>)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, needed, organization_id, owner_id FROM cis")
            .fetch_all(conn)
            .await?,
    )
}

/// Name, class and organization name of each of `ids`, in id order: all an impact
/// analysis shows of the items it lists, without the rest of their rows.
pub async fn ci_labels(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<(i64, String, String, Option<String>)>, StoreError> {
    rows_by_ids(
        conn,
        "SELECT c.id, c.name, c.class, o.name FROM cis c \
         LEFT JOIN organizations o ON o.id = c.organization_id",
        ids,
    )
    .await
}

/// Items a monitor watching them sees down now.
pub async fn failing_cis(conn: &mut AnyConnection) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT DISTINCT ci_id FROM monitors WHERE ci_id IS NOT NULL AND up = 0 AND paused = 0",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
