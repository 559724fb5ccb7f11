//! Stocktake: walking a room with a scanner, each asset tag scanned checks its item off
//! there (and moves it there if it was recorded elsewhere); what the room should hold and
//! was not scanned is what is missing.

use std::collections::BTreeMap;

use opsdesk_store::cmdb::{self as store, CiValues};
use serde::Serialize;

use super::{CiRef, load};
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, Principal, timestamp};

/// A stocktake of one location since it started.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Stocktake {
    pub location: String,
    /// Items scanned here, with when.
    pub found: Vec<Scanned>,
    /// Items recorded here (not retired) and not scanned yet.
    pub missing: Vec<CiRef>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Scanned {
    pub ci: CiRef,
    #[schema(value_type = String, format = DateTime)]
    pub at: jiff::Timestamp,
}

/// What one scan found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Scan {
    pub ci: CiRef,
    /// Where it was recorded before, when that was somewhere else.
    pub moved_from: Option<String>,
}

/// Reads a scanned code: an asset tag, or `CI-<id>` for an item without one.
fn item_id(code: &str) -> Option<i64> {
    code.strip_prefix("CI-")
        .or_else(|| code.strip_prefix("ci-"))
        .and_then(|id| id.parse().ok())
}

impl App {
    /// Checks off the item whose label was scanned at `location` (staff).
    pub async fn stocktake_scan(
        &self,
        principal: &Principal,
        location: &str,
        code: &str,
    ) -> Result<Scan, AppError> {
        let location = location.trim().to_owned();
        let code = code.trim().to_owned();
        if location.is_empty() || location.chars().count() > 200 {
            return Err(AppError::invalid("location", "1 to 200 characters"));
        }
        if code.is_empty() {
            return Err(AppError::invalid("code", "scan or type an asset tag"));
        }
        self.change(principal, Need::Staff, move |mut tx| {
            Box::pin(async move {
                let found = match store::ci_by_asset_tag(tx.conn, &code).await? {
                    Some(row) => Some(row),
                    None => match item_id(&code) {
                        Some(id) => store::ci(tx.conn, id).await?,
                        None => None,
                    },
                };
                let row = found
                    .filter(|row| tx.principal.can_see_organization(row.organization_id))
                    .ok_or_else(|| AppError::invalid("code", "no item has this asset tag"))?;
                let actor = tx.actor.to_owned();
                let previous = row.location.clone();
                store::insert_history(
                    tx.conn,
                    row.id,
                    tx.now,
                    &actor,
                    "stocktake",
                    Some(&previous),
                    Some(&location),
                )
                .await?;
                let moved = !previous.eq_ignore_ascii_case(&location);
                if moved {
                    let snapshot = super::view(row.clone(), Vec::new());
                    let before = CiValues::from(&row);
                    let mut after = before.clone();
                    after.location = location.clone();
                    if !store::update_ci(tx.conn, row.id, row.version, &after, tx.now).await? {
                        return Err(AppError::Stale);
                    }
                    super::record_history(tx.conn, row.id, &before, &after, &actor, tx.now).await?;
                    let now = load(tx.conn, row.id).await?;
                    tx.record(Event::updated(Entity::Ci, row.id, &snapshot, &now))
                        .await?;
                }
                Ok(Scan {
                    ci: CiRef {
                        id: row.id,
                        name: row.name,
                        class: row.class,
                    },
                    moved_from: moved.then_some(previous).filter(|p| !p.is_empty()),
                })
            })
        })
        .await
    }

    /// Where a stocktake of `location` started at `since` stands (staff).
    pub async fn stocktake(
        &self,
        principal: &Principal,
        location: &str,
        since: i64,
    ) -> Result<Stocktake, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let scanned: BTreeMap<i64, i64> = store::scanned_at(&mut conn, location.trim(), since)
            .await?
            .into_iter()
            .collect();
        let ids: Vec<i64> = scanned.keys().copied().collect();
        let mut found = Vec::new();
        for row in store::cis_by_ids(&mut conn, &ids).await? {
            if principal.can_see_organization(row.organization_id) {
                found.push(Scanned {
                    at: timestamp(scanned.get(&row.id).copied().unwrap_or(since)),
                    ci: CiRef {
                        id: row.id,
                        name: row.name,
                        class: row.class,
                    },
                });
            }
        }
        found.sort_by_key(|f| std::cmp::Reverse(f.at));
        let missing = store::cis_at(&mut conn, location.trim())
            .await?
            .into_iter()
            .filter(|row| !scanned.contains_key(&row.id))
            .filter(|row| principal.can_see_organization(row.organization_id))
            .map(|row| CiRef {
                id: row.id,
                name: row.name,
                class: row.class,
            })
            .collect();
        Ok(Stocktake {
            location: location.trim().to_owned(),
            found,
            missing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::item_id;

    #[test]
    fn an_item_without_a_tag_scans_by_its_number() {
        assert_eq!(item_id("CI-42"), Some(42));
        assert_eq!(item_id("ACME-0001"), None);
    }
}
