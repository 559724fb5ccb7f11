//! The search language: examples a user would type, the errors they would see, and
//! properties that hold for any input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jiff::Timestamp;
use jiff::civil::date;
use opsdesk_domain::query::{
    Condition, Filter, IsCondition, MAX_QUERY_CHARS, MAX_QUERY_TERMS, PersonMatch, Query,
    QueryError, Sort, SortKey, TimeBound, parse,
};
use opsdesk_domain::ticket::{
    Impact, Priority, Source, Tag, TicketNumber, TicketStatus, TicketType, Urgency,
};
use proptest::prelude::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn filter(condition: Condition) -> Filter {
    Filter {
        negated: false,
        condition,
    }
}

fn not(condition: Condition) -> Filter {
    Filter {
        negated: true,
        condition,
    }
}

#[test]
fn the_example_from_the_help_page() {
    let q = parse(
        r#"status:open,pending priority:P1,P2 group:"Service Desk" assignee:me created:>2026-01-01 printer jam"#,
    )
    .unwrap();
    assert_eq!(
        q,
        Query {
            filters: vec![
                filter(Condition::Status(vec![
                    TicketStatus::Open,
                    TicketStatus::Pending
                ])),
                filter(Condition::Priority(vec![Priority::P1, Priority::P2])),
                filter(Condition::Group(vec!["Service Desk".into()])),
                filter(Condition::Assignee(vec![PersonMatch::Me])),
                filter(Condition::Created(vec![TimeBound::After(ts(
                    "2026-01-01T00:00:00Z"
                ))])),
            ],
            text: vec!["printer".into(), "jam".into()],
            sort: None,
        }
    );
    assert_eq!(
        q.to_string(),
        r#"status:open,pending priority:P1,P2 group:"Service Desk" assignee:me created:>2026-01-01 printer jam"#
    );
}

#[test]
fn every_field_parses_to_its_typed_value() {
    let cases: Vec<(&str, Filter)> = vec![
        (
            "type:incident,service_request",
            filter(Condition::Type(vec![
                TicketType::Incident,
                TicketType::ServiceRequest,
            ])),
        ),
        ("impact:high", filter(Condition::Impact(vec![Impact::High]))),
        (
            "urgency:LOW",
            filter(Condition::Urgency(vec![Urgency::Low])),
        ),
        (
            "priority:p3",
            filter(Condition::Priority(vec![Priority::P3])),
        ),
        (
            "assignee:none,Ana@Example.com",
            filter(Condition::Assignee(vec![
                PersonMatch::Nobody,
                PersonMatch::Email("ana@example.com".into()),
            ])),
        ),
        (
            "requester:me",
            filter(Condition::Requester(vec![PersonMatch::Me])),
        ),
        (
            r#"organization:"ACME, Inc.""#,
            filter(Condition::Organization(vec!["ACME, Inc.".into()])),
        ),
        (
            "category:Hardware",
            filter(Condition::Category(vec!["Hardware".into()])),
        ),
        (
            "tag:VPN,wifi",
            filter(Condition::Tag(vec![
                Tag::parse("vpn").unwrap(),
                Tag::parse("wifi").unwrap(),
            ])),
        ),
        (
            "source:email,monitor",
            filter(Condition::Source(vec![Source::Email, Source::Monitor])),
        ),
        (
            "number:inc-1042,REQ-7",
            filter(Condition::Number(vec![
                "INC-1042".parse::<TicketNumber>().unwrap(),
                "REQ-7".parse::<TicketNumber>().unwrap(),
            ])),
        ),
        (
            "created:2026-03-01",
            filter(Condition::Created(vec![TimeBound::OnDay(date(2026, 3, 1))])),
        ),
        (
            "updated:>=2026-03-01T09:30:00+01:00,<2025-01-01",
            filter(Condition::Updated(vec![
                TimeBound::AtOrAfter(ts("2026-03-01T08:30:00Z")),
                TimeBound::Before(ts("2025-01-01T00:00:00Z")),
            ])),
        ),
        (
            "created:<=2026-01-31",
            filter(Condition::Created(vec![TimeBound::AtOrBefore(ts(
                "2026-01-31T00:00:00Z",
            ))])),
        ),
        (
            "is:open,unassigned",
            filter(Condition::Is(vec![
                IsCondition::Open,
                IsCondition::Unassigned,
            ])),
        ),
        (
            "-status:closed",
            not(Condition::Status(vec![TicketStatus::Closed])),
        ),
        (
            "Status:Open",
            filter(Condition::Status(vec![TicketStatus::Open])),
        ),
    ];
    for (input, expected) in cases {
        let q = parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(q.filters, vec![expected], "{input}");
        assert!(q.text.is_empty() && q.sort.is_none(), "{input}");
    }
}

