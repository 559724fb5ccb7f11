-- Network devices read over SNMP: the item each is, its address and credentials, the
-- interfaces discovery found (each watched by an snmp_interface monitor), and the traffic
-- each interface's checks measured, for its chart.
CREATE TABLE network_devices (
    id INTEGER PRIMARY KEY,
    ci_id INTEGER NOT NULL UNIQUE REFERENCES cis (id) ON DELETE CASCADE,
    -- host[:port] as given; host alone, to match the source of traps.
    address TEXT NOT NULL,
    host TEXT NOT NULL,
    -- The SNMP credentials as JSON (v2c community, or v3 authPriv); never shown.
    credentials TEXT NOT NULL,
    sys_descr TEXT NOT NULL,
    sys_object_id TEXT NOT NULL,
    sys_contact TEXT NOT NULL,
    discovered_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX network_devices_host ON network_devices (host);

CREATE TABLE network_interfaces (
    device_id INTEGER NOT NULL REFERENCES network_devices (id) ON DELETE CASCADE,
    if_index INTEGER NOT NULL,
    name TEXT NOT NULL,
    descr TEXT NOT NULL,
    alias TEXT NOT NULL,
    if_type INTEGER NOT NULL,
    speed_bps INTEGER,
    mac TEXT,
    admin_up INTEGER NOT NULL,
    oper_up INTEGER NOT NULL,
    monitor_id INTEGER REFERENCES monitors (id) ON DELETE SET NULL,
    PRIMARY KEY (device_id, if_index)
);

CREATE TABLE interface_samples (
    monitor_id INTEGER NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    at INTEGER NOT NULL,
    in_bps REAL NOT NULL,
    out_bps REAL NOT NULL,
    utilisation_pct REAL,
    errors_per_min REAL NOT NULL,
    discards_per_min REAL NOT NULL,
    PRIMARY KEY (monitor_id, at)
);
