//! Listening services: TCP sockets in the LISTEN state and bound, unconnected UDP sockets,
//! from `/proc/net`, with the owning process's name when `/proc/PID/fd` is readable.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;

use opsdesk_domain::inventory::ListeningService;

/// `TCP_LISTEN` in the kernel's state numbering.
const TCP_LISTEN: &str = "0A";
/// `TCP_CLOSE`: what an unconnected UDP socket shows.
const UDP_UNCONNECTED: &str = "07";

/// A socket found in a `/proc/net` table, with the inode that links it to its process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Socket {
    pub address: String,
    pub port: u16,
    pub inode: u64,
}

/// An address as `/proc/net` prints it: the bytes of the address in 32-bit words, each in
/// the machine's byte order, then the port in hex.
pub fn parse_socket_address(text: &str) -> Option<(String, u16)> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words = address
        .as_bytes()
        .chunks(8)
        .map(|word| {
            let word = std::str::from_utf8(word).ok()?;
            u32::from_str_radix(word, 16).ok().map(u32::to_ne_bytes)
        })
        .collect::<Option<Vec<_>>>()?;
    let address = match (address.len(), words.as_slice()) {
        (8, [word]) => Ipv4Addr::from(*word).to_string(),
        (32, [a, b, c, d]) => {
            let mut bytes = [0_u8; 16];
            for (chunk, word) in bytes.chunks_mut(4).zip([a, b, c, d]) {
                chunk.copy_from_slice(word);
            }
            let v6 = Ipv6Addr::from(bytes);
            // A dual-stack socket bound to an IPv4 address shows it mapped (`::ffff:a.b.c.d`).
            v6.to_ipv4_mapped()
                .map_or_else(|| v6.to_string(), |v4| v4.to_string())
        }
        _ => return None,
    };
    Some((address, port))
}

/// The listening sockets in one `/proc/net/{tcp,tcp6,udp,udp6}` table.
pub fn parse_socket_table(text: &str, listening_state: &str) -> Vec<Socket> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, remote, state, inode) = (
                fields.get(1)?,
                fields.get(2)?,
                fields.get(3)?,
                fields.get(9)?,
            );
            if *state != listening_state {
                return None;
            }
            let (_, remote_port) = parse_socket_address(remote)?;
            let (address, port) = parse_socket_address(local)?;
            // A UDP socket with a peer is a client's, not a service's.
            (remote_port == 0 && port != 0).then(|| Socket {
                address,
                port,
                inode: inode.parse().unwrap_or(0),
            })
        })
        .collect()
}

/// The inode of a `socket:[12345]` link in `/proc/PID/fd`.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// Which process holds each of `wanted`'s socket inodes, by name, as far as `/proc` lets
/// this user see. Stops once all are found.
fn process_names(proc_root: &Path, wanted: &BTreeSet<u64>) -> BTreeMap<u64, String> {
    let mut names = BTreeMap::new();
    let Ok(processes) = std::fs::read_dir(proc_root) else {
        return names;
    };
    for process in processes.filter_map(Result::ok) {
        if names.len() == wanted.len() {
            break;
        }
        let pid_dir = process.path();
        let is_pid = process
            .file_name()
            .to_str()
            .is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()));
        if !is_pid {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(pid_dir.join("fd")) else {
            continue;
        };
        let mut command_name = None;
        for fd in fds.filter_map(Result::ok) {
            let Some(inode) = std::fs::read_link(fd.path())
                .ok()
                .and_then(|link| socket_inode(&link.to_string_lossy()))
            else {
                continue;
            };
            if !wanted.contains(&inode) || names.contains_key(&inode) {
                continue;
            }
            if command_name.is_none() {
                command_name = crate::read_trimmed(&pid_dir.join("comm"));
            }
            if let Some(name) = &command_name {
                names.insert(inode, name.clone());
            }
        }
    }
    names
}

