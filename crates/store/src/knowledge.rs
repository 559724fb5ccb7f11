//! The knowledge base's tables: articles (with their full-text index), revisions, feedback,
//! the tickets articles solved, and the searches that found nothing.
//!
//! Full text is FTS5 on SQLite (kept in step here on every write) and a generated tsvector
//! on PostgreSQL, as for tickets. Who may read what is part of every read statement.

use sqlx::AnyConnection;

use crate::db::Backend;
use crate::error::StoreError;

/// One article as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ArticleRow {
    pub id: i64,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub steps: String,
    pub category_id: Option<i64>,
    pub tags: String,
    pub audience: String,
    pub organizations: String,
    pub status: String,
    pub language: String,
    pub translation_of: Option<i64>,
    pub owner_id: i64,
    pub owner_email: String,
    pub review_by: Option<i64>,
    pub revision: i64,
    pub helpful: i64,
    pub unhelpful: i64,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub published_at: Option<i64>,
}

const COLUMNS: &str = "a.id, a.kind, a.title, a.body, a.steps, a.category_id, a.tags, a.audience, \
     a.organizations, a.status, a.language, a.translation_of, a.owner_id, \
     (SELECT u.email FROM users u WHERE u.id = a.owner_id) AS owner_email, a.review_by, a.revision, a.helpful, a.unhelpful, a.version, a.created_at, a.updated_at, a.published_at";

/// What an article says and who it is for: everything an author edits.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleFields {
    pub kind: String,
    pub title: String,
    pub body: String,
    pub steps: String,
    pub category_id: Option<i64>,
    pub tags: String,
    pub audience: String,
    pub organizations: String,
    pub language: String,
    pub translation_of: Option<i64>,
    pub owner_id: i64,
    pub review_by: Option<i64>,
}

/// Who is reading, as the statements filter: staff read everything; customers (of an
/// organization, or none) and anonymous visitors read published articles for their audience.
#[derive(Debug, Clone, Copy)]
pub enum ReaderFilter {
    Staff,
    Customer(Option<i64>),
    Anonymous,
}

impl ReaderFilter {
    /// The condition on `articles a`, with its three values bound from `$first`.
    fn clause(first: usize) -> String {
        let (staff, customer, pattern) = (first, first + 1, first + 2);
        format!(
            "(${staff} = 1 OR (a.status = 'published' AND (a.audience = 'public' OR \
             (${customer} = 1 AND a.audience = 'customers' AND (a.organizations = '' OR \
             (',' || a.organizations || ',') LIKE ${pattern})))))"
        )
    }

    fn values(self) -> (i64, i64, String) {
        match self {
            ReaderFilter::Staff => (1, 0, String::new()),
            ReaderFilter::Customer(organization) => (
                0,
                1,
                organization.map_or_else(|| "-".to_owned(), |id| format!("%,{id},%")),
            ),
            ReaderFilter::Anonymous => (0, 0, "-".to_owned()),
        }
    }
}

/// Which articles a list shows.
#[derive(Debug, Clone, Default)]
pub struct ArticleListing {
    pub status: Option<String>,
    pub kind: Option<String>,
    pub category_id: Option<i64>,
    pub limit: i64,
    pub offset: i64,
}

impl ArticleListing {
    /// The status, kind and category conditions on `articles a`, bound from `$first` in
    /// that order (empty and 0 mean any).
    fn clause(first: usize) -> String {
        let (status, kind, category) = (first, first + 1, first + 2);
        format!(
            "(${status} = '' OR a.status = ${status}) AND (${kind} = '' OR a.kind = ${kind}) \
             AND (${category} = 0 OR a.category_id = ${category})"
        )
    }
}

