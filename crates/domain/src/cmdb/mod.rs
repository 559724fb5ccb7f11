//! Configuration items: their classes, lifecycle, relations, how agents, imports and people
//! agree on one item per machine, and what fails when one item goes down.

use std::collections::{HashMap, VecDeque};

pub mod agreement;
pub mod fields;
pub mod query;
pub mod remote;
pub mod version;
pub mod vulnerability;

crate::string_enum! {
    /// What kind of thing a configuration item is; each class has its own custom fields.
    pub enum CiClass as "class" {
        Laptop => "laptop",
        Server => "server",
        VirtualMachine => "virtual_machine",
        NetworkDevice => "network_device",
        Printer => "printer",
        Software => "software",
        Licence => "licence",
        Service => "service",
        Contract => "contract",
    }
}

impl CiClass {
    /// Whether items of this class are machines an agent, a scan or a stocktake can find.
    pub fn is_hardware(self) -> bool {
        matches!(
            self,
            CiClass::Laptop
                | CiClass::Server
                | CiClass::VirtualMachine
                | CiClass::NetworkDevice
                | CiClass::Printer
        )
    }

    /// The identifiers that make two records of this class one item, strongest first.
    pub fn identified_by(self) -> &'static [Identifier] {
        match self {
            CiClass::Laptop | CiClass::Server | CiClass::Printer => &[
                Identifier::SmbiosUuid,
                Identifier::SerialNumber,
                Identifier::Mac,
                Identifier::Hostname,
            ],
            // A cloned virtual machine keeps its serial; its UUID and MACs are its own.
            CiClass::VirtualMachine => &[
                Identifier::SmbiosUuid,
                Identifier::Mac,
                Identifier::Hostname,
            ],
            CiClass::NetworkDevice => &[
                Identifier::SerialNumber,
                Identifier::Mac,
                Identifier::Hostname,
            ],
            CiClass::Software | CiClass::Licence | CiClass::Service | CiClass::Contract => {
                &[Identifier::Name]
            }
        }
    }
}

crate::string_enum! {
    /// Something that tells one item from another.
    pub enum Identifier as "identifier" {
        SmbiosUuid => "smbios_uuid",
        SerialNumber => "serial_number",
        Mac => "mac",
        Hostname => "hostname",
        Name => "name",
    }
}

crate::string_enum! {
    /// Where an item stands in its life.
    pub enum Lifecycle as "lifecycle state" {
        Ordered => "ordered",
        InStock => "in_stock",
        Deployed => "deployed",
        InRepair => "in_repair",
        Retired => "retired",
    }
}

impl Lifecycle {
    /// The states an item may move to from this one. Retired is final: a machine back
    /// in use is a new record, so its history stays true.
    pub fn next(self) -> &'static [Lifecycle] {
        use Lifecycle::*;
        match self {
            Ordered => &[InStock, Deployed, Retired],
            InStock => &[Deployed, InRepair, Retired],
            Deployed => &[InStock, InRepair, Retired],
            InRepair => &[InStock, Deployed, Retired],
            Retired => &[],
        }
    }

    pub fn may_move_to(self, to: Lifecycle) -> bool {
        self == to || self.next().contains(&to)
    }
}

crate::string_enum! {
    /// How one item relates to another, read from the source: `app runs_on vm`.
    pub enum RelationKind as "relation" {
        RunsOn => "runs_on",
        DependsOn => "depends_on",
        ConnectsTo => "connects_to",
        UsedBy => "used_by",
        InstalledOn => "installed_on",
        CoveredBy => "covered_by",
    }
}

impl RelationKind {
    /// For a relation `source kind target`: which end needs the other to work, as
    /// `(dependent, provider)`; `None` when failure does not travel along it.
    pub fn dependency<T>(self, source: T, target: T) -> Option<(T, T)> {
        match self {
            RelationKind::RunsOn
            | RelationKind::DependsOn
            | RelationKind::ConnectsTo
            | RelationKind::InstalledOn => Some((source, target)),
            RelationKind::UsedBy => Some((target, source)),
            RelationKind::CoveredBy => None,
        }
    }
}

crate::string_enum! {
    /// Who set an attribute: an agent's report, an import, or a person.
    pub enum Source as "source" {
        Agent => "agent",
        Import => "import",
        Staff => "staff",
    }
}

