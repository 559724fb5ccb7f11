//! iCalendar (RFC 5545) documents: shifts and planned work as events that calendar apps
//! import.

use std::fmt::Write;

use jiff::Timestamp;

/// One event of a calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Stable across exports, so a re-import updates the event instead of doubling it.
    pub uid: String,
    pub summary: String,
    pub description: String,
    pub from: Timestamp,
    pub until: Timestamp,
}

/// A calendar named `name` holding `events`, stamped `now`; lines end in CRLF and are
/// folded at 75 octets, as the format wants.
pub fn calendar(name: &str, events: &[Event], now: Timestamp) -> String {
    let mut out = String::new();
    for line in [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//opsdesk//opsdesk//EN",
    ] {
        push(&mut out, line);
    }
    push(&mut out, &format!("X-WR-CALNAME:{}", text(name)));
    for event in events {
        push(&mut out, "BEGIN:VEVENT");
        push(&mut out, &format!("UID:{}", text(&event.uid)));
        push(&mut out, &format!("DTSTAMP:{}", utc(now)));
        push(&mut out, &format!("DTSTART:{}", utc(event.from)));
        push(&mut out, &format!("DTEND:{}", utc(event.until)));
        push(&mut out, &format!("SUMMARY:{}", text(&event.summary)));
        if !event.description.is_empty() {
            push(
                &mut out,
                &format!("DESCRIPTION:{}", text(&event.description)),
            );
        }
        push(&mut out, "END:VEVENT");
    }
    push(&mut out, "END:VCALENDAR");
    out
}

fn utc(at: Timestamp) -> String {
    at.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value: backslashes, commas, semicolons and line breaks escaped.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends `line`, folded: after 75 octets (never inside a character) a CRLF and a space.
fn push(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    let _ = write!(out, "\r\n");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn an_event_reads_as_rfc_5545() {
        let event = Event {
            uid: "shift-1@opsdesk".into(),
            summary: "On call: Primary; nights, weekends".into(),
            description: "line one\nline two".into(),
            from: "2026-01-05T09:00:00Z".parse().unwrap(),
            until: "2026-01-12T09:00:00Z".parse().unwrap(),
        };
        let doc = calendar("ann", &[event], "2026-01-01T00:00:00Z".parse().unwrap());
        assert!(doc.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"));
        assert!(doc.contains("\r\nDTSTART:20260105T090000Z\r\nDTEND:20260112T090000Z\r\n"));
        assert!(doc.contains("SUMMARY:On call: Primary\\; nights\\, weekends\r\n"));
        assert!(doc.contains("DESCRIPTION:line one\\nline two\r\n"));
        assert!(doc.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"));
    }

    proptest! {
        /// Folded lines are at most 75 octets, and unfolding gives the text back.
        #[test]
        fn folding_keeps_lines_short_and_loses_nothing(summary in "\\PC{0,300}") {
            let mut out = String::new();
            push(&mut out, &summary);
            for line in out.split("\r\n") {
                prop_assert!(line.len() <= 75, "{line:?}");
            }
            prop_assert_eq!(out.trim_end_matches("\r\n").replace("\r\n ", ""), summary);
        }
    }
}
