//! Ticket values, the priority matrix, the lifecycle and custom fields, as a user of the
//! service desk would notice them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use jiff::Timestamp;
use opsdesk_domain::ticket::{
    CustomFieldDefinition, CustomFieldKind, FieldValueError, Impact, Lifecycle, LinkType,
    PendingReason, Priority, PriorityMatrix, PriorityMatrixError, ResolutionCode, ResolutionNote,
    Source, StatusChange, Tag, TicketNumber, TicketNumberError, TicketStatus, TicketType, Title,
    TitleError, TransitionError, Urgency, auto_close_due, on_customer_reply, transition,
};
use proptest::prelude::*;
use serde_json::json;

#[test]
fn ticket_numbers_parse_ignoring_prefix_case_and_print_canonically() {
    let cases = [
        ("INC-1042", TicketType::Incident, 1042, "INC-1042"),
        ("inc-1042", TicketType::Incident, 1042, "INC-1042"),
        ("Req-7", TicketType::ServiceRequest, 7, "REQ-7"),
        ("PRB-0042", TicketType::Problem, 42, "PRB-42"),
    ];
    for (input, ty, seq, shown) in cases {
        let n: TicketNumber = input.parse().unwrap();
        assert_eq!((n.ticket_type(), n.sequence()), (ty, seq), "{input}");
        assert_eq!(n.to_string(), shown);
        assert_eq!(serde_json::to_value(n).unwrap(), json!(shown));
    }
}

#[test]
fn bad_ticket_numbers_say_what_is_expected() {
    let cases: [(&str, TicketNumberError); 6] = [
        ("CHG-1", TicketNumberError::UnknownPrefix("CHG".into())),
        ("INC1042", TicketNumberError::Malformed("INC1042".into())),
        ("INC-", TicketNumberError::Malformed("INC-".into())),
        ("INC-+5", TicketNumberError::Malformed("INC-+5".into())),
        ("INC-0", TicketNumberError::ZeroSequence),
        (
            "INC-99999999999999999999",
            TicketNumberError::Malformed("INC-99999999999999999999".into()),
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(input.parse::<TicketNumber>(), Err(expected), "{input}");
    }
    let message = "CHG-1".parse::<TicketNumber>().unwrap_err().to_string();
    assert_eq!(
        message,
        "unknown ticket number prefix `CHG`; expected one of: INC, REQ, PRB, SEC"
    );
}

#[test]
fn enums_serialize_as_lowercase_snake_case() {
    assert_eq!(
        serde_json::to_value(TicketType::ServiceRequest).unwrap(),
        json!("service_request")
    );
    assert_eq!(
        serde_json::to_value(PendingReason::ThirdParty).unwrap(),
        json!("third_party")
    );
    assert_eq!(
        serde_json::to_value(LinkType::DuplicateOf).unwrap(),
        json!("duplicate_of")
    );
    assert_eq!(
        serde_json::to_value(Source::Monitor).unwrap(),
        json!("monitor")
    );
    assert_eq!(serde_json::to_value(Priority::P1).unwrap(), json!("P1"));
    assert_eq!(
        serde_json::from_value::<TicketStatus>(json!("cancelled")).unwrap(),
        TicketStatus::Cancelled
    );
    assert_eq!(
        serde_json::from_value::<Priority>(json!("p4")).unwrap(),
        Priority::P4
    );
}

#[test]
fn unknown_enum_values_list_the_valid_ones() {
    let err = "reopened".parse::<TicketStatus>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown ticket status `reopened`; expected one of: new, open, pending, resolved, closed, cancelled"
    );
    let err = serde_json::from_value::<Urgency>(json!("urgent")).unwrap_err();
    assert!(
        err.to_string()
            .contains("expected one of: high, medium, low"),
        "{err}"
    );
}

#[test]
fn itil_matrix_is_the_default() {
    use Impact as I;
    use Priority::*;
    use Urgency as U;
    let m = PriorityMatrix::default();
    let table = [
        (I::High, U::High, P1),
        (I::High, U::Medium, P2),
        (I::Medium, U::High, P2),
        (I::High, U::Low, P3),
        (I::Medium, U::Medium, P3),
        (I::Low, U::High, P3),
        (I::Medium, U::Low, P4),
        (I::Low, U::Medium, P4),
        (I::Low, U::Low, P5),
    ];
    for (impact, urgency, priority) in table {
        assert_eq!(m.priority(impact, urgency), priority, "{impact}/{urgency}");
    }
}

