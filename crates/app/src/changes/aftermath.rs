//! What a change does beyond itself: its approved window holds its items' monitors in
//! maintenance, so planned downtime pages no one; incidents on its items soon after the
//! window are linked to it as possibly caused by it; its outcome feeds the change failure
//! rate; and every incident can ask "what changed?" on its items and what they depend on.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use opsdesk_domain::cmdb::RelationKind;
use opsdesk_store::Conn;
use opsdesk_store::changes as store;
use serde::Serialize;

use super::{change_number, note};
use crate::change::Tx;
use crate::{App, AppError, Principal, timestamp};

/// How far before an incident "what changed?" looks, and how far up what its items
/// depend on.
const LOOK_BACK_MS: i64 = 7 * 86_400_000;
const MOST_DEPTH: usize = 3;

/// Something that changed before an incident, on one of its items or what they depend on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WhatChanged {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `change` or `inventory`.
    pub kind: String,
    /// `CHG-12` for a change.
    pub change: Option<String>,
    /// The change's title, or `openssl 3.0.11 → 3.0.13`.
    pub summary: String,
    pub ci: i64,
    pub ci_name: String,
    /// 0: the incident's own item; 1: what it depends on; 2: what that depends on…
    pub distance: usize,
    /// Hours between it and the incident.
    pub hours_before: f64,
}

/// How the changes that ended in a period went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeOutcomes {
    /// Closed or failed.
    pub finished: i64,
    pub failed: i64,
    /// Finished changes with an incident linked to them.
    pub with_incidents: i64,
    /// Failed or followed by an incident, out of those finished: 0 to 1.
    pub failure_rate: f64,
}

/// Holds the monitors of change `id`'s items in maintenance over its window.
pub(super) async fn hold_monitors(tx: &mut Tx<'_>, id: i64) -> Result<(), AppError> {
    let row = store::change(tx.conn, id)
        .await?
        .ok_or(AppError::NotFound("change"))?;
    let (Some(start), Some(end)) = (row.planned_start, row.planned_end) else {
        return Ok(());
    };
    let reason = format!("{}: {}", change_number(id), row.title);
    let held = store::hold_monitors(tx.conn, id, start, end, &reason, tx.now).await?;
    if held > 0 {
        note(
            tx,
            id,
            "monitors_held",
            serde_json::json!({"monitors": held}),
        )
        .await?;
    }
    Ok(())
}

/// Links incident `ticket_id`, about item `ci_id` and opened at `created_at`, to the
/// changes on that item whose window it follows closely. Called wherever a ticket is
/// linked to an item.
pub(crate) async fn link_incident_to_changes(
    tx: &mut Tx<'_>,
    ticket_id: i64,
    ci_id: i64,
) -> Result<(), AppError> {
    let Some(ticket) = opsdesk_store::tickets::get(tx.conn, ticket_id).await? else {
        return Ok(());
    };
    if ticket.ticket_type != "incident" {
        return Ok(());
    }
    for change_id in store::changes_before(tx.conn, ci_id, ticket.created_at).await? {
        if store::link_incident(tx.conn, change_id, ticket_id, tx.now).await? {
            let number = crate::tickets::number_of(&ticket.ticket_type, ticket.number);
            note(
                tx,
                change_id,
                "incident_linked",
                serde_json::json!({"incident": number, "title": ticket.title}),
            )
            .await?;
        }
    }
    Ok(())
}

/// Once change `id`'s work is done, links the incidents already opened on its items since
/// its window began.
pub(super) async fn link_recent_incidents(tx: &mut Tx<'_>, id: i64) -> Result<(), AppError> {
    for (ci, _, _) in store::cis_of(tx.conn, id).await? {
        for ticket in opsdesk_store::cmdb::tickets_of(tx.conn, ci, 200, None).await? {
            link_incident_to_changes(tx, ticket.id, ci).await?;
        }
    }
    Ok(())
}

