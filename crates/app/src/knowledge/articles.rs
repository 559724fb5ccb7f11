//! Writing articles: drafts, edits and workflow moves, deletion, translations.

use super::*;

/// Whether `principal` may publish and archive articles: admins, and agents an admin made
/// approvers.
async fn approves(conn: &mut Conn, principal: &Principal) -> Result<bool, AppError> {
    if principal.role == opsdesk_domain::account::Role::Admin {
        return Ok(true);
    }
    Ok(match principal.user_id {
        Some(user) => opsdesk_store::accounts::get_user(conn, user)
            .await?
            .is_some_and(|row| row.approves_articles != 0),
        None => false,
    })
}

impl App {
    /// Whether `principal` may publish and archive articles.
    pub async fn approves_articles(&self, principal: &Principal) -> Result<bool, AppError> {
        let mut conn = self.db().reader().await?;
        approves(&mut conn, principal).await
    }

    /// Writes a new draft.
    pub async fn create_article(
        &self,
        principal: &Principal,
        input: NewArticle,
    ) -> Result<Article, AppError> {
        principal.require_staff()?;
        let categories = category_paths(self).await?;
        let owner = input.owner.clone();
        let article = draft(principal, input, &categories, self.now())?;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                insert_article(&mut tx, article, owner.as_deref(), &categories).await
            })
        })
        .await
    }

    /// One article, if `principal` may read it.
    pub async fn article(&self, principal: &Principal, id: i64) -> Result<Article, AppError> {
        let categories = category_paths(self).await?;
        let mut conn = self.db().reader().await?;
        load(&mut conn, id, reader_of(principal), &categories).await
    }

    /// A published article an anonymous portal visitor may read (audience `public`).
    pub async fn public_article(&self, id: i64) -> Result<Article, AppError> {
        let categories = category_paths(self).await?;
        let mut conn = self.db().reader().await?;
        load(
            &mut conn,
            id,
            (Reader::Anonymous, ReaderFilter::Anonymous),
            &categories,
        )
        .await
    }

    /// The translations of an article (and the article it translates), for its language links.
    pub async fn article_translations(
        &self,
        principal: &Principal,
        article: &Article,
    ) -> Result<Vec<Article>, AppError> {
        let original = article.translation_of.unwrap_or(article.id);
        let categories = category_paths(self).await?;
        let mut conn = self.db().reader().await?;
        Ok(
            store::translations(&mut conn, original, reader_of(principal).1)
                .await?
                .into_iter()
                .filter(|row| row.id != article.id)
                .map(|row| Article::from_row(row, &categories))
                .collect(),
        )
    }

    /// Changes an article and moves it through its workflow.
    pub async fn update_article(
        &self,
        principal: &Principal,
        id: i64,
        expected: impl Into<Precondition>,
        patch: ArticlePatch,
    ) -> Result<Article, AppError> {
        principal.require_staff()?;
        let expected: Precondition = expected.into();
        let categories = category_paths(self).await?;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(
                async move { revise_article(&mut tx, id, &expected, &patch, &categories).await },
            )
        })
        .await
    }

    pub async fn delete_article(&self, principal: &Principal, id: i64) -> Result<(), AppError> {
        let categories = category_paths(self).await?;
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before = load(tx.conn, id, STAFF, &categories).await?;
                store::delete(tx.conn, id).await?;
                tx.record(Event::deleted(Entity::Article, id, &before))
                    .await
            })
        })
        .await
    }
}

/// A new draft from `input`, checked, owned by `principal` (an `owner` it names is looked
/// up when the draft is written).
fn draft(
    principal: &Principal,
    input: NewArticle,
    categories: &HashMap<i64, String>,
    now: jiff::Timestamp,
) -> Result<Article, AppError> {
    let mut article = Article {
        id: 0,
        kind: ArticleKind::Article,
        title: String::new(),
        body: String::new(),
        steps: Vec::new(),
        category: None,
        tags: Vec::new(),
        audience: Audience::Internal,
        organizations: Vec::new(),
        monitors: Vec::new(),
        status: ArticleStatus::Draft,
        language: "en".into(),
        translation_of: input.translation_of,
        owner: principal.email.clone(),
        review_by: None,
        revision: 1,
        helpful: 0,
        unhelpful: 0,
        created_at: now,
        updated_at: now,
        published_at: None,
        version: 1,
        owner_id: principal.user_id.unwrap_or_default(),
        category_id: None,
    };
    apply(
        &mut article,
        &ArticlePatch {
            kind: input.kind,
            title: Some(input.title),
            body: Some(input.body),
            steps: Some(input.steps),
            category: input.category,
            tags: Some(input.tags),
            audience: input.audience,
            organizations: Some(input.organizations),
            monitors: Some(input.monitors),
            language: input.language,
            owner: None,
            review_by: input.review_by,
            status: None,
        },
        categories,
    )?;
    Ok(article)
}