/// Keeps the SQLite full-text index in step with article `id` (PostgreSQL's is generated).
async fn reindex(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    if Backend::of(conn) == Backend::Postgres {
        return Ok(());
    }
    sqlx::query("DELETE FROM article_search WHERE rowid = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO article_search (rowid, title, tags, body) \
         SELECT id, title, replace(tags, ',', ' '), body FROM articles WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Keeps the article's current words as its current revision, unless already kept.
async fn keep_revision(
    conn: &mut AnyConnection,
    id: i64,
    author: i64,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO article_revisions (article_id, revision, title, body, steps, author_id, \
         created_at) SELECT id, revision, title, body, steps, $2, $3 FROM articles WHERE id = $1 \
         ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(author)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds an article's fields as `$1`..`$12`, in the order of [`ArticleFields`].
fn bind_fields<'q>(query: AnyQuery<'q>, fields: &'q ArticleFields) -> AnyQuery<'q> {
    query
        .bind(&fields.kind)
        .bind(&fields.title)
        .bind(&fields.body)
        .bind(&fields.steps)
        .bind(fields.category_id)
        .bind(&fields.tags)
        .bind(&fields.audience)
        .bind(&fields.organizations)
        .bind(&fields.language)
        .bind(fields.translation_of)
        .bind(fields.owner_id)
        .bind(fields.review_by)
}

/// Stores a new draft as revision 1; returns its id.
pub async fn insert(
    conn: &mut AnyConnection,
    fields: &ArticleFields,
    author: i64,
    now: i64,
) -> Result<i64, StoreError> {
    let row = bind_fields(
        sqlx::query(
            "INSERT INTO articles (kind, title, body, steps, category_id, tags, audience, \
             organizations, language, translation_of, owner_id, review_by, status, revision, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             'draft', 1, $13, $13) RETURNING id",
        ),
        fields,
    )
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = sqlx::Row::try_get(&row, 0)?;
    keep_revision(conn, id, author, now).await?;
    reindex(conn, id).await?;
    Ok(id)
}

/// Replaces what an article says (a new revision when its words changed) and sets its
/// status, if `version` is still current; `false` when it is not.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    conn: &mut AnyConnection,
    id: i64,
    version: i64,
    fields: &ArticleFields,
    status: &str,
    author: i64,
    now: i64,
) -> Result<bool, StoreError> {
    let updated = bind_fields(
        sqlx::query(
            "UPDATE articles SET kind = $1, title = $2, body = $3, steps = $4, \
             category_id = $5, tags = $6, audience = $7, organizations = $8, language = $9, \
             translation_of = $10, owner_id = $11, review_by = $12, status = $13, \
             revision = CASE WHEN title <> $2 OR body <> $3 OR steps <> $4 \
                 THEN revision + 1 ELSE revision END, \
             published_at = CASE WHEN $13 = 'published' AND status <> 'published' THEN $14 \
                 ELSE published_at END, \
             version = version + 1, updated_at = $14 \
             WHERE id = $15 AND version = $16",
        ),
        fields,
    )
    .bind(status)
    .bind(now)
    .bind(id)
    .bind(version)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0;
    if updated {
        keep_revision(conn, id, author, now).await?;
        reindex(conn, id).await?;
    }
    Ok(updated)
}

pub async fn get(
    conn: &mut AnyConnection,
    id: i64,
    reader: ReaderFilter,
) -> Result<Option<ArticleRow>, StoreError> {
    let (staff, customer, pattern) = reader.values();
    Ok(sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM articles a WHERE a.id = $1 AND {}",
        ReaderFilter::clause(2)
    ))
    .bind(id)
    .bind(staff)
    .bind(customer)
    .bind(pattern)
    .fetch_optional(conn)
    .await?)
}

/// An original article and its translations that `reader` may read, by language.
pub async fn translations(
    conn: &mut AnyConnection,
    original: i64,
    reader: ReaderFilter,
) -> Result<Vec<ArticleRow>, StoreError> {
    let (staff, customer, pattern) = reader.values();
    Ok(sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM articles a WHERE (a.id = $1 OR a.translation_of = $1) AND {} \
         ORDER BY a.language",
        ReaderFilter::clause(2)
    ))
    .bind(original)
    .bind(staff)
    .bind(customer)
    .bind(pattern)
    .fetch_all(conn)
    .await?)
}

/// Articles `reader` may read, newest change first.
pub async fn list(
    conn: &mut AnyConnection,
    reader: ReaderFilter,
    listing: &ArticleListing,
) -> Result<Vec<ArticleRow>, StoreError> {
    let (staff, customer, pattern) = reader.values();
    Ok(sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM articles a WHERE {} AND {} \
         ORDER BY a.updated_at DESC, a.id DESC LIMIT $7 OFFSET $8",
        ReaderFilter::clause(1),
        ArticleListing::clause(4)
    ))
    .bind(staff)
    .bind(customer)
    .bind(pattern)
    .bind(listing.status.clone().unwrap_or_default())
    .bind(listing.kind.clone().unwrap_or_default())
    .bind(listing.category_id.unwrap_or(0))
    .bind(listing.limit)
    .bind(listing.offset)
    .fetch_all(conn)
    .await?)
}

