//! Impact analysis: "if this switch goes down, which services, organizations and users are
//! affected, and which are already failing?" The dependency graph of every current relation
//! is kept in memory, rebuilt after a change to relations or to what items need; the live
//! state of opsdesk's own monitors is read for each analysis.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opsdesk_domain::cmdb::{self as rules, Graph, Health, RelationKind};
use opsdesk_store::Conn;
use opsdesk_store::cmdb as store;
use serde::Serialize;

use super::{CiRef, visible};
use crate::{App, AppError, Principal};

/// The most items each list of an answer names; the totals count them all.
const MOST_LISTED: usize = 500;
/// How long a graph built here serves before it is read again, for changes other nodes
/// made (this node's own changes rebuild it at once).
const SHARED_GRAPH_AGE: Duration = Duration::from_secs(10);

/// What fails with an item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Impact {
    pub ci: CiRef,
    /// Items that stop working: all they need is gone, or too much of it (at most 500).
    pub down: Vec<ImpactedCi>,
    /// How many items go down in all.
    pub down_total: usize,
    /// Items that keep working on what is left of a redundant set, or lean on a
    /// degraded one (at most 500).
    pub degraded: Vec<ImpactedCi>,
    pub degraded_total: usize,
    /// The organizations of the item and of those affected, by name.
    pub organizations: Vec<String>,
    /// Active people of those organizations, and owners of affected items.
    pub users: i64,
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

/// The dependency graph with each item's organization and owner.
struct Snapshot {
    graph: Graph,
    organization: HashMap<i64, Option<i64>>,
    owner: HashMap<i64, Option<i64>>,
}

/// The graph this node holds, and the change generation it was built at.
#[derive(Default)]
pub(crate) struct GraphCache {
    /// Bumped by every change to relations, `needed`, organizations or owners of items.
    generation: AtomicU64,
    built: tokio::sync::Mutex<Option<(u64, Instant, Arc<Snapshot>)>>,
}

impl GraphCache {
    /// Marks the graph out of date.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    async fn snapshot(&self, conn: &mut Conn) -> Result<Arc<Snapshot>, AppError> {
        let mut built = self.built.lock().await;
        let generation = self.generation.load(Ordering::SeqCst);
        if let Some((at_generation, at, snapshot)) = built.as_ref()
            && *at_generation == generation
            && at.elapsed() < SHARED_GRAPH_AGE
        {
            return Ok(snapshot.clone());
        }
        let mut graph = Graph::default();
        for (source, kind, target) in store::all_edges(conn).await? {
            if let Some((dependent, provider)) = kind
                .parse::<RelationKind>()
                .ok()
                .and_then(|k| k.dependency(source, target))
            {
                graph.add(dependent, provider);
            }
        }
        let facts = store::all_impact_facts(conn).await?;
        let mut organization = HashMap::with_capacity(facts.len());
        let mut owner = HashMap::with_capacity(facts.len());
        for (id, needed, org, person) in facts {
            if let Some(needed) = needed {
                graph.set_needed(id, u32::try_from(needed).unwrap_or(1));
            }
            organization.insert(id, org);
            owner.insert(id, person);
        }
        let snapshot = Arc::new(Snapshot {
            graph,
            organization,
            owner,
        });
        *built = Some((generation, Instant::now(), snapshot.clone()));
        Ok(snapshot)
    }
}

impl App {
    /// What goes down or degrades if item `id` goes down (staff).
    pub async fn ci_impact(&self, principal: &Principal, id: i64) -> Result<Impact, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let root = visible(&mut conn, principal, id).await?;
        let snapshot = self.inner.cmdb_graph.snapshot(&mut conn).await?;
        let graph = &snapshot.graph;
        // Only what depends on the item, directly or not, can fail with it.
        let mut reached = BTreeSet::from([id]);
        let mut frontier = vec![id];
        while let Some(item) = frontier.pop() {
            for dependent in graph.dependents(item) {
                if reached.insert(dependent) {
                    frontier.push(dependent);
                }
            }
        }
        let monitor_down: BTreeSet<i64> =
            store::failing_cis(&mut conn).await?.into_iter().collect();
        let now = rules::impact(graph, &monitor_down);
        let mut failed = monitor_down;
        failed.insert(id);
        let visible_to = |item: &i64| {
            principal.can_see_organization(snapshot.organization.get(item).copied().flatten())
        };
        let hit: BTreeMap<i64, Health> = rules::impact(graph, &failed)
            .into_iter()
            .filter(|(item, _)| *item != id && reached.contains(item) && visible_to(item))
            .collect();
        let mut organizations: BTreeSet<i64> = root.organization_id.into_iter().collect();
        let mut owners: BTreeSet<i64> = root.owner_id.into_iter().collect();
        for item in hit.keys() {
            organizations.extend(snapshot.organization.get(item).copied().flatten());
            owners.extend(snapshot.owner.get(item).copied().flatten());
        }
        let down: Vec<i64> = hit
            .iter()
            .filter(|(_, h)| **h == Health::Down)
            .map(|(item, _)| *item)
            .collect();
        let degraded: Vec<i64> = hit
            .iter()
            .filter(|(_, h)| **h != Health::Down)
            .map(|(item, _)| *item)
            .collect();
        let listed: Vec<i64> = down
            .iter()
            .take(MOST_LISTED)
            .chain(degraded.iter().take(MOST_LISTED))
            .copied()
            .collect();
        let mut rows: HashMap<i64, ImpactedCi> = store::cis_by_ids(&mut conn, &listed)
            .await?
            .into_iter()
            .map(|row| {
                let item = ImpactedCi {
                    id: row.id,
                    already_failing: now.get(&row.id) == Some(&Health::Down),
                    name: row.name,
                    class: row.class,
                    organization: row.organization,
                };
                (item.id, item)
            })
            .collect();
        let mut named = |ids: &[i64]| -> Vec<ImpactedCi> {
            ids.iter()
                .take(MOST_LISTED)
                .filter_map(|item| rows.remove(item))
                .collect()
        };
        let (down_listed, degraded_listed) = (named(&down), named(&degraded));
        let org_ids: Vec<i64> = organizations.into_iter().collect();
        let owner_ids: Vec<i64> = owners.into_iter().collect();
        let users = store::people_reached(&mut conn, &org_ids, &owner_ids).await?;
        let organizations =
            opsdesk_store::accounts::organization_names(&mut conn, &org_ids).await?;
        Ok(Impact {
            ci: CiRef {
                id: root.id,
                name: root.name,
                class: root.class,
            },
            down: down_listed,
            down_total: down.len(),
            degraded: degraded_listed,
            degraded_total: degraded.len(),
            organizations,
            users,
        })
    }

    /// Marks the CMDB's dependency graph out of date after a change to it.
    pub(crate) fn cmdb_changed(&self) {
        self.inner.cmdb_graph.changed();
    }
}
