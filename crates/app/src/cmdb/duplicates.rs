//! The queue of items that look like one machine recorded twice, and merging them.

use jiff::Timestamp;
use opsdesk_domain::cmdb::{CiClass, Identifier};
use opsdesk_store::Conn;
use opsdesk_store::cmdb::{self as store, CiValues};
use serde::Serialize;

use super::{Ci, CiRef, load, visible};
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, Principal, timestamp};

/// A pair of items that look like one machine recorded twice.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SuspectedDuplicate {
    pub id: i64,
    pub ci: CiRef,
    pub other: CiRef,
    /// Which identifier they share: `serial_number ABC123`.
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub found_at: Timestamp,
}

impl App {
    /// Suspected duplicates still to be merged or dismissed (staff).
    pub async fn suspected_duplicates(
        &self,
        principal: &Principal,
    ) -> Result<Vec<SuspectedDuplicate>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let rows = store::open_duplicates(&mut conn, 200).await?;
        let mut list = Vec::new();
        for row in rows {
            let (Some(a), Some(b)) = (
                store::ci(&mut conn, row.ci_id).await?,
                store::ci(&mut conn, row.other_id).await?,
            ) else {
                continue;
            };
            if !principal.can_see_organization(a.organization_id)
                || !principal.can_see_organization(b.organization_id)
            {
                continue;
            }
            list.push(SuspectedDuplicate {
                id: row.id,
                ci: CiRef {
                    id: a.id,
                    name: a.name,
                    class: a.class,
                },
                other: CiRef {
                    id: b.id,
                    name: b.name,
                    class: b.class,
                },
                reason: row.reason,
                found_at: timestamp(row.found_at),
            });
        }
        Ok(list)
    }

    /// Settles a suspected duplicate (staff): with `keep`, one of the pair's ids, the other
    /// item's relations, tickets, monitors, agents and history move to it and the other is
    /// deleted; without, the pair is dismissed as two items.
    pub async fn settle_duplicate(
        &self,
        principal: &Principal,
        duplicate_id: i64,
        keep: Option<i64>,
    ) -> Result<Option<Ci>, AppError> {
        let done = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    let pair = store::duplicate(tx.conn, duplicate_id)
                        .await?
                        .ok_or(AppError::NotFound("duplicate"))?;
                    visible(tx.conn, tx.principal, pair.ci_id).await?;
                    visible(tx.conn, tx.principal, pair.other_id).await?;
                    let Some(keep) = keep else {
                        store::resolve_duplicate(tx.conn, duplicate_id, "dismissed", tx.now)
                            .await?;
                        return Ok(None);
                    };
                    let gone = if keep == pair.ci_id {
                        pair.other_id
                    } else if keep == pair.other_id {
                        pair.ci_id
                    } else {
                        return Err(AppError::invalid("keep", "one of the pair's ids"));
                    };
                    let merged = load(tx.conn, gone).await?;
                    store::resolve_duplicate(tx.conn, duplicate_id, "merged", tx.now).await?;
                    store::move_references(tx.conn, gone, keep).await?;
                    let actor = tx.actor.to_owned();
                    store::insert_history(
                        tx.conn,
                        keep,
                        tx.now,
                        &actor,
                        "merged",
                        Some(&format!("{} (#{gone})", merged.name)),
                        None,
                    )
                    .await?;
                    store::delete_ci(tx.conn, gone).await?;
                    let kept = load(tx.conn, keep).await?;
                    tx.record(Event {
                        entity: Entity::Ci,
                        entity_id: keep,
                        action: crate::audit::Action::Merged,
                        before: crate::audit::snapshot(&merged),
                        after: crate::audit::snapshot(&kept),
                    })
                    .await?;
                    Ok(Some(kept))
                })
            })
            .await;
        if done.is_ok() {
            self.cmdb_changed();
        }
        done
    }
}

/// Notes every other item of `class` that `values` identifies as the same machine, in the
/// queue of suspected duplicates.
pub(super) async fn note_twins(
    conn: &mut Conn,
    id: i64,
    class: CiClass,
    values: &CiValues,
    macs: &[String],
    now: i64,
) -> Result<(), AppError> {
    for (identifier, value, other) in identified(conn, class, values, macs).await? {
        if other != id {
            let reason = format!("{identifier} {value}");
            store::insert_duplicate(conn, id, other, &reason, now).await?;
        }
    }
    Ok(())
}

/// The items of `class`'s kind (hardware or not) that `values` identifies by one of the
/// class's identifiers, strongest first, with the identifier and value that matched.
pub(super) async fn identified(
    conn: &mut Conn,
    class: CiClass,
    values: &CiValues,
    macs: &[String],
) -> Result<Vec<(Identifier, String, i64)>, AppError> {
    let classes: Vec<&str> = CiClass::ALL
        .iter()
        .filter(|c| c.is_hardware() == class.is_hardware())
        .map(|c| c.as_str())
        .collect();
    let mut found = Vec::new();
    for &identifier in class.identified_by() {
        let candidates: Vec<String> = match identifier {
            Identifier::SmbiosUuid => values.smbios_uuid.clone().into_iter().collect(),
            Identifier::SerialNumber => values.serial_number.clone().into_iter().collect(),
            Identifier::Hostname => values.hostname.clone().into_iter().collect(),
            Identifier::Name => vec![values.name.clone()],
            Identifier::Mac => macs.to_vec(),
        };
        for value in candidates {
            for id in store::ids_identified_by(conn, identifier.as_str(), &value, &classes).await? {
                found.push((identifier, value.clone(), id));
            }
        }
    }
    Ok(found)
}