/// A search hit: the article, its relevance (higher is better) and a passage of its body
/// around the words found.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ArticleHit {
    #[sqlx(flatten)]
    pub article: ArticleRow,
    pub score: f64,
    pub snippet: String,
}

/// The articles `reader` may read that contain any of `words` (each also as a prefix) and
/// fit `listing`, best first; an empty list of words finds nothing. Words must be letters
/// and digits only.
pub async fn search(
    conn: &mut AnyConnection,
    words: &[String],
    reader: ReaderFilter,
    listing: &ArticleListing,
) -> Result<Vec<ArticleHit>, StoreError> {
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let (staff, customer, pattern) = reader.values();
    let filters = format!(
        "{} AND {}",
        ReaderFilter::clause(2),
        ArticleListing::clause(5)
    );
    let query = match Backend::of(conn) {
        Backend::Sqlite => sqlx::query_as(sql!(
            "SELECT {COLUMNS}, -bm25(article_search, 10.0, 5.0, 1.0) AS score, \
             snippet(article_search, 2, '', '', '…', 16) AS snippet \
             FROM article_search JOIN articles a ON a.id = article_search.rowid \
             WHERE article_search MATCH $1 AND {filters} \
             ORDER BY score DESC LIMIT $8 OFFSET $9"
        ))
        .bind(
            words
                .iter()
                .map(|w| format!("\"{w}\"*"))
                .collect::<Vec<_>>()
                .join(" OR "),
        ),
        Backend::Postgres => sqlx::query_as(sql!(
            "SELECT {COLUMNS}, ts_rank_cd(a.doc, q)::float8 AS score, \
             ts_headline('english', a.body, q, \
                 'StartSel=\"\", StopSel=\"\", MaxWords=24, MinWords=10') AS snippet \
             FROM articles a, to_tsquery('english', $1) q \
             WHERE a.doc @@ q AND {filters} \
             ORDER BY score DESC, a.id LIMIT $8 OFFSET $9"
        ))
        .bind(
            words
                .iter()
                .map(|w| format!("{w}:*"))
                .collect::<Vec<_>>()
                .join(" | "),
        ),
    };
    Ok(query
        .bind(staff)
        .bind(customer)
        .bind(pattern)
        .bind(listing.status.clone().unwrap_or_default())
        .bind(listing.kind.clone().unwrap_or_default())
        .bind(listing.category_id.unwrap_or(0))
        .bind(listing.limit)
        .bind(listing.offset)
        .fetch_all(conn)
        .await?)
}

/// Every word the full-text index knows, as indexed (stemmed): what mistyped search words
/// are corrected to.
pub async fn indexed_words(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let sql = match Backend::of(conn) {
        Backend::Sqlite => "SELECT term FROM article_search_terms",
        Backend::Postgres => "SELECT word FROM ts_stat('SELECT doc FROM articles')",
    };
    Ok(sqlx::query_scalar(sql).fetch_all(conn).await?)
}

pub async fn delete(conn: &mut AnyConnection, id: i64) -> Result<bool, StoreError> {
    let deleted = sqlx::query("DELETE FROM articles WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        > 0;
    if deleted && Backend::of(conn) == Backend::Sqlite {
        sqlx::query("DELETE FROM article_search WHERE rowid = $1")
            .bind(id)
            .execute(conn)
            .await?;
    }
    Ok(deleted)
}

/// One kept revision of an article.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RevisionRow {
    pub revision: i64,
    pub title: String,
    pub body: String,
    pub steps: String,
    pub author_id: Option<i64>,
    pub created_at: i64,
}

/// An article's revisions, newest first.
pub async fn revisions(
    conn: &mut AnyConnection,
    article_id: i64,
) -> Result<Vec<RevisionRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT revision, title, body, steps, author_id, created_at FROM article_revisions \
         WHERE article_id = $1 ORDER BY revision DESC",
    )
    .bind(article_id)
    .fetch_all(conn)
    .await?)
}

