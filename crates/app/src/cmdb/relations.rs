//! Relations between items, kept with who made and who ended them.

use jiff::Timestamp;
use opsdesk_domain::cmdb::RelationKind;
use opsdesk_store::cmdb as store;
use serde::{Deserialize, Serialize};

use super::visible;
use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, Principal, timestamp};

/// A relation between two items: `source kind target`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Relation {
    pub id: i64,
    pub source: CiRef,
    /// `runs_on`, `depends_on`, `connects_to`, `used_by`, `installed_on` or `covered_by`.
    pub kind: String,
    pub target: CiRef,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub created_by: String,
    /// When it was removed; current relations have none.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub removed_at: Option<Timestamp>,
    pub removed_by: Option<String>,
}

/// An item named by another.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiRef {
    pub id: i64,
    pub name: String,
    pub class: String,
}

/// A new relation from an item.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRelation {
    pub kind: String,
    /// The item at the other end, by id.
    pub target: i64,
}

impl App {
    /// An item's relations either way; with `ended`, removed ones too.
    pub async fn ci_relations(
        &self,
        principal: &Principal,
        id: i64,
        ended: bool,
    ) -> Result<Vec<Relation>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        visible(&mut conn, principal, id).await?;
        Ok(store::relations_of(&mut conn, id, ended)
            .await?
            .into_iter()
            .map(relation_view)
            .collect())
    }

    /// Relates item `id` to another (staff): `id kind target`.
    pub async fn add_relation(
        &self,
        principal: &Principal,
        id: i64,
        input: NewRelation,
    ) -> Result<Relation, AppError> {
        let kind = input
            .kind
            .parse::<RelationKind>()
            .map_err(|e| AppError::invalid("kind", e))?;
        if input.target == id {
            return Err(AppError::invalid(
                "target",
                "an item cannot relate to itself",
            ));
        }
        let done = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    visible(tx.conn, tx.principal, id).await?;
                    visible(tx.conn, tx.principal, input.target)
                        .await
                        .map_err(|_| AppError::invalid("target", "no item has this id"))?;
                    let actor = tx.actor.to_owned();
                    let relation_id = store::insert_relation(
                        tx.conn,
                        id,
                        kind.as_str(),
                        input.target,
                        &actor,
                        tx.now,
                    )
                    .await?
                    .ok_or_else(|| AppError::conflict("the items are already related so"))?;
                    let relation = store::relation(tx.conn, relation_id)
                        .await?
                        .map(relation_view)
                        .ok_or(AppError::NotFound("relation"))?;
                    store::insert_history(
                        tx.conn,
                        id,
                        tx.now,
                        &actor,
                        "relation",
                        None,
                        Some(&format!("{kind} {}", relation.target.name)),
                    )
                    .await?;
                    tx.record(Event::updated(Entity::Ci, id, &(), &relation))
                        .await?;
                    Ok(relation)
                })
            })
            .await;
        if done.is_ok() {
            self.cmdb_changed();
        }
        done
    }

    /// Ends one of item `id`'s relations (staff); it stays in the history.
    pub async fn remove_relation(
        &self,
        principal: &Principal,
        id: i64,
        relation_id: i64,
    ) -> Result<(), AppError> {
        let done = self
            .change(principal, Need::Staff, move |mut tx| {
                Box::pin(async move {
                    visible(tx.conn, tx.principal, id).await?;
                    let relation = store::relation(tx.conn, relation_id)
                        .await?
                        .filter(|r| r.source_id == id || r.target_id == id)
                        .ok_or(AppError::NotFound("relation"))?;
                    let actor = tx.actor.to_owned();
                    if !store::remove_relation(tx.conn, relation_id, &actor, tx.now).await? {
                        return Ok(());
                    }
                    store::insert_history(
                        tx.conn,
                        relation.source_id,
                        tx.now,
                        &actor,
                        "relation",
                        Some(&format!("{} {}", relation.kind, relation.target_name)),
                        None,
                    )
                    .await?;
                    let view = relation_view(relation);
                    tx.record(Event::updated(Entity::Ci, id, &view, &())).await
                })
            })
            .await;
        if done.is_ok() {
            self.cmdb_changed();
        }
        done
    }
}

fn relation_view(row: opsdesk_store::cmdb::RelationRow) -> Relation {
    Relation {
        id: row.id,
        source: CiRef {
            id: row.source_id,
            name: row.source_name,
            class: row.source_class,
        },
        kind: row.kind,
        target: CiRef {
            id: row.target_id,
            name: row.target_name,
            class: row.target_class,
        },
        created_at: timestamp(row.created_at),
        created_by: row.created_by,
        removed_at: row.removed_at.map(timestamp),
        removed_by: row.removed_by,
    }
}
