//! SCIM 2.0 (RFC 7643/7644) as identity providers speak it: the `eq` filters they search
//! with, and PATCH operations turned into the changes they mean. Providers differ in small
//! ways (Entra ID writes `"Replace"` and `"False"`, Okta sends objects without a `path`), so
//! this reads all the common forms.

use serde_json::Value;

/// Why a SCIM request cannot be carried out, with the RFC 7644 `scimType` it maps to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScimError {
    #[error("{0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0}")]
    InvalidValue(String),
}

impl ScimError {
    /// The `scimType` of the error response.
    pub fn scim_type(&self) -> &'static str {
        match self {
            ScimError::InvalidFilter(_) => "invalidFilter",
            ScimError::InvalidPath(_) => "invalidPath",
            ScimError::InvalidValue(_) => "invalidValue",
        }
    }
}

/// `attribute eq "value"`: the one filter provisioning clients use to find a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EqFilter {
    /// The attribute, lower-cased (`username`, `externalid`, `displayname`, `id`).
    pub attribute: String,
    pub value: String,
}

/// Parses `userName eq "ann@example.com"` (attribute names and the operator are
/// case-insensitive, as RFC 7644 says). Anything else is refused rather than ignored, so
/// a client never mistakes an unsupported filter for "no match".
pub fn parse_filter(filter: &str) -> Result<EqFilter, ScimError> {
    let refuse = || {
        ScimError::InvalidFilter(format!(
            "only `attribute eq \"value\"` filters are supported, not `{filter}`"
        ))
    };
    let filter = filter.trim();
    let (attribute, rest) = filter.split_once(char::is_whitespace).ok_or_else(refuse)?;
    let (operator, value) = rest
        .trim_start()
        .split_once(char::is_whitespace)
        .ok_or_else(refuse)?;
    if !operator.eq_ignore_ascii_case("eq") {
        return Err(refuse());
    }
    let value: Value = serde_json::from_str(value.trim()).map_err(|_| refuse())?;
    let value = match value {
        Value::String(text) => text,
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => number.to_string(),
        _ => return Err(refuse()),
    };
    let attribute = attribute.to_ascii_lowercase();
    let attribute = attribute
        .strip_prefix("urn:ietf:params:scim:schemas:core:2.0:user:")
        .unwrap_or(&attribute)
        .to_owned();
    match attribute.as_str() {
        "username" | "externalid" | "displayname" | "id" | "emails.value" => {
            Ok(EqFilter { attribute, value })
        }
        _ => Err(ScimError::InvalidFilter(format!(
            "filtering on `{attribute}` is not supported; use userName, externalId, \
             displayName or id"
        ))),
    }
}

/// What a User PATCH changes; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    pub user_name: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub active: Option<bool>,
}

/// What a Group PATCH changes: member ids added and removed, a full replacement, or a new
/// name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupChanges {
    pub display_name: Option<String>,
    pub add: Vec<String>,
    pub remove: Vec<String>,
    pub replace: Option<Vec<String>>,
}

/// One operation of a PatchOp request.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// `add`, `replace` or `remove`, lower-cased.
    pub op: String,
    pub path: Option<String>,
    pub value: Option<Value>,
}

/// Reads the `Operations` of a PatchOp body.
pub fn patch_operations(body: &Value) -> Result<Vec<PatchOperation>, ScimError> {
    let operations = body
        .get("Operations")
        .or_else(|| body.get("operations"))
        .and_then(Value::as_array)
        .ok_or_else(|| ScimError::InvalidValue("a PatchOp needs an `Operations` list".into()))?;
    operations
        .iter()
        .map(|operation| {
            let op = operation
                .get("op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .filter(|op| matches!(op.as_str(), "add" | "replace" | "remove"))
                .ok_or_else(|| {
                    ScimError::InvalidValue(
                        "each operation's `op` is add, replace or remove".into(),
                    )
                })?;
            Ok(PatchOperation {
                op,
                path: operation
                    .get("path")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                value: operation.get("value").cloned(),
            })
        })
        .collect()
}

/// A boolean as providers send it: `false`, or the string `"False"`.
pub fn boolean(value: &Value) -> Result<bool, ScimError> {
    match value {
        Value::Bool(flag) => Ok(*flag),
        Value::String(text) if text.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(text) if text.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ScimError::InvalidValue(format!(
            "`{other}` is not a boolean"
        ))),
    }
}