#[test]
fn matrix_round_trips_through_json_and_can_be_overridden() {
    let json = serde_json::to_value(PriorityMatrix::ITIL).unwrap();
    assert_eq!(json["high/medium"], json!("P2"));
    assert_eq!(json.as_object().unwrap().len(), 9);
    assert_eq!(
        serde_json::from_value::<PriorityMatrix>(json.clone()).unwrap(),
        PriorityMatrix::ITIL
    );

    // A stricter desk makes high impact always at least P2.
    let mut custom = json;
    custom["high/low"] = json!("P2");
    let m: PriorityMatrix = serde_json::from_value(custom).unwrap();
    assert_eq!(m.priority(Impact::High, Urgency::Low), Priority::P2);
}

#[test]
fn invalid_matrices_are_rejected_with_reasons() {
    let full = serde_json::to_value(PriorityMatrix::ITIL).unwrap();

    let mut partial = full.clone();
    partial.as_object_mut().unwrap().remove("low/low");
    let err = serde_json::from_value::<PriorityMatrix>(partial).unwrap_err();
    assert!(err.to_string().contains("missing cells: low/low"), "{err}");

    let mut unknown = full.clone();
    unknown["severe/high"] = json!("P1");
    let err = serde_json::from_value::<PriorityMatrix>(unknown).unwrap_err();
    assert!(
        err.to_string().contains("unknown cell `severe/high`"),
        "{err}"
    );

    let mut bad_priority = full.clone();
    bad_priority["low/low"] = json!("P6");
    let err = serde_json::from_value::<PriorityMatrix>(bad_priority).unwrap_err();
    assert!(
        err.to_string()
            .contains("cell `low/low`: unknown priority `P6`"),
        "{err}"
    );

    let mut inverted = full;
    inverted["low/low"] = json!("P1");
    let err = serde_json::from_value::<PriorityMatrix>(inverted).unwrap_err();
    assert!(
        err.to_string()
            .contains("raising impact or urgency must never lower the priority"),
        "{err}"
    );

    use Priority::*;
    assert!(matches!(
        PriorityMatrix::new([[P5, P1, P1], [P1, P1, P1], [P1, P1, P1]]),
        Err(PriorityMatrixError::NotMonotonic { .. })
    ));
    assert!(PriorityMatrix::new([[P1; 3]; 3]).is_ok());
}

fn code(s: &str) -> ResolutionCode {
    ResolutionCode::parse(s).unwrap()
}

fn resolve(resolution: &str) -> StatusChange {
    StatusChange::Resolved {
        resolution: code(resolution),
        note: None,
    }
}

fn resolved() -> Lifecycle {
    Lifecycle::Resolved {
        resolution: code("fixed"),
        note: None,
    }
}

fn pending(reason: PendingReason) -> Lifecycle {
    Lifecycle::Pending { reason }
}

#[test]
fn allowed_transitions() {
    let waiting = StatusChange::Pending {
        reason: PendingReason::Customer,
    };
    let cases = [
        (Lifecycle::New, StatusChange::Open, Lifecycle::Open),
        (
            Lifecycle::New,
            waiting.clone(),
            pending(PendingReason::Customer),
        ),
        (Lifecycle::New, resolve("fixed"), resolved()),
        (
            Lifecycle::New,
            StatusChange::Cancelled,
            Lifecycle::Cancelled,
        ),
        (
            Lifecycle::Open,
            waiting.clone(),
            pending(PendingReason::Customer),
        ),
        (
            pending(PendingReason::Change),
            StatusChange::Open,
            Lifecycle::Open,
        ),
        (
            pending(PendingReason::Customer),
            StatusChange::Pending {
                reason: PendingReason::ThirdParty,
            },
            pending(PendingReason::ThirdParty),
        ),
        (
            pending(PendingReason::Customer),
            resolve("fixed"),
            resolved(),
        ),
        (Lifecycle::Open, resolve("fixed"), resolved()),
        (
            Lifecycle::Open,
            StatusChange::Cancelled,
            Lifecycle::Cancelled,
        ),
        (
            pending(PendingReason::ThirdParty),
            StatusChange::Cancelled,
            Lifecycle::Cancelled,
        ),
        (resolved(), StatusChange::Open, Lifecycle::Open),
        (
            resolved(),
            StatusChange::Closed,
            Lifecycle::Closed {
                resolution: code("fixed"),
                note: None,
            },
        ),
    ];
    for (from, change, to) in cases {
        assert_eq!(
            transition(&from, change.clone()),
            Ok(to),
            "{from:?} -> {change:?}"
        );
    }
}

