//! The staff home: the agent's own open tickets, the unassigned ones in their groups, SLA
//! targets falling due or missed, monitors down now and the incidents monitors opened today;
//! each a count and the first few, linked to the full list. Refreshed live by `app.js` on
//! ticket events; a plain page without it.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use opsdesk_app::Principal;
use opsdesk_app::monitors::Monitor;
use opsdesk_domain::query;

use super::agent::Row;
use super::monitoring::uptime_label;
use super::{Chrome, Lang, Locale, WebError, WebUser, render};
use crate::AppState;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/dashboard", get(dashboard))
}

/// Tickets each card lists.
const FIRST: i64 = 5;
/// Counts stop here ("100+"): a card needs to say "many", not how many exactly.
const COUNT_LIMIT: i64 = 100;
/// Monitors read for the "down now" card.
const MONITOR_LIMIT: i64 = 500;

/// One card: a ticket query, how many match and the first few.
struct Card {
    /// Its heading's key in the translation table.
    title: &'static str,
    id: &'static str,
    query: String,
    count: i64,
    more: bool,
    rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    c: Chrome,
    cards: Vec<Card>,
    /// Whether the agent belongs to no group (so "unassigned in my groups" is left out).
    no_groups: bool,
    down: Vec<DownMonitor>,
}

/// A monitor that is down now.
struct DownMonitor {
    id: i64,
    name: String,
    since: String,
    error: String,
    incident: Option<String>,
    uptime_24h: String,
}

/// `name` as a query value, quoted when it has spaces or quotes.
fn quoted(name: &str) -> String {
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == '"' || c == ',')
    {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        name.to_owned()
    }
}

async fn card(
    state: &AppState,
    principal: &Principal,
    title: &'static str,
    id: &'static str,
    query_text: String,
) -> Result<Card, WebError> {
    let now = state.app.now();
    let l = Locale::of(principal);
    let page = state
        .app
        .search_tickets(principal, &query_text, None, FIRST)
        .await?;
    let rows: Vec<Row> = page
        .items
        .iter()
        .map(|hit| Row::of(&hit.ticket, now, &l))
        .collect();
    // Fewer than a page needs no count of its own.
    let count = if page.next_cursor.is_none() {
        rows.len() as i64
    } else {
        let parsed = query::parse(&query_text).map_err(|e| {
            opsdesk_app::AppError::internal(format!("dashboard query `{query_text}`"), e)
        })?;
        state
            .app
            .count_tickets(principal, &parsed, COUNT_LIMIT + 1)
            .await?
    };
    Ok(Card {
        title,
        id,
        query: query_text,
        count: count.min(COUNT_LIMIT),
        more: count > COUNT_LIMIT,
        rows,
    })
}

async fn dashboard(
    State(state): State<AppState>,
    WebUser(p): WebUser,
) -> Result<Response, WebError> {
    p.require_staff()?;
    let l = Locale::of(&p);
    let mine: Vec<String> = state
        .app
        .groups(&p)
        .await?
        .into_iter()
        .filter(|g| g.members.contains(&p.email))
        .map(|g| quoted(&g.name))
        .collect();
    let today = state.app.now().strftime("%Y-%m-%d").to_string();
    let mut cards = vec![
        card(
            &state,
            &p,
            "dash.mine",
            "mine",
            "assignee:me is:open".into(),
        )
        .await?,
    ];
    if !mine.is_empty() {
        let query = format!("is:unassigned is:open group:{}", mine.join(","));
        cards.push(card(&state, &p, "dash.unassigned", "unassigned", query).await?);
    }
    cards.push(
        card(
            &state,
            &p,
            "dash.due_soon",
            "due-soon",
            "is:open sla:due<1h".into(),
        )
        .await?,
    );
    cards.push(
        card(
            &state,
            &p,
            "dash.breached",
            "breached",
            "is:open sla:breached".into(),
        )
        .await?,
    );
    let incidents = format!("source:monitor created:{today}");
    cards.push(
        card(
            &state,
            &p,
            "dash.monitor_incidents",
            "monitor-incidents",
            incidents,
        )
        .await?,
    );
    let down = state
        .app
        .monitors(&p, 0, MONITOR_LIMIT)
        .await?
        .into_iter()
        .filter(|m| m.status == "down")
        .map(|m| down_monitor(m, &l))
        .collect();
    Ok(render(&DashboardPage {
        c: Chrome::new(&p, Lang.t("dash.title")),
        cards,
        no_groups: mine.is_empty(),
        down,
    }))
}

fn down_monitor(m: Monitor, l: &Locale) -> DownMonitor {
    DownMonitor {
        id: m.id,
        since: m.last_check_at.map(|at| l.when(at)).unwrap_or_default(),
        error: m.last_error.unwrap_or_default(),
        incident: m.open_incident,
        uptime_24h: uptime_label(m.uptime_24h),
        name: m.name,
    }
}
