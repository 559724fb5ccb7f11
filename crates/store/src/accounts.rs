//! Organizations, users, API tokens and browser sessions.

use sqlx::AnyConnection;

use crate::error::StoreError;

/// A client company or department.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrganizationRow {
    pub id: i64,
    pub name: String,
    pub domain: Option<String>,
    /// JSON of a priority matrix overriding the ITIL default, if any.
    pub priority_matrix: Option<String>,
    /// 1 when the organization's customers see all its tickets, not only their own.
    pub customers_see_all: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
}

/// A person who signs in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub organization_id: Option<i64>,
    pub password_hash: Option<String>,
    pub active: i64,
    /// An agent who may publish and archive knowledge-base articles.
    pub approves_articles: i64,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: i64,
    /// The person's own IANA time zone; none: not chosen.
    pub time_zone: Option<String>,
}

/// An API token's metadata; the secret itself is never stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const ORGANIZATION_COLUMNS: &str =
    "id, name, domain, priority_matrix, customers_see_all, created_at, updated_at, version";
const USER_COLUMNS: &str = "id, email, name, role, organization_id, password_hash, active, \
     approves_articles, failed_logins, locked_until, created_at, updated_at, version, time_zone";

/// `$first, $first+1, …` placeholders for an `IN (…)` list of `count` values.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn insert_organization(
    conn: &mut AnyConnection,
    name: &str,
    domain: Option<&str>,
    now: i64,
) -> Result<OrganizationRow, StoreError> {
    sqlx::query_as(sql!(
        "INSERT INTO organizations (name, domain, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         RETURNING {ORGANIZATION_COLUMNS}"
    ))
    .bind(name)
    .bind(domain)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name or domain"))
}

pub async fn get_organization(
    conn: &mut AnyConnection,
    id: i64,
) -> Result<Option<OrganizationRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn find_organization_by_name(
    conn: &mut AnyConnection,
    name: &str,
) -> Result<Option<OrganizationRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE lower(name) = lower($1)"
    ))
    .bind(name)
    .fetch_optional(conn)
    .await?)
}

/// The names of organizations `ids`, in name order.
pub async fn organization_names(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<String>, StoreError> {
    let mut names = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = sql!(
            "SELECT name FROM organizations WHERE id IN ({})",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query_as::<_, (String,)>(sql);
        for id in chunk {
            query = query.bind(*id);
        }
        names.extend(query.fetch_all(&mut *conn).await?.into_iter().map(|(n,)| n));
    }
    names.sort();
    Ok(names)
}

/// The organization whose mail domain is `domain` (stored lower-case).
pub async fn find_organization_by_domain(
    conn: &mut AnyConnection,
    domain: &str,
) -> Result<Option<OrganizationRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE domain = lower($1)"
    ))
    .bind(domain)
    .fetch_optional(conn)
    .await?)
}

/// Organizations with id greater than `after`, in id order; `only` restricts to those ids.
pub async fn list_organizations(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
    only: Option<&[i64]>,
) -> Result<Vec<OrganizationRow>, StoreError> {
    let restriction = match only {
        Some([]) => return Ok(Vec::new()),
        Some(ids) => format!("AND id IN ({})", placeholders(3, ids.len())),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {ORGANIZATION_COLUMNS} FROM organizations WHERE id > $1 {restriction} \
         ORDER BY id LIMIT $2"
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(limit);
    for id in only.unwrap_or_default() {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?)
}

/// Updates an organization if it is still at `expected_version`; `None` when it is not.
pub async fn update_organization(
    conn: &mut AnyConnection,
    id: i64,
    expected_version: i64,
    name: &str,
    domain: Option<&str>,
    now: i64,
) -> Result<Option<OrganizationRow>, StoreError> {
    sqlx::query_as(sql!(
        "UPDATE organizations SET name = $1, domain = $2, updated_at = $3, version = version + 1 \
         WHERE id = $4 AND version = $5 RETURNING {ORGANIZATION_COLUMNS}"
    ))
    .bind(name)
    .bind(domain)
    .bind(now)
    .bind(id)
    .bind(expected_version)
    .fetch_optional(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("name or domain"))
}

/// The fields of a new user.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub organization_id: Option<i64>,
    pub password_hash: Option<&'a str>,
}

pub async fn insert_user(
    conn: &mut AnyConnection,
    user: &NewUser<'_>,
    now: i64,
) -> Result<UserRow, StoreError> {
    sqlx::query_as(sql!(
        "INSERT INTO users (email, name, role, organization_id, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {USER_COLUMNS}"
    ))
    .bind(user.email)
    .bind(user.name)
    .bind(user.role)
    .bind(user.organization_id)
    .bind(user.password_hash)
    .bind(now)
    .fetch_one(conn)
    .await
    .map_err(|e| StoreError::from(e).on_unique("email"))
}

