//! The custom fields each class of item has: what an admin defines, and the check of an
//! item's values against them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

crate::string_enum! {
    /// What a custom field holds.
    pub enum FieldKind as "field kind" {
        Text => "text",
        Number => "number",
        Date => "date",
        Boolean => "boolean",
    }
}

/// One custom field of a class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassField {
    /// The key in an item's `fields`: letters, digits and `_`.
    pub name: String,
    /// What forms show.
    pub label: String,
    pub kind: FieldKind,
    pub required: bool,
}

/// The most custom fields a class may have.
pub const MOST_FIELDS: usize = 50;
/// The longest text value.
pub const MOST_TEXT: usize = 1_000;

/// Checks a class's definitions: names well-formed and distinct, labels present.
pub fn check_definitions(fields: &[ClassField]) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    if fields.len() > MOST_FIELDS {
        problems.push(("fields".to_owned(), format!("at most {MOST_FIELDS} fields")));
    }
    for (index, field) in fields.iter().enumerate() {
        let well_formed = !field.name.is_empty()
            && field.name.len() <= 64
            && field
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !well_formed {
            problems.push((
                format!("fields[{index}].name"),
                "1 to 64 lower-case letters, digits and _".to_owned(),
            ));
        } else if fields[..index].iter().any(|f| f.name == field.name) {
            problems.push((format!("fields[{index}].name"), "named twice".to_owned()));
        }
        if field.label.trim().is_empty() || field.label.chars().count() > 100 {
            problems.push((
                format!("fields[{index}].label"),
                "1 to 100 characters".to_owned(),
            ));
        }
    }
    problems
}

/// Checks an item's values against its class's fields: each value must be of a defined
/// field and of its kind, and every required field must have one. Empty strings and
/// nulls are no value. Returns the values to keep, or each problem by `fields.<name>`.
pub fn check_values(
    definitions: &[ClassField],
    values: &BTreeMap<String, Value>,
) -> Result<BTreeMap<String, Value>, Vec<(String, String)>> {
    let mut kept = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, value) in values {
        let path = format!("fields.{name}");
        let Some(field) = definitions.iter().find(|f| &f.name == name) else {
            let known: Vec<&str> = definitions.iter().map(|f| f.name.as_str()).collect();
            let message = if known.is_empty() {
                "this class has no custom fields; an admin defines them".to_owned()
            } else {
                format!(
                    "not a field of this class; its fields are {}",
                    known.join(", ")
                )
            };
            problems.push((path, message));
            continue;
        };
        if value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty()) {
            continue;
        }
        match read(field.kind, value) {
            Ok(value) => {
                kept.insert(name.clone(), value);
            }
            Err(message) => problems.push((path, message)),
        }
    }
    for field in definitions.iter().filter(|f| f.required) {
        if !kept.contains_key(&field.name)
            && !problems
                .iter()
                .any(|(p, _)| p == &format!("fields.{}", field.name))
        {
            problems.push((format!("fields.{}", field.name), "required".to_owned()));
        }
    }
    if problems.is_empty() {
        Ok(kept)
    } else {
        Err(problems)
    }
}

/// A value as its kind stores it; forms send text, so `"12"` is a number and `"yes"` a
/// boolean.
fn read(kind: FieldKind, value: &Value) -> Result<Value, String> {
    match (kind, value) {
        (FieldKind::Text, Value::String(s)) if s.chars().count() <= MOST_TEXT => {
            Ok(Value::String(s.trim().to_owned()))
        }
        (FieldKind::Text, Value::String(_)) => Err(format!("at most {MOST_TEXT} characters")),
        (FieldKind::Text, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (FieldKind::Number, Value::Number(n)) => Ok(Value::Number(n.clone())),
        (FieldKind::Number, Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| "a number".to_owned()),
        (FieldKind::Date, Value::String(s)) => s
            .trim()
            .parse::<jiff::civil::Date>()
            .map(|d| Value::String(d.to_string()))
            .map_err(|_| "a date such as 2027-03-31".to_owned()),
        (FieldKind::Boolean, Value::Bool(b)) => Ok(Value::Bool(*b)),
        (FieldKind::Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "off" | "0" => Ok(Value::Bool(false)),
            _ => Err("yes or no".to_owned()),
        },
        (FieldKind::Text, _) => Err("a text".to_owned()),
        (FieldKind::Number, _) => Err("a number".to_owned()),
        (FieldKind::Date, _) => Err("a date such as 2027-03-31".to_owned()),
        (FieldKind::Boolean, _) => Err("yes or no".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use serde_json::json;

    fn laptop_fields() -> Vec<ClassField> {
        vec![
            ClassField {
                name: "colour".into(),
                label: "Colour".into(),
                kind: FieldKind::Text,
                required: false,
            },
            ClassField {
                name: "ram_gb".into(),
                label: "RAM (GB)".into(),
                kind: FieldKind::Number,
                required: true,
            },
            ClassField {
                name: "encrypted".into(),
                label: "Disk encrypted".into(),
                kind: FieldKind::Boolean,
                required: false,
            },
        ]
    }

    #[test]
    fn form_text_reads_as_the_fields_kind() {
        let values = BTreeMap::from([
            ("ram_gb".to_owned(), json!("16")),
            ("encrypted".to_owned(), json!("yes")),
            ("colour".to_owned(), json!("")),
        ]);
        let kept = check_values(&laptop_fields(), &values).expect("valid");
        assert_eq!(kept["ram_gb"], json!(16.0));
        assert_eq!(kept["encrypted"], json!(true));
        assert!(!kept.contains_key("colour"), "an empty value is no value");
    }

    #[test]
    fn unknown_missing_and_mistyped_values_name_their_field() {
        let values = BTreeMap::from([
            ("shoe_size".to_owned(), json!(42)),
            ("encrypted".to_owned(), json!("perhaps")),
        ]);
        let problems = check_values(&laptop_fields(), &values).expect_err("invalid");
        let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            ["fields.encrypted", "fields.shoe_size", "fields.ram_gb"]
        );
        assert!(problems[1].1.contains("colour, ram_gb, encrypted"));
    }

    #[test]
    fn definitions_need_distinct_names_and_labels() {
        let mut fields = laptop_fields();
        fields.push(ClassField {
            name: "colour".into(),
            label: " ".into(),
            kind: FieldKind::Text,
            required: false,
        });
        fields.push(ClassField {
            name: "Bad Name".into(),
            label: "x".into(),
            kind: FieldKind::Date,
            required: false,
        });
        let problems: Vec<String> = check_definitions(&fields)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            problems,
            ["fields[3].name", "fields[3].label", "fields[4].name"]
        );
    }
}