#[test]
fn repeated_fields_are_separate_conditions() {
    let q = parse("tag:vpn tag:urgent -tag:spam").unwrap();
    assert_eq!(q.filters.len(), 3);
    assert!(q.filters[2].negated);
}

#[test]
fn text_words_phrases_and_sort() {
    let q = parse(r#"  "blue screen"  laptop sort:-priority "say \"hi\"" "C:\temp" 10:30 "http://x" -urgent "#)
        .unwrap();
    assert_eq!(
        q.text,
        vec![
            "blue screen",
            "laptop",
            r#"say "hi""#,
            r"C:\temp",
            "10:30",
            "http://x",
            "-urgent"
        ]
    );
    assert_eq!(
        q.sort,
        Some(Sort {
            key: SortKey::Priority,
            descending: true
        })
    );
    assert!(q.filters.is_empty());
    assert_eq!(
        q.to_string(),
        r#""blue screen" laptop "say \"hi\"" "C:\\temp" 10:30 "http://x" -urgent sort:-priority"#
    );
}

#[test]
fn empty_input_is_an_empty_query() {
    assert!(parse("").unwrap().is_empty());
    assert!(parse("   \t\n ").unwrap().is_empty());
    assert!(parse(r#""" "  ""#).unwrap().is_empty());
    assert_eq!(parse("").unwrap().to_string(), "");
}

#[test]
fn on_day_matches_the_whole_utc_day() {
    let day = TimeBound::OnDay(date(2026, 3, 1));
    assert!(!day.matches(ts("2026-02-28T23:59:59Z")));
    assert!(day.matches(ts("2026-03-01T00:00:00Z")));
    assert!(day.matches(ts("2026-03-01T23:59:59.999Z")));
    assert!(!day.matches(ts("2026-03-02T00:00:00Z")));
    assert_eq!(
        TimeBound::day_range(date(2026, 3, 1)),
        Some((ts("2026-03-01T00:00:00Z"), ts("2026-03-02T00:00:00Z")))
    );
}

#[test]
fn errors_point_at_the_problem() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "stauts:open",
            0,
            "unknown field `stauts` at position 0; did you mean `status`? known fields: status, type, priority, impact, urgency, group, assignee, requester, organization, category, tag, source, number, created, updated, is, sla, sort; to search for text containing `:`, put it in quotes",
        ),
        (
            r#"status:open group:"Service Desk"#,
            18,
            "unterminated quote starting at position 18",
        ),
        (
            r#"printer "jam"#,
            8,
            "unterminated quote starting at position 8",
        ),
        (
            "status:open created:> printer",
            21,
            "expected a date after `created:>` at position 21",
        ),
        (
            "created:>=",
            10,
            "expected a date after `created:>=` at position 10",
        ),
        (
            "status: open",
            7,
            "expected a value after `status:` at position 7",
        ),
        (
            "status:open,",
            12,
            "expected a value after `status:open,` at position 12",
        ),
        (
            "status:open,,closed",
            12,
            "expected a value after `status:open,` at position 12",
        ),
        (
            "status:open,opne",
            12,
            "invalid value `opne` for `status:` at position 12: expected one of: new, open, pending, resolved, closed, cancelled",
        ),
        (
            "priority:P0",
            9,
            "invalid value `P0` for `priority:` at position 9: expected one of: P1, P2, P3, P4, P5",
        ),
        (
            "created:>2026-13-01",
            8,
            "invalid value `>2026-13-01` for `created:` at position 8: not a valid date",
        ),
        (
            "updated:yesterday",
            8,
            "invalid value `yesterday` for `updated:` at position 8: expected a date (YYYY-MM-DD) or an RFC 3339 time such as 2026-01-01T09:00:00Z",
        ),
        (
            "created:2026-01-01T10:00:00Z",
            8,
            "invalid value `2026-01-01T10:00:00Z` for `created:` at position 8: an exact time matches almost nothing",
        ),
        (
            "assignee:bob",
            9,
            "invalid value `bob` for `assignee:` at position 9: expected an email address, `me` or `none`",
        ),
        (
            "requester:none",
            10,
            "invalid value `none` for `requester:` at position 10: every ticket has a requester",
        ),
        (
            "tag:two.words!",
            4,
            "invalid value `two.words!` for `tag:` at position 4: tag contains `!`",
        ),
        (
            "number:CHG-1",
            7,
            "invalid value `CHG-1` for `number:` at position 7: unknown ticket number prefix",
        ),
        (
            "is:closed",
            3,
            "invalid value `closed` for `is:` at position 3: expected one of: open, unassigned",
        ),
        (
            r#"group:Service" Desk""#,
            13,
            "unexpected `\"` at position 13: quote the whole value",
        ),
        (
            r#"group:"Service Desk"x"#,
            20,
            "unexpected `x` at position 20: expected `,` or a space after the closing quote",
        ),
        (
            r#""blue screen"x"#,
            13,
            "unexpected `x` at position 13: a space after the closing quote",
        ),
        (
            "sort:created sort:-updated",
            13,
            "invalid sort at position 13: sort is given more than once",
        ),
        (
            "-sort:created",
            0,
            "invalid sort at position 0: sort cannot be negated",
        ),
        (
            "sort:created,updated",
            13,
            "invalid sort at position 13: sort takes one key",
        ),
        (
            "sort:oldest",
            5,
            "invalid value `oldest` for `sort:` at position 5: expected one of: created, -created",
        ),
        // Positions count characters, not bytes.
        (
            "café stauts:open",
            5,
            "unknown field `stauts` at position 5",
        ),
        ("ünïcödé -x:1", 9, "unknown field `x` at position 9"),
    ];
    for &(input, position, message) in cases {
        let err = parse(input).expect_err(input);
        assert_eq!(err.position(), position, "{input}: {err}");
        assert!(
            err.to_string().starts_with(message),
            "{input}:\n  got      {err}\n  expected {message}"
        );
    }
}

