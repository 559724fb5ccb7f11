//! What a host agent reports about its machine, in sections. Each section has a hash; an
//! agent sends a section in full only when its hash differs from the one the server last
//! took, so a quiet machine's report is a few hundred bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

crate::string_enum! {
    /// A part of a machine's inventory, reported and stored on its own.
    pub enum Section as "inventory section" {
        Hardware => "hardware",
        Os => "os",
        Packages => "packages",
        Updates => "updates",
        Services => "services",
        Users => "users",
    }
}

/// The most packages, pending updates, services or users one report may carry.
pub const MOST_ITEMS: usize = 50_000;

/// An agent asks to join with a one-time enrolment token an admin made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrolment {
    pub token: String,
    pub hostname: String,
}

/// What the server answers an enrolment: the agent's own credential, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrolled {
    /// The agent's id.
    pub agent: i64,
    /// The configuration item the agent's machine is.
    pub ci: i64,
    /// Sent as `Authorization: Bearer …` with every report.
    pub credential: String,
    /// How often to report, in seconds.
    pub report_every_seconds: u32,
}

/// One report: always the hash of every section, and in full the sections whose hash
/// changed since the server last took them (or that it asked to be sent again).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub hostname: String,
    pub uptime_seconds: u64,
    /// Every section's hash, as [`section_hash`] computes it.
    pub hashes: BTreeMap<Section, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hardware: Option<Hardware>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<Os>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packages: Option<Vec<Package>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updates: Option<Vec<PendingUpdate>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ListeningService>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<LocalUser>>,
}

