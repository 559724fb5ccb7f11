//! The reference data tickets use, kept by admins: support groups and their members,
//! categories, custom field definitions and canned responses (macros).

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A support group (a tier or team).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub tier: i64,
    pub description: String,
    pub created_at: i64,
}

pub async fn insert_group(
    conn: &mut AnyConnection,
    name: &str,
    tier: i64,
    description: &str,
    now: i64,
) -> Result<GroupRow, StoreError> {
    sqlx::query_as(
        "INSERT INTO groups (name, tier, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         RETURNING id, name, tier, description, created_at",
    )
    .bind(name)
    .bind(tier)
    .bind(description)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))
}

pub async fn groups(conn: &mut AnyConnection) -> Result<Vec<GroupRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, name, tier, description, created_at FROM groups ORDER BY tier, name",
    )
    .fetch_all(conn)
    .await?)
}

pub async fn get_group(conn: &mut AnyConnection, id: i64) -> Result<Option<GroupRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name, tier, description, created_at FROM groups WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

pub async fn set_group_members(
    conn: &mut AnyConnection,
    group_id: i64,
    users: &[i64],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM group_members WHERE group_id = $1")
        .bind(group_id)
        .execute(&mut *conn)
        .await?;
    for user in users {
        sqlx::query("INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)")
            .bind(group_id)
            .bind(*user)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Adds a user to a group; `false` when they already were a member.
pub async fn add_group_member(
    conn: &mut AnyConnection,
    group_id: i64,
    user_id: i64,
) -> Result<bool, StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(group_id)
    .bind(user_id)
    .execute(conn)
    .await?;
    Ok(inserted.rows_affected() > 0)
}

/// Removes a user from a group; `false` when they were not a member.
pub async fn remove_group_member(
    conn: &mut AnyConnection,
    group_id: i64,
    user_id: i64,
) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
        .bind(group_id)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(deleted.rows_affected() > 0)
}

/// A member of a group, as lists of members show them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupMemberRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
}

/// A group's members, by e-mail address.
pub async fn group_members(
    conn: &mut AnyConnection,
    group_id: i64,
) -> Result<Vec<GroupMemberRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.email, u.name, u.role FROM group_members m JOIN users u ON u.id = m.user_id \
         WHERE m.group_id = $1 ORDER BY u.email",
    )
    .bind(group_id)
    .fetch_all(conn)
    .await?)
}

/// The groups a user belongs to.
pub async fn user_groups(conn: &mut AnyConnection, user_id: i64) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> =
        sqlx::query_as("SELECT group_id FROM group_members WHERE user_id = $1 ORDER BY group_id")
            .bind(user_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A category; `parent_id` makes it a subcategory.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CategoryRow {
    pub id: i64,
    pub name: String,
    pub parent_id: Option<i64>,
}

pub async fn insert_category(
    conn: &mut AnyConnection,
    name: &str,
    parent_id: Option<i64>,
    now: i64,
) -> Result<CategoryRow, StoreError> {
    sqlx::query_as(
        "INSERT INTO categories (name, parent_id, created_at) VALUES ($1, $2, $3) RETURNING id, name, parent_id",
    )
    .bind(name)
    .bind(parent_id)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))
}

pub async fn categories(conn: &mut AnyConnection) -> Result<Vec<CategoryRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name, parent_id FROM categories ORDER BY id")
            .fetch_all(conn)
            .await?,
    )
}

pub async fn insert_custom_field(
    conn: &mut AnyConnection,
    key: &str,
    definition: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO custom_fields (key, definition, created_at) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(key)
    .bind(definition)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("key"))?;
    Ok(id)
}

/// Every custom field definition: (id, JSON definition).
pub async fn custom_fields(conn: &mut AnyConnection) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, definition FROM custom_fields ORDER BY id")
            .fetch_all(conn)
            .await?,
    )
}

/// A canned response.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MacroRow {
    pub id: i64,
    pub name: String,
    pub body: String,
    pub public: i64,
    pub set_status: Option<String>,
}

pub async fn insert_macro(
    conn: &mut AnyConnection,
    name: &str,
    body: &str,
    public: bool,
    set_status: Option<&str>,
    now: i64,
) -> Result<MacroRow, StoreError> {
    sqlx::query_as(
        "INSERT INTO macros (name, body, public, set_status, created_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, name, body, public, set_status",
    )
    .bind(name)
    .bind(body)
    .bind(i64::from(public))
    .bind(set_status)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name"))
}

pub async fn macros(conn: &mut AnyConnection) -> Result<Vec<MacroRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name, body, public, set_status FROM macros ORDER BY name")
            .fetch_all(conn)
            .await?,
    )
}

pub async fn get_macro(conn: &mut AnyConnection, id: i64) -> Result<Option<MacroRow>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, name, body, public, set_status FROM macros WHERE id = $1")
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}
