//! Reading query text into a [`Query`]: terms, quoting, field values and their checks.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::{
    Condition, Field, Filter, IsCondition, MAX_QUERY_CHARS, MAX_QUERY_TERMS, PersonMatch, Query,
    QueryError, SlaCondition, Sort, SortKey, TimeBound,
};
use crate::ticket::{Tag, TicketNumber};

/// Parses query text into a typed [`Query`].
///
/// Errors carry the character position of the problem. Input over [`MAX_QUERY_CHARS`]
/// characters or [`MAX_QUERY_TERMS`] terms is rejected.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    let len = input.chars().count();
    if len > MAX_QUERY_CHARS {
        return Err(QueryError::TooLong {
            len,
            max: MAX_QUERY_CHARS,
        });
    }
    let mut parser = Parser {
        input,
        pos: 0,
        terms: 0,
        query: Query::default(),
    };
    parser.run()?;
    Ok(parser.query)
}

impl std::str::FromStr for Query {
    type Err = QueryError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

/// A value as written: its unquoted text and where it starts (byte offset).
struct RawValue {
    text: String,
    start: usize,
    quoted: bool,
}

struct Parser<'a> {
    input: &'a str,
    /// Byte offset of the next unread character; always on a char boundary.
    pos: usize,
    terms: usize,
    query: Query,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.input
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
    }

    fn bump(&mut self, c: char) {
        self.pos += c.len_utf8();
    }

    /// Converts a byte offset into the character position errors report.
    fn char_pos(&self, byte: usize) -> usize {
        self.input.get(..byte).map_or(0, |s| s.chars().count())
    }

    fn count_term(&mut self, start: usize) -> Result<(), QueryError> {
        self.terms += 1;
        if self.terms > MAX_QUERY_TERMS {
            return Err(QueryError::TooManyTerms {
                position: self.char_pos(start),
                max: MAX_QUERY_TERMS,
            });
        }
        Ok(())
    }

    fn run(&mut self) -> Result<(), QueryError> {
        loop {
            while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
                self.bump(c);
            }
            let Some(c) = self.peek() else {
                return Ok(());
            };
            let start = self.pos;
            if c == '"' {
                let phrase = self.quoted()?;
                self.expect_term_end("a space after the closing quote")?;
                let phrase = phrase.trim();
                // An empty phrase asks for nothing, so it is not a term.
                if !phrase.is_empty() {
                    self.count_term(start)?;
                    self.query.text.push(phrase.to_owned());
                }
            } else if let Some((negated, name_start, name_end)) = field_prefix(self.input, start) {
                self.pos = name_end + 1;
                self.field_term(start, negated, name_start, name_end)?;
            } else {
                while let Some(c) = self.peek().filter(|c| !c.is_whitespace()) {
                    self.bump(c);
                }
                self.count_term(start)?;
                let word = self.input.get(start..self.pos).unwrap_or_default();
                self.query.text.push(word.to_owned());
            }
        }
    }

    /// Reads a quoted string starting at the opening quote; returns its unescaped text.
    fn quoted(&mut self) -> Result<String, QueryError> {
        let open = self.pos;
        self.bump('"');
        let mut text = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(QueryError::UnterminatedQuote {
                        position: self.char_pos(open),
                    });
                }
                Some('"') => {
                    self.bump('"');
                    return Ok(text);
                }
                Some('\\') => {
                    self.bump('\\');
                    match self.peek() {
                        Some(c @ ('"' | '\\')) => {
                            self.bump(c);
                            text.push(c);
                        }
                        // Other backslashes are literal, so Windows paths need no doubling.
                        _ => text.push('\\'),
                    }
                }
                Some(c) => {
                    self.bump(c);
                    text.push(c);
                }
            }
        }
    }

    fn expect_term_end(&self, hint: &'static str) -> Result<(), QueryError> {
        match self.peek() {
            Some(c) if !c.is_whitespace() => Err(QueryError::UnexpectedCharacter {
                found: c,
                position: self.char_pos(self.pos),
                hint,
            }),
            _ => Ok(()),
        }
    }

    /// Reads a comma-separated list of (possibly quoted) values after `field:`.
    fn values(&mut self, term_start: usize, field: Field) -> Result<Vec<RawValue>, QueryError> {
        let mut values = Vec::new();
        loop {
            let start = self.pos;
            match self.peek() {
                None => return Err(self.missing(term_start, field.expected_value())),
                Some(c) if c.is_whitespace() || c == ',' => {
                    return Err(self.missing(term_start, field.expected_value()));
                }
                Some('"') => {
                    let text = self.quoted()?;
                    if let Some(c) = self.peek().filter(|&c| !c.is_whitespace() && c != ',') {
                        return Err(QueryError::UnexpectedCharacter {
                            found: c,
                            position: self.char_pos(self.pos),
                            hint: "expected `,` or a space after the closing quote",
                        });
                    }
                    values.push(RawValue {
                        text,
                        start,
                        quoted: true,
                    });
                }
                Some(_) => {
                    while let Some(c) = self.peek().filter(|&c| !c.is_whitespace() && c != ',') {
                        if c == '"' {
                            return Err(QueryError::UnexpectedCharacter {
                                found: c,
                                position: self.char_pos(self.pos),
                                hint: "quote the whole value, e.g. group:\"Service Desk\"",
                            });
                        }
                        self.bump(c);
                    }
                    let text = self
                        .input
                        .get(start..self.pos)
                        .unwrap_or_default()
                        .to_owned();
                    values.push(RawValue {
                        text,
                        start,
                        quoted: false,
                    });
                }
            }
            if self.peek() == Some(',') {
                self.bump(',');
            } else {
                return Ok(values);
            }
        }
    }

    fn missing(&self, term_start: usize, expected: &'static str) -> QueryError {
        QueryError::MissingValue {
            expected,
            after: self
                .input
                .get(term_start..self.pos)
                .unwrap_or_default()
                .to_owned(),
            position: self.char_pos(self.pos),
        }
    }

    fn field_term(
        &mut self,
        term_start: usize,
        negated: bool,
        name_start: usize,
        name_end: usize,
    ) -> Result<(), QueryError> {
        let name = self
            .input
            .get(name_start..name_end)
            .unwrap_or_default()
            .to_ascii_lowercase();
        let Some(field) = Field::from_name(&name) else {
            return Err(QueryError::UnknownField {
                suggestion: suggest_field(&name),
                field: self
                    .input
                    .get(name_start..name_end)
                    .unwrap_or_default()
                    .to_owned(),
                position: self.char_pos(name_start),
            });
        };
        if field == Field::Sort {
            return self.sort_term(term_start, negated);
        }
        let values = self.values(term_start, field)?;
        for v in &values {
            self.count_term(v.start)?;
        }
        let condition = match field {
            Field::Status => Condition::Status(self.each(field, &values, parse_named)?),
            Field::Type => Condition::Type(self.each(field, &values, parse_named)?),
            Field::Priority => Condition::Priority(self.each(field, &values, parse_named)?),
            Field::Impact => Condition::Impact(self.each(field, &values, parse_named)?),
            Field::Urgency => Condition::Urgency(self.each(field, &values, parse_named)?),
            Field::Source => Condition::Source(self.each(field, &values, parse_named)?),
            Field::Group => Condition::Group(self.each(field, &values, parse_name_value)?),
            Field::Organization => {
                Condition::Organization(self.each(field, &values, parse_name_value)?)
            }
            Field::Category => Condition::Category(self.each(field, &values, parse_name_value)?),
            Field::Assignee => {
                Condition::Assignee(self.each(field, &values, |v| parse_person(v, true))?)
            }
            Field::Requester => {
                Condition::Requester(self.each(field, &values, |v| parse_person(v, false))?)
            }
            Field::Tag => Condition::Tag(
                self.each(field, &values, |v| Tag::parse(v).map_err(|e| e.to_string()))?,
            ),
            Field::Number => Condition::Number(self.each(field, &values, |v| {
                v.parse::<TicketNumber>().map_err(|e| e.to_string())
            })?),
            Field::Created => Condition::Created(self.time_bounds(term_start, field, &values)?),
            Field::Updated => Condition::Updated(self.time_bounds(term_start, field, &values)?),
            Field::Is => Condition::Is(self.each(field, &values, parse_is)?),
            Field::Sla => Condition::Sla(self.each(field, &values, parse_sla)?),
            // Handled above; kept explicit so a new field fails to compile here.
            Field::Sort => return Ok(()),
        };
        self.query.filters.push(Filter { negated, condition });
        Ok(())
    }

    /// Parses every value with `parse`, reporting the first failure at its position.
    fn each<T>(
        &self,
        field: Field,
        values: &[RawValue],
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, QueryError> {
        values
            .iter()
            .map(|v| {
                parse(&v.text).map_err(|reason| QueryError::InvalidValue {
                    field,
                    value: v.text.clone(),
                    position: self.char_pos(v.start),
                    reason,
                })
            })
            .collect()
    }

    fn time_bounds(
        &self,
        term_start: usize,
        field: Field,
        values: &[RawValue],
    ) -> Result<Vec<TimeBound>, QueryError> {
        let mut bounds = Vec::with_capacity(values.len());
        for v in values {
            let (op, rest) = [">=", "<=", ">", "<"]
                .iter()
                .find_map(|op| v.text.strip_prefix(op).map(|rest| (*op, rest)))
                .unwrap_or(("", v.text.as_str()));
            if rest.is_empty() {
                // The operator and quote are ASCII, so this stays on a char boundary.
                let value_pos = v.start + usize::from(v.quoted) + op.len();
                return Err(QueryError::MissingValue {
                    expected: "a date",
                    after: self
                        .input
                        .get(term_start..value_pos)
                        .unwrap_or_default()
                        .to_owned(),
                    position: self.char_pos(value_pos),
                });
            }
            let invalid = |reason: String| QueryError::InvalidValue {
                field,
                value: v.text.clone(),
                position: self.char_pos(v.start),
                reason,
            };
            let bound = match parse_time(rest).map_err(invalid)? {
                TimeValue::Day(day) => match op {
                    ">=" => TimeBound::AtOrAfter(day_start(day).map_err(invalid)?),
                    "<=" => TimeBound::AtOrBefore(day_start(day).map_err(invalid)?),
                    ">" => TimeBound::After(day_start(day).map_err(invalid)?),
                    "<" => TimeBound::Before(day_start(day).map_err(invalid)?),
                    _ => {
                        // The store needs the whole day as instants, so check it exists.
                        TimeBound::day_range(day)
                            .ok_or_else(|| invalid("the date is out of range".to_owned()))?;
                        TimeBound::OnDay(day)
                    }
                },
                TimeValue::Instant(t) => match op {
                    ">=" => TimeBound::AtOrAfter(t),
                    "<=" => TimeBound::AtOrBefore(t),
                    ">" => TimeBound::After(t),
                    "<" => TimeBound::Before(t),
                    _ => {
                        return Err(invalid(format!(
                            "an exact time matches almost nothing; use a date such as \
                             {field}:2026-01-01, or compare with >, >=, < or <="
                        )));
                    }
                },
            };
            bounds.push(bound);
        }
        Ok(bounds)
    }

    fn sort_term(&mut self, term_start: usize, negated: bool) -> Result<(), QueryError> {
        let position = self.char_pos(term_start);
        if negated {
            return Err(QueryError::InvalidSort {
                position,
                reason: "sort cannot be negated; write sort:-created for descending order",
            });
        }
        if self.query.sort.is_some() {
            return Err(QueryError::InvalidSort {
                position,
                reason: "sort is given more than once",
            });
        }
        let values = self.values(term_start, Field::Sort)?;
        let Some(first) = values.first() else {
            return Err(self.missing(term_start, "a sort key"));
        };
        if let Some(second) = values.get(1) {
            return Err(QueryError::InvalidSort {
                position: self.char_pos(second.start),
                reason: "sort takes one key",
            });
        }
        self.count_term(first.start)?;
        let (descending, name) = match first.text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, first.text.as_str()),
        };
        let key = SortKey::ALL
            .iter()
            .copied()
            .find(|k| k.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| QueryError::InvalidValue {
                field: Field::Sort,
                value: first.text.clone(),
                position: self.char_pos(first.start),
                reason:
                    "expected one of: created, -created, updated, -updated, priority, -priority"
                        .to_owned(),
            })?;
        self.query.sort = Some(Sort { key, descending });
        Ok(())
    }
}