#[test]
fn long_and_crowded_queries_are_rejected() {
    let long = "a".repeat(MAX_QUERY_CHARS + 1);
    assert_eq!(
        parse(&long),
        Err(QueryError::TooLong {
            len: 1001,
            max: 1000
        })
    );
    assert!(parse(&"é".repeat(MAX_QUERY_CHARS)).is_ok());

    let words = vec!["w"; MAX_QUERY_TERMS];
    assert!(parse(&words.join(" ")).is_ok());
    let err = parse(&format!("{} extra", words.join(" "))).unwrap_err();
    assert_eq!(err.position(), MAX_QUERY_TERMS * 2);
    assert!(
        err.to_string()
            .starts_with("too many terms at position 100")
    );

    // Each value in a list counts, since each is a condition to evaluate.
    let many_values = vec!["open"; MAX_QUERY_TERMS + 1].join(",");
    let err = parse(&format!("status:{many_values}")).unwrap_err();
    assert!(matches!(err, QueryError::TooManyTerms { .. }), "{err}");
}

#[test]
fn queries_serialize_as_canonical_text() {
    let q = parse("PRIORITY:p1  sort:created   \"x y\"").unwrap();
    let json = serde_json::to_value(&q).unwrap();
    assert_eq!(json, serde_json::json!(r#"priority:P1 "x y" sort:created"#));
    assert_eq!(serde_json::from_value::<Query>(json).unwrap(), q);
    assert!(serde_json::from_value::<Query>(serde_json::json!("stauts:x")).is_err());
}

/// Pieces that look like query syntax, so random inputs exercise the parser deeply.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("status:".to_owned()),
        Just("-".to_owned()),
        Just(":".to_owned()),
        Just(",".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just(" ".to_owned()),
        Just(">=".to_owned()),
        Just("<".to_owned()),
        Just("open".to_owned()),
        Just("P1".to_owned()),
        Just("me".to_owned()),
        Just("created:".to_owned()),
        Just("group:".to_owned()),
        Just("sort:".to_owned()),
        Just("tag:".to_owned()),
        Just("is:".to_owned()),
        Just("2026-01-01".to_owned()),
        Just("2026-01-01T10:00:00+02:00".to_owned()),
        Just("INC-12".to_owned()),
        Just("a@b.c".to_owned()),
        "\\PC{1,6}",
        "[a-z]{1,8}",
    ]
}

fn soup() -> impl Strategy<Value = String> {
    (prop::collection::vec(fragment(), 0..30), prop::bool::ANY)
        .prop_map(|(parts, spaced)| parts.join(if spaced { " " } else { "" }))
}

/// A well-formed term of every kind, with random values.
fn valid_term() -> impl Strategy<Value = String> {
    let name = "[A-Za-z][A-Za-z0-9 ,\"\\\\é-]{0,12}";
    let neg = prop::bool::ANY.prop_map(|n| if n { "-" } else { "" });
    let date =
        (1970i32..2100, 1u8..13, 1u8..29).prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"));
    let op = prop::sample::select(vec![">", ">=", "<", "<=", ""]);
    let time = (op, date.clone(), 0u32..24, prop::bool::ANY).prop_map(|(op, d, h, with_time)| {
        if with_time && !op.is_empty() {
            format!("{op}{d}T{h:02}:15:00-03:00")
        } else {
            format!("{op}{d}")
        }
    });
    let quote = |s: String| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    prop_oneof![
        (
            neg.clone(),
            prop::sample::subsequence(TicketStatus::NAMES.to_vec(), 1..4)
        )
            .prop_map(|(n, v)| format!("{n}status:{}", v.join(","))),
        (
            neg.clone(),
            prop::sample::subsequence(Priority::NAMES.to_vec(), 1..3)
        )
            .prop_map(|(n, v)| format!("{n}priority:{}", v.join(","))),
        (neg.clone(), name).prop_map(move |(n, g)| format!("{n}group:{}", quote(g))),
        (
            neg.clone(),
            prop::sample::select(vec!["me", "none", "Ana@Example.org"])
        )
            .prop_map(|(n, a)| format!("{n}assignee:{a}")),
        (neg.clone(), "[a-z0-9._-]{1,10}").prop_map(|(n, t)| format!("{n}tag:{t}")),
        (neg.clone(), 1u64..100_000).prop_map(|(n, s)| format!("{n}number:prb-{s}")),
        (neg.clone(), prop::collection::vec(time, 1..3))
            .prop_map(|(n, v)| format!("{n}created:{}", v.join(","))),
        (neg, prop::sample::select(vec!["open", "unassigned"]))
            .prop_map(|(n, v)| format!("{n}is:{v}")),
        "[a-z]{1,10}",
        "\\PC{1,10}"
            .prop_map(move |s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))),
    ]
}

