//! LDAP and Active Directory directories, what a sync reads of the desk's accounts, and
//! self-service password resets.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A directory's settings and the state of its syncs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DirectoryRow {
    pub id: i64,
    pub organization_id: Option<i64>,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub starttls: i64,
    pub ca_pem: Option<String>,
    pub bind_dn: String,
    pub bind_password: String,
    pub user_base: String,
    pub user_filter: String,
    pub login_attribute: String,
    pub mail_attribute: String,
    pub name_attribute: String,
    pub recovery_attribute: Option<String>,
    pub manager_attribute: Option<String>,
    pub disabled_detection: String,
    pub enabled_filter: Option<String>,
    pub group_base: Option<String>,
    pub group_filter: String,
    pub member_attribute: String,
    pub group_mappings: String,
    pub role_rules: String,
    pub default_role: String,
    pub allow_signup: i64,
    pub sync_interval_minutes: i64,
    pub next_sync_at: Option<i64>,
    pub last_sync_at: Option<i64>,
    pub last_sync_result: Option<String>,
    pub active: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

const DIRECTORY_COLUMNS: &str = "id, organization_id, name, kind, url, starttls, ca_pem, \
     bind_dn, bind_password, user_base, user_filter, login_attribute, mail_attribute, \
     name_attribute, recovery_attribute, manager_attribute, disabled_detection, enabled_filter, \
     group_base, group_filter, member_attribute, group_mappings, role_rules, default_role, \
     allow_signup, sync_interval_minutes, next_sync_at, last_sync_at, last_sync_result, active, \
     created_at, updated_at, version";

/// The settings of a directory as written: everything but the sync state.
#[derive(Debug, Clone)]
pub struct DirectoryFields {
    pub organization_id: Option<i64>,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub starttls: bool,
    pub ca_pem: Option<String>,
    pub bind_dn: String,
    pub bind_password: String,
    pub user_base: String,
    pub user_filter: String,
    pub login_attribute: String,
    pub mail_attribute: String,
    pub name_attribute: String,
    pub recovery_attribute: Option<String>,
    pub manager_attribute: Option<String>,
    pub disabled_detection: String,
    pub enabled_filter: Option<String>,
    pub group_base: Option<String>,
    pub group_filter: String,
    pub member_attribute: String,
    pub group_mappings: String,
    pub role_rules: String,
    pub default_role: String,
    pub allow_signup: bool,
    pub sync_interval_minutes: i64,
    pub active: bool,
}

impl From<&DirectoryRow> for DirectoryFields {
    fn from(row: &DirectoryRow) -> Self {
        Self {
            organization_id: row.organization_id,
            name: row.name.clone(),
            kind: row.kind.clone(),
            url: row.url.clone(),
            starttls: row.starttls != 0,
            ca_pem: row.ca_pem.clone(),
            bind_dn: row.bind_dn.clone(),
            bind_password: row.bind_password.clone(),
            user_base: row.user_base.clone(),
            user_filter: row.user_filter.clone(),
            login_attribute: row.login_attribute.clone(),
            mail_attribute: row.mail_attribute.clone(),
            name_attribute: row.name_attribute.clone(),
            recovery_attribute: row.recovery_attribute.clone(),
            manager_attribute: row.manager_attribute.clone(),
            disabled_detection: row.disabled_detection.clone(),
            enabled_filter: row.enabled_filter.clone(),
            group_base: row.group_base.clone(),
            group_filter: row.group_filter.clone(),
            member_attribute: row.member_attribute.clone(),
            group_mappings: row.group_mappings.clone(),
            role_rules: row.role_rules.clone(),
            default_role: row.default_role.clone(),
            allow_signup: row.allow_signup != 0,
            sync_interval_minutes: row.sync_interval_minutes,
            active: row.active != 0,
        }
    }
}

