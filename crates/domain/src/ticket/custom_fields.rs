//! Custom ticket fields: their keys, kinds and definitions, and the validation of values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{NameError, parse_name, string_newtype};

/// A custom field's key: lowercase `a-z`, `0-9`, `_`, starting with a letter, at most 50
/// characters, so it is safe as a JSON key and in query text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldKey(String);

impl FieldKey {
    /// The longest key, in characters.
    pub const MAX_CHARS: usize = 50;

    /// Validates and normalizes a key.
    pub fn parse(raw: &str) -> Result<FieldKey, NameError> {
        parse_name(
            raw,
            "field key",
            Self::MAX_CHARS,
            "a-z, 0-9 and `_`, starting with a letter",
            |i, c| c.is_ascii_lowercase() || (i > 0 && (c.is_ascii_digit() || c == '_')),
        )
        .map(FieldKey)
    }
}

string_newtype!(FieldKey, NameError);

/// The kind of a custom field and its kind-specific settings.
///
/// In JSON the kind is the `kind` tag: `{"kind": "select", "options": ["a", "b"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CustomFieldKind {
    /// One line of free text, at most [`CustomFieldDefinition::MAX_TEXT_CHARS`].
    Text,
    /// A JSON number; numeric strings from forms are accepted.
    Number,
    /// One of a fixed list of options, matched ignoring case.
    Select {
        /// The allowed options, in display order.
        options: Vec<String>,
    },
    /// A calendar date, stored as `YYYY-MM-DD`.
    Date,
}