/// Recognizes `[-]name:` at `start`; returns (negated, name start, name end = colon).
///
/// Names are ASCII letters, digits and `_`, starting with a letter, so times (`10:30`)
/// and most punctuation stay text.
pub(super) fn field_prefix(input: &str, start: usize) -> Option<(bool, usize, usize)> {
    let rest = input.get(start..)?;
    let negated = rest.starts_with('-');
    let name_start = start + usize::from(negated);
    let bytes = input.get(name_start..)?.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let name_len = bytes
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))?;
    (bytes.get(name_len) == Some(&b':')).then_some((negated, name_start, name_start + name_len))
}

/// The known field closest to a misspelling, if any is close.
fn suggest_field(name: &str) -> Option<&'static str> {
    Field::ALL
        .iter()
        .map(|f| (edit_distance(name, f.as_str()), f.as_str()))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, f)| f)
}

/// Optimal string alignment distance: like Levenshtein, but a swap of two neighbours
/// (`stauts`) costs one edit, which is the commonest typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * width];
    for (i, row) in d.chunks_mut(width).enumerate() {
        if let Some(first) = row.first_mut() {
            *first = i;
        }
    }
    for (j, cell) in d.iter_mut().take(width).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a.get(i - 1) != b.get(j - 1));
            let at = |d: &[usize], i: usize, j: usize| d.get(i * width + j).copied().unwrap_or(0);
            let mut best = (at(&d, i - 1, j) + 1)
                .min(at(&d, i, j - 1) + 1)
                .min(at(&d, i - 1, j - 1) + cost);
            if i > 1 && j > 1 && a.get(i - 1) == b.get(j - 2) && a.get(i - 2) == b.get(j - 1) {
                best = best.min(at(&d, i - 2, j - 2) + 1);
            }
            if let Some(cell) = d.get_mut(i * width + j) {
                *cell = best;
            }
        }
    }
    d.last().copied().unwrap_or(0)
}