pub async fn get_user(conn: &mut AnyConnection, id: i64) -> Result<Option<UserRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await?,
    )
}

/// Sets (or, with none, removes) a person's own time zone.
pub async fn set_user_time_zone(
    conn: &mut AnyConnection,
    id: i64,
    time_zone: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET time_zone = $1, updated_at = $2 WHERE id = $3")
        .bind(time_zone)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn find_user_by_email(
    conn: &mut AnyConnection,
    email: &str,
) -> Result<Option<UserRow>, StoreError> {
    Ok(
        sqlx::query_as(sql!("SELECT {USER_COLUMNS} FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(conn)
            .await?,
    )
}

/// Users with id greater than `after`; `organizations` restricts to members of those.
/// The active admins' ids and addresses, oldest account first.
pub async fn active_admins(conn: &mut AnyConnection) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, email FROM users WHERE role = 'admin' AND active = 1 ORDER BY id",
    )
    .fetch_all(conn)
    .await?)
}

pub async fn list_users(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
    organizations: Option<&[i64]>,
) -> Result<Vec<UserRow>, StoreError> {
    let restriction = match organizations {
        Some([]) => return Ok(Vec::new()),
        Some(ids) => format!("AND organization_id IN ({})", placeholders(3, ids.len())),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id > $1 {restriction} ORDER BY id LIMIT $2"
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(after)
        .bind(limit);
    for id in organizations.unwrap_or_default() {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?)
}

/// The editable fields of a user.
#[derive(Debug, Clone)]
pub struct UserUpdate<'a> {
    pub name: &'a str,
    pub role: &'a str,
    pub organization_id: Option<i64>,
    pub active: bool,
    pub approves_articles: bool,
    pub password_hash: Option<&'a str>,
}

/// Updates a user if still at `expected_version`; a `None` password hash keeps the old one.
pub async fn update_user(
    conn: &mut AnyConnection,
    id: i64,
    expected_version: i64,
    update: &UserUpdate<'_>,
    now: i64,
) -> Result<Option<UserRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "UPDATE users SET name = $1, role = $2, organization_id = $3, active = $4, \
         password_hash = COALESCE($5, password_hash), updated_at = $6, version = version + 1, \
         approves_articles = $9 WHERE id = $7 AND version = $8 RETURNING {USER_COLUMNS}"
    ))
    .bind(update.name)
    .bind(update.role)
    .bind(update.organization_id)
    .bind(i64::from(update.active))
    .bind(update.password_hash)
    .bind(now)
    .bind(id)
    .bind(expected_version)
    .bind(i64::from(update.approves_articles))
    .fetch_optional(conn)
    .await?)
}

