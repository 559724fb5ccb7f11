//! Classes' custom fields, as admins define them, and item values checked against them.

use std::collections::BTreeMap;

use opsdesk_domain::cmdb::{self as rules, CiClass};
use opsdesk_store::Conn;
use opsdesk_store::cmdb as store;
use serde::{Deserialize, Serialize};

use crate::audit::{Entity, Event};
use crate::change::Need;
use crate::{App, AppError, FieldError, Principal};

/// A custom field of a class, as admins define it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiField {
    /// The key in an item's `fields`: lower-case letters, digits and `_`.
    pub name: String,
    pub label: String,
    /// `text`, `number`, `date` or `boolean`.
    pub kind: String,
    #[serde(default)]
    pub required: bool,
}

/// A class with its custom fields.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CiClassFields {
    pub class: String,
    pub fields: Vec<CiField>,
}

impl App {
    /// Every class with its custom fields (staff).
    pub async fn ci_classes(&self, principal: &Principal) -> Result<Vec<CiClassFields>, AppError> {
        principal.require_staff()?;
        let mut conn = self.db().reader().await?;
        let rows = store::class_fields(&mut conn, None).await?;
        Ok(CiClass::ALL
            .iter()
            .map(|class| CiClassFields {
                class: class.as_str().to_owned(),
                fields: rows
                    .iter()
                    .filter(|r| r.class == class.as_str())
                    .map(|r| CiField {
                        name: r.name.clone(),
                        label: r.label.clone(),
                        kind: r.kind.clone(),
                        required: r.required != 0,
                    })
                    .collect(),
            })
            .collect())
    }

    /// Replaces a class's custom fields (admin). Values items hold for a field no longer
    /// defined stay stored until the item is next changed.
    pub async fn set_class_fields(
        &self,
        principal: &Principal,
        class: &str,
        fields: Vec<CiField>,
    ) -> Result<CiClassFields, AppError> {
        let class = class
            .parse::<CiClass>()
            .map_err(|e| AppError::invalid("class", e))?;
        let mut errors = Vec::new();
        let mut definitions = Vec::new();
        for (index, field) in fields.iter().enumerate() {
            match field.kind.parse::<rules::fields::FieldKind>() {
                Ok(kind) => definitions.push(rules::fields::ClassField {
                    name: field.name.trim().to_owned(),
                    label: field.label.trim().to_owned(),
                    kind,
                    required: field.required,
                }),
                Err(e) => errors.push(FieldError::new(format!("fields[{index}].kind"), e)),
            }
        }
        errors.extend(
            rules::fields::check_definitions(&definitions)
                .into_iter()
                .map(|(field, message)| FieldError::new(field, message)),
        );
        if !errors.is_empty() {
            return Err(AppError::Invalid(errors));
        }
        let rows: Vec<store::ClassFieldRow> = definitions
            .iter()
            .enumerate()
            .map(|(position, f)| store::ClassFieldRow {
                class: class.as_str().to_owned(),
                name: f.name.clone(),
                label: f.label.clone(),
                kind: f.kind.as_str().to_owned(),
                required: i64::from(f.required),
                position: position as i64,
            })
            .collect();
        let view = CiClassFields {
            class: class.as_str().to_owned(),
            fields: definitions
                .iter()
                .map(|f| CiField {
                    name: f.name.clone(),
                    label: f.label.clone(),
                    kind: f.kind.as_str().to_owned(),
                    required: f.required,
                })
                .collect(),
        };
        self.change(principal, Need::Admin, move |mut tx| {
            Box::pin(async move {
                let before: Vec<_> = store::class_fields(tx.conn, Some(class.as_str()))
                    .await?
                    .into_iter()
                    .map(class_field)
                    .collect();
                store::replace_class_fields(tx.conn, class.as_str(), &rows).await?;
                let index = CiClass::ALL.iter().position(|c| *c == class).unwrap_or(0) as i64;
                tx.record(Event::updated(Entity::CiClass, index, &before, &view))
                    .await?;
                Ok(view)
            })
        })
        .await
    }
}

fn class_field(row: store::ClassFieldRow) -> rules::fields::ClassField {
    rules::fields::ClassField {
        kind: row.kind.parse().unwrap_or(rules::fields::FieldKind::Text),
        name: row.name,
        label: row.label,
        required: row.required != 0,
    }
}

/// An item's custom field values checked against its class's fields, as stored JSON.
pub(super) async fn checked_fields(
    conn: &mut Conn,
    class: CiClass,
    values: &BTreeMap<String, serde_json::Value>,
) -> Result<String, AppError> {
    let definitions: Vec<_> = store::class_fields(conn, Some(class.as_str()))
        .await?
        .into_iter()
        .map(class_field)
        .collect();
    let kept = rules::fields::check_values(&definitions, values).map_err(|problems| {
        AppError::Invalid(
            problems
                .into_iter()
                .map(|(field, message)| FieldError::new(field, message))
                .collect(),
        )
    })?;
    serde_json::to_string(&kept).map_err(|e| AppError::internal("storing custom fields", e))
}