/// Binds `fields` as `$first…$first+25` in column order.
fn bind_fields<'q>(
    query: sqlx::query::QueryAs<'q, sqlx::Any, DirectoryRow, sqlx::any::AnyArguments>,
    fields: &'q DirectoryFields,
) -> sqlx::query::QueryAs<'q, sqlx::Any, DirectoryRow, sqlx::any::AnyArguments> {
    query
        .bind(fields.organization_id)
        .bind(fields.name.as_str())
        .bind(fields.kind.as_str())
        .bind(fields.url.as_str())
        .bind(i64::from(fields.starttls))
        .bind(fields.ca_pem.as_deref())
        .bind(fields.bind_dn.as_str())
        .bind(fields.bind_password.as_str())
        .bind(fields.user_base.as_str())
        .bind(fields.user_filter.as_str())
        .bind(fields.login_attribute.as_str())
        .bind(fields.mail_attribute.as_str())
        .bind(fields.name_attribute.as_str())
        .bind(fields.recovery_attribute.as_deref())
        .bind(fields.manager_attribute.as_deref())
        .bind(fields.disabled_detection.as_str())
        .bind(fields.enabled_filter.as_deref())
        .bind(fields.group_base.as_deref())
        .bind(fields.group_filter.as_str())
        .bind(fields.member_attribute.as_str())
        .bind(fields.group_mappings.as_str())
        .bind(fields.role_rules.as_str())
        .bind(fields.default_role.as_str())
        .bind(i64::from(fields.allow_signup))
        .bind(fields.sync_interval_minutes)
        .bind(i64::from(fields.active))
}

const FIELD_NAMES: [&str; 26] = [
    "organization_id",
    "name",
    "kind",
    "url",
    "starttls",
    "ca_pem",
    "bind_dn",
    "bind_password",
    "user_base",
    "user_filter",
    "login_attribute",
    "mail_attribute",
    "name_attribute",
    "recovery_attribute",
    "manager_attribute",
    "disabled_detection",
    "enabled_filter",
    "group_base",
    "group_filter",
    "member_attribute",
    "group_mappings",
    "role_rules",
    "default_role",
    "allow_signup",
    "sync_interval_minutes",
    "active",
];

/// Adds a directory; its first scheduled sync is due at once.
pub async fn insert_directory(
    conn: &mut AnyConnection,
    fields: &DirectoryFields,
    now: i64,
) -> Result<DirectoryRow, StoreError> {
    let placeholders: Vec<String> = (1..=FIELD_NAMES.len()).map(|n| format!("${n}")).collect();
    let last = FIELD_NAMES.len() + 1;
    let sql = sql!(
        "INSERT INTO ldap_directories ({}, next_sync_at, created_at, updated_at) \
         VALUES ({}, ${last}, ${last}, ${last}) RETURNING {DIRECTORY_COLUMNS}",
        FIELD_NAMES.join(", "),
        placeholders.join(", ")
    );
    bind_fields(sqlx::query_as(sql), fields)
        .bind(now)
        .fetch_one(conn)
        .await
        .map_err(|e| StoreError::from(e).on_unique("name"))
}

/// Replaces a directory's settings if it is still at `expected_version`; `None` when not.
pub async fn update_directory(
    conn: &mut AnyConnection,
    id: i64,
    expected_version: i64,
    fields: &DirectoryFields,
    now: i64,
) -> Result<Option<DirectoryRow>, StoreError> {
    let sets: Vec<String> = FIELD_NAMES
        .iter()
        .enumerate()
        .map(|(n, name)| format!("{name} = ${}", n + 1))
        .collect();
    let n = FIELD_NAMES.len();
    let sql = sql!(
        "UPDATE ldap_directories SET {}, updated_at = ${}, version = version + 1 \
         WHERE id = ${} AND version = ${} RETURNING {DIRECTORY_COLUMNS}",
        sets.join(", "),
        n + 1,
        n + 2,
        n + 3
    );
    bind_fields(sqlx::query_as(sql), fields)
        .bind(now)
        .bind(id)
        .bind(expected_version)
        .fetch_optional(conn)
        .await
        .map_err(|e| StoreError::from(e).on_unique("name"))
}

