//! Files attached to articles: screenshots, scripts, forms. Staff attach and remove them;
//! whoever may read an article may download its files.

use opsdesk_store::knowledge::{ArticleFileRow, NewArticleFile};
use sha2::{Digest, Sha256};

use super::*;
use crate::tickets::{sanitize_content_type, sanitize_filename};

/// A file of an article.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ArticleFile {
    pub id: i64,
    pub article_id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: jiff::Timestamp,
}

impl From<ArticleFileRow> for ArticleFile {
    fn from(row: ArticleFileRow) -> Self {
        Self {
            id: row.id,
            article_id: row.article_id,
            filename: row.filename,
            content_type: row.content_type,
            size: row.size,
            created_at: timestamp(row.created_at),
        }
    }
}

impl App {
    /// Attaches a file to an article (staff), within the attachment size limit.
    pub async fn add_article_file(
        &self,
        principal: &Principal,
        article_id: i64,
        filename: &str,
        content_type: Option<&str>,
        content: Vec<u8>,
    ) -> Result<ArticleFile, AppError> {
        principal.require_staff()?;
        self.check_upload(&content)?;
        let article = self.article(principal, article_id).await?;
        let filename = sanitize_filename(filename);
        let content_type = sanitize_content_type(content_type);
        let sha256 = hex::encode(Sha256::digest(&content));
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let file = NewArticleFile {
                    article_id: article.id,
                    filename: &filename,
                    content_type: &content_type,
                    sha256: &sha256,
                    content: &content,
                    uploaded_by: tx.principal.user_id,
                };
                let file = ArticleFile::from(store::insert_file(tx.conn, &file, tx.now).await?);
                tx.record(Event {
                    entity: Entity::Article,
                    entity_id: article.id,
                    action: crate::audit::Action::Updated,
                    before: None,
                    after: Some(serde_json::json!({"file_added": file})),
                })
                .await?;
                Ok(file)
            })
        })
        .await
    }

    /// The files of an article `reader` may read; `None` reads as an anonymous visitor.
    pub async fn article_files(
        &self,
        reader: Option<&Principal>,
        article_id: i64,
    ) -> Result<Vec<ArticleFile>, AppError> {
        self.readable(reader, article_id).await?;
        let mut conn = self.db().reader().await?;
        Ok(store::files_of(&mut conn, article_id)
            .await?
            .into_iter()
            .map(ArticleFile::from)
            .collect())
    }

    /// One file of an article `reader` may read, with its bytes.
    pub async fn article_file(
        &self,
        reader: Option<&Principal>,
        article_id: i64,
        file_id: i64,
    ) -> Result<(ArticleFile, Vec<u8>), AppError> {
        self.readable(reader, article_id).await?;
        let mut conn = self.db().reader().await?;
        let row = store::get_file(&mut conn, article_id, file_id)
            .await?
            .ok_or(AppError::NotFound("file"))?;
        let content = opsdesk_store::attachments::content(&mut conn, &row.sha256)
            .await?
            .ok_or(AppError::NotFound("file"))?;
        Ok((ArticleFile::from(row), content))
    }

    /// Removes a file from an article (staff).
    pub async fn delete_article_file(
        &self,
        principal: &Principal,
        article_id: i64,
        file_id: i64,
    ) -> Result<(), AppError> {
        principal.require_staff()?;
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                if !store::delete_file(tx.conn, article_id, file_id).await? {
                    return Err(AppError::NotFound("file"));
                }
                tx.record(Event {
                    entity: Entity::Article,
                    entity_id: article_id,
                    action: crate::audit::Action::Updated,
                    before: Some(serde_json::json!({"file_removed": file_id})),
                    after: None,
                })
                .await
            })
        })
        .await
    }

    /// Succeeds when `reader` may read the article.
    async fn readable(&self, reader: Option<&Principal>, article_id: i64) -> Result<(), AppError> {
        match reader {
            Some(principal) => self.article(principal, article_id).await.map(|_| ()),
            None => self.public_article(article_id).await.map(|_| ()),
        }
    }
}
