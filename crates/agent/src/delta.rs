//! Which sections a report carries in full: those whose hash differs from the one the
//! server last acknowledged. Pure functions, so the rules are tested without a server.

use std::collections::BTreeMap;

use opsdesk_domain::inventory::{Report, ReportReply, Section, section_hash};

use crate::inventory::Inventory;

/// The hash of each section the server has taken, as far as this agent knows.
pub type Acknowledged = BTreeMap<Section, String>;

/// Every section's hash in `inventory`.
pub fn section_hashes(inventory: &Inventory) -> BTreeMap<Section, String> {
    BTreeMap::from([
        (Section::Hardware, section_hash(&inventory.hardware)),
        (Section::Os, section_hash(&inventory.os)),
        (Section::Packages, section_hash(&inventory.packages)),
        (Section::Updates, section_hash(&inventory.updates)),
        (Section::Services, section_hash(&inventory.services)),
        (Section::Users, section_hash(&inventory.users)),
    ])
}

/// The report for `inventory`: every hash, and in full each section whose hash is not the
/// acknowledged one.
pub fn build_report(inventory: &Inventory, acknowledged: &Acknowledged) -> Report {
    let hashes = section_hashes(inventory);
    let changed = |section: Section| acknowledged.get(&section) != hashes.get(&section);
    Report {
        hostname: inventory.hostname.clone(),
        uptime_seconds: inventory.uptime_seconds,
        hardware: changed(Section::Hardware).then(|| inventory.hardware.clone()),
        os: changed(Section::Os).then(|| inventory.os.clone()),
        packages: changed(Section::Packages).then(|| inventory.packages.clone()),
        updates: changed(Section::Updates).then(|| inventory.updates.clone()),
        services: changed(Section::Services).then(|| inventory.services.clone()),
        users: changed(Section::Users).then(|| inventory.users.clone()),
        hashes,
    }
}

/// Records what the server took with `report`: a section it carried, or left out because
/// the server held it already, is now acknowledged at the report's hash. A section the
/// server asks to have sent again loses its acknowledged hash, so the next report carries
/// it in full.
pub fn acknowledge(acknowledged: &mut Acknowledged, report: &Report, reply: &ReportReply) {
    let carried: BTreeMap<Section, String> = report.carried().into_iter().collect();
    for (section, hash) in &report.hashes {
        let taken = carried.get(section) == Some(hash) || acknowledged.get(section) == Some(hash);
        if taken {
            acknowledged.insert(*section, hash.clone());
        } else {
            acknowledged.remove(section);
        }
    }
    for section in &reply.resend {
        acknowledged.remove(section);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opsdesk_domain::inventory::{Os, Package};

    fn inventory() -> Inventory {
        Inventory {
            hostname: "web-1".into(),
            uptime_seconds: 600,
            os: Os {
                name: "Debian GNU/Linux 12 (bookworm)".into(),
                version: Some("12".into()),
                kernel: "6.1.0-18-amd64".into(),
                architecture: "x86_64".into(),
            },
            packages: vec![Package {
                name: "openssl".into(),
                version: "3.0.11-1~deb12u2".into(),
                architecture: Some("amd64".into()),
                manager: "dpkg".into(),
            }],
            ..Inventory::default()
        }
    }

    fn carried_sections(report: &Report) -> Vec<Section> {
        report.carried().into_iter().map(|(s, _)| s).collect()
    }

    const ALL: [Section; 6] = [
        Section::Hardware,
        Section::Os,
        Section::Packages,
        Section::Updates,
        Section::Services,
        Section::Users,
    ];

    #[test]
    fn a_new_agent_sends_every_section() {
        let report = build_report(&inventory(), &Acknowledged::new());
        assert_eq!(carried_sections(&report), ALL);
        assert_eq!(report.hashes.len(), 6);
        // The hashes the report names are those of what it carries.
        for (section, hash) in report.carried() {
            assert_eq!(report.hashes.get(&section), Some(&hash));
        }
    }

    #[test]
    fn only_changed_sections_go_in_full() {
        let mut machine = inventory();
        let mut acknowledged = Acknowledged::new();
        let first = build_report(&machine, &acknowledged);
        acknowledge(&mut acknowledged, &first, &ReportReply::default());
        assert_eq!(acknowledged, first.hashes);

        let quiet = build_report(&machine, &acknowledged);
        assert_eq!(carried_sections(&quiet), []);
        assert_eq!(quiet.hashes, first.hashes);

        machine.packages[0].version = "3.0.13-1~deb12u1".into();
        let upgraded = build_report(&machine, &acknowledged);
        assert_eq!(carried_sections(&upgraded), [Section::Packages]);
        acknowledge(&mut acknowledged, &upgraded, &ReportReply::default());
        assert_eq!(acknowledged, upgraded.hashes);
    }

    #[test]
    fn resend_makes_the_next_report_carry_the_section() {
        let machine = inventory();
        let mut acknowledged = Acknowledged::new();
        let first = build_report(&machine, &acknowledged);
        acknowledge(&mut acknowledged, &first, &ReportReply::default());

        let quiet = build_report(&machine, &acknowledged);
        let reply = ReportReply {
            resend: vec![Section::Users, Section::Os],
            report_every_seconds: 3600,
        };
        acknowledge(&mut acknowledged, &quiet, &reply);
        assert!(!acknowledged.contains_key(&Section::Users));
        assert!(!acknowledged.contains_key(&Section::Os));
        let again = build_report(&machine, &acknowledged);
        assert_eq!(carried_sections(&again), [Section::Os, Section::Users]);
    }

    #[test]
    fn a_stale_report_does_not_acknowledge_what_it_did_not_carry() {
        let machine = inventory();
        let mut acknowledged = Acknowledged::new();
        let mut report = build_report(&machine, &acknowledged);
        // A section left out although the server never acknowledged it.
        report.packages = None;
        acknowledge(&mut acknowledged, &report, &ReportReply::default());
        assert!(!acknowledged.contains_key(&Section::Packages));
        assert!(acknowledged.contains_key(&Section::Os));
    }
}
