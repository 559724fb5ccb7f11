//! The machine itself: SMBIOS identity, CPU, memory, disks and network interfaces, read
//! from `/sys` and `/proc`.

use std::collections::BTreeMap;
use std::path::Path;

use opsdesk_domain::inventory::{Disk, Hardware, Nic};

use crate::read_trimmed;

/// The CPU model and the number of logical processors in `/proc/cpuinfo`.
pub fn parse_cpuinfo(text: &str) -> (Option<String>, u32) {
    let mut model = None;
    let mut processors = 0_u32;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => processors += 1,
            // x86 says "model name"; older ARM kernels "Processor"; MIPS "cpu model".
            "model name" | "Processor" | "cpu model" if model.is_none() && !value.is_empty() => {
                model = Some(value.to_owned());
            }
            _ => {}
        }
    }
    (model, processors)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// Block devices that are not disks: loop files, RAM disks, compressed swap and
/// device-mapper volumes (their disks are reported already).
pub fn is_physical_disk(name: &str) -> bool {
    !["loop", "ram", "zram", "dm-"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

/// Addresses per interface from `ip -o addr` output (`192.0.2.7/24`), in the order given.
pub fn parse_ip_addresses(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut addresses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(_index), Some(name), Some(family), Some(address)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if family != "inet" && family != "inet6" {
            continue;
        }
        // Some interfaces print as `veth0@if4`; sysfs knows them as `veth0`.
        let name = name.split('@').next().unwrap_or(name).trim_end_matches(':');
        addresses
            .entry(name.to_owned())
            .or_default()
            .push(address.to_owned());
    }
    addresses
}

/// A MAC address as sysfs prints it, lower case; none for the all-zero address of
/// interfaces that have no hardware.
pub fn normalize_mac(text: &str) -> Option<String> {
    let mac = text.trim().to_ascii_lowercase();
    if mac.is_empty() || mac.chars().all(|c| c == '0' || c == ':') {
        None
    } else {
        Some(mac)
    }
}

/// Reads the hardware from `root` (`/` on a real machine); `ip_output` is the output of
/// `ip -o addr`, when that tool ran.
pub fn read(root: &Path, ip_output: Option<&str>) -> Hardware {
    let dmi = root.join("sys/class/dmi/id");
    let dmi_value = |name: &str| read_trimmed(&dmi.join(name)).filter(|v| !v.is_empty());
    let (cpu_model, processors) = std::fs::read_to_string(root.join("proc/cpuinfo"))
        .map(|text| parse_cpuinfo(&text))
        .unwrap_or((None, 0));
    let cpu_cores = if processors > 0 {
        processors
    } else {
        std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
    };
    let memory_bytes = std::fs::read_to_string(root.join("proc/meminfo"))
        .ok()
        .and_then(|text| parse_meminfo_total(&text))
        .unwrap_or(0);
    Hardware {
        vendor: dmi_value("sys_vendor"),
        model: dmi_value("product_name"),
        serial_number: dmi_value("product_serial"),
        smbios_uuid: dmi_value("product_uuid").map(|uuid| uuid.to_ascii_lowercase()),
        cpu_model,
        cpu_cores,
        memory_bytes,
        disks: read_disks(&root.join("sys/block")),
        nics: read_nics(
            &root.join("sys/class/net"),
            &ip_output.map(parse_ip_addresses).unwrap_or_default(),
        ),
    }
}

fn directory_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn read_disks(sys_block: &Path) -> Vec<Disk> {
    directory_names(sys_block)
        .into_iter()
        .filter(|name| is_physical_disk(name))
        .filter_map(|name| {
            let dir = sys_block.join(&name);
            let sectors: u64 = read_trimmed(&dir.join("size"))?.parse().ok()?;
            // Empty card readers and optical drives without a disc report no size.
            (sectors > 0).then(|| Disk {
                size_bytes: sectors.saturating_mul(512),
                model: read_trimmed(&dir.join("device/model")).filter(|m| !m.is_empty()),
                name,
            })
        })
        .collect()
}

fn read_nics(sys_net: &Path, addresses: &BTreeMap<String, Vec<String>>) -> Vec<Nic> {
    directory_names(sys_net)
        .into_iter()
        .filter(|name| name != "lo")
        .map(|name| Nic {
            mac: read_trimmed(&sys_net.join(&name).join("address"))
                .and_then(|mac| normalize_mac(&mac)),
            addresses: addresses.get(&name).cloned().unwrap_or_default(),
            name,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two processors of this development machine's /proc/cpuinfo, shortened.
    const CPUINFO_X86: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n\
        model\t\t: 167\nmodel name\t: Intel(R) Xeon(R) Processor\nstepping\t: 1\n\
        cpu MHz\t\t: 2600.000\ncpu cores\t: 2\nflags\t\t: fpu vme de pse tsc msr\n\n\
        processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n\
        cpu cores\t: 2\n\n";

    /// A Raspberry Pi (ARMv7, older kernel): the model is per machine, not per processor.
    const CPUINFO_ARM: &str = "Processor\t: ARMv7 Processor rev 4 (v7l)\nprocessor\t: 0\n\
        BogoMIPS\t: 38.40\n\nprocessor\t: 1\nBogoMIPS\t: 38.40\n\n\
        Hardware\t: BCM2835\nRevision\t: a02082\n";

    #[test]
    fn cpuinfo_gives_the_model_and_the_processor_count() {
        assert_eq!(
            parse_cpuinfo(CPUINFO_X86),
            (Some("Intel(R) Xeon(R) Processor".to_owned()), 2)
        );
        assert_eq!(
            parse_cpuinfo(CPUINFO_ARM),
            (Some("ARMv7 Processor rev 4 (v7l)".to_owned()), 2)
        );
        assert_eq!(parse_cpuinfo(""), (None, 0));
    }

    #[test]
    fn meminfo_total_is_in_bytes() {
        let meminfo = "MemTotal:       24683772 kB\nMemFree:         1234567 kB\n";
        assert_eq!(parse_meminfo_total(meminfo), Some(24_683_772 * 1024));
        assert_eq!(parse_meminfo_total("MemFree: 12 kB\n"), None);
    }

    #[test]
    fn virtual_block_devices_are_not_disks() {
        for name in ["loop0", "ram1", "zram0", "dm-0"] {
            assert!(!is_physical_disk(name), "{name}");
        }
        for name in ["sda", "vda", "nvme0n1", "mmcblk0", "xvda"] {
            assert!(is_physical_disk(name), "{name}");
        }
    }

    #[test]
    fn ip_output_gives_addresses_per_interface() {
        // `ip -o addr` on this development machine, plus a veth pair as containers make.
        let output = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
            1: lo    inet6 ::1/128 scope host \\       valid_lft forever preferred_lft forever\n\
            4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever\n\
            4: eth0    inet6 fd00::2/64 scope global nodad \\       valid_lft forever preferred_lft forever\n\
            4: eth0    inet6 fe80::fc:ff:fe00:1/64 scope link \\       valid_lft forever preferred_lft forever\n\
            7: veth0@if6    inet 10.1.0.1/31 scope global veth0\\       valid_lft forever preferred_lft forever\n";
        let addresses = parse_ip_addresses(output);
        assert_eq!(
            addresses.get("eth0").map(Vec::as_slice),
            Some(
                &[
                    "192.0.2.2/24".to_owned(),
                    "fd00::2/64".to_owned(),
                    "fe80::fc:ff:fe00:1/64".to_owned()
                ][..]
            )
        );
        assert_eq!(
            addresses.get("veth0").map(Vec::as_slice),
            Some(&["10.1.0.1/31".to_owned()][..])
        );
        assert_eq!(addresses.len(), 3);
    }

    #[test]
    fn macs_are_lower_case_and_the_zero_mac_is_none() {
        assert_eq!(
            normalize_mac("02:FC:00:00:00:01\n"),
            Some("02:fc:00:00:00:01".to_owned())
        );
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(normalize_mac(""), None);
    }

    #[test]
    fn a_sysfs_tree_reads_as_hardware() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        let write = |path: &str, text: &str| -> std::io::Result<()> {
            let path = root.path().join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)
        };
        write("sys/class/dmi/id/sys_vendor", "Dell Inc.\n")?;
        write("sys/class/dmi/id/product_name", "PowerEdge R650\n")?;
        write(
            "sys/class/dmi/id/product_uuid",
            "4C4C4544-0042-3510-8051-B4C04F4E4E32\n",
        )?;
        write("proc/cpuinfo", CPUINFO_X86)?;
        write("proc/meminfo", "MemTotal: 1024 kB\n")?;
        write("sys/block/sda/size", "1953525168\n")?;
        write("sys/block/sda/device/model", "PERC H755        \n")?;
        write("sys/block/loop0/size", "0\n")?;
        write("sys/block/sr0/size", "0\n")?;
        write("sys/class/net/lo/address", "00:00:00:00:00:00\n")?;
        write("sys/class/net/eno1/address", "b0:7b:25:aa:bb:cc\n")?;
        let hardware = read(
            root.path(),
            Some("2: eno1    inet 198.51.100.4/24 brd 198.51.100.255 scope global eno1\n"),
        );
        assert_eq!(hardware.vendor.as_deref(), Some("Dell Inc."));
        assert_eq!(hardware.model.as_deref(), Some("PowerEdge R650"));
        assert_eq!(hardware.serial_number, None);
        assert_eq!(
            hardware.smbios_uuid.as_deref(),
            Some("4c4c4544-0042-3510-8051-b4c04f4e4e32")
        );
        assert_eq!(hardware.cpu_cores, 2);
        assert_eq!(hardware.memory_bytes, 1024 * 1024);
        assert_eq!(
            hardware.disks,
            [Disk {
                name: "sda".into(),
                size_bytes: 1_953_525_168 * 512,
                model: Some("PERC H755".into())
            }]
        );
        assert_eq!(
            hardware.nics,
            [Nic {
                name: "eno1".into(),
                mac: Some("b0:7b:25:aa:bb:cc".into()),
                addresses: vec!["198.51.100.4/24".into()]
            }]
        );
        Ok(())
    }
}