/// What the server answers a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportReply {
    /// Sections whose hash the server does not hold and which the report did not carry:
    /// the next report must send them in full.
    pub resend: Vec<Section>,
    /// When to report next, in seconds (before jitter).
    pub report_every_seconds: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    pub vendor: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    /// The SMBIOS system UUID, lower case.
    pub smbios_uuid: Option<String>,
    pub cpu_model: Option<String>,
    pub cpu_cores: u32,
    pub memory_bytes: u64,
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disk {
    pub name: String,
    pub size_bytes: u64,
    pub model: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nic {
    pub name: String,
    /// Lower case, colon-separated.
    pub mac: Option<String>,
    /// Addresses with their prefix length (`192.0.2.7/24`).
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Os {
    /// `PRETTY_NAME` of os-release, or its `NAME`.
    pub name: String,
    /// `VERSION_ID` of os-release.
    pub version: Option<String>,
    pub kernel: String,
    pub architecture: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: Option<String>,
    /// `dpkg` or `rpm`.
    pub manager: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PendingUpdate {
    pub name: String,
    /// The version installed.
    pub current: String,
    /// The version the update brings.
    pub candidate: String,
    /// Whether it comes from a security source (`…-security` on Debian and Ubuntu).
    pub security: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListeningService {
    /// `tcp` or `udp`.
    pub protocol: String,
    pub address: String,
    pub port: u16,
    /// The listening process's name, when the agent may read it.
    pub process: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalUser {
    pub name: String,
    pub uid: u32,
    pub home: String,
    pub shell: String,
}

/// A section's hash: SHA-256 of its JSON, hex. Agent and server compute it the same way;
/// lists are hashed in the order given, so agents sort them first.
pub fn section_hash<T: Serialize>(section: &T) -> String {
    json_hash(&section_json(section))
}

/// A section's JSON, as it is hashed and stored.
pub fn section_json<T: Serialize>(section: &T) -> String {
    serde_json::to_string(section).unwrap_or_default()
}

/// The hash of a section's JSON (from [`section_json`]).
pub fn json_hash(json: &str) -> String {
    hex::encode(Sha256::digest(json))
}

impl Report {
    /// The sections this report carries in full, with their hash as computed here.
    pub fn carried(&self) -> Vec<(Section, String)> {
        self.carried_json()
            .into_iter()
            .map(|(section, json)| (section, json_hash(&json)))
            .collect()
    }

    /// The sections this report carries in full, each as its JSON: what the server hashes
    /// and stores, serialised once.
    pub fn carried_json(&self) -> Vec<(Section, String)> {
        let mut carried = Vec::new();
        let mut add = |section, json: Option<String>| {
            if let Some(json) = json {
                carried.push((section, json));
            }
        };
        add(Section::Hardware, self.hardware.as_ref().map(section_json));
        add(Section::Os, self.os.as_ref().map(section_json));
        add(Section::Packages, self.packages.as_ref().map(section_json));
        add(Section::Updates, self.updates.as_ref().map(section_json));
        add(Section::Services, self.services.as_ref().map(section_json));
        add(Section::Users, self.users.as_ref().map(section_json));
        carried
    }
}

/// How one package changed between two reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageChange<'a> {
    Installed(&'a Package),
    Removed(&'a Package),
    Changed {
        before: &'a Package,
        after: &'a Package,
    },
}

impl PackageChange<'_> {
    /// The name of the package that changed.
    pub fn name(&self) -> &str {
        match self {
            PackageChange::Installed(p) | PackageChange::Removed(p) => &p.name,
            PackageChange::Changed { after, .. } => &after.name,
        }
    }

    /// One line for the inventory history: `openssl 3.0.11 → 3.0.13`.
    pub fn describe(&self) -> String {
        match self {
            PackageChange::Installed(p) => format!("{} {} installed", p.name, p.version),
            PackageChange::Removed(p) => format!("{} {} removed", p.name, p.version),
            PackageChange::Changed { before, after } => {
                format!("{} {} → {}", after.name, before.version, after.version)
            }
        }
    }
}

/// The packages installed, removed or changed in version from `before` to `after`, keyed
/// by name and architecture, in name order. A key listed twice counts with its last entry.
pub fn package_changes<'a>(before: &'a [Package], after: &'a [Package]) -> Vec<PackageChange<'a>> {
    let (old, new) = (by_key(before), by_key(after));
    let mut changes = Vec::new();
    let mut removed = Vec::new();
    let (mut o, mut n) = (0, 0);
    // Both lists in key order: one walk through them side by side.
    loop {
        match (old.get(o), new.get(n)) {
            (Some(b), Some(p)) => match package_key(b).cmp(&package_key(p)) {
                std::cmp::Ordering::Less => {
                    removed.push(PackageChange::Removed(b));
                    o += 1;
                }
                std::cmp::Ordering::Greater => {
                    changes.push(PackageChange::Installed(p));
                    n += 1;
                }
                std::cmp::Ordering::Equal => {
                    if b.version != p.version {
                        changes.push(PackageChange::Changed {
                            before: b,
                            after: p,
                        });
                    }
                    o += 1;
                    n += 1;
                }
            },
            (Some(b), None) => {
                removed.push(PackageChange::Removed(b));
                o += 1;
            }
            (None, Some(p)) => {
                changes.push(PackageChange::Installed(p));
                n += 1;
            }
            (None, None) => break,
        }
    }
    changes.append(&mut removed);
    changes.sort_by(|a, b| a.name().cmp(b.name()));
    changes
}

fn package_key(p: &Package) -> (&str, Option<&str>) {
    (p.name.as_str(), p.architecture.as_deref())
}

/// `list` in key order, the last entry of a key listed twice only. Agents send their list
/// sorted, so the (stable) sort only checks the order.
fn by_key(list: &[Package]) -> Vec<&Package> {
    let mut sorted: Vec<&Package> = list.iter().collect();
    sorted.sort_by(|a, b| package_key(a).cmp(&package_key(b)));
    let mut unique: Vec<&Package> = Vec::with_capacity(sorted.len());
    for p in sorted {
        match unique.last_mut() {
            Some(last) if package_key(last) == package_key(p) => *last = p,
            _ => unique.push(p),
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use proptest::prelude::*;

    fn package(name: &str, version: &str) -> Package {
        Package {
            name: name.to_owned(),
            version: version.to_owned(),
            architecture: Some("amd64".to_owned()),
            manager: "dpkg".to_owned(),
        }
    }

    #[test]
    fn a_version_change_reads_as_an_upgrade() {
        let before = [package("openssl", "3.0.11"), package("curl", "7.88")];
        let after = [package("openssl", "3.0.13"), package("zsh", "5.9")];
        let lines: Vec<_> = package_changes(&before, &after)
            .iter()
            .map(PackageChange::describe)
            .collect();
        assert_eq!(
            lines,
            [
                "curl 7.88 removed",
                "openssl 3.0.11 → 3.0.13",
                "zsh 5.9 installed"
            ]
        );
    }

    #[test]
    fn a_report_names_the_sections_it_carries_with_their_hash() {
        let report = Report {
            os: Some(Os {
                name: "Debian GNU/Linux 12".into(),
                version: Some("12".into()),
                kernel: "6.1.0".into(),
                architecture: "x86_64".into(),
            }),
            packages: Some(vec![package("openssl", "3.0.13")]),
            ..Report::default()
        };
        let carried = report.carried();
        assert_eq!(carried.len(), 2);
        assert_eq!(carried[0], (Section::Os, section_hash(&report.os)));
        assert_eq!(carried[1].0, Section::Packages);
        assert_ne!(carried[0].1, carried[1].1);
    }

    #[test]
    #[allow(clippy::expect_used)]
    fn sections_read_by_name_in_hashes() {
        let json = r#"{"hostname":"h","uptime_seconds":5,"hashes":{"packages":"ab","os":"cd"}}"#;
        let report: Report = serde_json::from_str(json).expect("reads");
        assert_eq!(report.hashes[&Section::Packages], "ab");
        assert!(
            serde_json::from_str::<Report>(
                r#"{"hostname":"h","uptime_seconds":5,"hashes":{"kernel":"x"}}"#
            )
            .is_err()
        );
    }

    proptest! {
        /// In any order, with keys listed twice, the changes are those between the maps the
        /// lists make (the last entry of a key winning).
        #[test]
        fn changes_are_those_between_the_lists_as_maps(
            old in prop::collection::vec(("[a-c]{1,2}", "[0-2]", prop::bool::ANY), 0..12),
            new in prop::collection::vec(("[a-c]{1,2}", "[0-2]", prop::bool::ANY), 0..12),
        ) {
            let list = |entries: &[(String, String, bool)]| -> Vec<Package> {
                entries
                    .iter()
                    .map(|(name, version, all)| Package {
                        architecture: all.then(|| "all".to_owned()),
                        ..package(name, version)
                    })
                    .collect()
            };
            let (before, after) = (list(&old), list(&new));
            let map = |packages: &[Package]| -> BTreeMap<(String, Option<String>), String> {
                packages
                    .iter()
                    .map(|p| ((p.name.clone(), p.architecture.clone()), p.version.clone()))
                    .collect()
            };
            let mut state = map(&before);
            let mut names = Vec::new();
            for change in package_changes(&before, &after) {
                names.push(change.name().to_owned());
                match change {
                    PackageChange::Installed(p) => {
                        let key = (p.name.clone(), p.architecture.clone());
                        prop_assert!(state.insert(key, p.version.clone()).is_none());
                    }
                    PackageChange::Removed(p) => {
                        let key = (p.name.clone(), p.architecture.clone());
                        prop_assert_eq!(state.remove(&key), Some(p.version.clone()));
                    }
                    PackageChange::Changed { before, after } => {
                        prop_assert_ne!(&before.version, &after.version);
                        let key = (after.name.clone(), after.architecture.clone());
                        prop_assert_eq!(state.insert(key, after.version.clone()), Some(before.version.clone()));
                    }
                }
            }
            prop_assert_eq!(state, map(&after));
            prop_assert!(names.is_sorted());
        }

        /// Applying the changes to the old list gives the new one.
        #[test]
        fn changes_turn_the_old_list_into_the_new(
            old in prop::collection::btree_map("[a-e]{1,2}", "[0-3]", 0..12),
            new in prop::collection::btree_map("[a-e]{1,2}", "[0-3]", 0..12),
        ) {
            let before: Vec<_> = old.iter().map(|(n, v)| package(n, v)).collect();
            let after: Vec<_> = new.iter().map(|(n, v)| package(n, v)).collect();
            let mut state: BTreeMap<String, String> = old.clone();
            for change in package_changes(&before, &after) {
                match change {
                    PackageChange::Installed(p) => {
                        prop_assert!(state.insert(p.name.clone(), p.version.clone()).is_none());
                    }
                    PackageChange::Removed(p) => {
                        prop_assert!(state.remove(&p.name).is_some());
                    }
                    PackageChange::Changed { before, after } => {
                        prop_assert_ne!(&before.version, &after.version);
                        state.insert(after.name.clone(), after.version.clone());
                    }
                }
            }
            prop_assert_eq!(state, new);
        }
    }
}