/// Records a reader's "did this help?" and counts it on the article.
pub async fn add_feedback(
    conn: &mut AnyConnection,
    article_id: i64,
    user_id: Option<i64>,
    helpful: bool,
    comment: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO article_feedback (article_id, user_id, helpful, comment, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(article_id)
    .bind(user_id)
    .bind(i64::from(helpful))
    .bind(comment)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let column = if helpful { "helpful" } else { "unhelpful" };
    sqlx::query(sql!(
        "UPDATE articles SET {column} = {column} + 1 WHERE id = $1"
    ))
    .bind(article_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that `article_id` solved (or helped with) `ticket_id`; idempotent.
pub async fn link_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
    article_id: i64,
    now: i64,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "INSERT INTO ticket_articles (ticket_id, article_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(ticket_id)
    .bind(article_id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        > 0)
}

/// The articles linked to a ticket, as `reader` may see them.
pub async fn articles_of_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
    reader: ReaderFilter,
) -> Result<Vec<ArticleRow>, StoreError> {
    let (staff, customer, pattern) = reader.values();
    Ok(sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM ticket_articles t JOIN articles a ON a.id = t.article_id \
         WHERE t.ticket_id = $1 AND {} ORDER BY t.created_at",
        ReaderFilter::clause(2)
    ))
    .bind(ticket_id)
    .bind(staff)
    .bind(customer)
    .bind(pattern)
    .fetch_all(conn)
    .await?)
}

/// Notes a search that found nothing, for the gap report.
pub async fn record_miss(
    conn: &mut AnyConnection,
    query: &str,
    reader: &str,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO article_search_misses (query, reader, created_at) VALUES ($1, $2, $3)",
    )
    .bind(query)
    .bind(reader)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// A search nobody found an answer to: the words, how often, and when last.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MissRow {
    pub query: String,
    pub times: i64,
    pub last_at: i64,
}

/// Searches that found nothing since `since`, the most frequent first.
pub async fn misses(
    conn: &mut AnyConnection,
    since: i64,
    limit: i64,
) -> Result<Vec<MissRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT query, COUNT(*) AS times, MAX(created_at) AS last_at FROM article_search_misses \
         WHERE created_at >= $1 GROUP BY query ORDER BY times DESC, last_at DESC LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// Replaces the monitors a runbook is linked to.
pub async fn set_monitors(
    conn: &mut AnyConnection,
    article_id: i64,
    monitors: &[i64],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM article_monitors WHERE article_id = $1")
        .bind(article_id)
        .execute(&mut *conn)
        .await?;
    for monitor in monitors {
        sqlx::query(
            "INSERT INTO article_monitors (article_id, monitor_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(article_id)
        .bind(monitor)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The monitors a runbook is linked to.
pub async fn monitors_of(
    conn: &mut AnyConnection,
    article_id: i64,
) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT monitor_id FROM article_monitors WHERE article_id = $1 ORDER BY monitor_id",
    )
    .bind(article_id)
    .fetch_all(conn)
    .await?)
}

/// The runbooks (not archived) for a ticket: those of its category and those linked to the
/// monitors whose outages opened or joined it.
pub async fn runbooks_for_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
    category_id: Option<i64>,
) -> Result<Vec<ArticleRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {COLUMNS} FROM articles a WHERE a.kind = 'runbook' AND a.status <> 'archived' \
         AND (a.category_id = $1 OR a.id IN (SELECT m.article_id FROM article_monitors m \
             JOIN monitor_outages o ON o.monitor_id = m.monitor_id WHERE o.ticket_id = $2)) \
         ORDER BY a.title"
    ))
    .bind(category_id.unwrap_or(0))
    .bind(ticket_id)
    .fetch_all(conn)
    .await?)
}

/// One step's outcome on a ticket.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StepOutcomeRow {
    pub article_id: i64,
    pub step: i64,
    pub outcome: String,
    pub note: String,
    pub user_email: Option<String>,
    pub created_at: i64,
}

