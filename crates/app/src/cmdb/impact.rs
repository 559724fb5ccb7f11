//! Impact analysis: "if this switch goes down, which services, organizations and users are
//! affected, and which are already failing?" The dependency graph of every current relation
//! is kept in memory, rebuilt after a change to relations or to what items need; the live
//! state of opsdesk's own monitors is read for each analysis, and what it takes down is
//! worked out once per state.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use opsdesk_domain::cmdb::{Graph, Health, Outage, RelationKind};
use opsdesk_store::Conn;
use opsdesk_store::cmdb as store;
use serde::Serialize;

use super::{CiRef, visible};
use crate::{App, AppError, Principal};

/// The most items each list of an answer names; the totals count them all.
const MOST_LISTED: usize = 500;
/// How long a graph read here serves before it is read again, for changes other nodes
/// made (this node's own changes have it read again at once).
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
    /// The items monitors saw failing when last asked, and the outage they make: it
    /// changes far less often than analyses are asked for.
    monitored: std::sync::Mutex<Option<(Vec<i64>, Arc<Outage>)>>,
}

impl Snapshot {
    async fn read(conn: &mut Conn) -> Result<Snapshot, AppError> {
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
        Ok(Snapshot {
            graph,
            organization,
            owner,
            monitored: std::sync::Mutex::new(None),
        })
    }

    /// What is down now with `failing` (sorted) down by their monitors.
    fn outage_now(&self, failing: Vec<i64>) -> Arc<Outage> {
        let last = lock(&self.monitored);
        if let Some((seen, outage)) = last.as_ref()
            && *seen == failing
        {
            return outage.clone();
        }
        drop(last);
        let outage = Arc::new(self.graph.outage(&failing));
        *lock(&self.monitored) = Some((failing, outage.clone()));
        outage
    }
}

/// Locks `mutex`; its value stays usable after a panic elsewhere, as each is replaced whole.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A graph in service: the change generation and the time it was read at.
#[derive(Clone)]
struct Built {
    generation: u64,
    at: Instant,
    snapshot: Arc<Snapshot>,
}

/// The graph this node holds, and the change generation it was built at.
#[derive(Default)]
pub(crate) struct GraphCache {
    /// Bumped by every change to relations, `needed`, organizations or owners of items.
    generation: AtomicU64,
    built: std::sync::Mutex<Option<Built>>,
    /// Held while the graph is read, so one read serves every analysis waiting for it.
    reading: tokio::sync::Mutex<()>,
    /// Set while a read for other nodes' changes runs in the background.
    refreshing: AtomicBool,
}

impl GraphCache {
    /// Marks the graph out of date.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The graph in service if it is of the current generation and not too old to serve.
    fn current(&self) -> Option<Built> {
        let generation = self.generation.load(Ordering::SeqCst);
        lock(&self.built)
            .as_ref()
            .filter(|b| b.generation == generation && b.at.elapsed() < SHARED_GRAPH_AGE)
            .cloned()
    }

    /// Reads the graph at the current generation and puts it in service.
    async fn read(&self, conn: &mut Conn) -> Result<Arc<Snapshot>, AppError> {
        let generation = self.generation.load(Ordering::SeqCst);
        let snapshot = Arc::new(Snapshot::read(conn).await?);
        *lock(&self.built) = Some(Built {
            generation,
            at: Instant::now(),
            snapshot: snapshot.clone(),
        });
        Ok(snapshot)
    }
}

impl App {
    /// The graph to analyse: the one in service, read again first after a change on this
    /// node or once it is [`SHARED_GRAPH_AGE`] old. Past half that age it is read again in
    /// the background, so a busy node rarely makes an analysis wait for the read.
    async fn cmdb_snapshot(&self, conn: &mut Conn) -> Result<Arc<Snapshot>, AppError> {
        let cache = &self.inner.cmdb_graph;
        if let Some(built) = cache.current() {
            if built.at.elapsed() >= SHARED_GRAPH_AGE / 2
                && !cache.refreshing.swap(true, Ordering::SeqCst)
            {
                let app = self.clone();
                tokio::spawn(async move {
                    let cache = &app.inner.cmdb_graph;
                    let _reading = cache.reading.lock().await;
                    let read = match app.db().reader().await {
                        Ok(mut conn) => cache.read(&mut conn).await.map(drop),
                        Err(error) => Err(error.into()),
                    };
                    if let Err(error) = read {
                        tracing::warn!(%error, "reading the CMDB graph again failed");
                    }
                    cache.refreshing.store(false, Ordering::SeqCst);
                });
            }
            return Ok(built.snapshot);
        }
        let _reading = cache.reading.lock().await;
        // Another analysis may have read it while this one waited.
        if let Some(built) = cache.current() {
            return Ok(built.snapshot);
        }
        cache.read(conn).await
    }

    /// What goes down or degrades if item `id` goes down (staff).
    pub async fn ci_impact(&self, principal: &Principal, id: i64) -> Result<Impact, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let root = visible(&mut conn, principal, id).await?;
        let snapshot = self.cmdb_snapshot(&mut conn).await?;
        let graph = &snapshot.graph;
        let mut failing = store::failing_cis(&mut conn).await?;
        failing.sort_unstable();
        let now = snapshot.outage_now(failing);
        let visible_to = |item: &i64| {
            principal.can_see_organization(snapshot.organization.get(item).copied().flatten())
        };
        let hit: Vec<(i64, Health)> = graph
            .impact_of(id, &now)
            .into_iter()
            .filter(|(item, _)| visible_to(item))
            .collect();
        let mut organizations: BTreeSet<i64> = root.organization_id.into_iter().collect();
        let mut owners: BTreeSet<i64> = root.owner_id.into_iter().collect();
        for (item, _) in &hit {
            organizations.extend(snapshot.organization.get(item).copied().flatten());
            owners.extend(snapshot.owner.get(item).copied().flatten());
        }
        let (down, degraded): (Vec<_>, Vec<_>) = hit
            .into_iter()
            .partition(|(_, health)| *health == Health::Down);
        let ids = |list: &[(i64, Health)]| -> Vec<i64> {
            list.iter()
                .take(MOST_LISTED)
                .map(|(item, _)| *item)
                .collect()
        };
        let listed: Vec<i64> = ids(&down).into_iter().chain(ids(&degraded)).collect();
        let mut rows: HashMap<i64, ImpactedCi> = store::ci_labels(&mut conn, &listed)
            .await?
            .into_iter()
            .map(|(item, name, class, organization)| {
                let row = ImpactedCi {
                    id: item,
                    name,
                    class,
                    organization,
                    already_failing: now.health(graph, item) == Health::Down,
                };
                (item, row)
            })
            .collect();
        let mut named = |list: &[(i64, Health)]| -> Vec<ImpactedCi> {
            ids(list)
                .iter()
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
