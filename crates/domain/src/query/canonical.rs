//! The canonical text of a query: what `Display` prints and saved views store.

use std::fmt::{self, Write as _};

use serde::{Deserialize, Serialize};

use super::parser::field_prefix;
use super::{Condition, Filter, Query, parse};

/// Writes `value` bare when it reads back as itself, else quoted with escapes.
fn write_value(out: &mut String, value: &str, needs_quotes: bool) {
    if !needs_quotes {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

fn value_needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value
            .chars()
            .any(|c| c.is_whitespace() || c == ',' || c == '"')
}

fn text_needs_quotes(text: &str) -> bool {
    text.is_empty()
        || text.starts_with('"')
        || text.chars().any(char::is_whitespace)
        || field_prefix(text, 0).is_some()
}

fn join<T: fmt::Display>(out: &mut String, values: &[T]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{v}");
    }
}

fn join_names(out: &mut String, values: &[String]) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_value(out, v, value_needs_quotes(v));
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        if self.negated {
            out.push('-');
        }
        out.push_str(self.condition.field().as_str());
        out.push(':');
        match &self.condition {
            Condition::Status(v) => join(&mut out, v),
            Condition::Type(v) => join(&mut out, v),
            Condition::Priority(v) => join(&mut out, v),
            Condition::Impact(v) => join(&mut out, v),
            Condition::Urgency(v) => join(&mut out, v),
            Condition::Source(v) => join(&mut out, v),
            Condition::Group(v) | Condition::Organization(v) | Condition::Category(v) => {
                join_names(&mut out, v)
            }
            Condition::Assignee(v) | Condition::Requester(v) => join(&mut out, v),
            Condition::Tag(v) => join(&mut out, v),
            Condition::Number(v) => join(&mut out, v),
            Condition::Created(v) | Condition::Updated(v) => join(&mut out, v),
            Condition::Is(v) => {
                let names: Vec<&str> = v.iter().map(|c| c.as_str()).collect();
                out.push_str(&names.join(","));
            }
            Condition::Sla(v) => {
                let names: Vec<String> = v.iter().map(ToString::to_string).collect();
                out.push_str(&names.join(","));
            }
        }
        f.write_str(&out)
    }
}

impl fmt::Display for Query {
    /// The canonical text: filters in order, then text, then sort, separated by spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut terms: Vec<String> = self.filters.iter().map(ToString::to_string).collect();
        for text in &self.text {
            let mut out = String::new();
            write_value(&mut out, text, text_needs_quotes(text));
            terms.push(out);
        }
        if let Some(sort) = &self.sort {
            terms.push(sort.to_string());
        }
        f.write_str(&terms.join(" "))
    }
}

/// Queries travel as their canonical text, e.g. in saved views.
impl Serialize for Query {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Query {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}
