//! Network devices over SNMP: adding one discovers its system data and interfaces into the
//! CMDB (a `network_device` item) and watches each interface that is not shut with an
//! `snmp_interface` monitor, whose checks open incidents like any other monitor's and
//! whose traffic is kept for a chart. Traps from a known device become alerts of the
//! integration the server names, with the device's item linked to the incident.

use jiff::Timestamp;
use opsdesk_domain::cmdb::{CiClass, Lifecycle, Source};
use opsdesk_domain::diagnostics::{DiagnosticKind, parse_target};
use opsdesk_domain::monitor::ProbeSettings;
use opsdesk_domain::network::{InterfaceSettings, InterfaceThresholds, TrapFacts, trap_notice};
use opsdesk_network::Credentials;
use opsdesk_store::cmdb::{self as cmdb_store, CiValues};
use opsdesk_store::network::{self as store, DeviceRow, InterfaceRow, NewDevice};
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::monitors::{IncidentSettings, NewMonitor};
use crate::{App, AppError, FieldError, Principal, timestamp};

/// How long discovery waits for each answer.
const DISCOVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How often interfaces are checked unless told otherwise, in seconds.
const DEFAULT_INTERVAL_S: i64 = 60;
/// How many days of interface traffic are kept.
pub(crate) const SAMPLES_KEPT_DAYS: i64 = 30;

/// A network device to add.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNetworkDevice {
    /// `host` or `host:port` (161 when absent).
    pub address: String,
    /// `{"version": "2c", "community"}` or `{"version": "3", "user", "auth_protocol",
    /// "auth_password", "privacy_protocol", "privacy_password"}` (authPriv only).
    #[schema(value_type = Object)]
    pub snmp: serde_json::Value,
    /// The organization it belongs to, by name.
    #[serde(default)]
    pub organization: Option<String>,
    /// The item's name; the device's `sysName` when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds between interface checks (60 when absent).
    #[serde(default)]
    pub interval_s: Option<i64>,
    /// Limits every interface monitor starts with.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub thresholds: Option<InterfaceThresholds>,
}

/// A network device: its item, what it says about itself, and its interfaces.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NetworkDevice {
    pub id: i64,
    /// Its configuration item.
    pub ci: i64,
    pub name: String,
    pub address: String,
    /// `2c` or `3` (the credentials themselves are never shown).
    pub snmp_version: String,
    pub description: String,
    pub object_id: String,
    pub contact: String,
    #[schema(value_type = String, format = DateTime)]
    pub discovered_at: Timestamp,
    pub interfaces: Vec<NetworkInterface>,
}

/// An interface of a network device.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NetworkInterface {
    /// `ifIndex`.
    pub index: i64,
    pub name: String,
    pub description: String,
    pub alias: String,
    pub if_type: i64,
    pub speed_bps: Option<i64>,
    pub mac: Option<String>,
    pub admin_up: bool,
    /// As discovered; the monitor has the live status.
    pub oper_up: bool,
    /// The `snmp_interface` monitor watching it.
    pub monitor: Option<i64>,
}

/// Traffic an interface monitor measured at one check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrafficSample {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub in_bps: f64,
    pub out_bps: f64,
    pub utilisation_pct: Option<f64>,
    pub errors_per_min: f64,
    pub discards_per_min: f64,
}

/// A trap as the listener received it, for [`App::receive_trap`].
#[derive(Debug, Clone)]
pub struct ReceivedTrap {
    pub source: std::net::IpAddr,
    pub name: Option<String>,
    pub trap_oid: String,
    pub if_index: Option<u32>,
}

