//! The triage assistant at work: trained in the background on the desk's own tickets (and
//! on demand), it suggests a category, group and priority for a new ticket with the words
//! behind each, the most similar past tickets with how they were resolved, and the articles
//! that may answer it.

mod automatic;
mod major;
mod versions;

pub use automatic::{ThresholdInput, TriageThreshold, WeeklyAccuracy};
pub use major::AlikeIncident;
pub use versions::TriageVersion;

use std::collections::HashMap;
use std::sync::Arc;

use opsdesk_domain::triage::{self as engine, Example, Model, TrainOptions};
use serde::{Deserialize, Serialize};

use crate::audit::{Action, Entity, Event};
use crate::change::Need;
use crate::knowledge::ArticleQuery;
use crate::tickets::{Ticket, TicketPatch, number_of, priority_from_rank};
use crate::{App, AppError, Precondition, Principal};

/// At most this many past tickets are learned from: the most recent.
const TRAINING_LIMIT: i64 = 50_000;
/// Fewer labelled tickets than this teach nothing worth suggesting.
const MINIMUM_EXAMPLES: usize = 20;
/// A model older than this is retrained by the housekeeping.
const RETRAIN_AFTER_MS: i64 = 6 * 3600 * 1000;
/// Without a model, the history is looked at again this often for enough tickets to learn.
const RETRY_WITHOUT_MODEL_MS: i64 = 10 * 60 * 1000;

/// A ticket to triage.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TriageInput {
    pub title: String,
    #[serde(default)]
    pub description: String,
}

/// One suggested value with its confidence (0 to 1) and the ticket's words behind it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LabelScore {
    pub name: String,
    pub score: f32,
    pub because: Vec<String>,
}

/// A past ticket like this one.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SimilarTicket {
    pub number: String,
    pub title: String,
    pub score: f32,
    /// How it was resolved, when it was.
    pub resolution: Option<String>,
}

/// An article that may answer the ticket.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SuggestedArticle {
    pub id: i64,
    pub title: String,
    pub score: f64,
}

/// What the assistant suggests. An empty list means it declines: not confident enough.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TriageSuggestion {
    pub category: Vec<LabelScore>,
    pub group: Vec<LabelScore>,
    pub priority: Vec<LabelScore>,
    pub similar: Vec<SimilarTicket>,
    pub articles: Vec<SuggestedArticle>,
    /// The model's version; none before the desk has enough labelled tickets.
    pub model: Option<String>,
}

/// How well a model did on tickets held out from its training.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TriageAccuracy {
    pub top1: f64,
    pub top3: f64,
    pub macro_f1: f64,
}

/// A trained model's version and report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TriageReport {
    pub model: String,
    pub trained_on: usize,
    #[schema(value_type = String, format = DateTime)]
    pub trained_at: jiff::Timestamp,
    pub accuracy: TriageAccuracy,
}

/// A model in service, with the tickets it knows by position.
pub(crate) struct Trained {
    report: TriageReport,
    pub(crate) model: Model,
    tickets: Vec<(String, String, Option<String>)>,
}

/// The model in service, shared by every request; whether a training is under way; and
/// when the last one started (ms), so that a desk without enough history is not read again
/// every minute.
#[derive(Default)]
pub(crate) struct TriageSlot(
    tokio::sync::RwLock<Option<Arc<Trained>>>,
    std::sync::atomic::AtomicBool,
    std::sync::atomic::AtomicI64,
);

impl App {
    /// The model in service, if any.
    pub(crate) async fn serving_model(&self) -> Option<Arc<Trained>> {
        self.inner.triage.0.read().await.clone()
    }

    /// Suggestions for a new ticket (staff).
    pub async fn suggest_triage(
        &self,
        principal: &Principal,
        input: TriageInput,
    ) -> Result<TriageSuggestion, AppError> {
        principal.require_staff()?;
        if input.title.trim().is_empty() && input.description.trim().is_empty() {
            return Err(AppError::invalid("title", "give a title or a description"));
        }
        let articles = self
            .articles(
                principal,
                &ArticleQuery {
                    text: format!("{} {}", input.title, input.description),
                    status: Some("published".into()),
                    limit: 5,
                    ..ArticleQuery::default()
                },
            )
            .await?
            .items
            .into_iter()
            .map(|hit| SuggestedArticle {
                id: hit.id,
                title: hit.title,
                score: hit.score,
            })
            .collect();
        let trained = self.inner.triage.0.read().await.clone();
        let Some(trained) = trained else {
            return Ok(TriageSuggestion {
                category: Vec::new(),
                group: Vec::new(),
                priority: Vec::new(),
                similar: Vec::new(),
                articles,
                model: None,
            });
        };
        let suggestion = trained
            .model
            .suggest(&input.title, &input.description, 3, 5);
        let [category, group, priority] = suggestion.families.map(|scored| {
            scored
                .into_iter()
                .map(|s| LabelScore {
                    name: s.label,
                    score: s.score,
                    because: s.because,
                })
                .collect()
        });
        Ok(TriageSuggestion {
            category,
            group,
            priority,
            similar: suggestion
                .similar
                .into_iter()
                .filter_map(|(index, score)| {
                    let (number, title, resolution) = trained.tickets.get(index)?.clone();
                    Some(SimilarTicket {
                        number,
                        title,
                        score,
                        resolution,
                    })
                })
                .collect(),
            articles,
            model: Some(trained.report.model.clone()),
        })
    }
}

impl App {
    /// Applies the assistant's category and group to a ticket (staff). The change is the
    /// agent's, like any other; the timeline notes that the assistant suggested it, and with
    /// which model, so that a wrong suggestion is seen and simply changed back.
    pub async fn apply_triage(
        &self,
        principal: &Principal,
        ticket: &str,
        category: Option<String>,
        group: Option<String>,
    ) -> Result<Ticket, AppError> {
        principal.require_staff()?;
        if category.is_none() && group.is_none() {
            return Err(AppError::invalid(
                "category",
                "name a category or a group to apply",
            ));
        }
        let model = self
            .inner
            .triage
            .0
            .read()
            .await
            .as_ref()
            .map(|trained| trained.report.model.clone())
            .ok_or(AppError::NotFound("triage model"))?;
        let updated = self
            .update_ticket(
                principal,
                ticket,
                Precondition::Any,
                TicketPatch {
                    category: category.clone().map(Some),
                    escalation_reason: group
                        .as_ref()
                        .map(|_| "suggested by the triage assistant".to_owned()),
                    group: group.clone().map(Some),
                    ..TicketPatch::default()
                },
            )
            .await?;
        let ticket_id = updated.id;
        let applied_by = principal.email.clone();
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let data = serde_json::json!({
                    "model": model, "category": category, "group": group,
                    "applied_by": applied_by,
                });
                let mut batch = tx.batch();
                crate::tickets::timeline(
                    &mut batch,
                    ticket_id,
                    tx.now,
                    "triage assistant",
                    "triage_applied",
                    false,
                    data.clone(),
                );
                let event = Event {
                    entity: Entity::Ticket,
                    entity_id: ticket_id,
                    action: Action::Updated,
                    before: None,
                    after: Some(data),
                };
                tx.record_with(batch, event).await
            })
        })
        .await?;
        Ok(updated)
    }
}
