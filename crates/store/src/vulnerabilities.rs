//! Security advisories, the findings of them on items' installed packages, the incidents
//! opened for findings, and the numbers of the compliance report.

use sqlx::AnyConnection;

use crate::accounts::placeholders;
use crate::error::StoreError;

/// An advisory as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AdvisoryRow {
    pub id: String,
    pub modified: String,
    /// Separated by spaces.
    pub aliases: String,
    pub summary: String,
    pub details: String,
    pub severity: String,
    pub severity_rank: i64,
}

/// A package an advisory affects: `affected` is its version spans as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvisoryPackage {
    pub ecosystem: String,
    pub name: String,
    pub affected: String,
}

/// The `modified` of advisory `id` as stored, if it is.
pub async fn advisory_modified(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT modified FROM advisories WHERE id = $1")
        .bind(id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|(m,)| m))
}

/// Writes an advisory over the stored one of its id, with its aliases and packages. Its
/// findings stay: the next refresh keeps those still true and when they were found.
pub async fn put_advisory(
    conn: &mut AnyConnection,
    advisory: &AdvisoryRow,
    packages: &[AdvisoryPackage],
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO advisories (id, modified, aliases, summary, details, severity, \
         severity_rank, imported_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (id) DO UPDATE SET modified = excluded.modified, \
         aliases = excluded.aliases, summary = excluded.summary, details = excluded.details, \
         severity = excluded.severity, severity_rank = excluded.severity_rank, \
         imported_at = excluded.imported_at",
    )
    .bind(&advisory.id)
    .bind(&advisory.modified)
    .bind(&advisory.aliases)
    .bind(&advisory.summary)
    .bind(&advisory.details)
    .bind(&advisory.severity)
    .bind(advisory.severity_rank)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for table in ["advisory_aliases", "advisory_packages"] {
        sqlx::query(sql!("DELETE FROM {table} WHERE advisory_id = $1"))
            .bind(&advisory.id)
            .execute(&mut *conn)
            .await?;
    }
    for alias in advisory.aliases.split_whitespace() {
        sqlx::query(
            "INSERT INTO advisory_aliases (alias, advisory_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(alias)
        .bind(&advisory.id)
        .execute(&mut *conn)
        .await?;
    }
    for (position, package) in packages.iter().enumerate() {
        sqlx::query(
            "INSERT INTO advisory_packages (advisory_id, position, ecosystem, name, affected) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&advisory.id)
        .bind(position as i64)
        .bind(&package.ecosystem)
        .bind(&package.name)
        .bind(&package.affected)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Whether any item has a package named `name` installed.
pub async fn is_installed(conn: &mut AnyConnection, name: &str) -> Result<bool, StoreError> {
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT ci_id FROM ci_packages WHERE name = $1 LIMIT 1")
            .bind(name)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

/// What advisories say about packages named `names`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AffectingRow {
    pub advisory_id: String,
    pub name: String,
    pub affected: String,
    pub severity_rank: i64,
}

pub async fn affecting(
    conn: &mut AnyConnection,
    names: &[String],
) -> Result<Vec<AffectingRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in names.chunks(400) {
        let sql = sql!(
            "SELECT p.advisory_id, p.name, p.affected, a.severity_rank FROM advisory_packages p \
             JOIN advisories a ON a.id = p.advisory_id WHERE p.name IN ({}) \
             ORDER BY p.advisory_id, p.position",
            placeholders(1, chunk.len())
        );
        let mut query = sqlx::query_as(sql);
        for name in chunk {
            query = query.bind(name);
        }
        rows.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// A finding to keep on an item.
#[derive(Debug, Clone, PartialEq)]
pub struct NewFinding {
    pub advisory_id: String,
    pub package: String,
    pub version: String,
    pub fixed: Option<String>,
    pub severity_rank: i64,
}

/// Replaces item `ci_id`'s findings of the packages named `within` (all when `None`) with
/// `findings`, keeping when each still-true one was found. Returns how many are new.
pub async fn replace_findings(
    conn: &mut AnyConnection,
    ci_id: i64,
    findings: &[NewFinding],
    within: Option<&[String]>,
    now: i64,
) -> Result<usize, StoreError> {
    let held: Vec<(String, String)> =
        sqlx::query_as("SELECT advisory_id, package FROM ci_vulnerabilities WHERE ci_id = $1")
            .bind(ci_id)
            .fetch_all(&mut *conn)
            .await?;
    let checked = |package: &String| within.is_none_or(|names| names.contains(package));
    for (advisory, package) in held.iter().filter(|(_, package)| checked(package)) {
        if !findings
            .iter()
            .any(|f| &f.advisory_id == advisory && &f.package == package)
        {
            sqlx::query(
                "DELETE FROM ci_vulnerabilities WHERE ci_id = $1 AND advisory_id = $2 \
                 AND package = $3",
            )
            .bind(ci_id)
            .bind(advisory)
            .bind(package)
            .execute(&mut *conn)
            .await?;
        }
    }
    let mut new = 0;
    for finding in findings {
        if !held
            .iter()
            .any(|(a, p)| a == &finding.advisory_id && p == &finding.package)
        {
            new += 1;
        }
        sqlx::query(
            "INSERT INTO ci_vulnerabilities (ci_id, advisory_id, package, version, fixed, \
             severity_rank, found_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (ci_id, advisory_id, package) DO UPDATE SET version = excluded.version, \
             fixed = excluded.fixed, severity_rank = excluded.severity_rank",
        )
        .bind(ci_id)
        .bind(&finding.advisory_id)
        .bind(&finding.package)
        .bind(&finding.version)
        .bind(&finding.fixed)
        .bind(finding.severity_rank)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(new)
}

/// Items with installed packages, in id order after `after`.
pub async fn hosts_with_packages(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<(i64,)> = sqlx::query_as(
        "SELECT DISTINCT ci_id FROM ci_packages WHERE ci_id > $1 ORDER BY ci_id LIMIT $2",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A finding on an item, with its advisory.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FindingRow {
    pub ci_id: i64,
    pub advisory_id: String,
    pub aliases: String,
    pub summary: String,
    pub severity: String,
    pub package: String,
    pub version: String,
    pub fixed: Option<String>,
    pub found_at: i64,
    pub ticket_id: Option<i64>,
}

const FINDING_SELECT: &str = "SELECT f.ci_id, f.advisory_id, a.aliases, a.summary, a.severity, \
     f.package, f.version, f.fixed, f.found_at, i.ticket_id FROM ci_vulnerabilities f \
     JOIN advisories a ON a.id = f.advisory_id LEFT JOIN vulnerability_incidents i \
     ON i.ci_id = f.ci_id AND i.advisory_id = f.advisory_id";

/// Item `ci_id`'s findings, the worst first.
pub async fn findings_of(
    conn: &mut AnyConnection,
    ci_id: i64,
) -> Result<Vec<FindingRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "{FINDING_SELECT} WHERE f.ci_id = $1 \
         ORDER BY f.severity_rank DESC, f.advisory_id, f.package LIMIT 2000"
    ))
    .bind(ci_id)
    .fetch_all(conn)
    .await?)
}

/// Findings of at least `min_rank` with no incident yet, by item.
pub async fn findings_without_incident(
    conn: &mut AnyConnection,
    min_rank: i64,
) -> Result<Vec<FindingRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "{FINDING_SELECT} WHERE f.severity_rank >= $1 AND i.ticket_id IS NULL \
         ORDER BY f.ci_id, f.advisory_id, f.package"
    ))
    .bind(min_rank)
    .fetch_all(conn)
    .await?)
}

