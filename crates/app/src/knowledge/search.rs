//! Finding articles: ranked search with typo correction, lists, and the searches that
//! found nothing.

use super::*;

impl App {
    /// Searches (with `text`) or lists the articles `principal` may read. Mistyped words
    /// that match nothing are corrected to the closest indexed word and searched again; a
    /// search that still finds nothing is logged for the gap report.
    pub async fn articles(
        &self,
        principal: &Principal,
        query: &ArticleQuery,
    ) -> Result<ArticleResults, AppError> {
        self.find_articles(reader_of(principal), query).await
    }

    /// [`App::articles`] for an anonymous portal visitor: public articles only.
    pub async fn public_articles(&self, query: &ArticleQuery) -> Result<ArticleResults, AppError> {
        self.find_articles((Reader::Anonymous, ReaderFilter::Anonymous), query)
            .await
    }

    async fn find_articles(
        &self,
        (reader, filter): (Reader, ReaderFilter),
        query: &ArticleQuery,
    ) -> Result<ArticleResults, AppError> {
        let categories = category_paths(self).await?;
        let limit = query.limit;
        let mut errors = Vec::new();
        if !(1..=100).contains(&limit) {
            errors.push(FieldError::new("limit", "must be 1 to 100"));
        }
        if query.offset < 0 {
            errors.push(FieldError::new("offset", "must not be negative"));
        }
        if let Some(status) = &query.status {
            parse::<ArticleStatus>("status", status, &mut errors);
        }
        if let Some(kind) = &query.kind {
            parse::<ArticleKind>("kind", kind, &mut errors);
        }
        let category_id = match &query.category {
            Some(path) => match categories
                .iter()
                .find(|(_, p)| p.eq_ignore_ascii_case(path))
            {
                Some((id, _)) => Some(*id),
                None => {
                    errors.push(FieldError::new("category", format!("no category `{path}`")));
                    None
                }
            },
            None => None,
        };
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let hit = |article: Article, score: f64, snippet: String| ArticleHit {
            id: article.id,
            kind: article.kind,
            title: article.title,
            category: article.category,
            status: article.status,
            audience: article.audience,
            score,
            snippet,
        };
        let mut conn = self.db().reader().await?;
        let words = search_words(&query.text);
        let listing = ArticleListing {
            status: query.status.clone(),
            kind: query.kind.clone(),
            category_id,
            limit,
            offset: query.offset,
        };
        if words.is_empty() {
            let items = store::list(&mut conn, filter, &listing)
                .await?
                .into_iter()
                .map(|row| {
                    let article = Article::from_row(row, &categories);
                    let snippet = article.body.chars().take(160).collect();
                    hit(article, 0.0, snippet)
                })
                .collect();
            return Ok(ArticleResults {
                items,
                corrected: None,
            });
        }
        let mut found = store::search(&mut conn, &words, filter, &listing).await?;
        let mut corrected = None;
        if found.is_empty() {
            let known = store::indexed_words(&mut conn).await?;
            let fixed: Vec<String> = words
                .iter()
                .map(|w| {
                    rules::correct(w, known.iter().map(String::as_str))
                        .map_or_else(|| w.clone(), str::to_owned)
                })
                .collect();
            if fixed != words {
                found = store::search(&mut conn, &fixed, filter, &listing).await?;
                corrected = Some(fixed.join(" "));
            }
        }
        let items: Vec<ArticleHit> = found
            .into_iter()
            .map(|h| {
                hit(
                    Article::from_row(h.article, &categories),
                    h.score,
                    h.snippet,
                )
            })
            .collect();
        if items.is_empty() && query.log_miss {
            drop(conn);
            let who = match reader {
                Reader::Staff => "staff",
                Reader::Customer { .. } => "customer",
                Reader::Anonymous => "anonymous",
            };
            let text = query.text.trim().to_owned();
            self.system_change("knowledge", move |tx| {
                Box::pin(async move {
                    store::record_miss(tx.conn, &text, who, tx.now).await?;
                    Ok(())
                })
            })
            .await?;
        }
        Ok(ArticleResults { items, corrected })
    }

    /// Searches that found nothing in the last `days`, the most frequent first (staff).
    pub async fn article_search_misses(
        &self,
        principal: &Principal,
        days: i64,
    ) -> Result<Vec<SearchMiss>, AppError> {
        principal.require_staff()?;
        let since = self.period_start("days", days, 366, 86_400_000)?;
        let mut conn = self.db().reader().await?;
        Ok(store::misses(&mut conn, since, 100)
            .await?
            .into_iter()
            .map(|m| SearchMiss {
                query: m.query,
                times: m.times,
                last_at: timestamp(m.last_at),
            })
            .collect())
    }
}
