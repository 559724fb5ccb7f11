//! Network devices read over SNMP, their interfaces, and the traffic their interface
//! checks measured.

use sqlx::AnyConnection;

use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeviceRow {
    pub id: i64,
    pub ci_id: i64,
    pub address: String,
    pub host: String,
    pub credentials: String,
    pub sys_descr: String,
    pub sys_object_id: String,
    pub sys_contact: String,
    pub discovered_at: i64,
    pub created_at: i64,
}

const DEVICE_COLUMNS: &str = "id, ci_id, address, host, credentials, sys_descr, sys_object_id, \
                              sys_contact, discovered_at, created_at";

/// A device to record, as discovery found it.
pub struct NewDevice<'a> {
    pub ci_id: i64,
    pub address: &'a str,
    pub host: &'a str,
    pub credentials: &'a str,
    pub sys_descr: &'a str,
    pub sys_object_id: &'a str,
    pub sys_contact: &'a str,
}

pub async fn insert_device(
    conn: &mut AnyConnection,
    device: &NewDevice<'_>,
    now: i64,
) -> Result<i64, StoreError> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO network_devices (ci_id, address, host, credentials, sys_descr, \
         sys_object_id, sys_contact, discovered_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
    )
    .bind(device.ci_id)
    .bind(device.address)
    .bind(device.host)
    .bind(device.credentials)
    .bind(device.sys_descr)
    .bind(device.sys_object_id)
    .bind(device.sys_contact)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

pub async fn device(conn: &mut AnyConnection, id: i64) -> Result<Option<DeviceRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {DEVICE_COLUMNS} FROM network_devices WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?)
}

pub async fn device_of_ci(
    conn: &mut AnyConnection,
    ci_id: i64,
) -> Result<Option<DeviceRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {DEVICE_COLUMNS} FROM network_devices WHERE ci_id = $1"
    ))
    .bind(ci_id)
    .fetch_optional(conn)
    .await?)
}

/// The devices at `host`: where a trap from that address comes from.
pub async fn devices_at(
    conn: &mut AnyConnection,
    host: &str,
) -> Result<Vec<DeviceRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {DEVICE_COLUMNS} FROM network_devices WHERE host = $1 ORDER BY id"
    ))
    .bind(host)
    .fetch_all(conn)
    .await?)
}

pub async fn devices(conn: &mut AnyConnection) -> Result<Vec<DeviceRow>, StoreError> {
    Ok(sqlx::query_as(sql!(
        "SELECT {DEVICE_COLUMNS} FROM network_devices ORDER BY id"
    ))
    .fetch_all(conn)
    .await?)
}

/// Address and credentials of the devices named, for the checks of their interfaces.
pub async fn credentials_of(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<(i64, String, String)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = crate::accounts::placeholders(1, ids.len());
    let mut query = sqlx::query_as(sql!(
        "SELECT id, address, credentials FROM network_devices WHERE id IN ({list})"
    ));
    for id in ids {
        query = query.bind(*id);
    }
    Ok(query.fetch_all(conn).await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct InterfaceRow {
    pub device_id: i64,
    pub if_index: i64,
    pub name: String,
    pub descr: String,
    pub alias: String,
    pub if_type: i64,
    pub speed_bps: Option<i64>,
    pub mac: Option<String>,
    pub admin_up: i64,
    pub oper_up: i64,
    pub monitor_id: Option<i64>,
}

pub async fn insert_interface(
    conn: &mut AnyConnection,
    row: &InterfaceRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO network_interfaces (device_id, if_index, name, descr, alias, if_type, \
         speed_bps, mac, admin_up, oper_up, monitor_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(row.device_id)
    .bind(row.if_index)
    .bind(&row.name)
    .bind(&row.descr)
    .bind(&row.alias)
    .bind(row.if_type)
    .bind(row.speed_bps)
    .bind(row.mac.as_deref())
    .bind(row.admin_up)
    .bind(row.oper_up)
    .bind(row.monitor_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_interface_monitor(
    conn: &mut AnyConnection,
    device_id: i64,
    if_index: i64,
    monitor_id: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE network_interfaces SET monitor_id = $3 WHERE device_id = $1 AND if_index = $2",
    )
    .bind(device_id)
    .bind(if_index)
    .bind(monitor_id)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn interfaces(
    conn: &mut AnyConnection,
    device_id: i64,
) -> Result<Vec<InterfaceRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT device_id, if_index, name, descr, alias, if_type, speed_bps, mac, admin_up, \
         oper_up, monitor_id FROM network_interfaces WHERE device_id = $1 ORDER BY if_index",
    )
    .bind(device_id)
    .fetch_all(conn)
    .await?)
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SampleRow {
    pub at: i64,
    pub in_bps: f64,
    pub out_bps: f64,
    pub utilisation_pct: Option<f64>,
    pub errors_per_min: f64,
    pub discards_per_min: f64,
}

pub async fn insert_sample(
    conn: &mut AnyConnection,
    monitor_id: i64,
    sample: &SampleRow,
) -> Result<(), StoreError> {
    // An absent utilisation is left out rather than bound: PostgreSQL refuses a NULL the
    // Any driver sends untyped for a DOUBLE PRECISION column.
    let (column, value) = match sample.utilisation_pct {
        Some(_) => (", utilisation_pct", ", $7"),
        None => ("", ""),
    };
    let mut query = sqlx::query(sql!(
        "INSERT INTO interface_samples (monitor_id, at, in_bps, out_bps, errors_per_min, \
         discards_per_min{column}) VALUES ($1, $2, $3, $4, $5, $6{value}) \
         ON CONFLICT (monitor_id, at) DO NOTHING"
    ))
    .bind(monitor_id)
    .bind(sample.at)
    .bind(sample.in_bps)
    .bind(sample.out_bps)
    .bind(sample.errors_per_min)
    .bind(sample.discards_per_min);
    if let Some(utilisation) = sample.utilisation_pct {
        query = query.bind(utilisation);
    }
    query.execute(conn).await?;
    Ok(())
}

/// An interface monitor's traffic since `since`, oldest first.
pub async fn samples(
    conn: &mut AnyConnection,
    monitor_id: i64,
    since: i64,
) -> Result<Vec<SampleRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT at, in_bps, out_bps, utilisation_pct, errors_per_min, discards_per_min \
         FROM interface_samples WHERE monitor_id = $1 AND at >= $2 ORDER BY at",
    )
    .bind(monitor_id)
    .bind(since)
    .fetch_all(conn)
    .await?)
}

/// Forgets traffic measured before `before`.
pub async fn prune_samples(conn: &mut AnyConnection, before: i64) -> Result<u64, StoreError> {
    Ok(sqlx::query("DELETE FROM interface_samples WHERE at < $1")
        .bind(before)
        .execute(conn)
        .await?
        .rows_affected())
}