/// The organizations an agent is limited to; empty means all.
pub async fn agent_organizations(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT organization_id FROM agent_organizations WHERE user_id = $1 ORDER BY organization_id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

pub async fn set_agent_organizations(
    conn: &mut AnyConnection,
    user_id: i64,
    organizations: &[i64],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM agent_organizations WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    for organization in organizations {
        sqlx::query("INSERT INTO agent_organizations (user_id, organization_id) VALUES ($1, $2)")
            .bind(user_id)
            .bind(*organization)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Records a wrong password: the failure count and, past the free tries, a lock.
pub async fn record_login_failure(
    conn: &mut AnyConnection,
    user_id: i64,
    failed_logins: i64,
    locked_until: Option<i64>,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET failed_logins = $1, locked_until = $2 WHERE id = $3")
        .bind(failed_logins)
        .bind(locked_until)
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn clear_login_failures(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn insert_token(
    conn: &mut AnyConnection,
    user_id: i64,
    name: &str,
    token_hash: &str,
    now: i64,
) -> Result<TokenRow, StoreError> {
    Ok(sqlx::query_as(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id, user_id, name, created_at, last_used_at, revoked_at",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// The live (unrevoked) token with this hash and its user.
pub async fn find_token(
    conn: &mut AnyConnection,
    token_hash: &str,
) -> Result<Option<(TokenRow, UserRow)>, StoreError> {
    let token: Option<TokenRow> = sqlx::query_as(
        "SELECT id, user_id, name, created_at, last_used_at, revoked_at FROM api_tokens \
         WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(token) = token else { return Ok(None) };
    Ok(get_user(conn, token.user_id)
        .await?
        .map(|user| (token, user)))
}

/// Records that a token was used. Callers throttle this so reads do not turn into writes.
pub async fn touch_token(
    conn: &mut AnyConnection,
    token_id: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(token_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn list_tokens(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<Vec<TokenRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, name, created_at, last_used_at, revoked_at FROM api_tokens \
         WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?)
}

pub async fn get_token(conn: &mut AnyConnection, id: i64) -> Result<Option<TokenRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, user_id, name, created_at, last_used_at, revoked_at FROM api_tokens WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Revokes a token; `false` when it was already revoked or does not exist.
pub async fn revoke_token(conn: &mut AnyConnection, id: i64, now: i64) -> Result<bool, StoreError> {
    let result =
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(conn)
            .await?;
    Ok(result.rows_affected() == 1)
}

/// A browser session about to be stored.
pub struct NewSession<'a> {
    pub token_hash: &'a str,
    /// The id shown to its owner, who may revoke it; the token hash stays private.
    pub public_id: &'a str,
    pub user_id: i64,
    pub csrf_token: &'a str,
    /// How the person signed in: `password`, `oidc`, `ldap`…
    pub method: &'a str,
    pub client_ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub expires_at: i64,
}

pub async fn insert_session(
    conn: &mut AnyConnection,
    session: &NewSession<'_>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO sessions (token_hash, public_id, user_id, csrf_token, method, client_ip, \
         user_agent, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)",
    )
    .bind(session.token_hash)
    .bind(session.public_id)
    .bind(session.user_id)
    .bind(session.csrf_token)
    .bind(session.method)
    .bind(session.client_ip)
    .bind(session.user_agent)
    .bind(now)
    .bind(session.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// A stored session as its owner sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub public_id: String,
    pub user_id: i64,
    pub method: String,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_seen_at: Option<i64>,
    pub expires_at: i64,
}

const SESSION_COLUMNS: &str =
    "public_id, user_id, method, client_ip, user_agent, created_at, last_seen_at, expires_at";

/// A signed-in session found by its cookie: its user, CSRF token and what is shown of it.
pub struct FoundSession {
    pub user: UserRow,
    pub csrf_token: String,
    pub session: SessionRow,
}

/// The unexpired session with this hash.
pub async fn find_session(
    conn: &mut AnyConnection,
    token_hash: &str,
    now: i64,
) -> Result<Option<FoundSession>, StoreError> {
    let found: Option<(String, SessionRow)> = sqlx::query_as(sql!(
        "SELECT csrf_token, {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1 AND expires_at > $2"
    ))
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?
    .map(|row: SessionWithCsrf| (row.csrf_token, row.session));
    let Some((csrf_token, session)) = found else {
        return Ok(None);
    };
    Ok(get_user(conn, session.user_id)
        .await?
        .map(|user| FoundSession {
            user,
            csrf_token,
            session,
        }))
}

#[derive(sqlx::FromRow)]
struct SessionWithCsrf {
    csrf_token: String,
    #[sqlx(flatten)]
    session: SessionRow,
}

/// Marks a session as used at `now`.
pub async fn touch_session(
    conn: &mut AnyConnection,
    public_id: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE public_id = $1")
        .bind(public_id)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// A user's unexpired sessions, the most recently used first.
pub async fn list_user_sessions(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<Vec<SessionRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND expires_at > $2 \
         ORDER BY COALESCE(last_seen_at, created_at) DESC, public_id"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// A session by the id its owner sees.
pub async fn get_session(
    conn: &mut AnyConnection,
    public_id: &str,
) -> Result<Option<SessionRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE public_id = $1"
    ))
    .bind(public_id)
    .fetch_optional(conn)
    .await?)
}

/// Ends a session by the id its owner sees; `false` when there was none.
pub async fn delete_session_by_public_id(
    conn: &mut AnyConnection,
    public_id: &str,
) -> Result<bool, StoreError> {
    let result = sqlx::query("DELETE FROM sessions WHERE public_id = $1")
        .bind(public_id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Revokes every token of a user that is not revoked yet; returns how many.
pub async fn revoke_user_tokens(
    conn: &mut AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<u64, StoreError> {
    let result = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(result.rows_affected())
}

pub async fn delete_session(conn: &mut AnyConnection, token_hash: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes every session of a user, e.g. after a password change or deactivation; returns
/// how many there were.
pub async fn delete_user_sessions(
    conn: &mut AnyConnection,
    user_id: i64,
) -> Result<u64, StoreError> {
    let result = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
        .bind(user_id)
        .execute(conn)
        .await?;
    Ok(result.rows_affected())
}

pub async fn count_users(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(conn)
        .await?;
    Ok(count)
}

/// Deletes sessions that expired before `now`.
pub async fn delete_expired_sessions(
    conn: &mut AnyConnection,
    now: i64,
) -> Result<u64, StoreError> {
    let result = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(result.rows_affected())
}

/// Sets an organization's service-desk settings, in the caller's transaction.
pub async fn set_organization_settings(
    conn: &mut AnyConnection,
    id: i64,
    priority_matrix: Option<&str>,
    customers_see_all: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE organizations SET priority_matrix = $1, customers_see_all = $2 WHERE id = $3",
    )
    .bind(priority_matrix)
    .bind(i64::from(customers_see_all))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}