/// Why a custom-field definition was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldDefinitionError {
    /// The key is invalid.
    #[error(transparent)]
    Key(#[from] NameError),
    /// The label is empty or too long.
    #[error("label must be 1 to {max} characters")]
    Label {
        /// The limit.
        max: usize,
    },
    /// A select field without options could never hold a value.
    #[error("a select field needs at least one option")]
    NoOptions,
    /// Too many options for a drop-down to be usable.
    #[error("a select field has {count} options; the limit is {max}")]
    TooManyOptions {
        /// The number given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// An option is empty or too long.
    #[error("option `{option}` must be 1 to {max} characters after trimming")]
    BadOption {
        /// The option as given.
        option: String,
        /// The limit.
        max: usize,
    },
    /// Options are matched ignoring case, so these two would be indistinguishable.
    #[error("option `{0}` is listed more than once (ignoring case)")]
    DuplicateOption(String),
}

/// Why a value does not fit a custom field. Maps to HTTP 422 with the field's key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldValueError {
    /// The field is required and the value is null or blank.
    #[error("a value is required")]
    Required,
    /// The JSON type does not fit the field kind.
    #[error("expected {expected}, got {found}")]
    WrongType {
        /// What the kind accepts.
        expected: &'static str,
        /// The JSON type given.
        found: &'static str,
    },
    /// Text longer than the limit.
    #[error("text is {len} characters long; the limit is {max}")]
    TooLong {
        /// The length after trimming.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A string that is not a finite number.
    #[error("`{0}` is not a number")]
    NotANumber(String),
    /// Not one of the select options.
    #[error("`{value}` is not one of the options: {}", .options.join(", "))]
    NotAnOption {
        /// The value given.
        value: String,
        /// The allowed options.
        options: Vec<String>,
    },
    /// Not a calendar date.
    #[error("`{value}` is not a date; expected YYYY-MM-DD")]
    InvalidDate {
        /// The value given.
        value: String,
    },
}

/// The definition of a custom ticket field: key, label, whether it is required, and kind.
///
/// JSON: `{"key": "asset_tag", "label": "Asset tag", "required": false, "kind": "text"}`.
/// Deserializing validates like [`CustomFieldDefinition::new`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawFieldDefinition")]
pub struct CustomFieldDefinition {
    key: FieldKey,
    label: String,
    required: bool,
    #[serde(flatten)]
    kind: CustomFieldKind,
}

/// The unvalidated wire shape of a definition.
#[derive(Deserialize)]
struct RawFieldDefinition {
    key: String,
    label: String,
    #[serde(default)]
    required: bool,
    #[serde(flatten)]
    kind: CustomFieldKind,
}

impl TryFrom<RawFieldDefinition> for CustomFieldDefinition {
    type Error = FieldDefinitionError;

    fn try_from(raw: RawFieldDefinition) -> Result<Self, Self::Error> {
        CustomFieldDefinition::new(&raw.key, &raw.label, raw.required, raw.kind)
    }
}

/// The JSON type name of a value, for messages.
fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

impl CustomFieldDefinition {
    /// The longest label, in characters.
    pub const MAX_LABEL_CHARS: usize = 100;
    /// The longest text value, in characters.
    pub const MAX_TEXT_CHARS: usize = 2000;
    /// The most options a select field may have.
    pub const MAX_OPTIONS: usize = 200;
    /// The longest select option, in characters.
    pub const MAX_OPTION_CHARS: usize = 100;

    /// Validates a definition; labels and options are trimmed.
    pub fn new(
        key: &str,
        label: &str,
        required: bool,
        kind: CustomFieldKind,
    ) -> Result<Self, FieldDefinitionError> {
        let key = FieldKey::parse(key)?;
        let label = label.trim();
        let label_len = label.chars().count();
        if label_len == 0 || label_len > Self::MAX_LABEL_CHARS {
            return Err(FieldDefinitionError::Label {
                max: Self::MAX_LABEL_CHARS,
            });
        }
        let kind = match kind {
            CustomFieldKind::Select { options } => CustomFieldKind::Select {
                options: Self::check_options(options)?,
            },
            other => other,
        };
        Ok(CustomFieldDefinition {
            key,
            label: label.to_owned(),
            required,
            kind,
        })
    }

    fn check_options(options: Vec<String>) -> Result<Vec<String>, FieldDefinitionError> {
        if options.is_empty() {
            return Err(FieldDefinitionError::NoOptions);
        }
        if options.len() > Self::MAX_OPTIONS {
            return Err(FieldDefinitionError::TooManyOptions {
                count: options.len(),
                max: Self::MAX_OPTIONS,
            });
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut clean = Vec::with_capacity(options.len());
        for option in options {
            let trimmed = option.trim();
            let len = trimmed.chars().count();
            if len == 0 || len > Self::MAX_OPTION_CHARS {
                return Err(FieldDefinitionError::BadOption {
                    option,
                    max: Self::MAX_OPTION_CHARS,
                });
            }
            if !seen.insert(trimmed.to_lowercase()) {
                return Err(FieldDefinitionError::DuplicateOption(trimmed.to_owned()));
            }
            clean.push(trimmed.to_owned());
        }
        Ok(clean)
    }

    /// The field's key.
    pub fn key(&self) -> &FieldKey {
        &self.key
    }

    /// The label shown to people.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Whether a ticket must have a value.
    pub fn required(&self) -> bool {
        self.required
    }

    /// The kind and its settings.
    pub fn kind(&self) -> &CustomFieldKind {
        &self.kind
    }

    /// Checks `value` against this field and returns it normalized for storage.
    ///
    /// Strings are trimmed; a blank string counts as no value. `null` (or blank) is
    /// `Ok(null)` unless the field is required. Numbers accept numeric strings; select
    /// values are matched ignoring case and returned as the option is spelled; dates are
    /// returned as `YYYY-MM-DD`.
    pub fn validate(
        &self,
        value: &serde_json::Value,
    ) -> Result<serde_json::Value, FieldValueError> {
        use serde_json::Value;

        let text = match value {
            Value::Null => None,
            Value::String(s) if s.trim().is_empty() => None,
            Value::String(s) => Some(s.trim()),
            Value::Number(n) if matches!(self.kind, CustomFieldKind::Number) => {
                return Ok(Value::Number(n.clone()));
            }
            other => {
                return Err(FieldValueError::WrongType {
                    expected: self.expected(),
                    found: json_type(other),
                });
            }
        };
        let Some(text) = text else {
            return if self.required {
                Err(FieldValueError::Required)
            } else {
                Ok(Value::Null)
            };
        };
        match &self.kind {
            CustomFieldKind::Text => {
                let len = text.chars().count();
                if len > Self::MAX_TEXT_CHARS {
                    return Err(FieldValueError::TooLong {
                        len,
                        max: Self::MAX_TEXT_CHARS,
                    });
                }
                Ok(Value::String(text.to_owned()))
            }
            CustomFieldKind::Number => {
                if let Ok(n) = text.parse::<i64>() {
                    return Ok(Value::from(n));
                }
                text.parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| FieldValueError::NotANumber(text.to_owned()))
            }
            CustomFieldKind::Select { options } => options
                .iter()
                .find(|o| o.to_lowercase() == text.to_lowercase())
                .map(|o| Value::String(o.clone()))
                .ok_or_else(|| FieldValueError::NotAnOption {
                    value: text.to_owned(),
                    options: options.clone(),
                }),
            CustomFieldKind::Date => text
                .parse::<jiff::civil::Date>()
                .map(|d| Value::String(d.to_string()))
                .map_err(|_| FieldValueError::InvalidDate {
                    value: text.to_owned(),
                }),
        }
    }

    fn expected(&self) -> &'static str {
        match self.kind {
            CustomFieldKind::Text => "text",
            CustomFieldKind::Number => "a number",
            CustomFieldKind::Select { .. } => "one of the options as a string",
            CustomFieldKind::Date => "a date string (YYYY-MM-DD)",
        }
    }
}