fn text(value: &Value, path: &str) -> Result<String, ScimError> {
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ScimError::InvalidValue(format!("`{path}` needs a string")))
}

/// The primary (else the first) address of an `emails` list.
pub fn primary_email(emails: &Value) -> Option<String> {
    let emails = emails.as_array()?;
    emails
        .iter()
        .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
        .or_else(|| emails.first())
        .and_then(|e| e.get("value"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// Sets one User attribute named by a (lower-cased) PATCH path.
fn set_user_attribute(
    changes: &mut UserChanges,
    path: &str,
    value: &Value,
) -> Result<(), ScimError> {
    let lower = path.to_ascii_lowercase();
    let lower = lower
        .strip_prefix("urn:ietf:params:scim:schemas:core:2.0:user:")
        .unwrap_or(&lower);
    match lower {
        "active" => changes.active = Some(boolean(value)?),
        "username" => changes.user_name = Some(text(value, path)?),
        "displayname" | "name.formatted" => changes.display_name = Some(text(value, path)?),
        "name.givenname" => changes.given_name = Some(text(value, path)?),
        "name.familyname" => changes.family_name = Some(text(value, path)?),
        "externalid" => changes.external_id = Some(text(value, path)?),
        "name" => {
            for (key, inner) in value.as_object().into_iter().flatten() {
                set_user_attribute(changes, &format!("name.{key}"), inner)?;
            }
        }
        "emails" => {
            changes.email = Some(primary_email(value).ok_or_else(|| {
                ScimError::InvalidValue("`emails` needs at least one `value`".into())
            })?);
        }
        _ if lower.starts_with("emails[") && lower.ends_with("].value") => {
            changes.email = Some(text(value, path)?);
        }
        // Attributes opsdesk does not keep (phone numbers, titles…) are accepted and
        // ignored, as RFC 7644 allows, so one unknown field does not stop provisioning.
        _ => {}
    }
    Ok(())
}

/// Turns a User PatchOp into the changes it makes.
pub fn user_changes(operations: &[PatchOperation]) -> Result<UserChanges, ScimError> {
    let mut changes = UserChanges::default();
    for operation in operations {
        if operation.op == "remove" {
            return Err(ScimError::InvalidPath(
                "removing user attributes is not supported; deactivate with active=false".into(),
            ));
        }
        let value = operation
            .value
            .as_ref()
            .ok_or_else(|| ScimError::InvalidValue("an add or replace needs a `value`".into()))?;
        match &operation.path {
            Some(path) => set_user_attribute(&mut changes, path, value)?,
            None => {
                for (key, inner) in value.as_object().into_iter().flatten() {
                    set_user_attribute(&mut changes, key, inner)?;
                }
            }
        }
    }
    Ok(changes)
}

/// The member ids in a `members` value: `[{"value": "42"}, …]`.
pub fn member_ids(value: &Value) -> Result<Vec<String>, ScimError> {
    let members = match value {
        Value::Array(members) => members.as_slice(),
        Value::Object(_) => std::slice::from_ref(value),
        _ => return Err(ScimError::InvalidValue("`members` needs a list".into())),
    };
    members
        .iter()
        .map(|member| {
            member
                .get("value")
                .and_then(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .or_else(|| v.as_i64().map(|id| id.to_string()))
                })
                .ok_or_else(|| ScimError::InvalidValue("each member needs a `value`".into()))
        })
        .collect()
}

/// The id in a path like `members[value eq "42"]`.
fn member_in_path(path: &str) -> Option<String> {
    let inner = path
        .strip_prefix("members[")
        .or_else(|| path.strip_prefix("Members["))?
        .strip_suffix(']')?;
    let (attribute, rest) = inner.split_once(char::is_whitespace)?;
    let (operator, value) = rest.trim_start().split_once(char::is_whitespace)?;
    (attribute.eq_ignore_ascii_case("value") && operator.eq_ignore_ascii_case("eq"))
        .then(|| serde_json::from_str::<String>(value.trim()).ok())
        .flatten()
}

/// Turns a Group PatchOp into the changes it makes.
pub fn group_changes(operations: &[PatchOperation]) -> Result<GroupChanges, ScimError> {
    let mut changes = GroupChanges::default();
    for operation in operations {
        let path = operation.path.as_deref().map(str::to_ascii_lowercase);
        match (operation.op.as_str(), path.as_deref()) {
            ("remove", Some("members")) => match &operation.value {
                Some(value) => changes.remove.extend(member_ids(value)?),
                None => changes.replace = Some(Vec::new()),
            },
            ("remove", Some(_)) => {
                let id = operation
                    .path
                    .as_deref()
                    .and_then(member_in_path)
                    .ok_or_else(|| {
                        ScimError::InvalidPath(format!(
                            "cannot remove `{}`",
                            operation.path.as_deref().unwrap_or_default()
                        ))
                    })?;
                changes.remove.push(id);
            }
            (op, path) => {
                let value = operation.value.as_ref().ok_or_else(|| {
                    ScimError::InvalidValue("an add or replace needs a `value`".into())
                })?;
                let fields: Vec<(String, &Value)> = match path {
                    Some(path) => vec![(path.to_owned(), value)],
                    None => value
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(key, inner)| (key.to_ascii_lowercase(), inner))
                        .collect(),
                };
                for (field, inner) in fields {
                    match (op, field.as_str()) {
                        (_, "displayname") => {
                            changes.display_name = Some(text(inner, "displayName")?)
                        }
                        ("add", "members") => changes.add.extend(member_ids(inner)?),
                        ("replace", "members") => changes.replace = Some(member_ids(inner)?),
                        _ => {}
                    }
                }
            }
        }
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn filters_are_read_as_clients_write_them() {
        assert_eq!(
            parse_filter(r#"userName eq "Ann@Example.com""#),
            Ok(EqFilter {
                attribute: "username".into(),
                value: "Ann@Example.com".into()
            })
        );
        assert_eq!(
            parse_filter(r#"externalId EQ "a b""#).map(|f| f.value),
            Ok("a b".into())
        );
        assert!(matches!(
            parse_filter(r#"userName sw "a""#),
            Err(ScimError::InvalidFilter(_))
        ));
        assert!(matches!(
            parse_filter(r#"title eq "boss""#),
            Err(ScimError::InvalidFilter(_))
        ));
        assert!(parse_filter("userName eq").is_err());
    }

    #[test]
    fn entra_and_okta_patches_mean_the_same() {
        let entra = json!({"Operations": [
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "ann@new.example"},
            {"op": "Replace", "path": "name.givenName", "value": "Ann"}
        ]});
        let okta = json!({"Operations": [
            {"op": "replace", "value": {"active": false, "emails": [{"value": "ann@new.example", "primary": true}], "name": {"givenName": "Ann"}}}
        ]});
        let entra = user_changes(&patch_operations(&entra).unwrap()).unwrap();
        let okta = user_changes(&patch_operations(&okta).unwrap()).unwrap();
        assert_eq!(entra, okta);
        assert_eq!(entra.active, Some(false));
        assert_eq!(entra.email.as_deref(), Some("ann@new.example"));
    }

    #[test]
    fn group_member_operations() {
        let body = json!({"Operations": [
            {"op": "add", "path": "members", "value": [{"value": "7"}, {"value": 8}]},
            {"op": "remove", "path": "members[value eq \"9\"]"},
            {"op": "replace", "path": "displayName", "value": "Tier 2"}
        ]});
        let changes = group_changes(&patch_operations(&body).unwrap()).unwrap();
        assert_eq!(changes.add, vec!["7", "8"]);
        assert_eq!(changes.remove, vec!["9"]);
        assert_eq!(changes.display_name.as_deref(), Some("Tier 2"));
        let cleared = json!({"Operations": [{"op": "remove", "path": "members"}]});
        let cleared = group_changes(&patch_operations(&cleared).unwrap()).unwrap();
        assert_eq!(cleared.replace, Some(Vec::new()));
    }

    #[test]
    fn unknown_operations_and_values_are_refused() {
        assert!(patch_operations(&json!({"Operations": [{"op": "move"}]})).is_err());
        assert!(patch_operations(&json!({})).is_err());
        let bad = json!({"Operations": [{"op": "replace", "path": "active", "value": "maybe"}]});
        assert!(user_changes(&patch_operations(&bad).unwrap()).is_err());
    }
}