#[test]
fn closing_keeps_the_resolution_and_note() {
    let note = ResolutionNote::parse("  replaced the toner  ").unwrap();
    let from = transition(
        &Lifecycle::Open,
        StatusChange::Resolved {
            resolution: code("Workaround"),
            note: Some(note.clone()),
        },
    )
    .unwrap();
    let closed = transition(&from, StatusChange::Closed).unwrap();
    assert_eq!(closed.status(), TicketStatus::Closed);
    assert_eq!(
        closed.resolution().map(ResolutionCode::as_str),
        Some("workaround")
    );
    assert_eq!(
        closed,
        Lifecycle::Closed {
            resolution: code("workaround"),
            note: Some(note)
        }
    );
}

#[test]
fn refused_transitions_explain_why() {
    let closed = Lifecycle::Closed {
        resolution: code("fixed"),
        note: None,
    };
    let cases = [
        (
            closed.clone(),
            StatusChange::Open,
            "cannot move a closed ticket to open: closed tickets are final",
        ),
        (
            closed,
            StatusChange::Cancelled,
            "cannot move a closed ticket to cancelled: closed tickets are final",
        ),
        (
            Lifecycle::Cancelled,
            resolve("fixed"),
            "cannot move a cancelled ticket to resolved: cancelled tickets are final",
        ),
        (
            Lifecycle::Open,
            StatusChange::Closed,
            "cannot move an open ticket to closed: only resolved tickets can be closed",
        ),
        (
            Lifecycle::New,
            StatusChange::Closed,
            "cannot move a new ticket to closed: only resolved tickets can be closed",
        ),
        (
            resolved(),
            StatusChange::Cancelled,
            "cannot move a resolved ticket to cancelled: reopen it or close it instead",
        ),
        (
            resolved(),
            StatusChange::Pending {
                reason: PendingReason::Customer,
            },
            "cannot move a resolved ticket to pending: reopen it first",
        ),
        (
            resolved(),
            resolve("duplicate"),
            "the ticket is already resolved",
        ),
        (
            Lifecycle::Open,
            StatusChange::Open,
            "the ticket is already open",
        ),
        (
            pending(PendingReason::Change),
            StatusChange::Pending {
                reason: PendingReason::Change,
            },
            "the ticket is already pending",
        ),
    ];
    for (from, change, message) in cases {
        let err = transition(&from, change.clone()).unwrap_err();
        assert_eq!(err.to_string(), message, "{from:?} -> {change:?}");
    }
}

#[test]
fn no_transition_ever_leaves_a_final_state() {
    let changes = [
        StatusChange::Open,
        StatusChange::Pending {
            reason: PendingReason::Customer,
        },
        resolve("fixed"),
        StatusChange::Closed,
        StatusChange::Cancelled,
    ];
    for from in [
        Lifecycle::Cancelled,
        Lifecycle::Closed {
            resolution: code("fixed"),
            note: None,
        },
    ] {
        for change in changes.clone() {
            assert!(matches!(
                transition(&from, change),
                Err(TransitionError::Final { .. })
            ));
        }
    }
}

#[test]
fn lifecycle_and_changes_serialize_with_a_status_tag() {
    let lc = pending(PendingReason::ThirdParty);
    assert_eq!(
        serde_json::to_value(&lc).unwrap(),
        json!({"status": "pending", "reason": "third_party"})
    );
    let change: StatusChange =
        serde_json::from_value(json!({"status": "resolved", "resolution": "fixed"})).unwrap();
    assert_eq!(change, resolve("fixed"));
    // A resolution is required, so `{"status": "resolved"}` alone is rejected.
    assert!(serde_json::from_value::<StatusChange>(json!({"status": "resolved"})).is_err());
    assert!(serde_json::from_value::<StatusChange>(json!({"status": "pending"})).is_err());
    assert!(
        serde_json::from_value::<StatusChange>(
            json!({"status": "resolved", "resolution": "no good!"})
        )
        .is_err()
    );
}

