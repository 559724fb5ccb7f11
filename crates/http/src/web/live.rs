//! Live updates over server-sent events: a ticket changed (by someone else), and who is
//! writing a reply right now ("replying" presence, kept in memory on this node).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use futures::Stream;
use futures::StreamExt;
use opsdesk_app::TicketEventKind;
use opsdesk_domain::ticket::{TicketNumber, TicketType};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

use super::{WebError, WebUser};
use crate::extract::Auth;
use crate::{ApiError, AppState};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/events", get(events))
        .route("/tickets/{number}/replying", post(replying))
}

/// How long one "I am typing a reply" lasts without being renewed.
const REPLYING_MS: i64 = 30_000;
/// Tickets tracked at once; beyond it the table is cleared (presence is only a hint).
const MAX_TRACKED: usize = 10_000;

/// An agent is writing a reply on a ticket.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Replying {
    pub number: String,
    pub email: String,
}

/// Who is replying to which ticket, on this node.
#[derive(Clone)]
pub(crate) struct Presence {
    replying: Arc<Mutex<HashMap<String, HashMap<String, i64>>>>,
    announcements: broadcast::Sender<Replying>,
}

impl Default for Presence {
    fn default() -> Self {
        Self {
            replying: Arc::default(),
            announcements: broadcast::channel(256).0,
        }
    }
}

impl Presence {
    /// Records that `email` is replying to ticket `number` at `now` and tells the ticket's
    /// watchers.
    pub(crate) fn announce(&self, number: &str, email: &str, now: i64) {
        if let Ok(mut table) = self.replying.lock() {
            if table.len() >= MAX_TRACKED && !table.contains_key(number) {
                table.retain(|_, who| {
                    who.retain(|_, until| *until > now);
                    !who.is_empty()
                });
                if table.len() >= MAX_TRACKED {
                    table.clear();
                }
            }
            table
                .entry(number.to_owned())
                .or_default()
                .insert(email.to_owned(), now + REPLYING_MS);
        }
        // Nobody listening is fine: presence is only a hint.
        let _ = self.announcements.send(Replying {
            number: number.to_owned(),
            email: email.to_owned(),
        });
    }

    /// Others replying to ticket `number` at `now`.
    pub(crate) fn others(&self, number: &str, me: &str, now: i64) -> Vec<String> {
        self.replying
            .lock()
            .map(|table| {
                table
                    .get(number)
                    .map(|who| {
                        who.iter()
                            .filter(|(email, until)| email.as_str() != me && **until > now)
                            .map(|(email, _)| email.clone())
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }
}

async fn replying(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> Result<StatusCode, ApiError> {
    principal.require_staff()?;
    let ticket = state.app.ticket(&principal, &number).await?;
    state
        .presence
        .announce(&ticket.number, &principal.email, state.app.now_ms());
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct EventFilter {
    /// Only this ticket's events (its page); all visible changes otherwise (the queue).
    ticket: Option<String>,
}

#[derive(Serialize)]
struct Changed<'a> {
    number: &'a str,
    kind: TicketEventKind,
    actor: &'a str,
}

/// `changed` events (a ticket was updated or commented) and, on a ticket's stream for
/// staff, `replying` events naming another agent writing a reply.
async fn events(
    State(state): State<AppState>,
    WebUser(principal): WebUser,
    Query(filter): Query<EventFilter>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let number = match &filter.ticket {
        // Resolving the ticket checks that the principal may see it at all.
        Some(reference) => Some(state.app.ticket(&principal, reference).await?.number),
        None => {
            principal.require_staff().map_err(WebError::from)?;
            None
        }
    };
    let me = principal.email.clone();
    let wanted = number.clone();
    let app = state.app.clone();
    let viewer = principal.clone();
    // What the viewer has seen of the timeline: customers are told only about entries
    // they can read, so an internal note stays invisible.
    let seen = Arc::new(AtomicI64::new(match &number {
        Some(n) if !principal.role.is_staff() => latest_entry(&state, &principal, n).await,
        _ => 0,
    }));
    let changes = BroadcastStream::new(state.app.ticket_events()).filter_map(move |event| {
        let (wanted, app, viewer, seen) =
            (wanted.clone(), app.clone(), viewer.clone(), seen.clone());
        async move {
            let event = event.ok()?;
            if wanted.as_ref().is_some_and(|n| *n != event.number) {
                return None;
            }
            let mut kind = event.kind;
            if !viewer.role.is_staff() {
                let after = seen.load(Ordering::Relaxed);
                let fresh = app
                    .ticket_timeline(&viewer, &event.number, after, 50)
                    .await
                    .ok()?;
                seen.store(fresh.last()?.id, Ordering::Relaxed);
                // The event may be an internal note's while what the customer finds new is a
                // later change: name it by what they can read, so a note is never announced.
                if kind == TicketEventKind::Comment
                    && !fresh.iter().any(|entry| entry.kind == "comment")
                {
                    kind = TicketEventKind::Updated;
                }
            } else if viewer.organization_filter().is_some()
                || (viewer.restricted_filter().is_some() && may_be_restricted(&event.number))
            {
                // An agent limited to some organizations hears only about their tickets, and
                // an agent outside a security incident's restricted group nothing of it.
                app.ticket(&viewer, &event.number).await.ok()?;
            }
            let data = serde_json::to_string(&Changed {
                number: &event.number,
                kind,
                actor: &event.actor,
            })
            .ok()?;
            Some(Ok(Event::default().event("changed").data(data)))
        }
    });
    let presence = match (&number, principal.role.is_staff()) {
        (Some(number), true) => {
            let number = number.clone();
            BroadcastStream::new(state.presence.announcements.subscribe())
                .filter_map(move |announced| {
                    let (number, me) = (number.clone(), me.clone());
                    async move {
                        let announced = announced.ok()?;
                        if announced.number != number || announced.email == me {
                            return None;
                        }
                        let data = serde_json::to_string(&announced).ok()?;
                        Some(Ok(Event::default().event("replying").data(data)))
                    }
                })
                .boxed()
        }
        _ => futures::stream::empty().boxed(),
    };
    let stream = futures::stream::select(changes.boxed(), presence);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Whether ticket `number` may be restricted to a group: only security incidents are, so
/// the events of other tickets need no look-up per listener.
fn may_be_restricted(number: &str) -> bool {
    number
        .parse::<TicketNumber>()
        .map_or(true, |n| n.ticket_type() == TicketType::SecurityIncident)
}

/// The id of the newest timeline entry `principal` can read on ticket `number`.
async fn latest_entry(state: &AppState, principal: &opsdesk_app::Principal, number: &str) -> i64 {
    // Bounded walk: a page at a time until the end of the timeline.
    const PAGE: i64 = 500;
    let mut after = 0;
    for _ in 0..1_000 {
        match state
            .app
            .ticket_timeline(principal, number, after, PAGE)
            .await
        {
            Ok(page) if !page.is_empty() => {
                after = page.last().map_or(after, |entry| entry.id);
                if (page.len() as i64) < PAGE {
                    break;
                }
            }
            _ => break,
        }
    }
    after
}