/// Writes draft `article` in the caller's change, owned by `owner` (an e-mail address) when
/// given.
async fn insert_article(
    tx: &mut Tx<'_>,
    mut article: Article,
    owner: Option<&str>,
    categories: &HashMap<i64, String>,
) -> Result<Article, AppError> {
    if let Some(owner) = owner {
        article.owner_id = staff_id(tx.conn, owner).await?;
    }
    if let Some(original) = article.translation_of {
        store::get(tx.conn, original, ReaderFilter::Staff)
            .await?
            .ok_or_else(|| AppError::invalid("translation_of", "no such article"))?;
    }
    let author = tx.principal.user_id.unwrap_or(article.owner_id);
    let id = store::insert(tx.conn, &article.fields(), author, tx.now)
        .await
        .map_err(|e| translation_conflict(e, &article.language))?;
    save_monitors(tx.conn, id, &article.monitors).await?;
    crate::runbooks::note_scripts(tx.conn, id, &article.steps, tx.now).await?;
    let created = load(tx.conn, id, STAFF, categories).await?;
    tx.record(Event::created(Entity::Article, id, &created))
        .await?;
    Ok(created)
}

/// Changes article `id` in the caller's change and moves it through its workflow.
async fn revise_article(
    tx: &mut Tx<'_>,
    id: i64,
    expected: &Precondition,
    patch: &ArticlePatch,
    categories: &HashMap<i64, String>,
) -> Result<Article, AppError> {
    let before = load(tx.conn, id, STAFF, categories).await?;
    let version = expected.check(before.version)?;
    let mut after = before.clone();
    apply(&mut after, patch, categories)?;
    if let Some(owner) = &patch.owner {
        after.owner_id = staff_id(tx.conn, owner).await?;
    }
    let mut status = before.status;
    if let Some(raw) = &patch.status {
        let to: ArticleStatus = raw.parse().map_err(|e| AppError::invalid("status", e))?;
        if to != before.status {
            let approver = approves(tx.conn, tx.principal).await?;
            rules::check_transition(before.status, to, approver).map_err(|e| match e {
                rules::WorkflowError::ApproverOnly => AppError::Forbidden(e.to_string()),
                other => AppError::invalid("status", other),
            })?;
            status = to;
        }
    }
    let author = tx.principal.user_id.unwrap_or(before.owner_id);
    let saved = store::update(
        tx.conn,
        id,
        version,
        &after.fields(),
        status.as_str(),
        author,
        tx.now,
    )
    .await
    .map_err(|e| translation_conflict(e, &after.language))?;
    if !saved {
        return Err(AppError::Stale);
    }
    if after.monitors != before.monitors {
        save_monitors(tx.conn, id, &after.monitors).await?;
    }
    crate::runbooks::note_scripts(tx.conn, id, &after.steps, tx.now).await?;
    let updated = load(tx.conn, id, STAFF, categories).await?;
    tx.record(Event::updated(Entity::Article, id, &before, &updated))
        .await?;
    Ok(updated)
}

/// Writes, in the caller's change, an article that another record keeps current (a
/// problem's known error): article `existing` rewritten with `input`'s title, body and
/// audience, or a new one when there is none (or it was archived, that is retired on
/// purpose). Then moves it as far towards published as the principal may: an approver
/// publishes it, anyone else submits a draft for review.
pub(crate) async fn write_kept_article(
    tx: &mut Tx<'_>,
    existing: Option<i64>,
    input: NewArticle,
    categories: &HashMap<i64, String>,
) -> Result<Article, AppError> {
    let current = match existing {
        Some(id) => match load(tx.conn, id, STAFF, categories).await {
            Ok(article) => Some(article).filter(|a| a.status != ArticleStatus::Archived),
            Err(AppError::NotFound(_)) => None,
            Err(other) => return Err(other),
        },
        None => None,
    };
    let article = match current {
        Some(article) => {
            let patch = ArticlePatch {
                title: Some(input.title),
                body: Some(input.body),
                audience: input.audience,
                ..ArticlePatch::default()
            };
            revise_article(tx, article.id, &Precondition::Any, &patch, categories).await?
        }
        None => {
            let owner = input.owner.clone();
            let article = draft(tx.principal, input, categories, timestamp(tx.now))?;
            insert_article(tx, article, owner.as_deref(), categories).await?
        }
    };
    let approver = approves(tx.conn, tx.principal).await?;
    let next = match (article.status, approver) {
        (ArticleStatus::Draft | ArticleStatus::InReview, true) => ArticleStatus::Published,
        (ArticleStatus::Draft, false) => ArticleStatus::InReview,
        _ => return Ok(article),
    };
    let patch = ArticlePatch {
        status: Some(next.as_str().to_owned()),
        ..ArticlePatch::default()
    };
    revise_article(tx, article.id, &Precondition::Any, &patch, categories).await
}

/// A second article in one language for the same original is refused by the database.
fn translation_conflict(error: opsdesk_store::StoreError, language: &str) -> AppError {
    let text = error.to_string();
    if text.contains("articles_one_per_language")
        || text.contains("articles.translation_of, articles.language")
    {
        AppError::invalid(
            "language",
            format!("the article already has a `{language}` translation"),
        )
    } else {
        error.into()
    }
}