/// Every listening service on the machine whose `/proc` is at `proc_root`, sorted, each
/// once.
pub fn read(proc_root: &Path) -> Vec<ListeningService> {
    let tables = [
        ("tcp", "net/tcp", TCP_LISTEN),
        ("tcp", "net/tcp6", TCP_LISTEN),
        ("udp", "net/udp", UDP_UNCONNECTED),
        ("udp", "net/udp6", UDP_UNCONNECTED),
    ];
    let sockets: Vec<(&str, Socket)> = tables
        .iter()
        .flat_map(|(protocol, table, state)| {
            std::fs::read_to_string(proc_root.join(table))
                .map(|text| parse_socket_table(&text, state))
                .unwrap_or_default()
                .into_iter()
                .map(|socket| (*protocol, socket))
        })
        .collect();
    let wanted: BTreeSet<u64> = sockets
        .iter()
        .map(|(_, socket)| socket.inode)
        .filter(|inode| *inode != 0)
        .collect();
    let names = if wanted.is_empty() {
        BTreeMap::new()
    } else {
        process_names(proc_root, &wanted)
    };
    let mut services: Vec<ListeningService> = sockets
        .into_iter()
        .map(|(protocol, socket)| ListeningService {
            protocol: protocol.to_owned(),
            process: names.get(&socket.inode).cloned(),
            address: socket.address,
            port: socket.port,
        })
        .collect();
    services.sort();
    services.dedup();
    services
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/net/tcp` of this development machine, shortened, plus an established
    /// connection that must not count.
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   107        0 10664 1 000000000df559c6 100 0 0 10 0\n\
           1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4899 1 00000000ec935f99 100 0 0 10 0\n\
           2: 0202000A:0016 0101000A:D431 01 00000000:00000000 02:0007A3D5 00000000     0        0 50123 4 0000000000000000 20 4 1 10 -1\n";

    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 00000000000000000000000001000000:1111 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 6126 1 0000000085e33630 100 0 0 10 0\n\
           1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7001 1 0000000085e33630 100 0 0 10 0\n\
           2: 0000000000000000FFFF00000202000A:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7002 1 0000000085e33630 100 0 0 10 0\n\
           3: 000080FE00000000FF03FC0201FE00FD:0035 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 7003 1 0000000085e33630 100 0 0 10 0\n";

    /// A resolver bound on loopback and a connected client socket.
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
         1234: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 8812 2 0000000000000000 0\n\
         1300: 0202000A:A1B2 08080808:0035 01 00000000:00000000 00:00000000 00000000  1000        0 9913 2 0000000000000000 0\n";

    fn socket(address: &str, port: u16, inode: u64) -> Socket {
        Socket {
            address: address.into(),
            port,
            inode,
        }
    }

    #[test]
    fn tcp_keeps_only_listening_sockets() {
        assert_eq!(
            parse_socket_table(TCP, TCP_LISTEN),
            [
                socket("127.0.0.1", 3306, 10664),
                socket("0.0.0.0", 22, 4899)
            ]
        );
    }

    #[test]
    fn tcp6_addresses_read_in_machine_word_order() {
        if cfg!(target_endian = "big") {
            return; // The sample was taken on a little-endian machine.
        }
        assert_eq!(
            parse_socket_table(TCP6, TCP_LISTEN),
            [
                socket("::1", 4369, 6126),
                socket("::", 80, 7001),
                socket("10.0.2.2", 443, 7002),
                socket("fe80::2fc:3ff:fd00:fe01", 53, 7003),
            ]
        );
    }

    #[test]
    fn udp_keeps_only_unconnected_sockets() {
        if cfg!(target_endian = "big") {
            return;
        }
        assert_eq!(
            parse_socket_table(UDP, UDP_UNCONNECTED),
            [socket("127.0.0.53", 53, 8812)]
        );
    }

    #[test]
    fn malformed_addresses_are_skipped() {
        assert_eq!(parse_socket_address("0100007F"), None);
        assert_eq!(parse_socket_address("0100007:0016"), None);
        assert_eq!(parse_socket_address("zz00007F:0016"), None);
        assert_eq!(parse_socket_table("header\n garbage\n", TCP_LISTEN), []);
    }

    #[test]
    fn socket_links_give_their_inode() {
        assert_eq!(socket_inode("socket:[10664]"), Some(10664));
        assert_eq!(socket_inode("pipe:[10664]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn a_proc_tree_names_the_listening_processes() -> std::io::Result<()> {
        if cfg!(target_endian = "big") {
            return Ok(());
        }
        let proc_root = tempfile::tempdir()?;
        let root = proc_root.path();
        std::fs::create_dir_all(root.join("net"))?;
        std::fs::write(root.join("net/tcp"), TCP)?;
        std::fs::write(root.join("net/udp"), UDP)?;
        std::fs::create_dir_all(root.join("812/fd"))?;
        std::fs::write(root.join("812/comm"), "sshd\n")?;
        std::os::unix::fs::symlink("socket:[4899]", root.join("812/fd/3"))?;
        std::os::unix::fs::symlink("/dev/null", root.join("812/fd/0"))?;
        let services = read(root);
        let listed: Vec<_> = services
            .iter()
            .map(|s| {
                (
                    s.protocol.as_str(),
                    s.address.as_str(),
                    s.port,
                    s.process.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                ("tcp", "0.0.0.0", 22, Some("sshd")),
                ("tcp", "127.0.0.1", 3306, None),
                ("udp", "127.0.0.53", 53, None),
            ]
        );
        Ok(())
    }
}