#[test]
fn customer_reply_reopens_resolved_and_resumes_customer_pending() {
    assert_eq!(on_customer_reply(&resolved()), Some(Lifecycle::Open));
    assert_eq!(
        on_customer_reply(&pending(PendingReason::Customer)),
        Some(Lifecycle::Open)
    );
    assert_eq!(on_customer_reply(&pending(PendingReason::ThirdParty)), None);
    assert_eq!(on_customer_reply(&Lifecycle::Open), None);
    assert_eq!(on_customer_reply(&Lifecycle::New), None);
    assert_eq!(on_customer_reply(&Lifecycle::Cancelled), None);
    let closed = transition(&resolved(), StatusChange::Closed).unwrap();
    assert_eq!(on_customer_reply(&closed), None);
}

#[test]
fn auto_close_after_days_resolved() {
    let resolved_at: Timestamp = "2026-01-10T12:00:00Z".parse().unwrap();
    let cases = [
        ("2026-01-10T12:00:00Z", 7, false),
        ("2026-01-17T11:59:59Z", 7, false),
        ("2026-01-17T12:00:00Z", 7, true),
        ("2026-02-01T00:00:00Z", 7, true),
        ("2026-01-09T00:00:00Z", 0, false),
        ("2026-01-10T12:00:00Z", 0, true),
    ];
    for (now, days, due) in cases {
        let now: Timestamp = now.parse().unwrap();
        assert_eq!(auto_close_due(resolved_at, now, days), due, "{now} {days}");
    }
}

#[test]
fn titles_are_trimmed_single_line_and_bounded() {
    assert_eq!(
        Title::parse("  Printer\tjam on\r\n floor 3 ")
            .unwrap()
            .as_str(),
        "Printer jam on floor 3"
    );
    assert_eq!(Title::parse("   "), Err(TitleError::Empty));
    assert!(Title::parse(&"é".repeat(200)).is_ok());
    assert_eq!(
        Title::parse(&"é".repeat(201)),
        Err(TitleError::TooLong { len: 201, max: 200 })
    );
    assert_eq!(
        Title::parse("bell\u{7}"),
        Err(TitleError::ControlCharacter {
            code: 7,
            position: 4
        })
    );
}

#[test]
fn tags_are_lowercase_slugs() {
    assert_eq!(Tag::parse(" VPN ").unwrap().as_str(), "vpn");
    assert_eq!(
        Tag::parse("win-11_x64.v2").unwrap().as_str(),
        "win-11_x64.v2"
    );
    assert!(Tag::parse(&"a".repeat(50)).is_ok());
    assert_eq!(
        Tag::parse(&"a".repeat(51)).unwrap_err().to_string(),
        "tag is 51 characters long; the limit is 50"
    );
    assert_eq!(
        Tag::parse("two words").unwrap_err().to_string(),
        "tag contains ` ` at position 3; allowed are a-z, 0-9, `-`, `_` and `.`"
    );
    assert!(Tag::parse("").is_err());
    assert!(Tag::parse("café").is_err());
    assert!(serde_json::from_value::<Tag>(json!("a b")).is_err());
}

fn field(kind: CustomFieldKind, required: bool) -> CustomFieldDefinition {
    CustomFieldDefinition::new("asset_tag", "Asset tag", required, kind).unwrap()
}

#[test]
fn custom_field_values_are_validated_and_normalized() {
    let text = field(CustomFieldKind::Text, false);
    let number = field(CustomFieldKind::Number, false);
    let select = field(
        CustomFieldKind::Select {
            options: vec!["Laptop".into(), "Desktop".into()],
        },
        true,
    );
    let date = field(CustomFieldKind::Date, false);

    let ok = [
        (&text, json!("  ABC-123 "), json!("ABC-123")),
        (&text, json!("   "), json!(null)),
        (&text, json!(null), json!(null)),
        (&number, json!(42), json!(42)),
        (&number, json!(2.5), json!(2.5)),
        (&number, json!(" 17 "), json!(17)),
        (&number, json!("-0.25"), json!(-0.25)),
        (&select, json!("laptop"), json!("Laptop")),
        (&date, json!("2026-03-09"), json!("2026-03-09")),
        (&date, json!(" 2026-03-09 "), json!("2026-03-09")),
    ];
    for (def, input, output) in ok {
        assert_eq!(def.validate(&input), Ok(output), "{input}");
    }

    let errors = [
        (&text, json!(5), "expected text, got a number"),
        (&number, json!("12 units"), "`12 units` is not a number"),
        (&number, json!("NaN"), "`NaN` is not a number"),
        (&number, json!(true), "expected a number, got a boolean"),
        (
            &select,
            json!("Tablet"),
            "`Tablet` is not one of the options: Laptop, Desktop",
        ),
        (&select, json!(null), "a value is required"),
        (&select, json!(""), "a value is required"),
        (
            &date,
            json!("2026-02-30"),
            "`2026-02-30` is not a date; expected YYYY-MM-DD",
        ),
        (
            &date,
            json!("next week"),
            "`next week` is not a date; expected YYYY-MM-DD",
        ),
        (
            &date,
            json!(20260309),
            "expected a date string (YYYY-MM-DD), got a number",
        ),
    ];
    for (def, input, message) in errors {
        assert_eq!(
            def.validate(&input).unwrap_err().to_string(),
            message,
            "{input}"
        );
    }
    assert_eq!(
        text.validate(&json!("x".repeat(2001))),
        Err(FieldValueError::TooLong {
            len: 2001,
            max: 2000
        })
    );
}

