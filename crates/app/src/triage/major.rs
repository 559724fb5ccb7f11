//! Many alike incidents at once are usually one outage. When an incident has at least two
//! open incidents like it, opened within half an hour of it and not under a major incident
//! yet, the ticket view proposes a parent major incident for them all; one click opens it
//! and files them under it (resolving it then resolves them).

use opsdesk_domain::triage::similarity;

use super::*;
use crate::tickets::NewTicket;

/// How close in time alike incidents must be opened.
const WINDOW_MS: i64 = 30 * 60 * 1000;
/// How alike their titles must be (cosine of their words).
const ALIKE: f32 = 0.5;
/// Alike incidents besides this one that make a proposal.
const OTHERS: usize = 2;

/// An incident the proposal would file under the major incident.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AlikeIncident {
    pub number: String,
    pub title: String,
    pub score: f32,
}

impl App {
    /// The open incidents alike to `ticket` opened within half an hour of it and under no
    /// major incident, when there are enough to propose one (staff); else none.
    pub async fn major_incident_proposal(
        &self,
        principal: &Principal,
        ticket: &Ticket,
    ) -> Result<Vec<AlikeIncident>, AppError> {
        principal.require_staff()?;
        let open = matches!(ticket.status.as_str(), "new" | "open" | "pending");
        if ticket.ticket_type.as_str() != "incident"
            || !open
            || ticket.parent.is_some()
            || !ticket.children.is_empty()
        {
            return Ok(Vec::new());
        }
        let opened = ticket.created_at.as_millisecond();
        let recent = {
            let mut conn = self.db().reader().await?;
            opsdesk_store::triage::recent_open_incidents(&mut conn, opened - WINDOW_MS, None, 500)
                .await?
        };
        let trained = self.serving_model().await;
        let model = trained.as_ref().map(|t| &t.model);
        let alike: Vec<AlikeIncident> = recent
            .into_iter()
            .filter(|other| {
                other.id != ticket.id
                    && other.parent_id.is_none()
                    && other.created_at <= opened + WINDOW_MS
                    && principal.can_see_organization(other.organization_id)
            })
            .filter_map(|other| {
                let score = similarity(model, &ticket.title, &other.title);
                (score >= ALIKE).then(|| AlikeIncident {
                    number: number_of("incident", other.number),
                    title: other.title,
                    score,
                })
            })
            .collect();
        Ok(if alike.len() >= OTHERS {
            alike
        } else {
            Vec::new()
        })
    }

    /// Opens a major incident for `tickets` (staff), titled after the first, high impact
    /// and urgency, with the first one's group, and files every one of them under it.
    pub async fn open_major_incident(
        &self,
        principal: &Principal,
        tickets: &[String],
    ) -> Result<Ticket, AppError> {
        principal.require_staff()?;
        let Some(first) = tickets.first() else {
            return Err(AppError::invalid("tickets", "name the incidents to group"));
        };
        let first = self.ticket(principal, first).await?;
        let category = match &first.category {
            Some(named) => self
                .categories()
                .await?
                .into_iter()
                .find(|c| c.id == named.id)
                .map(|c| c.path),
            None => None,
        };
        let major = self
            .create_ticket(
                principal,
                NewTicket {
                    ticket_type: "incident".into(),
                    title: format!("Major incident: {}", first.title),
                    description: format!(
                        "Opened for {} alike incidents: {}.",
                        tickets.len(),
                        tickets.join(", ")
                    ),
                    impact: "high".into(),
                    urgency: "high".into(),
                    requester: None,
                    group: first.group.as_ref().map(|g| g.name.clone()),
                    assignee: None,
                    category,
                    tags: vec!["major-incident".into()],
                    watchers: Vec::new(),
                    custom: Default::default(),
                    source: None,
                    parent: None,
                },
            )
            .await?;
        for number in tickets {
            self.update_ticket(
                principal,
                number,
                Precondition::Any,
                TicketPatch {
                    parent: Some(Some(major.number.clone())),
                    ..TicketPatch::default()
                },
            )
            .await?;
        }
        self.ticket(principal, &major.number).await
    }
}
