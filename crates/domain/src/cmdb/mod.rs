//! Configuration items: their classes, lifecycle, relations, how agents, imports and people
//! agree on one item per machine, and what fails when one item goes down.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

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

/// What one item needs: its providers, and how many of them must be up (all when `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    pub providers: BTreeSet<i64>,
    pub needed: Option<u32>,
}

/// The part of the dependency graph an analysis walks: for each item, what it needs,
/// and for each item, who needs it.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    needs: BTreeMap<i64, Needs>,
    dependents: BTreeMap<i64, BTreeSet<i64>>,
}

impl Graph {
    /// Adds `dependent needs provider`.
    pub fn add(&mut self, dependent: i64, provider: i64) {
        if dependent == provider {
            return;
        }
        self.needs
            .entry(dependent)
            .or_default()
            .providers
            .insert(provider);
        self.dependents
            .entry(provider)
            .or_default()
            .insert(dependent);
    }

    /// Sets how many of `item`'s providers must be up.
    pub fn set_needed(&mut self, item: i64, needed: u32) {
        self.needs.entry(item).or_default().needed = Some(needed);
    }

    pub fn dependents(&self, item: i64) -> impl Iterator<Item = i64> + '_ {
        self.dependents.get(&item).into_iter().flatten().copied()
    }

    /// Health of `item` given the health of its providers (`Up` for any not in `health`).
    fn health_of(&self, item: i64, health: &BTreeMap<i64, Health>) -> Health {
        let Some(needs) = self.needs.get(&item) else {
            return Health::Up;
        };
        let total = needs.providers.len();
        if total == 0 {
            return Health::Up;
        }
        let status = |p: &i64| health.get(p).copied().unwrap_or(Health::Up);
        let down = needs
            .providers
            .iter()
            .filter(|p| status(p) == Health::Down)
            .count();
        let degraded = needs.providers.iter().any(|p| status(p) != Health::Up);
        let needed = needs.needed.map_or(total, |n| (n as usize).clamp(1, total));
        if total - down < needed {
            Health::Down
        } else if degraded {
            Health::Degraded
        } else {
            Health::Up
        }
    }
}

/// What fails when the items in `failed` are down (the one being asked about, and any
/// already down by their monitors): every item reached through dependents, with its
/// health, `Up` ones left out. Cycles end: an item is settled when its health stops
/// changing, and health only worsens, so the walk is bounded by three visits per item.
pub fn impact(graph: &Graph, failed: &BTreeSet<i64>) -> BTreeMap<i64, Health> {
    let mut health: BTreeMap<i64, Health> = failed.iter().map(|id| (*id, Health::Down)).collect();
    let mut queue: VecDeque<i64> = failed.iter().flat_map(|id| graph.dependents(*id)).collect();
    while let Some(item) = queue.pop_front() {
        if failed.contains(&item) {
            continue;
        }
        let now = graph.health_of(item, &health);
        let before = health.get(&item).copied().unwrap_or(Health::Up);
        if now > before {
            health.insert(item, now);
            queue.extend(graph.dependents(item));
        }
    }
    health.retain(|_, h| *h != Health::Up);
    health
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

    fn graph(edges: &[(i64, i64)]) -> Graph {
        let mut g = Graph::default();
        for (dependent, provider) in edges {
            g.add(*dependent, *provider);
        }
        g
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
        /// Impact is a fixed point: every item's health is what its providers' health
        /// gives, items not reached are up, and the failed items are down.
        #[test]
        fn impact_is_settled(
            edges in prop::collection::vec((0i64..30, 0i64..30), 0..80),
            needed in prop::collection::btree_map(0i64..30, 1u32..4, 0..10),
            failed in prop::collection::btree_set(0i64..30, 1..4),
        ) {
            let mut g = graph(&edges);
            for (item, n) in &needed {
                g.set_needed(*item, *n);
            }
            let hit = impact(&g, &failed);
            for id in 0..30 {
                let health = hit.get(&id).copied().unwrap_or(Health::Up);
                if failed.contains(&id) {
                    prop_assert_eq!(health, Health::Down);
                } else {
                    prop_assert_eq!(health, g.health_of(id, &hit));
                }
            }
        }
    }
}
