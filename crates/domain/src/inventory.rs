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
    let json = serde_json::to_vec(section).unwrap_or_default();
    hex::encode(Sha256::digest(json))
}

impl Report {
    /// The sections this report carries in full, with their hash as computed here.
    pub fn carried(&self) -> Vec<(Section, String)> {
        let mut carried = Vec::new();
        let mut add = |section, hash: Option<String>| {
            if let Some(hash) = hash {
                carried.push((section, hash));
            }
        };
        add(Section::Hardware, self.hardware.as_ref().map(section_hash));
        add(Section::Os, self.os.as_ref().map(section_hash));
        add(Section::Packages, self.packages.as_ref().map(section_hash));
        add(Section::Updates, self.updates.as_ref().map(section_hash));
        add(Section::Services, self.services.as_ref().map(section_hash));
        add(Section::Users, self.users.as_ref().map(section_hash));
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
/// by name and architecture, in name order.
pub fn package_changes<'a>(before: &'a [Package], after: &'a [Package]) -> Vec<PackageChange<'a>> {
    let key = |p: &'a Package| (p.name.as_str(), p.architecture.as_deref());
    let old: BTreeMap<_, _> = before.iter().map(|p| (key(p), p)).collect();
    let new: BTreeMap<_, _> = after.iter().map(|p| (key(p), p)).collect();
    let mut changes = Vec::new();
    for (k, p) in &new {
        match old.get(k) {
            None => changes.push(PackageChange::Installed(p)),
            Some(b) if b.version != p.version => changes.push(PackageChange::Changed {
                before: b,
                after: p,
            }),
            Some(_) => {}
        }
    }
    for (k, p) in &old {
        if !new.contains_key(k) {
            changes.push(PackageChange::Removed(p));
        }
    }
    changes.sort_by(|a, b| name_of(a).cmp(name_of(b)));
    changes
}

fn name_of<'a>(change: &PackageChange<'a>) -> &'a str {
    match change {
        PackageChange::Installed(p) | PackageChange::Removed(p) => &p.name,
        PackageChange::Changed { after, .. } => &after.name,
    }
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
