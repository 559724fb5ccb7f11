//! Revisions: every version of an article's words, compared and restored.

use super::*;

impl App {
    /// An article's kept revisions, newest first (staff).
    pub async fn article_revisions(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<Vec<Revision>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        store::get(&mut conn, id, ReaderFilter::Staff)
            .await?
            .ok_or(AppError::NotFound("article"))?;
        let mut authors: HashMap<i64, String> = HashMap::new();
        let mut revisions = Vec::new();
        for row in store::revisions(&mut conn, id).await? {
            let author = match row.author_id {
                Some(user) => {
                    if !authors.contains_key(&user)
                        && let Some(found) =
                            opsdesk_store::accounts::get_user(&mut conn, user).await?
                    {
                        authors.insert(user, found.email);
                    }
                    authors.get(&user).cloned()
                }
                None => None,
            };
            revisions.push(Revision {
                revision: row.revision,
                title: row.title,
                body: row.body,
                steps: serde_json::from_str(&row.steps).unwrap_or_default(),
                author,
                created_at: timestamp(row.created_at),
            });
        }
        Ok(revisions)
    }

    /// What changed from revision `from` to revision `to`.
    pub async fn article_diff(
        &self,
        principal: &Principal,
        id: i64,
        from: i64,
        to: i64,
    ) -> Result<RevisionDiff, AppError> {
        let revisions = self.article_revisions(principal, id).await?;
        let find = |n: i64, field: &str| {
            revisions
                .iter()
                .find(|r| r.revision == n)
                .ok_or_else(|| AppError::invalid(field.to_owned(), format!("no revision {n}")))
        };
        let (old, new) = (find(from, "from")?, find(to, "to")?);
        let text = |r: &Revision| {
            let mut text = r.body.clone();
            for (index, step) in r.steps.iter().enumerate() {
                text.push_str(&format!("\n{}. {}", index + 1, step.check));
                if let Some(command) = &step.command {
                    text.push_str(&format!("\n   $ {command}"));
                }
                if let Some(expected) = &step.expected {
                    text.push_str(&format!("\n   → {expected}"));
                }
            }
            text
        };
        Ok(RevisionDiff {
            from,
            to,
            title: (old.title.clone(), new.title.clone()),
            lines: rules::diff_lines(&text(old), &text(new)),
        })
    }

    /// Makes an old revision's words the article's current ones (as a new revision).
    pub async fn restore_article_revision(
        &self,
        principal: &Principal,
        id: i64,
        revision: i64,
    ) -> Result<Article, AppError> {
        let old = self
            .article_revisions(principal, id)
            .await?
            .into_iter()
            .find(|r| r.revision == revision)
            .ok_or(AppError::NotFound("revision"))?;
        self.update_article(
            principal,
            id,
            Precondition::Any,
            ArticlePatch {
                title: Some(old.title),
                body: Some(old.body),
                steps: Some(old.steps),
                ..ArticlePatch::default()
            },
        )
        .await
    }
}