fn device_view(row: DeviceRow, name: String, interfaces: Vec<InterfaceRow>) -> NetworkDevice {
    let version = serde_json::from_str::<Credentials>(&row.credentials)
        .map(|c| c.version().to_owned())
        .unwrap_or_default();
    NetworkDevice {
        id: row.id,
        ci: row.ci_id,
        name,
        address: row.address,
        snmp_version: version,
        description: row.sys_descr,
        object_id: row.sys_object_id,
        contact: row.sys_contact,
        discovered_at: timestamp(row.discovered_at),
        interfaces: interfaces
            .into_iter()
            .map(|i| NetworkInterface {
                index: i.if_index,
                name: i.name,
                description: i.descr,
                alias: i.alias,
                if_type: i.if_type,
                speed_bps: i.speed_bps,
                mac: i.mac,
                admin_up: i.admin_up != 0,
                oper_up: i.oper_up != 0,
                monitor: i.monitor_id,
            })
            .collect(),
    }
}

impl App {
    /// Adds a network device (staff): discovers it over SNMP, records it and its
    /// interfaces in the CMDB, and watches every interface not shut on purpose. A device
    /// that does not answer is refused with the reason, and nothing is kept.
    pub async fn add_network_device(
        &self,
        principal: &Principal,
        input: NewNetworkDevice,
    ) -> Result<NetworkDevice, AppError> {
        principal.require_staff()?;
        let mut errors = Vec::new();
        let host = match parse_target(DiagnosticKind::Ping, input.address.trim())
            .or_else(|_| parse_target(DiagnosticKind::Tcp, input.address.trim()))
        {
            Ok(target) => target.host,
            Err(e) => {
                errors.push(FieldError::new("address", e.to_string()));
                String::new()
            }
        };
        let credentials: Option<Credentials> = match serde_json::from_value(input.snmp.clone()) {
            Ok(credentials) => Some(credentials),
            Err(e) => {
                errors.push(FieldError::new("snmp", e.to_string()));
                None
            }
        };
        let interval_s = input.interval_s.unwrap_or(DEFAULT_INTERVAL_S);
        if !(1..=86_400).contains(&interval_s) {
            errors.push(FieldError::new("interval_s", "from 1 to 86400"));
        }
        let (Some(credentials), true) = (credentials, errors.is_empty()) else {
            return Err(AppError::Invalid(errors));
        };
        let address = input.address.trim().to_owned();
        let device = opsdesk_network::discover(&address, &credentials, DISCOVERY_TIMEOUT)
            .await
            .map_err(|e| AppError::invalid("address", e.to_string()))?;
        let name = input
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .or_else(|| Some(device.system.name.clone()).filter(|n| !n.is_empty()))
            .unwrap_or_else(|| address.clone());
        let credentials_json =
            serde_json::to_string(&credentials).map_err(|e| AppError::internal("snmp", e))?;
        let system = device.system.clone();
        let interfaces = device.interfaces.clone();
        let organization = input.organization.clone();
        let (id, ci) = {
            let (name, address, host) = (name.clone(), address.clone(), host.clone());
            self.change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let organization =
                        crate::cmdb::organization_id(tx.conn, organization.as_deref()).await?;
                    if !tx.principal.can_see_organization(organization) {
                        return Err(AppError::invalid("organization", "no such organization"));
                    }
                    let fields = serde_json::json!({"snmp_description": system.descr,
                        "snmp_object_id": system.object_id, "snmp_location": system.location});
                    let values = CiValues {
                        class: CiClass::NetworkDevice.as_str().to_owned(),
                        name: name.clone(),
                        organization_id: organization,
                        lifecycle: Lifecycle::Deployed.as_str().to_owned(),
                        location: system.location.clone(),
                        hostname: Some(host.clone()),
                        fields: "{}".to_owned(),
                        sources: crate::cmdb::mark_source("{}", "hostname", Source::Import),
                        ..CiValues::default()
                    };
                    let ci = cmdb_store::insert_ci(tx.conn, &values, tx.now).await?;
                    cmdb_store::insert_history(
                        tx.conn,
                        ci,
                        tx.now,
                        tx.actor,
                        "lifecycle",
                        None,
                        Some("deployed"),
                    )
                    .await?;
                    let id = store::insert_device(
                        tx.conn,
                        &NewDevice {
                            ci_id: ci,
                            address: &address,
                            host: &host,
                            credentials: &credentials_json,
                            sys_descr: &system.descr,
                            sys_object_id: &system.object_id,
                            sys_contact: &system.contact,
                        },
                        tx.now,
                    )
                    .await?;
                    for interface in &interfaces {
                        store::insert_interface(
                            tx.conn,
                            &InterfaceRow {
                                device_id: id,
                                if_index: i64::from(interface.index),
                                name: interface.name.clone(),
                                descr: interface.descr.clone(),
                                alias: interface.alias.clone(),
                                if_type: i64::from(interface.if_type),
                                speed_bps: interface.speed_bps.and_then(|s| i64::try_from(s).ok()),
                                mac: interface.mac.clone(),
                                admin_up: i64::from(interface.admin_up),
                                oper_up: i64::from(interface.sample.oper_up),
                                monitor_id: None,
                            },
                        )
                        .await?;
                    }
                    tx.record(Event::created(
                        Entity::Ci,
                        ci,
                        &serde_json::json!({"network_device": id, "address": address,
                            "interfaces": interfaces.len(), "snmp": fields}),
                    ))
                    .await?;
                    Ok((id, ci))
                })
            })
            .await?
        };
        let requester = Some(principal.email.clone()).filter(|e| !e.is_empty());
        for interface in device.interfaces.iter().filter(|i| i.admin_up) {
            let settings = ProbeSettings {
                interface: Some(InterfaceSettings {
                    device: id,
                    if_index: interface.index,
                    speed_bps: interface.speed_bps,
                    thresholds: input.thresholds.unwrap_or_default(),
                }),
                ..ProbeSettings::default()
            };
            let monitor = self
                .create_monitor(
                    principal,
                    NewMonitor {
                        name: format!("{name} {}", interface.name),
                        kind: "snmp_interface".to_owned(),
                        target: address.clone(),
                        interval_s: Some(interval_s),
                        schedule: None,
                        timezone: None,
                        timeout_s: Some(10),
                        retries: None,
                        recover_after: None,
                        grace_s: None,
                        incident: Some(IncidentSettings {
                            impact: "medium".to_owned(),
                            urgency: "high".to_owned(),
                            group: None,
                            category: None,
                            requester: requester.clone(),
                            resolve: true,
                        }),
                        organization_id: None,
                        depends_on: None,
                        paused: false,
                        tags: vec!["network".to_owned()],
                        settings,
                    },
                )
                .await?;
            let index = i64::from(interface.index);
            self.change(principal, Need::Staff, move |tx| {
                Box::pin(async move {
                    cmdb_store::set_monitor_ci(tx.conn, monitor.id, Some(ci)).await?;
                    store::set_interface_monitor(tx.conn, id, index, monitor.id).await?;
                    Ok(())
                })
            })
            .await?;
        }
        self.network_device(principal, id).await
    }

    /// A network device with its interfaces (staff who may see its item).
    pub async fn network_device(
        &self,
        principal: &Principal,
        id: i64,
    ) -> Result<NetworkDevice, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let row = store::device(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound("network device"))?;
        let ci = crate::cmdb::visible(&mut conn, principal, row.ci_id)
            .await
            .map_err(|_| AppError::NotFound("network device"))?;
        let interfaces = store::interfaces(&mut conn, id).await?;
        Ok(device_view(row, ci.name, interfaces))
    }

    /// The network device an item is, if it is one (staff).
    pub async fn network_device_of_ci(
        &self,
        principal: &Principal,
        ci: i64,
    ) -> Result<Option<NetworkDevice>, AppError> {
        let row = {
            let mut conn = self.db().reader().await?;
            store::device_of_ci(&mut conn, ci).await?
        };
        match row {
            Some(row) => Ok(Some(self.network_device(principal, row.id).await?)),
            None => Ok(None),
        }
    }

    /// The network devices the principal may see (staff).
    pub async fn network_devices(
        &self,
        principal: &Principal,
    ) -> Result<Vec<NetworkDevice>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let mut list = Vec::new();
        for row in store::devices(&mut conn).await? {
            let Ok(ci) = crate::cmdb::visible(&mut conn, principal, row.ci_id).await else {
                continue;
            };
            let interfaces = store::interfaces(&mut conn, row.id).await?;
            list.push(device_view(row, ci.name, interfaces));
        }
        Ok(list)
    }

    /// The traffic an interface monitor measured over the last `hours` (staff).
    pub async fn interface_traffic(
        &self,
        principal: &Principal,
        monitor: i64,
        hours: i64,
    ) -> Result<Vec<TrafficSample>, AppError> {
        if !(1..=24 * SAMPLES_KEPT_DAYS).contains(&hours) {
            return Err(AppError::invalid(
                "hours",
                format!("from 1 to {}", 24 * SAMPLES_KEPT_DAYS),
            ));
        }
        self.monitor(principal, monitor).await?;
        let since = self.now_ms() - hours * 3_600_000;
        let mut conn = self.db().reader().await?;
        Ok(store::samples(&mut conn, monitor, since)
            .await?
            .into_iter()
            .map(|s| TrafficSample {
                at: timestamp(s.at),
                in_bps: s.in_bps,
                out_bps: s.out_bps,
                utilisation_pct: s.utilisation_pct,
                errors_per_min: s.errors_per_min,
                discards_per_min: s.discards_per_min,
            })
            .collect())
    }

    /// Takes a trap: as an alert of the integration named `integration`, with the device
    /// and interface it names resolved to what the CMDB knows, and the device's item
    /// linked to the incident. Returns whether it was taken (false: the integration does
    /// not exist, and the trap is dropped with a warning).
    pub async fn receive_trap(
        &self,
        integration: &str,
        trap: ReceivedTrap,
    ) -> Result<bool, AppError> {
        let source = trap.source.to_string();
        let (integration, device) = {
            let mut conn = self.db().reader().await?;
            let Some(integration) =
                opsdesk_store::alerts::integration_by_name(&mut conn, integration).await?
            else {
                tracing::warn!(
                    %source,
                    integration,
                    "an SNMP trap was dropped: create a generic integration with this name to receive traps"
                );
                return Ok(false);
            };
            let device = match store::devices_at(&mut conn, &source)
                .await?
                .into_iter()
                .next()
            {
                Some(row) => {
                    let ci = cmdb_store::ci(&mut conn, row.ci_id).await?;
                    let interface = match trap.if_index {
                        Some(index) => store::interfaces(&mut conn, row.id)
                            .await?
                            .into_iter()
                            .find(|i| i.if_index == i64::from(index))
                            .map(|i| i.name),
                        None => None,
                    };
                    ci.map(|ci| (ci.id, ci.name, interface))
                }
                None => None,
            };
            (integration, device)
        };
        let notice = trap_notice(&TrapFacts {
            source: &source,
            device: device.as_ref().map(|(_, name, _)| name.as_str()),
            name: trap.name.as_deref(),
            trap_oid: &trap.trap_oid,
            if_index: trap.if_index,
            interface: device.as_ref().and_then(|(_, _, i)| i.as_deref()),
        });
        let payload = serde_json::json!({"snmp_trap": trap.trap_oid, "source": source,
            "name": trap.name, "if_index": trap.if_index})
        .to_string();
        let sender = crate::alerts::sender_of(&integration);
        let ci = device.map(|(id, _, _)| id);
        let tally = self
            .change(&sender, Need::Anyone, move |mut tx| {
                Box::pin(async move {
                    let tally =
                        crate::alerts::take_in(&mut tx, &integration, vec![notice], &payload)
                            .await?;
                    if let Some(ci) = ci {
                        for ticket in &tally.opened {
                            cmdb_store::link_ticket(tx.conn, *ticket, ci).await?;
                            crate::changes::link_incident_to_changes(&mut tx, *ticket, ci).await?;
                        }
                    }
                    Ok(tally)
                })
            })
            .await?;
        self.announce(&tally.opened, &tally.resolved, &sender)
            .await?;
        Ok(true)
    }
}
