//! Conditions: whether a ticket's facts pass a rule's tests, and reading a condition's
//! values as tickets' values are compared with them.

use super::*;

impl Condition {
    /// Whether the ticket passes this test.
    pub fn holds(&self, facts: &TicketFacts) -> bool {
        match self {
            Condition::Field { field, op, values } => {
                let any = values.iter().any(|value| facts.has(*field, value));
                match op {
                    ConditionOp::Is | ConditionOp::In => any,
                    ConditionOp::IsNot => !any,
                }
            }
            Condition::TextContains(text) => {
                facts.title.to_lowercase().contains(text)
                    || facts.description.to_lowercase().contains(text)
            }
            Condition::BusinessHours(inside) => facts.in_business_hours == *inside,
        }
    }

    /// Reads one condition; errors are named under `at` (`conditions[0]`).
    pub fn parse(at: &str, raw: &Value) -> Result<Condition, Vec<RuleError>> {
        let Some(object) = raw.as_object() else {
            return Err(vec![RuleError::new(
                at,
                "must be an object: {\"field\", \"op\", \"value\"}, {\"text_contains\"} or \
                 {\"business_hours\": true|false}",
            )]);
        };
        if let Some(text) = object.get("text_contains") {
            if object.len() > 1 {
                return Err(vec![RuleError::new(
                    at,
                    "`text_contains` stands alone in its condition",
                )]);
            }
            let text = text_of(&format!("{at}.text_contains"), text).map_err(|e| vec![e])?;
            return Ok(Condition::TextContains(text.to_lowercase()));
        }
        if let Some(inside) = object.get("business_hours") {
            if object.len() > 1 {
                return Err(vec![RuleError::new(
                    at,
                    "`business_hours` stands alone in its condition",
                )]);
            }
            return match inside {
                Value::Bool(inside) => Ok(Condition::BusinessHours(*inside)),
                _ => Err(vec![RuleError::new(
                    format!("{at}.business_hours"),
                    "true (inside business hours) or false (outside)",
                )]),
            };
        }
        let mut errors = Vec::new();
        for key in object.keys() {
            if !matches!(key.as_str(), "field" | "op" | "value" | "values") {
                errors.push(RuleError::new(
                    format!("{at}.{key}"),
                    "unknown; a condition has `field`, `op` and `value` (or `values` for `in`)",
                ));
            }
        }
        let field = parse_named::<ConditionField>(&format!("{at}.field"), object.get("field"))
            .map_err(|e| errors.push(e))
            .ok();
        let op = parse_named::<ConditionOp>(&format!("{at}.op"), object.get("op"))
            .map_err(|e| errors.push(e))
            .ok();
        let values = match op {
            Some(ConditionOp::In) => match object.get("values") {
                Some(Value::Array(items)) if !items.is_empty() && items.len() <= MOST_PARTS => {
                    items
                        .iter()
                        .enumerate()
                        .filter_map(|(index, item)| {
                            text_of(&format!("{at}.values[{index}]"), item)
                                .map_err(|e| errors.push(e))
                                .ok()
                        })
                        .collect()
                }
                _ => {
                    errors.push(RuleError::new(
                        format!("{at}.values"),
                        format!("`in` needs a list of 1 to {MOST_PARTS} values"),
                    ));
                    Vec::new()
                }
            },
            Some(_) => match object.get("value") {
                Some(value) => text_of(&format!("{at}.value"), value)
                    .map_err(|e| errors.push(e))
                    .into_iter()
                    .collect(),
                None => {
                    errors.push(RuleError::new(format!("{at}.value"), "is required"));
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let (Some(field), Some(op)) = (field, op) else {
            return Err(errors);
        };
        let mut values: Vec<String> = values
            .into_iter()
            .enumerate()
            .filter_map(|(index, value)| {
                let name = if op == ConditionOp::In {
                    format!("{at}.values[{index}]")
                } else {
                    format!("{at}.value")
                };
                canonical_value(field, &value)
                    .map_err(|message| errors.push(RuleError::new(name, message)))
                    .ok()
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors);
        }
        values.dedup();
        Ok(Condition::Field { field, op, values })
    }

    /// The condition as its definition writes it.
    pub fn to_json(&self) -> Value {
        match self {
            Condition::Field { field, op, values } => match op {
                ConditionOp::In => json!({"field": field, "op": op, "values": values}),
                _ => json!({"field": field, "op": op, "value": values.first()}),
            },
            Condition::TextContains(text) => json!({ "text_contains": text }),
            Condition::BusinessHours(inside) => json!({ "business_hours": inside }),
        }
    }
}

/// A condition's value as tickets' values are compared with it: lowercase, and one of the
/// field's names when the field has a closed set of them.
fn canonical_value(field: ConditionField, value: &str) -> Result<String, String> {
    let name = match field {
        ConditionField::Type => parse_name::<TicketType>(value)?,
        ConditionField::Priority => parse_name::<Priority>(value)?,
        ConditionField::Status => parse_name::<TicketStatus>(value)?,
        ConditionField::Impact => parse_name::<Impact>(value)?,
        ConditionField::Urgency => parse_name::<Urgency>(value)?,
        ConditionField::Source => parse_name::<Source>(value)?,
        ConditionField::Tag => Tag::parse(value).map_err(|e| e.to_string())?.to_string(),
        ConditionField::Category
        | ConditionField::Group
        | ConditionField::Assignee
        | ConditionField::Organization => value.trim().to_owned(),
    };
    Ok(name.to_lowercase())
}