/// Each item `cis` depend on, up to [`MOST_DEPTH`] steps away, with its distance; the
/// items themselves at 0.
async fn dependencies(conn: &mut Conn, cis: &[i64]) -> Result<BTreeMap<i64, usize>, AppError> {
    let mut distance: BTreeMap<i64, usize> = cis.iter().map(|ci| (*ci, 0)).collect();
    let mut frontier: Vec<i64> = cis.to_vec();
    for depth in 1..=MOST_DEPTH {
        if frontier.is_empty() {
            break;
        }
        let mut next = Vec::new();
        for (source, kind, target) in store::relations_around(conn, &frontier).await? {
            let Some((dependent, provider)) = kind
                .parse::<RelationKind>()
                .ok()
                .and_then(|k| k.dependency(source, target))
            else {
                continue;
            };
            if frontier.contains(&dependent) && !distance.contains_key(&provider) {
                distance.insert(provider, depth);
                next.push(provider);
            }
        }
        frontier = next;
    }
    Ok(distance)
}

impl App {
    /// What changed before an incident on its items and everything they depend on:
    /// changes and inventory drift of the seven days before it, the likeliest first
    /// (close in time and in the dependency graph).
    pub async fn what_changed(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Vec<WhatChanged>, AppError> {
        principal.require_staff()?;
        let ticket = self.ticket(principal, ticket).await?;
        let at = ticket.created_at.as_millisecond();
        let mut conn = self.db().reader().await?;
        let own = opsdesk_store::cmdb::ticket_ci_ids(&mut conn, ticket.id).await?;
        let distance = dependencies(&mut conn, &own).await?;
        let ids: Vec<i64> = distance.keys().copied().collect();
        let mut names = BTreeMap::new();
        for id in &ids {
            if let Some(ci) = opsdesk_store::cmdb::ci(&mut conn, *id).await? {
                names.insert(*id, ci.name);
            }
        }
        let mut found = Vec::new();
        let mut seen_changes = BTreeSet::new();
        let hours = |when: i64| (at - when) as f64 / 3_600_000.0;
        for (id, title, state, start, _end, ci) in
            store::changes_on_between(&mut conn, &ids, at - LOOK_BACK_MS, at).await?
        {
            if !seen_changes.insert(id) {
                continue;
            }
            found.push(WhatChanged {
                at: timestamp(start),
                kind: "change".into(),
                change: Some(change_number(id)),
                summary: format!("{title} ({state})"),
                ci,
                ci_name: names.get(&ci).cloned().unwrap_or_default(),
                distance: distance.get(&ci).copied().unwrap_or(0),
                hours_before: hours(start).max(0.0),
            });
        }
        for (ci, when, section, summary) in
            store::inventory_changes_between(&mut conn, &ids, at - LOOK_BACK_MS, at).await?
        {
            found.push(WhatChanged {
                at: timestamp(when),
                kind: "inventory".into(),
                change: None,
                summary: format!("{section}: {summary}"),
                ci,
                ci_name: names.get(&ci).cloned().unwrap_or_default(),
                distance: distance.get(&ci).copied().unwrap_or(0),
                hours_before: hours(when),
            });
        }
        // A day further away in the graph weighs like a day further back in time.
        found.sort_by(|a, b| {
            let rank = |w: &WhatChanged| w.hours_before + 24.0 * w.distance as f64;
            rank(a).total_cmp(&rank(b))
        });
        found.truncate(100);
        Ok(found)
    }

    /// The changes incident `ticket` was linked to as possibly caused by: `(CHG-n, title,
    /// state)` (staff).
    pub async fn changes_of_incident(
        &self,
        principal: &Principal,
        ticket: &str,
    ) -> Result<Vec<(String, String, String)>, AppError> {
        principal.require_staff()?;
        let ticket = self.ticket(principal, ticket).await?;
        let mut conn = self.db().reader().await?;
        Ok(store::changes_of_incident(&mut conn, ticket.id)
            .await?
            .into_iter()
            .map(|(id, title, state)| (change_number(id), title, state))
            .collect())
    }

    /// How the changes that ended over `[from, to)` went (staff).
    pub async fn change_outcomes(
        &self,
        principal: &Principal,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<ChangeOutcomes, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let (finished, failed, with_incidents, troubled) =
            store::outcomes(&mut conn, from.as_millisecond(), to.as_millisecond()).await?;
        let failure_rate = if finished == 0 {
            0.0
        } else {
            troubled as f64 / finished as f64
        };
        Ok(ChangeOutcomes {
            finished,
            failed,
            with_incidents,
            failure_rate,
        })
    }
}