/// Attributes machines report about themselves: an agent's word wins over an import's,
/// which wins over a person's typing, since the machine cannot mistype its serial.
pub const DISCOVERED: &[&str] = &["serial_number", "smbios_uuid", "hostname", "macs"];

/// Whether `writer` may overwrite an attribute `holder` set last. For discovered
/// attributes the order is agent > import > staff; for the rest (owner, location,
/// lifecycle, name…) people decide, so staff > import > agent.
pub fn may_overwrite(attribute: &str, writer: Source, holder: Option<Source>) -> bool {
    let Some(holder) = holder else {
        return true;
    };
    let rank = |s: Source| match s {
        Source::Agent => 0,
        Source::Import => 1,
        Source::Staff => 2,
    };
    if DISCOVERED.contains(&attribute) {
        rank(writer) <= rank(holder)
    } else {
        rank(writer) >= rank(holder)
    }
}

/// An item's health in an impact analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Health {
    Up,
    /// Some of what it needs is down, but enough is left (one of a redundant pair).
    Degraded,
    Down,
}

/// The part of the dependency graph an analysis walks: for each item, what it needs,
/// and who needs it. Items are numbered as they are added, so an analysis over tens of
/// thousands of them works on plain vectors rather than maps.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    slots: HashMap<i64, usize>,
    items: Vec<Item>,
}

/// One item of a [`Graph`], its neighbours by slot, each listed once.
#[derive(Debug, Clone)]
struct Item {
    id: i64,
    providers: Vec<usize>,
    dependents: Vec<usize>,
    /// How many providers must be up (all when `None`).
    needed: Option<u32>,
}

impl Graph {
    /// Adds `dependent needs provider`.
    pub fn add(&mut self, dependent: i64, provider: i64) {
        if dependent == provider {
            return;
        }
        let (d, p) = (self.slot(dependent), self.slot(provider));
        // Two relations between the same pair (`runs_on` and `depends_on`) are one need.
        if let Err(at) = self.items[d].providers.binary_search(&p) {
            self.items[d].providers.insert(at, p);
            let dependents = &mut self.items[p].dependents;
            if let Err(at) = dependents.binary_search(&d) {
                dependents.insert(at, d);
            }
        }
    }

    /// Sets how many of `item`'s providers must be up.
    pub fn set_needed(&mut self, item: i64, needed: u32) {
        let slot = self.slot(item);
        self.items[slot].needed = Some(needed);
    }

    fn slot(&mut self, id: i64) -> usize {
        *self.slots.entry(id).or_insert_with(|| {
            self.items.push(Item {
                id,
                providers: Vec::new(),
                dependents: Vec::new(),
                needed: None,
            });
            self.items.len() - 1
        })
    }

    /// Health of the item in `slot` given the health of every item.
    fn health_of(&self, slot: usize, health: &[Health]) -> Health {
        let item = &self.items[slot];
        let total = item.providers.len();
        if total == 0 {
            return Health::Up;
        }
        let status = |p: &usize| health[*p];
        let down = item
            .providers
            .iter()
            .filter(|p| status(p) == Health::Down)
            .count();
        let degraded = item.providers.iter().any(|p| status(p) != Health::Up);
        let needed = item.needed.map_or(total, |n| (n as usize).clamp(1, total));
        if total - down < needed {
            Health::Down
        } else if degraded {
            Health::Degraded
        } else {
            Health::Up
        }
    }