/// Records the incident opened for item `ci_id` and an advisory; false when one was.
pub async fn insert_incident(
    conn: &mut AnyConnection,
    ci_id: i64,
    advisory_id: &str,
    ticket_id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO vulnerability_incidents (ci_id, advisory_id, ticket_id, opened_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(ci_id)
    .bind(advisory_id)
    .bind(ticket_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// Items with an open finding of at least `min_rank`, of `advisory` (by id or alias) when
/// given, in one of `packages` when any are given.
pub async fn ids_vulnerable(
    conn: &mut AnyConnection,
    min_rank: i64,
    advisory: Option<&str>,
    packages: &[String],
) -> Result<Vec<i64>, StoreError> {
    let mut clauses = vec!["severity_rank >= $1".to_owned()];
    let mut next = 2;
    if advisory.is_some() {
        clauses.push(format!(
            "(advisory_id = ${next} OR advisory_id IN \
             (SELECT advisory_id FROM advisory_aliases WHERE alias = ${next}))"
        ));
        next += 1;
    }
    if !packages.is_empty() {
        clauses.push(format!(
            "package IN ({})",
            placeholders(next, packages.len())
        ));
    }
    let sql = sql!(
        "SELECT DISTINCT ci_id FROM ci_vulnerabilities WHERE {} ORDER BY ci_id",
        clauses.join(" AND ")
    );
    let mut query = sqlx::query_as::<_, (i64,)>(sql).bind(min_rank);
    if let Some(advisory) = advisory {
        query = query.bind(advisory);
    }
    for package in packages {
        query = query.bind(package);
    }
    Ok(query
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect())
}

/// An advisory with how many visible items it affects.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AdvisorySummaryRow {
    pub id: String,
    pub modified: String,
    pub aliases: String,
    pub summary: String,
    pub severity: String,
    pub hosts: i64,
}

/// Advisories of at least `min_rank` whose id, aliases or summary contain `text`, the
/// ones affecting most items first. Only items of `visible` organizations count (all when
/// `None`; items of no organization when `include_unowned`).
pub async fn advisories(
    conn: &mut AnyConnection,
    min_rank: i64,
    text: &str,
    affecting_only: bool,
    visible: Option<&[i64]>,
    include_unowned: bool,
    limit: i64,
) -> Result<Vec<AdvisorySummaryRow>, StoreError> {
    let mut visibility = String::new();
    if let Some(visible) = visible {
        let mut parts = Vec::new();
        if !visible.is_empty() {
            parts.push(format!(
                "c.organization_id IN ({})",
                placeholders(4, visible.len())
            ));
        }
        if include_unowned {
            parts.push("c.organization_id IS NULL".to_owned());
        }
        if parts.is_empty() {
            parts.push("1 = 0".to_owned());
        }
        visibility = format!(" AND ({})", parts.join(" OR "));
    }
    let having = if affecting_only {
        " HAVING COUNT(DISTINCT c.id) > 0"
    } else {
        ""
    };
    let sql = sql!(
        "SELECT a.id, a.modified, a.aliases, a.summary, a.severity, \
         COUNT(DISTINCT c.id) AS hosts FROM advisories a \
         LEFT JOIN ci_vulnerabilities f ON f.advisory_id = a.id \
         LEFT JOIN cis c ON c.id = f.ci_id{visibility} \
         WHERE a.severity_rank >= $1 AND (lower(a.id) LIKE $2 OR lower(a.aliases) LIKE $2 \
         OR lower(a.summary) LIKE $2) \
         GROUP BY a.id, a.modified, a.aliases, a.summary, a.severity, a.severity_rank{having} \
         ORDER BY COUNT(DISTINCT c.id) DESC, a.severity_rank DESC, a.id LIMIT $3"
    );
    let pattern = format!("%{}%", text.to_lowercase().replace(['%', '_'], ""));
    let mut query = sqlx::query_as(sql).bind(min_rank).bind(pattern).bind(limit);
    for id in visible.unwrap_or(&[]) {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?)
}

/// Of each item with pending security updates: how many have waited less than a week
/// (first seen after `week_edge`), up to thirty days (after `month_edge`), and longer.
pub async fn security_update_ages(
    conn: &mut AnyConnection,
    week_edge: i64,
    month_edge: i64,
) -> Result<Vec<(i64, i64, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT ci_id, \
         CAST(SUM(CASE WHEN first_seen_at > $1 THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN first_seen_at <= $1 AND first_seen_at >= $2 THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN first_seen_at < $2 THEN 1 ELSE 0 END) AS BIGINT) \
         FROM ci_updates WHERE security = 1 GROUP BY ci_id ORDER BY ci_id",
    )
    .bind(week_edge)
    .bind(month_edge)
    .fetch_all(conn)
    .await?)
}

/// How many findings of each severity rank each item has.
pub async fn finding_counts(conn: &mut AnyConnection) -> Result<Vec<(i64, i64, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT ci_id, severity_rank, COUNT(*) FROM ci_vulnerabilities \
         GROUP BY ci_id, severity_rank ORDER BY ci_id",
    )
    .fetch_all(conn)
    .await?)
}
