//! Queues: the built-in views every agent has ("my tickets", "unassigned in my groups", the
//! groups around theirs) and saved views, each with a live count.

use opsdesk_domain::query;
use opsdesk_store::tickets as store;
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, Principal};

/// How far a queue's live count goes: beyond it a queue shows "1000+", since counting every
/// one of a million matching tickets on each page view would cost more than the page.
pub const QUEUE_COUNT_LIMIT: i64 = 1_000;

/// A queue with its live count.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Queue {
    /// Saved views have an id; built-in queues do not.
    pub id: Option<i64>,
    pub name: String,
    /// The query it shows, in the search language.
    pub query: String,
    /// How many tickets it holds, up to [`QUEUE_COUNT_LIMIT`].
    pub count: i64,
    /// Whether it holds more than [`QUEUE_COUNT_LIMIT`] tickets (`count` stopped there).
    pub more: bool,
    /// Whether everyone sees it (shared) or only its owner.
    pub shared: bool,
}

/// A saved view.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SavedView {
    pub id: i64,
    pub name: String,
    pub query: String,
    pub shared: bool,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewView {
    pub name: String,
    /// A query in the search language, e.g. `is:open priority:P1,P2 sort:-created`.
    pub query: String,
    /// Shared with every agent (admins only); personal otherwise.
    #[serde(default)]
    pub shared: bool,
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', ""))
}

impl App {
    pub async fn create_view(
        &self,
        principal: &Principal,
        input: NewView,
    ) -> Result<SavedView, AppError> {
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                if input.shared {
                    tx.principal.require_admin()?;
                }
                let name = input.name.trim().to_owned();
                if name.is_empty() || name.chars().count() > 100 {
                    return Err(AppError::invalid("name", "must be 1 to 100 characters"));
                }
                let parsed = query::parse(&input.query).map_err(|e| AppError::QueryError {
                    position: e.position(),
                    message: e.to_string(),
                })?;
                let owner = if input.shared {
                    None
                } else {
                    tx.principal.user_id
                };
                let row =
                    store::insert_view(tx.conn, &name, &parsed.to_string(), owner, tx.now).await?;
                let view = SavedView {
                    id: row.id,
                    name: row.name,
                    query: row.query,
                    shared: row.owner_id.is_none(),
                };
                tx.record(Event::created(Entity::SavedView, view.id, &view))
                    .await?;
                Ok(view)
            })
        })
        .await
    }

    /// The principal's queues with live counts: built-in ones, then saved views.
    pub async fn queues(&self, principal: &Principal) -> Result<Vec<Queue>, AppError> {
        principal.require_staff()?;
        let (views, my_groups, all_groups) = {
            let mut conn = self.db().reader().await?;
            let views = store::views(&mut conn, principal.user_id).await?;
            let mine = match principal.user_id {
                Some(id) => store::user_groups(&mut conn, id).await?,
                None => Vec::new(),
            };
            (views, mine, store::groups(&mut conn).await?)
        };
        let mut definitions: Vec<(Option<i64>, String, String, bool)> = vec![(
            None,
            "My open tickets".into(),
            "assignee:me is:open".into(),
            false,
        )];
        let mine: Vec<&store::GroupRow> = all_groups
            .iter()
            .filter(|g| my_groups.contains(&g.id))
            .collect();
        if !mine.is_empty() {
            let names: Vec<String> = mine.iter().map(|g| quoted(&g.name)).collect();
            definitions.push((
                None,
                "Unassigned in my groups".into(),
                format!("is:unassigned is:open group:{}", names.join(",")),
                false,
            ));
        }
        // The tiers next to the agent's own: where tickets come from and go to.
        let my_tiers: Vec<i64> = mine.iter().map(|g| g.tier).collect();
        for group in all_groups.iter().filter(|g| !my_groups.contains(&g.id)) {
            if my_tiers.is_empty() || my_tiers.iter().any(|tier| (tier - group.tier).abs() == 1) {
                definitions.push((
                    None,
                    format!("{} (tier {})", group.name, group.tier),
                    format!("is:open group:{}", quoted(&group.name)),
                    true,
                ));
            }
        }
        for view in views {
            let shared = view.owner_id.is_none();
            definitions.push((Some(view.id), view.name, view.query, shared));
        }
        let mut queues = Vec::with_capacity(definitions.len());
        for (id, name, text, shared) in definitions {
            let parsed = query::parse(&text)
                .map_err(|e| AppError::internal(format!("queue `{name}`"), e))?;
            let counted = self
                .count_tickets(principal, &parsed, QUEUE_COUNT_LIMIT + 1)
                .await?;
            queues.push(Queue {
                id,
                name,
                query: text,
                count: counted.min(QUEUE_COUNT_LIMIT),
                more: counted > QUEUE_COUNT_LIMIT,
                shared,
            });
        }
        Ok(queues)
    }
}