    /// Every item's health when the items in `failed` are down (the one being asked
    /// about, and any already down by their monitors).
    pub fn outage<'a>(&self, failed: impl IntoIterator<Item = &'a i64>) -> Outage {
        let mut outage = Outage {
            health: vec![Health::Up; self.items.len()],
            failed: vec![false; self.items.len()],
        };
        let slots: Vec<usize> = failed
            .into_iter()
            .filter_map(|id| self.slots.get(id).copied())
            .collect();
        self.fail(&mut outage, &slots);
        outage
    }

    /// Marks the items in `slots` down in `outage` and settles what depends on them.
    /// Cycles end: an item is settled when its health stops changing, and health only
    /// worsens, so the walk is bounded by three visits per item. Starting from a settled
    /// outage gives what starting from nothing would, since health only worsens.
    fn fail(&self, outage: &mut Outage, slots: &[usize]) {
        for slot in slots {
            outage.failed[*slot] = true;
            outage.health[*slot] = Health::Down;
        }
        let mut queue: VecDeque<usize> = slots
            .iter()
            .flat_map(|slot| self.items[*slot].dependents.iter().copied())
            .collect();
        while let Some(slot) = queue.pop_front() {
            if outage.failed[slot] {
                continue;
            }
            let now = self.health_of(slot, &outage.health);
            if now > outage.health[slot] {
                outage.health[slot] = now;
                queue.extend(self.items[slot].dependents.iter().copied());
            }
        }
    }

    /// What fails when `item` goes down on top of `outage` (what is down already): every
    /// item that depends on it, directly or not, and is not up then, with its health, in
    /// id order. Items already failing in `outage` are named too.
    pub fn impact_of(&self, item: i64, outage: &Outage) -> Vec<(i64, Health)> {
        let Some(&root) = self.slots.get(&item) else {
            return Vec::new();
        };
        let mut after = outage.clone();
        self.fail(&mut after, &[root]);
        let mut reached = vec![false; self.items.len()];
        reached[root] = true;
        let mut frontier = vec![root];
        let mut hit = Vec::new();
        while let Some(slot) = frontier.pop() {
            for &dependent in &self.items[slot].dependents {
                if !reached[dependent] {
                    reached[dependent] = true;
                    frontier.push(dependent);
                    if after.health[dependent] != Health::Up {
                        hit.push((self.items[dependent].id, after.health[dependent]));
                    }
                }
            }
        }
        hit.sort_unstable();
        hit
    }
}

/// Every item's health with some items down: see [`Graph::outage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// By slot of the graph it was made from.
    health: Vec<Health>,
    /// Whether the item is one of those down to begin with, whatever its providers do.
    failed: Vec<bool>,
}

impl Outage {
    /// The health of `item`, one the graph knows (`Up` for any other).
    pub fn health(&self, graph: &Graph, item: i64) -> Health {
        graph
            .slots
            .get(&item)
            .map_or(Health::Up, |slot| self.health[*slot])
    }
}

