-- Running nodes renew their row every second. A node's monitor leases and job leases hold
-- only while its row is fresh, so a killed node's work passes to the others within seconds
-- rather than when a lease sized for a whole check timeout or job run runs out.
CREATE TABLE nodes (
    name TEXT PRIMARY KEY,
    alive_until BIGINT NOT NULL
);
