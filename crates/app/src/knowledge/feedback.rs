//! What keeps articles right: readers' feedback and review dates, both turned into tasks
//! for the article's owner.

use super::*;

impl App {
    /// Records whether an article helped. "No" with a comment opens a task for its owner.
    pub async fn article_feedback(
        &self,
        principal: &Principal,
        id: i64,
        input: NewFeedback,
    ) -> Result<FeedbackReceipt, AppError> {
        let article = self.article(principal, id).await?;
        let comment = input.comment.trim().to_owned();
        if comment.chars().count() > 2000 {
            return Err(AppError::invalid(
                "comment",
                "must be at most 2000 characters",
            ));
        }
        let user = principal.user_id;
        let helpful = input.helpful;
        let saved_comment = comment.clone();
        self.change(principal, Need::Anyone, move |tx| {
            Box::pin(async move {
                store::add_feedback(tx.conn, id, user, helpful, &saved_comment, tx.now).await?;
                Ok(())
            })
        })
        .await?;
        let task = if !helpful && !comment.is_empty() {
            let description = format!(
                "A reader ({}) said article #{} did not help:\n\n> {}\n\nReview it at /kb/{}.",
                principal.email, article.id, comment, article.id
            );
            let title = format!("Article feedback: {}", article.title);
            Some(
                self.owner_task(&article.owner, title, description, "kb-feedback")
                    .await?,
            )
        } else {
            None
        };
        let article = self.article(principal, id).await?;
        Ok(FeedbackReceipt {
            helpful: article.helpful,
            unhelpful: article.unhelpful,
            task,
        })
    }

    /// Opens a service request for an article's owner, assigned to them; returns its number.
    async fn owner_task(
        &self,
        owner: &str,
        title: String,
        description: String,
        tag: &str,
    ) -> Result<String, AppError> {
        let opened = self
            .create_ticket(
                &Principal::system("knowledge"),
                NewTicket {
                    ticket_type: "service_request".into(),
                    title,
                    description,
                    impact: "low".into(),
                    urgency: "low".into(),
                    requester: Some(owner.to_owned()),
                    assignee: Some(owner.to_owned()),
                    source: Some("web".into()),
                    tags: vec![tag.to_owned()],
                    ..NewTicket::default()
                },
            )
            .await?;
        Ok(opened.number)
    }

    /// Reminds owners of the published articles whose review date has passed, once per
    /// date, with a task each; returns how many.
    pub async fn remind_article_reviews(&self) -> Result<usize, AppError> {
        let due = self
            .system_change("knowledge", |tx| {
                Box::pin(async move { Ok(store::claim_due_reviews(tx.conn, tx.now).await?) })
            })
            .await?;
        for (id, title, owner_id) in &due {
            let owner = {
                let mut conn = self.db().reader().await?;
                opsdesk_store::accounts::get_user(&mut conn, *owner_id).await?
            };
            let Some(owner) = owner else { continue };
            let description = format!(
                "Article #{id} was due for review. Check it is still right, then set its next \
                 review date at /kb/{id}/edit."
            );
            self.owner_task(
                &owner.email,
                format!("Review article: {title}"),
                description,
                "kb-review",
            )
            .await?;
        }
        Ok(due.len())
    }
}