/// Reads a MAC address in any common writing (`AA-BB-…`, `aabb.ccdd.eeff`) as lower case
/// with colons; `None` when it is not one, or is all zeros (a virtual interface's).
pub fn normal_mac(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | '-' | '.'))
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) || hex == "000000000000" {
        return None;
    }
    let pairs: Vec<&str> = (0..6).map(|i| &hex[i * 2..i * 2 + 2]).collect();
    Some(pairs.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn graph(edges: &[(i64, i64)]) -> Graph {
        let mut g = Graph::default();
        for (dependent, provider) in edges {
            g.add(*dependent, *provider);
        }
        g
    }

    /// Every item not up when the items in `failed` are down, with its health.
    fn impact(graph: &Graph, failed: &BTreeSet<i64>) -> BTreeMap<i64, Health> {
        let outage = graph.outage(failed);
        graph
            .items
            .iter()
            .zip(&outage.health)
            .filter(|(_, health)| **health != Health::Up)
            .map(|(item, health)| (item.id, *health))
            .collect()
    }

    #[test]
    fn one_of_a_redundant_pair_down_degrades() {
        // The web service needs 2 of its 3 nodes; each node runs on its own host.
        let mut g = graph(&[(10, 1), (10, 2), (10, 3), (1, 100), (2, 101), (3, 102)]);
        g.set_needed(10, 2);
        let one = impact(&g, &BTreeSet::from([100]));
        assert_eq!(one.get(&1), Some(&Health::Down));
        assert_eq!(one.get(&10), Some(&Health::Degraded));
        let two = impact(&g, &BTreeSet::from([100, 101]));
        assert_eq!(two.get(&10), Some(&Health::Down));
    }

    #[test]
    fn a_switch_takes_down_what_hangs_on_it_and_degrades_further_up() {
        // app → vm → host → switch; a report depends on app and on a mirror.
        let mut g = graph(&[(4, 3), (3, 2), (2, 1), (5, 4), (5, 6)]);
        g.set_needed(5, 1);
        let hit = impact(&g, &BTreeSet::from([1]));
        assert_eq!(
            hit,
            BTreeMap::from([
                (1, Health::Down),
                (2, Health::Down),
                (3, Health::Down),
                (4, Health::Down),
                (5, Health::Degraded),
            ])
        );
    }

    #[test]
    fn cycles_end() {
        let g = graph(&[(1, 2), (2, 1), (3, 2)]);
        let hit = impact(&g, &BTreeSet::from([1]));
        assert_eq!(hit.get(&2), Some(&Health::Down));
        assert_eq!(hit.get(&3), Some(&Health::Down));
    }

    #[test]
    fn lifecycle_moves_forward_and_retired_is_final() {
        assert!(Lifecycle::Ordered.may_move_to(Lifecycle::InStock));
        assert!(Lifecycle::Deployed.may_move_to(Lifecycle::InRepair));
        assert!(!Lifecycle::Retired.may_move_to(Lifecycle::Deployed));
        assert!(!Lifecycle::InStock.may_move_to(Lifecycle::Ordered));
    }

    #[test]
    fn used_by_points_the_other_way() {
        assert_eq!(RelationKind::UsedBy.dependency(1, 2), Some((2, 1)));
        assert_eq!(RelationKind::RunsOn.dependency(1, 2), Some((1, 2)));
        assert_eq!(RelationKind::CoveredBy.dependency(1, 2), None);
    }

    #[test]
    fn agents_win_on_serials_and_people_on_owners() {
        assert!(may_overwrite(
            "serial_number",
            Source::Agent,
            Some(Source::Staff)
        ));
        assert!(!may_overwrite(
            "serial_number",
            Source::Staff,
            Some(Source::Agent)
        ));
        assert!(may_overwrite("owner", Source::Staff, Some(Source::Agent)));
        assert!(!may_overwrite(
            "location",
            Source::Agent,
            Some(Source::Staff)
        ));
        assert!(may_overwrite("location", Source::Agent, None));
    }

    #[test]
    fn macs_read_in_any_writing() {
        assert_eq!(
            normal_mac("AA-BB-CC-00-11-22").as_deref(),
            Some("aa:bb:cc:00:11:22")
        );
        assert_eq!(
            normal_mac("aabb.cc00.1122").as_deref(),
            Some("aa:bb:cc:00:11:22")
        );
        assert_eq!(normal_mac("00:00:00:00:00:00"), None);
        assert_eq!(normal_mac("zz:bb:cc:00:11:22"), None);
    }

    proptest! {
        /// An outage is a fixed point: every item's health is what its providers' health
        /// gives, and the failed items are down.
        #[test]
        fn outage_is_settled(
            edges in prop::collection::vec((0i64..30, 0i64..30), 0..80),
            needed in prop::collection::btree_map(0i64..30, 1u32..4, 0..10),
            failed in prop::collection::btree_set(0i64..30, 1..4),
        ) {
            let mut g = graph(&edges);
            for (item, n) in &needed {
                g.set_needed(*item, *n);
            }
            let outage = g.outage(&failed);
            for (slot, item) in g.items.iter().enumerate() {
                if failed.contains(&item.id) {
                    prop_assert_eq!(outage.health[slot], Health::Down);
                } else {
                    prop_assert_eq!(outage.health[slot], g.health_of(slot, &outage.health));
                }
            }
        }

        /// One more item down on top of a settled outage names what settling everything
        /// from nothing would: each item depending on it, directly or not, that is not up.
        #[test]
        fn impact_on_top_of_an_outage_is_the_whole_outage_seen_from_the_item(
            edges in prop::collection::vec((0i64..30, 0i64..30), 0..80),
            needed in prop::collection::btree_map(0i64..30, 1u32..4, 0..10),
            failed in prop::collection::btree_set(0i64..30, 0..4),
            item in 0i64..30,
        ) {
            let mut g = graph(&edges);
            for (id, n) in &needed {
                g.set_needed(*id, *n);
            }
            let mut all = failed.clone();
            all.insert(item);
            let whole = impact(&g, &all);
            let mut reached = BTreeSet::from([item]);
            let mut frontier = vec![item];
            while let Some(provider) = frontier.pop() {
                for (dependent, p) in &edges {
                    if *p == provider && reached.insert(*dependent) {
                        frontier.push(*dependent);
                    }
                }
            }
            let expected: Vec<(i64, Health)> = whole
                .into_iter()
                .filter(|(id, _)| *id != item && reached.contains(id))
                .collect();
            prop_assert_eq!(g.impact_of(item, &g.outage(&failed)), expected);
        }
    }
}
