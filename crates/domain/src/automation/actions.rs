//! Actions: reading what a rule does, from its JSON definition, with errors naming the
//! field at fault.

use super::*;

impl Action {
    /// Reads one action object (which may hold a `set` of several fields, hence a list);
    /// errors are named under `at` (`actions[0]`).
    pub fn parse(at: &str, raw: &Value) -> Result<Vec<Action>, Vec<RuleError>> {
        let shape = "must be an object with one key: set, assign, add_tag, apply_macro, note, \
                     page, webhook or open_linked";
        let Some((kind, value)) = raw
            .as_object()
            .filter(|object| object.len() == 1)
            .and_then(|object| object.iter().next())
        else {
            return Err(vec![RuleError::new(at, shape)]);
        };
        let here = format!("{at}.{kind}");
        let one = |action: Result<Action, RuleError>| action.map(|a| vec![a]).map_err(|e| vec![e]);
        match kind.as_str() {
            "set" => parse_set(&here, value),
            "assign" => one(text_of(&here, value).and_then(|text| {
                Email::parse(&text)
                    .map(Action::Assign)
                    .map_err(|e| RuleError::new(&here, e))
            })),
            "add_tag" => one(text_of(&here, value).and_then(|text| {
                Tag::parse(&text)
                    .map(Action::AddTag)
                    .map_err(|e| RuleError::new(&here, e))
            })),
            "apply_macro" => one(text_of(&here, value).map(Action::ApplyMacro)),
            "note" => one(text_of(&here, value).map(Action::Note)),
            "page" => one(text_of(&here, value).map(Action::Page)),
            "webhook" => one(text_of(&here, value).and_then(|url| {
                let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
                if scheme_ok && !url.contains(char::is_whitespace) {
                    Ok(Action::Webhook(url))
                } else {
                    Err(RuleError::new(&here, "must be an http:// or https:// URL"))
                }
            })),
            "open_linked" => one(parse_open_linked(&here, value)),
            _ => Err(vec![RuleError::new(at, shape)]),
        }
    }

    /// The action as its definition writes it.
    pub fn to_json(&self) -> Value {
        match self {
            Action::Set { field, value } => {
                let mut set = Map::new();
                set.insert(field.as_str().to_owned(), Value::from(value.as_str()));
                json!({ "set": set })
            }
            Action::Assign(email) => json!({ "assign": email.as_str() }),
            Action::AddTag(tag) => json!({ "add_tag": tag.as_str() }),
            Action::ApplyMacro(name) => json!({ "apply_macro": name }),
            Action::Note(text) => json!({ "note": text }),
            Action::Page(policy) => json!({ "page": policy }),
            Action::Webhook(url) => json!({ "webhook": url }),
            Action::OpenLinked { ticket_type, title } => {
                json!({"open_linked": {"type": ticket_type, "title": title.as_str()}})
            }
        }
    }

    /// Whether carrying the action out on a ticket with `facts` would change anything. An
    /// action that would not is left out of the plan, so a rule whose work is done raises no
    /// further event (and does not count as a run).
    pub fn changes(&self, facts: &TicketFacts) -> bool {
        let same =
            |have: Option<&str>, want: &str| have.is_some_and(|h| h.eq_ignore_ascii_case(want));
        match self {
            Action::Set { field, value } => match field {
                SetField::Priority => facts.priority.as_str() != value,
                SetField::Impact => facts.impact.as_str() != value,
                SetField::Urgency => facts.urgency.as_str() != value,
                SetField::Status => facts.status.as_str() != value && facts.status.is_active(),
                SetField::Category => !same(facts.category.as_deref(), value),
                SetField::Group => !same(facts.group.as_deref(), value),
            },
            Action::Assign(email) => !same(facts.assignee.as_deref(), email.as_str()),
            Action::AddTag(tag) => !facts.tags.iter().any(|t| t == tag.as_str()),
            Action::Page(_) => facts.ticket_type == TicketType::Incident && !facts.paged,
            Action::ApplyMacro(_)
            | Action::Note(_)
            | Action::Webhook(_)
            | Action::OpenLinked { .. } => true,
        }
    }
}

fn parse_set(at: &str, value: &Value) -> Result<Vec<Action>, Vec<RuleError>> {
    let Some(fields) = value.as_object().filter(|f| !f.is_empty()) else {
        return Err(vec![RuleError::new(
            at,
            "must be an object of fields to set, e.g. {\"priority\": \"P1\"}",
        )]);
    };
    let mut actions = Vec::new();
    let mut errors = Vec::new();
    for (key, value) in fields {
        let here = format!("{at}.{key}");
        let parsed = key
            .parse::<SetField>()
            .map_err(|e| RuleError::new(&here, e))
            .and_then(|field| {
                let text = text_of(&here, value)?;
                let value = match field {
                    SetField::Priority => parse_name::<Priority>(&text),
                    SetField::Impact => parse_name::<Impact>(&text),
                    SetField::Urgency => parse_name::<Urgency>(&text),
                    SetField::Status => parse_name::<TicketStatus>(&text).and_then(|status| {
                        // Pending and resolved need a reason or a code a rule cannot give.
                        if matches!(status.as_str(), "open" | "closed" | "cancelled") {
                            Ok(status)
                        } else {
                            Err("a rule may set open, closed or cancelled".to_owned())
                        }
                    }),
                    SetField::Category | SetField::Group => Ok(text),
                }
                .map_err(|message| RuleError::new(&here, message))?;
                Ok(Action::Set { field, value })
            });
        match parsed {
            Ok(action) => actions.push(action),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(actions)
    } else {
        Err(errors)
    }
}

fn parse_open_linked(at: &str, value: &Value) -> Result<Action, RuleError> {
    let Some(object) = value.as_object() else {
        return Err(RuleError::new(
            at,
            "must be an object: {\"type\": \"problem\", \"title\": \"…\"}",
        ));
    };
    if let Some(key) = object
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "title"))
    {
        return Err(RuleError::new(
            format!("{at}.{key}"),
            "unknown; give `type` and `title`",
        ));
    }
    let ticket_type = parse_named::<TicketType>(&format!("{at}.type"), object.get("type"))?;
    let title_at = format!("{at}.title");
    let title = match object.get("title") {
        Some(raw) => {
            Title::parse(&text_of(&title_at, raw)?).map_err(|e| RuleError::new(&title_at, e))?
        }
        None => return Err(RuleError::new(title_at, "is required")),
    };
    Ok(Action::OpenLinked { ticket_type, title })
}