#[test]
fn custom_field_definitions_deserialize_with_validation() {
    let def: CustomFieldDefinition = serde_json::from_value(json!({
        "key": "device", "label": " Device ", "kind": "select", "options": [" Laptop", "Desktop"]
    }))
    .unwrap();
    assert_eq!(def.key().as_str(), "device");
    assert_eq!(def.label(), "Device");
    assert!(!def.required());
    assert_eq!(
        def.kind(),
        &CustomFieldKind::Select {
            options: vec!["Laptop".into(), "Desktop".into()]
        }
    );
    let back = serde_json::to_value(&def).unwrap();
    assert_eq!(
        back,
        json!({"key": "device", "label": "Device", "required": false, "kind": "select", "options": ["Laptop", "Desktop"]})
    );

    for bad in [
        json!({"key": "device", "label": "Device", "kind": "select", "options": []}),
        json!({"key": "device", "label": "Device", "kind": "select", "options": ["a", "A"]}),
        json!({"key": "9lives", "label": "Device", "kind": "text"}),
        json!({"key": "device", "label": "  ", "kind": "text"}),
        json!({"key": "device", "label": "Device", "kind": "colour"}),
    ] {
        assert!(
            serde_json::from_value::<CustomFieldDefinition>(bad.clone()).is_err(),
            "{bad}"
        );
    }
}

fn any_lifecycle() -> impl Strategy<Value = Lifecycle> {
    let reason = prop::sample::select(PendingReason::ALL.to_vec());
    prop_oneof![
        Just(Lifecycle::New),
        Just(Lifecycle::Open),
        reason.prop_map(|reason| Lifecycle::Pending { reason }),
        Just(resolved()),
        Just(Lifecycle::Closed {
            resolution: code("fixed"),
            note: None
        }),
        Just(Lifecycle::Cancelled),
    ]
}

fn any_change() -> impl Strategy<Value = StatusChange> {
    let reason = prop::sample::select(PendingReason::ALL.to_vec());
    prop_oneof![
        Just(StatusChange::Open),
        reason.prop_map(|reason| StatusChange::Pending { reason }),
        Just(resolve("fixed")),
        Just(StatusChange::Closed),
        Just(StatusChange::Cancelled),
    ]
}

proptest! {
    #[test]
    fn transitions_land_on_the_requested_status(from in any_lifecycle(), change in any_change()) {
        let target = change.target();
        match transition(&from, change) {
            Ok(to) => {
                prop_assert_eq!(to.status(), target);
                prop_assert!(!from.status().is_final());
                if target == TicketStatus::Closed {
                    prop_assert_eq!(from.status(), TicketStatus::Resolved);
                }
            }
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn ticket_numbers_round_trip(ty in prop::sample::select(TicketType::ALL.to_vec()), seq in 1u64..) {
        let n = TicketNumber::new(ty, seq).unwrap();
        prop_assert_eq!(n.to_string().parse::<TicketNumber>().unwrap(), n);
    }

    #[test]
    fn tag_parsing_never_panics_and_is_idempotent(raw in "\\PC{0,60}") {
        if let Ok(tag) = Tag::parse(&raw) {
            prop_assert_eq!(Tag::parse(tag.as_str()).unwrap(), tag);
        }
    }

    #[test]
    fn title_parsing_never_panics_and_is_idempotent(raw in "\\PC{0,250}") {
        if let Ok(title) = Title::parse(&raw) {
            prop_assert_eq!(Title::parse(title.as_str()).unwrap(), title);
        }
    }
}
