//! Impact analysis: "if this switch goes down, which services, organizations and users are
//! affected, and which are already failing?" The walk reads only the part of the graph that
//! depends on the item, level by level, and the live state of opsdesk's own monitors.

use std::collections::{BTreeMap, BTreeSet};

use opsdesk_domain::cmdb::{self as rules, Graph, Health, RelationKind};
use opsdesk_store::cmdb as store;
use serde::Serialize;

use super::{CiRef, visible};
use crate::{App, AppError, Principal};

/// The most items one analysis walks: beyond it the answer says it stopped short.
const MOST_ITEMS: usize = 200_000;

/// What fails with an item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Impact {
    pub ci: CiRef,
    /// Items that stop working: all they need is gone, or too much of it.
    pub down: Vec<ImpactedCi>,
    /// Items that keep working on what is left of a redundant set, or lean on a
    /// degraded one.
    pub degraded: Vec<ImpactedCi>,
    /// The organizations of the item and of those affected, by name.
    pub organizations: Vec<String>,
    /// Active people of those organizations, and owners of affected items.
    pub users: i64,
    /// Whether the walk stopped at its limit before reaching everything.
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImpactedCi {
    pub id: i64,
    pub name: String,
    pub class: String,
    pub organization: Option<String>,
    /// Whether it is already down now, by its own monitors or those of what it needs.
    pub already_failing: bool,
}

impl App {
    /// What goes down or degrades if item `id` goes down (staff).
    pub async fn ci_impact(&self, principal: &Principal, id: i64) -> Result<Impact, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let root = visible(&mut conn, principal, id).await?;
        let mut graph = Graph::default();
        let mut reached = BTreeSet::from([id]);
        let mut everyone = BTreeSet::from([id]);
        let mut frontier = vec![id];
        let mut truncated = false;
        while !frontier.is_empty() {
            let edges = store::edges_touching(&mut conn, &frontier).await?;
            let mut next = Vec::new();
            for (source, kind, target) in edges {
                let Some((dependent, provider)) = kind
                    .parse::<RelationKind>()
                    .ok()
                    .and_then(|k| k.dependency(source, target))
                else {
                    continue;
                };
                graph.add(dependent, provider);
                everyone.insert(provider);
                everyone.insert(dependent);
                if reached.contains(&provider) && reached.insert(dependent) {
                    next.push(dependent);
                }
            }
            if reached.len() > MOST_ITEMS {
                truncated = true;
                break;
            }
            frontier = next;
        }
        let ids: Vec<i64> = everyone.into_iter().collect();
        let facts = store::impact_facts(&mut conn, &ids).await?;
        let mut monitor_down = BTreeSet::new();
        for fact in &facts {
            if let Some(needed) = fact.needed {
                graph.set_needed(fact.id, u32::try_from(needed).unwrap_or(1));
            }
            if fact.monitor_down != 0 {
                monitor_down.insert(fact.id);
            }
        }
        let now = rules::impact(&graph, &monitor_down);
        let mut failed = monitor_down.clone();
        failed.insert(id);
        let with_root = rules::impact(&graph, &failed);
        let hit: BTreeMap<i64, Health> = with_root
            .into_iter()
            .filter(|(item, _)| *item != id && reached.contains(item))
            .collect();
        let rows = store::cis_by_ids(&mut conn, &hit.keys().copied().collect::<Vec<_>>()).await?;
        let mut down = Vec::new();
        let mut degraded = Vec::new();
        let mut organizations = BTreeMap::new();
        let mut owners = BTreeSet::new();
        if let (Some(org), Some(name)) = (root.organization_id, &root.organization) {
            organizations.insert(org, name.clone());
        }
        owners.extend(root.owner_id);
        for row in rows {
            if !principal.can_see_organization(row.organization_id) {
                continue;
            }
            if let (Some(org), Some(name)) = (row.organization_id, &row.organization) {
                organizations.insert(org, name.clone());
            }
            owners.extend(row.owner_id);
            let item = ImpactedCi {
                id: row.id,
                already_failing: now.get(&row.id) == Some(&Health::Down),
                name: row.name,
                class: row.class,
                organization: row.organization,
            };
            match hit.get(&item.id) {
                Some(Health::Down) => down.push(item),
                _ => degraded.push(item),
            }
        }
        let org_ids: Vec<i64> = organizations.keys().copied().collect();
        let owner_ids: Vec<i64> = owners.into_iter().collect();
        let users = store::people_reached(&mut conn, &org_ids, &owner_ids).await?;
        Ok(Impact {
            ci: CiRef {
                id: root.id,
                name: root.name,
                class: root.class,
            },
            down,
            degraded,
            organizations: organizations.into_values().collect(),
            users,
            truncated,
        })
    }
}
