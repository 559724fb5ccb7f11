//! The MIB objects opsdesk reads: the system group (RFC 3418) and the interface tables
//! ifTable (RFC 1213/2863) and ifXTable (RFC 2863), with what each column's value means.

use async_snmp::{Oid, Value};

/// `system` (1.3.6.1.2.1.1): its scalars are `SYSTEM.N.0`.
pub(crate) const SYSTEM: [u32; 7] = [1, 3, 6, 1, 2, 1, 1];
pub(crate) const SYS_DESCR: u32 = 1;
pub(crate) const SYS_OBJECT_ID: u32 = 2;
pub(crate) const SYS_UPTIME: u32 = 3;
pub(crate) const SYS_CONTACT: u32 = 4;
pub(crate) const SYS_NAME: u32 = 5;
pub(crate) const SYS_LOCATION: u32 = 6;

/// `ifEntry` (1.3.6.1.2.1.2.2.1): the columns of ifTable.
const IF_ENTRY: [u32; 9] = [1, 3, 6, 1, 2, 1, 2, 2, 1];
/// `ifXEntry` (1.3.6.1.2.1.31.1.1.1): the columns of ifXTable.
const IF_X_ENTRY: [u32; 10] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1];

/// `ifIndex` (1.3.6.1.2.1.2.2.1.1): the varbind a linkUp/linkDown trap names its
/// interface with.
pub(crate) const IF_INDEX: [u32; 10] = [1, 3, 6, 1, 2, 1, 2, 2, 1, 1];

/// The scalar `system.arc.0`.
pub(crate) fn system_scalar(arc: u32) -> Oid {
    let [a, b, c, d, e, f, g] = SYSTEM;
    Oid::from([a, b, c, d, e, f, g, arc, 0])
}

/// The interface-table columns opsdesk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Descr,
    Type,
    Speed,
    PhysAddress,
    AdminStatus,
    OperStatus,
    InOctets,
    InDiscards,
    InErrors,
    OutOctets,
    OutDiscards,
    OutErrors,
    Name,
    HcInOctets,
    HcOutOctets,
    HighSpeed,
    Alias,
}

impl Column {
    /// Every column, read by discovery.
    pub(crate) const ALL: [Column; 17] = [
        Column::Descr,
        Column::Type,
        Column::Speed,
        Column::PhysAddress,
        Column::AdminStatus,
        Column::OperStatus,
        Column::InOctets,
        Column::InDiscards,
        Column::InErrors,
        Column::OutOctets,
        Column::OutDiscards,
        Column::OutErrors,
        Column::Name,
        Column::HcInOctets,
        Column::HcOutOctets,
        Column::HighSpeed,
        Column::Alias,
    ];

    /// The columns of one poll, 64-bit octet counters first tried; a device without them
    /// is asked for [`Column::InOctets`] and [`Column::OutOctets`] after.
    pub(crate) const POLLED: [Column; 8] = [
        Column::AdminStatus,
        Column::OperStatus,
        Column::HcInOctets,
        Column::HcOutOctets,
        Column::InErrors,
        Column::OutErrors,
        Column::InDiscards,
        Column::OutDiscards,
    ];

    /// Whether the column is in ifXTable (else ifTable), and its arc in the entry.
    const fn place(self) -> (bool, u32) {
        match self {
            Column::Descr => (false, 2),
            Column::Type => (false, 3),
            Column::Speed => (false, 5),
            Column::PhysAddress => (false, 6),
            Column::AdminStatus => (false, 7),
            Column::OperStatus => (false, 8),
            Column::InOctets => (false, 10),
            Column::InDiscards => (false, 13),
            Column::InErrors => (false, 14),
            Column::OutOctets => (false, 16),
            Column::OutDiscards => (false, 19),
            Column::OutErrors => (false, 20),
            Column::Name => (true, 1),
            Column::HcInOctets => (true, 6),
            Column::HcOutOctets => (true, 10),
            Column::HighSpeed => (true, 15),
            Column::Alias => (true, 18),
        }
    }

    /// The column's OID, the root of a walk over it.
    pub(crate) fn oid(self) -> Oid {
        let (extended, arc) = self.place();
        let mut arcs = Vec::with_capacity(IF_X_ENTRY.len() + 1);
        arcs.extend_from_slice(if extended { &IF_X_ENTRY } else { &IF_ENTRY });
        arcs.push(arc);
        Oid::from(arcs)
    }

    /// The column's cell for interface `index`. Built on the stack: OIDs this short stay
    /// inline, so a poll allocates no memory per cell.
    pub(crate) fn cell(self, index: u32) -> Oid {
        let (extended, arc) = self.place();
        if extended {
            let [a, b, c, d, e, f, g, h, i, j] = IF_X_ENTRY;
            Oid::from([a, b, c, d, e, f, g, h, i, j, arc, index])
        } else {
            let [a, b, c, d, e, f, g, h, i] = IF_ENTRY;
            Oid::from([a, b, c, d, e, f, g, h, i, arc, index])
        }
    }