pub async fn get_directory(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<DirectoryRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {DIRECTORY_COLUMNS} FROM ldap_directories WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Every directory, by name.
pub async fn list_directories(conn: &mut AnyConnection) -> Result<Vec<DirectoryRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {DIRECTORY_COLUMNS} FROM ldap_directories ORDER BY lower(name), id"
    ))
    .fetch_all(conn)
    .await?)
}

pub async fn delete_directory(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    sqlx::query("DELETE FROM user_identities WHERE source = 'ldap' AND source_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    let deleted = sqlx::query("DELETE FROM ldap_directories WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// The active directories whose scheduled sync is due at `now`, with their intervals in
/// minutes.
pub async fn due_directories(
    conn: &mut AnyConnection,
    now: i64,
) -> Result<Vec<(i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, sync_interval_minutes FROM ldap_directories WHERE active = 1 AND sync_interval_minutes > 0 \
         AND (next_sync_at IS NULL OR next_sync_at <= $1) ORDER BY id",
    )
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// Takes a due sync: moves its next time forward if it is still due. Of several nodes
/// trying at once exactly one succeeds; that one runs the sync.
pub async fn claim_sync(
    conn: &mut AnyConnection,
    id: i64,
    now: i64,
    next: i64,
) -> Result<bool, StoreError> {
    let claimed = sqlx::query(
        "UPDATE ldap_directories SET next_sync_at = $3 WHERE id = $1 AND active = 1 \
         AND (next_sync_at IS NULL OR next_sync_at <= $2)",
    )
    .bind(id)
    .bind(now)
    .bind(next)
    .execute(conn)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Keeps the outcome of a sync (JSON).
pub async fn record_sync(
    conn: &mut AnyConnection,
    id: i64,
    result: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE ldap_directories SET last_sync_at = $2, last_sync_result = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .bind(result)
    .execute(conn)
    .await?;
    Ok(())
}

/// The active directories people may sign in with.
pub async fn active_directories(conn: &mut AnyConnection) -> Result<Vec<DirectoryRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {DIRECTORY_COLUMNS} FROM ldap_directories WHERE active = 1 ORDER BY id"
    ))
    .fetch_all(conn)
    .await?)
}

/// The directory an account is linked to and its subject there, if any.
pub async fn directory_of_user(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Option<(DirectoryRow, String)>, StoreError> {
    let link: Option<(i64, String)> = sqlx::query_as(
        "SELECT source_id, subject FROM user_identities WHERE user_id = $1 AND source = 'ldap' \
         ORDER BY id LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((directory_id, subject)) = link else {
        return Ok(None);
    };
    Ok(get_directory(conn, directory_id)
        .await?
        .map(|directory| (directory, subject)))
}

/// An account as a sync compares it with the directory.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SyncAccountRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub organization_id: Option<i64>,
    pub active: i64,
    /// Its subject in the directory being synced, when linked to it.
    pub subject: Option<String>,
}

/// Every account, each with its subject in directory `directory_id` when linked to it.
pub async fn sync_accounts(
    conn: &mut AnyConnection,
    directory_id: i64,
) -> Result<Vec<SyncAccountRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.email, u.name, u.role, u.organization_id, u.active, i.subject \
         FROM users u LEFT JOIN user_identities i \
         ON i.user_id = u.id AND i.source = 'ldap' AND i.source_id = $1 ORDER BY u.id",
    )
    .bind(directory_id)
    .fetch_all(conn)
    .await?)
}

/// The members of every group, as `(lower-cased group name, user id)`.
pub async fn group_memberships(conn: &mut AnyConnection) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT lower(g.name), m.user_id FROM group_members m JOIN groups g ON g.id = m.group_id",
    )
    .fetch_all(conn)
    .await?)
}

/// Sets an account's address, name, role and whether it is active, as a sync found them.
pub async fn sync_user(
    conn: &mut AnyConnection,
    id: i64,
    email: &str,
    name: &str,
    role: &str,
    active: bool,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE users SET email = $2, name = $3, role = $4, active = $5, updated_at = $6, \
         version = version + 1 WHERE id = $1",
    )
    .bind(id)
    .bind(email)
    .bind(name)
    .bind(role)
    .bind(i64::from(active))
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("email"))?;
    Ok(())
}