fn valid_query() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(valid_term(), 0..8),
        prop::option::of(prop::sample::select(vec![
            "sort:created",
            "sort:-updated",
            "sort:priority",
        ])),
    )
        .prop_map(|(mut terms, sort)| {
            terms.extend(sort.map(str::to_owned));
            terms.join(" ")
        })
}

fn assert_round_trips(q: &Query) -> Result<(), TestCaseError> {
    let text = q.to_string();
    let again = parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
    prop_assert_eq!(&again, q, "canonical text {:?}", text);
    // Canonical text is a fixed point.
    prop_assert_eq!(again.to_string(), text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_unicode_never_panics(input in "\\PC{0,200}") {
        if let Ok(q) = parse(&input) {
            assert_round_trips(&q)?;
        }
    }

    #[test]
    fn query_like_soup_never_panics_and_round_trips(input in soup()) {
        match parse(&input) {
            Ok(q) => assert_round_trips(&q)?,
            Err(e) => prop_assert!(e.position() <= input.chars().count(), "{}", e),
        }
    }

    #[test]
    fn well_formed_queries_parse_and_round_trip(input in valid_query()) {
        let q = parse(&input).map_err(|e| TestCaseError::fail(format!("{input:?}: {e}")))?;
        assert_round_trips(&q)?;
    }
}

#[test]
fn sla_filters_parse_and_print_back() {
    use opsdesk_domain::query::{Condition, SlaCondition, parse};
    let query = parse("sla:breached,due<2h status:open").unwrap();
    assert_eq!(
        query.filters[0].condition,
        Condition::Sla(vec![SlaCondition::Breached, SlaCondition::DueWithin(7200)])
    );
    assert_eq!(query.to_string(), "sla:breached,due<2h status:open");
    let error = parse("sla:late").unwrap_err();
    assert_eq!(error.position(), 4);
    assert!(parse("sla:due<0h").is_err());
}