    /// The column and interface index of a cell's OID; none for any other object.
    pub(crate) fn of_cell(oid: &Oid) -> Option<(Column, u32)> {
        let arcs = oid.arcs();
        let (extended, rest) = if let Some(rest) = arcs.strip_prefix(&IF_ENTRY[..]) {
            (false, rest)
        } else if let Some(rest) = arcs.strip_prefix(&IF_X_ENTRY[..]) {
            (true, rest)
        } else {
            return None;
        };
        let [arc, index] = rest else {
            return None;
        };
        Column::ALL
            .into_iter()
            .find(|column| column.place() == (extended, *arc))
            .map(|column| (column, *index))
    }
}

/// One interface's cells as read, before they become an [`crate::Interface`] or an
/// [`opsdesk_domain::network::InterfaceSample`]. Absent cells stay `None`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Row {
    pub(crate) descr: Option<String>,
    pub(crate) if_type: Option<u32>,
    pub(crate) speed: Option<u32>,
    pub(crate) phys_address: Option<Vec<u8>>,
    pub(crate) admin_status: Option<i32>,
    pub(crate) oper_status: Option<i32>,
    pub(crate) in_octets: Option<u64>,
    pub(crate) out_octets: Option<u64>,
    pub(crate) in_errors: Option<u64>,
    pub(crate) out_errors: Option<u64>,
    pub(crate) in_discards: Option<u64>,
    pub(crate) out_discards: Option<u64>,
    pub(crate) name: Option<String>,
    pub(crate) hc_in_octets: Option<u64>,
    pub(crate) hc_out_octets: Option<u64>,
    pub(crate) high_speed: Option<u32>,
    pub(crate) alias: Option<String>,
}

/// Text from an octet string: lossy UTF-8 without the trailing NULs some agents send.
fn text(value: &Value) -> Option<String> {
    value.as_bytes().map(|bytes| {
        String::from_utf8_lossy(bytes)
            .trim_end_matches('\0')
            .to_owned()
    })
}

impl Row {
    /// Records `value` as the cell of `column`; exceptions (noSuchObject, noSuchInstance,
    /// endOfMibView) and values of the wrong type leave the cell absent.
    pub(crate) fn set(&mut self, column: Column, value: &Value) {
        match column {
            Column::Descr => self.descr = text(value),
            Column::Type => self.if_type = value.as_i32().and_then(|t| u32::try_from(t).ok()),
            Column::Speed => self.speed = value.as_u32(),
            Column::PhysAddress => self.phys_address = value.as_bytes().map(<[u8]>::to_vec),
            Column::AdminStatus => self.admin_status = value.as_i32(),
            Column::OperStatus => self.oper_status = value.as_i32(),
            Column::InOctets => self.in_octets = value.as_u64(),
            Column::InDiscards => self.in_discards = value.as_u64(),
            Column::InErrors => self.in_errors = value.as_u64(),
            Column::OutOctets => self.out_octets = value.as_u64(),
            Column::OutDiscards => self.out_discards = value.as_u64(),
            Column::OutErrors => self.out_errors = value.as_u64(),
            Column::Name => self.name = text(value),
            Column::HcInOctets => self.hc_in_octets = value.as_u64(),
            Column::HcOutOctets => self.hc_out_octets = value.as_u64(),
            Column::HighSpeed => self.high_speed = value.as_u32(),
            Column::Alias => self.alias = text(value),
        }
    }

    /// Whether both 64-bit octet counters were read.
    pub(crate) fn has_hc_octets(&self) -> bool {
        self.hc_in_octets.is_some() && self.hc_out_octets.is_some()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn cells_name_their_column_and_interface() {
        for column in Column::ALL {
            let cell = column.cell(17);
            assert!(cell.starts_with(&column.oid()), "{column:?}");
            assert_eq!(Column::of_cell(&cell), Some((column, 17)));
        }
        assert_eq!(
            Column::OperStatus.cell(2).to_string(),
            "1.3.6.1.2.1.2.2.1.8.2"
        );
        assert_eq!(
            Column::HcInOctets.cell(3).to_string(),
            "1.3.6.1.2.1.31.1.1.1.6.3"
        );
        assert_eq!(system_scalar(SYS_UPTIME).to_string(), "1.3.6.1.2.1.1.3.0");
        for other in [
            "1.3.6.1.2.1.1.3.0",
            "1.3.6.1.2.1.2.2.1.8",
            "1.3.6.1.2.1.2.2.1.4.1",
        ] {
            assert_eq!(
                Column::of_cell(&Oid::parse(other).unwrap()),
                None,
                "{other}"
            );
        }
    }

    #[test]
    fn exceptions_leave_a_cell_absent() {
        let mut row = Row::default();
        row.set(Column::HcInOctets, &Value::Counter64(5));
        row.set(Column::HcOutOctets, &Value::NoSuchObject);
        row.set(
            Column::Name,
            &Value::OctetString(b"eth0\0".as_slice().into()),
        );
        assert_eq!(row.hc_in_octets, Some(5));
        assert!(!row.has_hc_octets());
        assert_eq!(row.name.as_deref(), Some("eth0"));
    }
}