/// A self-service password reset or unlock.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PasswordResetRow {
    pub id: i64,
    pub user_id: i64,
    pub directory_id: i64,
    pub kind: String,
    pub user_dn: String,
    pub recovery_address: String,
    pub code_hash: Option<String>,
    pub attempts: i64,
    pub state: String,
    pub client_ip: String,
    pub ticket_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub completed_at: Option<i64>,
}

const RESET_COLUMNS: &str = "id, user_id, directory_id, kind, user_dn, recovery_address, \
     code_hash, attempts, state, client_ip, ticket_id, created_at, expires_at, completed_at";

/// A new reset request, waiting for its code to be mailed.
#[derive(Debug, Clone)]
pub struct NewPasswordReset<'a> {
    pub handle_hash: &'a str,
    pub user_id: i64,
    pub directory_id: i64,
    pub kind: &'a str,
    pub user_dn: &'a str,
    pub recovery_address: &'a str,
    pub client_ip: &'a str,
    pub expires_at: i64,
}

/// Adds a reset request; earlier pending ones of the same person expire.
pub async fn insert_reset(
    conn: &mut AnyConnection,
    reset: &NewPasswordReset<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    sqlx::query(
        "UPDATE password_resets SET state = 'expired' WHERE user_id = $1 AND state = 'pending'",
    )
    .bind(reset.user_id)
    .execute(&mut *conn)
    .await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO password_resets (handle_hash, user_id, directory_id, kind, user_dn, \
         recovery_address, state, client_ip, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9) RETURNING id",
    )
    .bind(reset.handle_hash)
    .bind(reset.user_id)
    .bind(reset.directory_id)
    .bind(reset.kind)
    .bind(reset.user_dn)
    .bind(reset.recovery_address)
    .bind(reset.client_ip)
    .bind(now)
    .bind(reset.expires_at)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn get_reset(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<PasswordResetRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {RESET_COLUMNS} FROM password_resets WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn find_reset(
    conn: &mut AnyConnection,
    handle_hash: &str,
) -> Result<Option<PasswordResetRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {RESET_COLUMNS} FROM password_resets WHERE handle_hash = $1"
    ))
    .bind(handle_hash)
    .fetch_optional(conn)
    .await?)
}

/// Keeps the hash of the code mailed for a pending reset.
pub async fn set_reset_code(
    conn: &mut AnyConnection,
    id: i64,
    code_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE password_resets SET code_hash = $2 WHERE id = $1 AND state = 'pending'")
        .bind(id)
        .bind(code_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Counts a wrong code; at `max_attempts` the reset fails for good. Returns the attempts.
pub async fn count_reset_attempt(
    conn: &mut AnyConnection,
    id: i64,
    max_attempts: i64,
) -> Result<i64, StoreError> {
    let (attempts,): (i64,) = sqlx::query_as(
        "UPDATE password_resets SET attempts = attempts + 1, \
         state = CASE WHEN attempts + 1 >= $2 THEN 'failed' ELSE state END \
         WHERE id = $1 RETURNING attempts",
    )
    .bind(id)
    .bind(max_attempts)
    .fetch_one(conn)
    .await?;
    Ok(attempts)
}

/// Completes a pending reset, once: `false` when it was no longer pending (used already).
pub async fn complete_reset(
    conn: &mut AnyConnection,
    id: i64,
    ticket_id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE password_resets SET state = 'completed', completed_at = $3, ticket_id = $2 \
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(id)
    .bind(ticket_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How many resets `user_id` asked for since `since`.
pub async fn recent_resets(
    conn: &mut AnyConnection,
    user_id: i64,
    since: i64,
) -> Result<i64, StoreError> {
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM password_resets WHERE user_id = $1 AND created_at >= $2",
    )
    .bind(user_id)
    .bind(since)
    .fetch_one(conn)
    .await?;
    Ok(count)
}

/// A manager's part in a reset: the decision asked for and, once approved, the link mailed
/// to the person.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResetApprovalRow {
    pub reset_id: i64,
    pub manager_id: i64,
    /// `waiting`, `approved` or `denied`.
    pub state: String,
    pub decided_at: Option<i64>,
}

const APPROVAL_COLUMNS: &str = "reset_id, manager_id, state, decided_at";

/// Asks `manager_id` to approve reset `reset_id`.
pub async fn insert_approval(
    conn: &mut AnyConnection,
    reset_id: i64,
    manager_id: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO password_reset_approvals (reset_id, manager_id, state) \
         VALUES ($1, $2, 'waiting')",
    )
    .bind(reset_id)
    .bind(manager_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The manager's part in reset `reset_id`, if a manager was asked.
pub async fn get_approval(
    conn: &mut AnyConnection,
    reset_id: i64,
) -> Result<Option<ResetApprovalRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {APPROVAL_COLUMNS} FROM password_reset_approvals WHERE reset_id = $1"
    ))
    .bind(reset_id)
    .fetch_optional(conn)
    .await?)
}