/// Records (or replaces) the outcome of a runbook step on a ticket.
#[allow(clippy::too_many_arguments)]
pub async fn record_step(
    conn: &mut AnyConnection,
    ticket_id: i64,
    article_id: i64,
    step: i64,
    outcome: &str,
    note: &str,
    user_id: Option<i64>,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM ticket_runbook_steps WHERE ticket_id = $1 AND article_id = $2 AND step = $3",
    )
    .bind(ticket_id)
    .bind(article_id)
    .bind(step)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO ticket_runbook_steps (ticket_id, article_id, step, outcome, note, user_id, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(ticket_id)
    .bind(article_id)
    .bind(step)
    .bind(outcome)
    .bind(note)
    .bind(user_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The step outcomes recorded on a ticket, by runbook and step.
pub async fn steps_of_ticket(
    conn: &mut AnyConnection,
    ticket_id: i64,
) -> Result<Vec<StepOutcomeRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT s.article_id, s.step, s.outcome, s.note, u.email AS user_email, s.created_at \
         FROM ticket_runbook_steps s LEFT JOIN users u ON u.id = s.user_id \
         WHERE s.ticket_id = $1 ORDER BY s.article_id, s.step",
    )
    .bind(ticket_id)
    .fetch_all(conn)
    .await?)
}

/// Claims the published articles whose review date has passed and whose owner has not been
/// reminded since: marks them reminded and returns them (once, also with several nodes).
pub async fn claim_due_reviews(
    conn: &mut AnyConnection,
    now: i64,
) -> Result<Vec<(i64, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "UPDATE articles SET review_reminded_at = $1 WHERE status = 'published' \
         AND review_by IS NOT NULL AND review_by <= $1 \
         AND (review_reminded_at IS NULL OR review_reminded_at < review_by) \
         RETURNING id, title, owner_id",
    )
    .bind(now)
    .fetch_all(conn)
    .await?)
}

/// A resolved ticket no article is linked to, as the gap finder reads it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UnansweredRow {
    pub ticket_type: String,
    pub number: i64,
    pub title: String,
    pub resolution_note: Option<String>,
    pub category_id: Option<i64>,
}

/// Tickets resolved since `since` (closed ones too) that no article is linked to, most
/// recently resolved first.
pub async fn resolved_without_article(
    conn: &mut AnyConnection,
    since: i64,
    limit: i64,
) -> Result<Vec<UnansweredRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT t.ticket_type, t.number, t.title, t.resolution_note, t.category_id \
         FROM tickets t WHERE t.status IN ('resolved', 'closed') AND t.resolved_at >= $1 \
         AND t.merged_into_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM ticket_articles a WHERE a.ticket_id = t.id) \
         ORDER BY t.resolved_at DESC LIMIT $2",
    )
    .bind(since)
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// A file attached to an article.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ArticleFileRow {
    pub id: i64,
    pub article_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
    pub uploaded_by: Option<i64>,
    pub created_at: i64,
}

const FILE_COLUMNS: &str =
    "id, article_id, filename, content_type, size, sha256, uploaded_by, created_at";

/// A file for an article, as uploaded.
pub struct NewArticleFile<'a> {
    pub article_id: i64,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub sha256: &'a str,
    pub content: &'a [u8],
    pub uploaded_by: Option<i64>,
}

/// Attaches a file to an article; identical content is kept once.
pub async fn insert_file(
    conn: &mut AnyConnection,
    file: &NewArticleFile<'_>,
    now: i64,
) -> Result<ArticleFileRow, StoreError> {
    crate::attachments::keep_content(conn, file.sha256, file.content).await?;
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO article_files (article_id, filename, content_type, size, sha256, \
         uploaded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {FILE_COLUMNS}"
    )))
    .bind(file.article_id)
    .bind(file.filename)
    .bind(file.content_type)
    .bind(i64::try_from(file.content.len()).unwrap_or(i64::MAX))
    .bind(file.sha256)
    .bind(file.uploaded_by)
    .bind(now)
    .fetch_one(conn)
    .await?)
}

/// An article's files, oldest first.
pub async fn files_of(
    conn: &mut AnyConnection,
    article_id: i64,
) -> Result<Vec<ArticleFileRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {FILE_COLUMNS} FROM article_files WHERE article_id = $1 ORDER BY id"
    )))
    .bind(article_id)
    .fetch_all(conn)
    .await?)
}

/// One of an article's files.
pub async fn get_file(
    conn: &mut AnyConnection,
    article_id: i64,
    id: i64,
) -> Result<Option<ArticleFileRow>, StoreError> {
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {FILE_COLUMNS} FROM article_files WHERE article_id = $1 AND id = $2"
    )))
    .bind(article_id)
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

/// Removes one of an article's files; `false` when there was none.
pub async fn delete_file(
    conn: &mut AnyConnection,
    article_id: i64,
    id: i64,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM article_files WHERE article_id = $1 AND id = $2")
        .bind(article_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
