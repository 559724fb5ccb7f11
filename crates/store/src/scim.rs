//! SCIM provisioning clients and the support groups they manage.

use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ScimClientRow {
    pub id: i64,
    pub name: String,
    pub organization_id: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const CLIENT_COLUMNS: &str = "id, name, organization_id, created_at, last_used_at, revoked_at";

pub async fn insert_client(
    conn: &mut AnyConnection,
    name: &str,
    organization_id: Option<i64>,
    token_hash: &str,
    now: i64,
) -> Result<ScimClientRow, StoreError> {
    sqlx::query_as(sql!(
        "INSERT INTO scim_clients (name, organization_id, token_hash, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING {CLIENT_COLUMNS}"
    ))
    .bind(name)
    .bind(organization_id)
    .bind(token_hash)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))
}

pub async fn list_clients(conn: &mut AnyConnection) -> Result<Vec<ScimClientRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {CLIENT_COLUMNS} FROM scim_clients ORDER BY name"
    ))
    .fetch_all(conn)
    .await?)
}

pub async fn get_client(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<ScimClientRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {CLIENT_COLUMNS} FROM scim_clients WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// The unrevoked client whose token has this hash.
pub async fn find_client_by_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<ScimClientRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {CLIENT_COLUMNS} FROM scim_clients WHERE token_hash = $1 AND revoked_at IS NULL"
    ))
    .bind(token_hash)
    .fetch_optional(conn)
    .await?)
}

pub async fn touch_client(conn: &mut AnyConnection, id: i64, now: i64) -> Result<(), StoreError> {
    sqlx::query("UPDATE scim_clients SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes a client's token; `false` when it was already revoked.
pub async fn revoke_client(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let result =
        sqlx::query("UPDATE scim_clients SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(conn)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// A provisioned account as SCIM shows it: the user and the client's external id for them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProvisionedUserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub active: i64,
    pub external_id: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

const PROVISIONED_USER: &str = "SELECT u.id, u.email, u.name, u.active, i.subject AS external_id, \
     u.created_at, u.updated_at, u.version FROM users u \
     JOIN user_identities i ON i.user_id = u.id AND i.source = 'scim' AND i.source_id = $1";

/// The accounts a client provisioned, in id order, optionally only those whose e-mail,
/// external id or name equals `filter`'s value; with the total before paging.
pub async fn provisioned_users(
    conn: &mut AnyConnection,
    client_id: i64,
    filter: Option<(&str, &str)>,
    offset: i64,
    limit: i64,
) -> Result<(i64, Vec<ProvisionedUserRow>), StoreError> {
    let condition = match filter {
        Some(("email", _)) => " WHERE u.email = $2",
        Some(("external_id", _)) => " WHERE i.subject = $2",
        Some(("name", _)) => " WHERE u.name = $2",
        Some(("id", _)) => " WHERE CAST(u.id AS TEXT) = $2",
        _ => " WHERE $2 = $2",
    };
    let value = filter.map_or("", |(_, value)| value);
    let (total,): (i64,) = sqlx::query_as(sql!(
        "SELECT COUNT(*) FROM ({PROVISIONED_USER}{condition}) counted"
    ))
    .bind(client_id)
    .bind(value)
    .fetch_one(&mut *conn)
    .await?;
    let rows = sqlx::query_as(sql!(
        "{PROVISIONED_USER}{condition} ORDER BY u.id LIMIT $3 OFFSET $4"
    ))
    .bind(client_id)
    .bind(value)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((total, rows))
}

/// One account the client provisioned.
pub async fn provisioned_user(
    conn: &mut AnyConnection,
    client_id: i64,
    user_id: i64,
) -> Result<Option<ProvisionedUserRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{PROVISIONED_USER} WHERE u.id = $2"))
        .bind(client_id)
        .bind(user_id)
        .fetch_optional(conn)
        .await?)
}

/// Forgets that the client provisioned `user_id` (after a SCIM DELETE).
pub async fn unlink_user(
    conn: &mut AnyConnection,
    client_id: i64,
    user_id: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query(
        "DELETE FROM user_identities WHERE source = 'scim' AND source_id = $1 AND user_id = $2",
    )
    .bind(client_id)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(result.rows_affected() > 0)
}

/// Sets the external id a client knows an account by.
pub async fn set_external_id(
    conn: &mut AnyConnection,
    client_id: i64,
    user_id: i64,
    external_id: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE user_identities SET subject = $3 \
         WHERE source = 'scim' AND source_id = $1 AND user_id = $2",
    )
    .bind(client_id)
    .bind(user_id)
    .bind(external_id)
    .execute(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("externalId"))?;
    Ok(())
}

/// A support group a client manages.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ManagedGroupRow {
    pub id: i64,
    pub name: String,
    pub external_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const MANAGED_GROUP: &str = "SELECT g.id, g.name, s.external_id, s.created_at, g.updated_at \
     FROM groups g JOIN scim_groups s ON s.group_id = g.id AND s.client_id = $1";

pub async fn managed_groups(
    conn: &mut AnyConnection,
    client_id: i64,
    name: Option<&str>,
) -> Result<Vec<ManagedGroupRow>, StoreError> {
    let condition = if name.is_some() {
        " WHERE g.name = $2"
    } else {
        " WHERE $2 = $2"
    };
    Ok(
        sqlx::query_as(sql!("{MANAGED_GROUP}{condition} ORDER BY g.id"))
            .bind(client_id)
            .bind(name.unwrap_or_default())
            .fetch_all(conn)
            .await?,
    )
}

/// The members of the groups client `client_id` manages (of the one named `name`, when
/// given), as (group, user id, address), in one statement rather than one per group.
pub async fn managed_group_members(
    conn: &mut AnyConnection,
    client_id: i64,
    name: Option<&str>,
) -> Result<Vec<(i64, i64, String)>, StoreError> {
    let condition = if name.is_some() {
        " WHERE g.name = $2"
    } else {
        " WHERE $2 = $2"
    };
    Ok(sqlx::query_as(sql!(
        "SELECT m.group_id, u.id, u.email FROM groups g \
         JOIN scim_groups s ON s.group_id = g.id AND s.client_id = $1 \
         JOIN group_members m ON m.group_id = g.id JOIN users u ON u.id = m.user_id\
         {condition} ORDER BY u.email"
    ))
    .bind(client_id)
    .bind(name.unwrap_or_default())
    .fetch_all(conn)
    .await?)
}

pub async fn managed_group(
    conn: &mut AnyConnection,
    client_id: i64,
    group_id: i64,
) -> Result<Option<ManagedGroupRow>, StoreError> {
    Ok(sqlx::query_as(sql!("{MANAGED_GROUP} WHERE g.id = $2"))
        .bind(client_id)
        .bind(group_id)
        .fetch_optional(conn)
        .await?)
}

pub async fn manage_group(
    conn: &mut AnyConnection,
    client_id: i64,
    group_id: i64,
    external_id: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scim_groups (client_id, group_id, external_id, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (client_id, group_id) DO UPDATE \
         SET external_id = excluded.external_id",
    )
    .bind(client_id)
    .bind(group_id)
    .bind(external_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn release_group(
    conn: &mut AnyConnection,
    client_id: i64,
    group_id: i64,
) -> Result<bool, StoreError> {
    let result = sqlx::query("DELETE FROM scim_groups WHERE client_id = $1 AND group_id = $2")
        .bind(client_id)
        .bind(group_id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}