/// The approval whose mailed decision token hashes to `decision_hash`.
pub async fn find_approval(
    conn: &mut AnyConnection,
    decision_hash: &str,
) -> Result<Option<ResetApprovalRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {APPROVAL_COLUMNS} FROM password_reset_approvals WHERE decision_hash = $1"
    ))
    .bind(decision_hash)
    .fetch_optional(conn)
    .await?)
}

/// Keeps the hash of the decision token mailed to the manager of a waiting approval.
pub async fn set_approval_token(
    conn: &mut AnyConnection,
    reset_id: i64,
    decision_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE password_reset_approvals SET decision_hash = $2 \
         WHERE reset_id = $1 AND state = 'waiting'",
    )
    .bind(reset_id)
    .bind(decision_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the manager's decision, once: `false` when it was decided already or the reset
/// expired or was replaced meanwhile (the caller then rolls back). Approved, the reset
/// stays pending until `expires_at`; denied, it fails.
pub async fn decide_approval(
    conn: &mut AnyConnection,
    reset_id: i64,
    approved: bool,
    expires_at: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let decided = sqlx::query(
        "UPDATE password_reset_approvals SET state = $2, decided_at = $3 \
         WHERE reset_id = $1 AND state = 'waiting'",
    )
    .bind(reset_id)
    .bind(if approved { "approved" } else { "denied" })
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if decided.rows_affected() != 1 {
        return Ok(false);
    }
    let reset = if approved {
        sqlx::query(
            "UPDATE password_resets SET expires_at = $3 \
             WHERE id = $1 AND state = 'pending' AND expires_at > $2",
        )
        .bind(reset_id)
        .bind(now)
        .bind(expires_at)
    } else {
        sqlx::query(
            "UPDATE password_resets SET state = 'failed' \
             WHERE id = $1 AND state = 'pending' AND expires_at > $2",
        )
        .bind(reset_id)
        .bind(now)
    };
    Ok(reset.execute(conn).await?.rows_affected() == 1)
}

/// Keeps the hash of the link mailed to the person once their manager approved.
pub async fn set_approval_link(
    conn: &mut AnyConnection,
    reset_id: i64,
    link_hash: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE password_reset_approvals SET link_hash = $2 \
         WHERE reset_id = $1 AND state = 'approved'",
    )
    .bind(reset_id)
    .bind(link_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// The reset a manager approved whose mailed link hashes to `link_hash`.
pub async fn find_approved_reset(
    conn: &mut AnyConnection,
    link_hash: &str,
) -> Result<Option<PasswordResetRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {RESET_COLUMNS} FROM password_resets WHERE id = \
         (SELECT reset_id FROM password_reset_approvals \
          WHERE link_hash = $1 AND state = 'approved')"
    ))
    .bind(link_hash)
    .fetch_optional(conn)
    .await?)
}