/// Parses a value of one of the string enums from `ticket`, listing the valid names.
fn parse_named<T>(value: &str) -> Result<T, String>
where
    T: std::str::FromStr<Err = crate::ticket::ParseValueError>,
{
    value.parse().map_err(|e: crate::ticket::ParseValueError| {
        format!("expected one of: {}", e.expected.join(", "))
    })
}

/// A group, organization or category name: trimmed, non-empty, at most 200 characters.
fn parse_name_value(value: &str) -> Result<String, String> {
    let name = value.trim();
    if name.is_empty() {
        return Err("the name is empty".to_owned());
    }
    if name.chars().count() > 200 {
        return Err("names are at most 200 characters".to_owned());
    }
    Ok(name.to_owned())
}

fn parse_person(value: &str, allow_nobody: bool) -> Result<PersonMatch, String> {
    if value.eq_ignore_ascii_case("me") {
        return Ok(PersonMatch::Me);
    }
    if value.eq_ignore_ascii_case("none") {
        return if allow_nobody {
            Ok(PersonMatch::Nobody)
        } else {
            Err("every ticket has a requester; expected an email or `me`".to_owned())
        };
    }
    let expected = if allow_nobody {
        "expected an email address, `me` or `none`"
    } else {
        "expected an email address or `me`"
    };
    let valid = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && value.len() <= 254
            && value
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && c != ',' && c != '"')
    });
    if valid {
        // Mailbox matching in a help desk ignores case; lowercasing keeps one spelling.
        Ok(PersonMatch::Email(value.to_lowercase()))
    } else {
        Err(expected.to_owned())
    }
}

