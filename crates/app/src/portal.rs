//! The self-service portal: the diagnostic questions admins attach to categories, and the
//! guided ticket a customer opens by answering them. Answers become a structured section of
//! the ticket's description, so agents, mail and search all see them.

use opsdesk_store::portal as store;
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::tickets::{NewTicket, Ticket, category_by_path};
use crate::{App, AppError, FieldError, Principal};

/// Longest question and longest answer, in characters.
const MAX_QUESTION_CHARS: usize = 300;
const MAX_ANSWER_CHARS: usize = 5_000;
/// Heading of the description section that holds the answers.
pub const ANSWERS_HEADING: &str = "Diagnostic answers";

/// A question asked when a ticket is opened in a category.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryQuestion {
    pub id: i64,
    pub category_id: i64,
    pub position: i64,
    /// E.g. "What error message do you see?"
    pub question: String,
    /// Whether the portal insists on an answer.
    pub required: bool,
}

impl From<store::QuestionRow> for CategoryQuestion {
    fn from(row: store::QuestionRow) -> Self {
        Self {
            id: row.id,
            category_id: row.category_id,
            position: row.position,
            question: row.question,
            required: row.required != 0,
        }
    }
}

/// A new diagnostic question.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCategoryQuestion {
    /// The category's path, e.g. `Hardware/Printer`.
    pub category: String,
    pub question: String,
    #[serde(default)]
    pub required: bool,
}

/// A ticket opened through the portal's guided form.
#[derive(Debug, Clone, Default)]
pub struct PortalRequest {
    /// The category's path.
    pub category: String,
    pub title: String,
    pub description: String,
    /// `high`, `medium` or `low`: how soon the customer needs it.
    pub urgency: String,
    /// Answers by question id.
    pub answers: Vec<(i64, String)>,
}

impl App {
    /// Diagnostic questions, of one category (by path) or of all (anyone signed in).
    pub async fn category_questions(
        &self,
        category: Option<&str>,
    ) -> Result<Vec<CategoryQuestion>, AppError> {
        let mut conn = self.db().reader().await?;
        let category_id = match category {
            Some(path) => {
                let catalog = crate::catalog::current(&mut conn).await?;
                Some(category_by_path(&catalog, path)?)
            }
            None => None,
        };
        Ok(store::questions(&mut conn)
            .await?
            .into_iter()
            .filter(|q| category_id.is_none_or(|id| q.category_id == id))
            .map(CategoryQuestion::from)
            .collect())
    }

    /// Adds a diagnostic question to a category (admins), after its existing ones.
    pub async fn create_category_question(
        &self,
        principal: &Principal,
        input: NewCategoryQuestion,
    ) -> Result<CategoryQuestion, AppError> {
        principal.require_admin()?;
        let question = input.question.trim().to_owned();
        if question.is_empty() || question.chars().count() > MAX_QUESTION_CHARS {
            return Err(AppError::invalid(
                "question",
                format!("must be 1 to {MAX_QUESTION_CHARS} characters"),
            ));
        }
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let catalog = crate::catalog::current(tx.conn).await?;
                let category_id = category_by_path(&catalog, &input.category)?;
                let created: CategoryQuestion =
                    store::insert_question(tx.conn, category_id, &question, input.required, tx.now)
                        .await?
                        .into();
                tx.record(Event::created(
                    Entity::CategoryQuestion,
                    created.id,
                    &created,
                ))
                .await?;
                Ok(created)
            })
        })
        .await
    }

    /// Removes a diagnostic question (admins). Answers already on tickets stay there.
    pub async fn delete_category_question(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<(), AppError> {
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let existing: CategoryQuestion = store::get_question(tx.conn, id)
                    .await?
                    .ok_or(AppError::NotFound("question"))?
                    .into();
                store::delete_question(tx.conn, id).await?;
                tx.record(Event::deleted(Entity::CategoryQuestion, id, &existing))
                    .await
            })
        })
        .await
    }

    /// Opens a ticket from the portal's guided form: every required question of the
    /// category must be answered; the answers are appended to the description under
    /// [`ANSWERS_HEADING`], one `### question` with its answer each.
    pub async fn open_portal_ticket(
        &self,
        principal: &Principal,
        request: PortalRequest,
    ) -> Result<Ticket, AppError> {
        let questions = self.category_questions(Some(&request.category)).await?;
        let mut errors = Vec::new();
        let mut section = String::new();
        for question in &questions {
            let answer = request
                .answers
                .iter()
                .find(|(id, _)| *id == question.id)
                .map_or("", |(_, text)| text.trim());
            let field = format!("answers.{}", question.id);
            if answer.is_empty() {
                if question.required {
                    errors.push(FieldError::new(field, "please answer this question"));
                }
                continue;
            }
            if answer.chars().count() > MAX_ANSWER_CHARS {
                errors.push(FieldError::new(
                    field,
                    format!("at most {MAX_ANSWER_CHARS} characters"),
                ));
                continue;
            }
            section.push_str(&format!("\n\n### {}\n{answer}", question.question));
        }
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let mut description = request.description.trim().to_owned();
        if !section.is_empty() {
            description.push_str(&format!("\n\n## {ANSWERS_HEADING}{section}"));
        }
        self.create_ticket(
            principal,
            NewTicket {
                ticket_type: "incident".into(),
                title: request.title,
                description: description.trim().to_owned(),
                impact: "low".into(),
                urgency: request.urgency,
                requester: None,
                group: None,
                assignee: None,
                category: Some(request.category),
                tags: Vec::new(),
                watchers: Vec::new(),
                custom: Default::default(),
                source: Some("web".into()),
                parent: None,
            },
        )
        .await
    }
}