fn parse_is(value: &str) -> Result<IsCondition, String> {
    IsCondition::ALL
        .iter()
        .copied()
        .find(|c| c.as_str().eq_ignore_ascii_case(value))
        .ok_or_else(|| "expected one of: open, unassigned".to_owned())
}

enum TimeValue {
    Day(Date),
    Instant(Timestamp),
}

/// A bare `YYYY-MM-DD` date or an RFC 3339 time with an offset.
fn parse_time(value: &str) -> Result<TimeValue, String> {
    let is_date_shaped = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if is_date_shaped {
        return value
            .parse::<Date>()
            .map(TimeValue::Day)
            .map_err(|e| format!("not a valid date: {e}"));
    }
    value
        .parse::<Timestamp>()
        .map(TimeValue::Instant)
        .map_err(|_| {
            "expected a date (YYYY-MM-DD) or an RFC 3339 time such as 2026-01-01T09:00:00Z"
                .to_owned()
        })
}

fn day_start(day: Date) -> Result<Timestamp, String> {
    day.to_zoned_datetime(TimeZone::UTC)
        .map(|z| z.timestamp())
        .map_err(|_| "the date is out of range".to_owned())
}

/// `breached`, or `due<N` with a unit of `s`, `m`, `h` or `d`.
fn parse_sla(value: &str) -> Result<SlaCondition, String> {
    let expected = || {
        "expected `breached` or `due<` with a duration such as `due<2h` (units s, m, h, d)"
            .to_owned()
    };
    if value.eq_ignore_ascii_case("breached") {
        return Ok(SlaCondition::Breached);
    }
    let duration = value.strip_prefix("due<").ok_or_else(expected)?;
    let unit_at = duration
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(expected)?;
    let (amount, unit) = duration.split_at(unit_at);
    let amount: i64 = amount.parse().map_err(|_| expected())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(expected()),
    };
    amount
        .checked_mul(scale)
        .filter(|seconds| (1..=366 * 86_400).contains(seconds))
        .map(SlaCondition::DueWithin)
        .ok_or_else(|| "the duration must be between 1 second and 366 days".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn transposed_letters_suggest_the_field() {
        assert_eq!(suggest_field("stauts"), Some("status"));
        assert_eq!(suggest_field("asignee"), Some("assignee"));
        assert_eq!(suggest_field("xyzzy"), None);
    }

    #[test]
    fn field_prefix_requires_identifier_then_colon() {
        assert_eq!(field_prefix("status:open", 0), Some((false, 0, 6)));
        assert_eq!(field_prefix("-status:open", 0), Some((true, 1, 7)));
        assert_eq!(field_prefix("10:30", 0), None);
        assert_eq!(field_prefix("status", 0), None);
        assert_eq!(field_prefix("-", 0), None);
    }
}
