//! The corpus of message shapes real clients produce, and what the parser makes of each.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use opsdesk_mail::{AutoReply, InboundMessage, ParseError, parse};

fn corpus(name: &str) -> InboundMessage {
    let path = format!("{}/tests/corpus/{name}", env!("CARGO_MANIFEST_DIR"));
    parse(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn gmail_new_message() {
    let m = corpus("gmail_new.eml");
    assert_eq!(
        m.message_id.as_deref(),
        Some("CAF=gmail-printer-1@mail.gmail.com")
    );
    assert_eq!(m.dedup_key, "mid:CAF=gmail-printer-1@mail.gmail.com");
    assert_eq!(m.from.address, "carol@acme.example");
    assert_eq!(m.from.name.as_deref(), Some("Carol Smith"));
    assert_eq!(m.subject, "Printer on floor 3 is jammed");
    assert_eq!(
        m.text,
        "Hi,\n\nThe printer on floor 3 has a paper jam in tray 2 and shows error E-42.\n\nThanks,\nCarol"
    );
    assert!(m.html.as_deref().unwrap().contains("paper jam"));
    assert_eq!(m.auto_reply, None);
}

#[test]
fn gmail_reply_is_trimmed_and_threaded() {
    let m = corpus("gmail_reply.eml");
    assert_eq!(m.in_reply_to, ["CAF=gmail-printer-1@mail.gmail.com"]);
    assert_eq!(m.references, ["CAF=gmail-printer-1@mail.gmail.com"]);
    assert_eq!(m.text, "Still broken after a restart.");
}

#[test]
fn outlook_reply_is_trimmed() {
    let m = corpus("outlook_reply.eml");
    assert_eq!(m.subject, "RE: [INC-1] Printer on floor 3 is jammed");
    assert_eq!(
        m.text,
        "I replaced the toner as well; same error.\n\nKind regards\nDan"
    );
    let html = m.html.unwrap();
    assert!(!html.contains("<style"), "{html}");
}

#[test]
fn apple_mail_inline_image_and_sanitized_html() {
    let m = corpus("apple_mail_inline_image.eml");
    assert_eq!(
        m.text,
        "The VPN client disconnects every ten minutes. Screenshot attached."
    );
    let html = m.html.unwrap();
    assert!(
        !html.contains("script") && !html.contains("onerror"),
        "{html}"
    );
    assert_eq!(m.attachments.len(), 1);
    let image = &m.attachments[0];
    assert_eq!(image.filename, "screenshot.png");
    assert_eq!(image.content_type, "image/png");
    assert_eq!(
        image.content_id.as_deref(),
        Some("screenshot-1@acme.example")
    );
    assert!(image.inline);
    assert!(image.data.starts_with(b"\x89PNG"));
}

#[test]
fn thunderbird_signature_and_attachment() {
    let m = corpus("thunderbird_attachment.eml");
    assert_eq!(
        m.text,
        "The scanner in room 12 saves every page blank. A sample is attached."
    );
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].filename, "sample scan.pdf");
    assert!(!m.attachments[0].inline);
    assert!(m.attachments[0].data.starts_with(b"%PDF"));
}

#[test]
fn forwarded_message_gives_its_body_and_stays_attached() {
    let m = corpus("forwarded.eml");
    assert_eq!(m.subject, "Fwd: Password expiry warning");
    assert!(m.text.contains("change page gives error 500"), "{}", m.text);
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].content_type, "message/rfc822");
    assert!(String::from_utf8_lossy(&m.attachments[0].data).contains("inner-123@it.acme.example"));
}

#[test]
fn charsets_and_encoded_words() {
    let latin = corpus("iso_8859_1.eml");
    assert_eq!(latin.subject, "Drucker fällt aus");
    assert_eq!(latin.from.name.as_deref(), Some("Jürgen Müller"));
    assert!(
        latin.text.starts_with("Grüße aus München,"),
        "{}",
        latin.text
    );
    let japanese = corpus("shift_jis.eml");
    assert_eq!(japanese.subject, "プリンター故障");
    assert_eq!(japanese.from.name.as_deref(), Some("山田"));
    assert_eq!(
        japanese.text,
        "プリンターが動きません。至急対応をお願いします。"
    );
}

#[test]
fn malformed_headers_still_parse() {
    let m = corpus("malformed_headers.eml");
    assert_eq!(m.from.address, "heidi@acme.example");
    assert_eq!(m.subject, "Monitor flickers");
    assert!(m.text.contains("flickers"), "{}", m.text);
}

#[test]
fn missing_message_id_is_keyed_by_content() {
    let m = corpus("no_message_id.eml");
    assert_eq!(m.message_id, None);
    assert_eq!(m.dedup_key, format!("sha256:{}", m.raw_sha256));
    assert_eq!(m.from.address, "ivan@acme.example");
}

#[test]
fn automatic_mail_is_recognised() {
    assert_eq!(
        corpus("auto_reply.eml").auto_reply,
        Some(AutoReply::AutoSubmitted)
    );
    assert_eq!(
        corpus("bulk_newsletter.eml").auto_reply,
        Some(AutoReply::Bulk)
    );
    let bounce = corpus("bounce.eml");
    assert_eq!(bounce.auto_reply, Some(AutoReply::Bounce));
    assert_eq!(
        bounce.bounced_message_id.as_deref(),
        Some("not-sent-by-opsdesk@desk.example")
    );
}

#[test]
fn html_only_mail_gets_derived_text() {
    let m = corpus("html_only.eml");
    assert!(
        m.text.contains("camera") && m.text.contains("does not work"),
        "{}",
        m.text
    );
    let html = m.html.unwrap();
    assert!(
        !html.contains("script") && !html.contains("javascript:"),
        "{html}"
    );
}

#[test]
fn unusable_mail_is_refused_with_a_reason() {
    let path = format!("{}/tests/corpus/no_from.eml", env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        parse(&std::fs::read(path).unwrap()),
        Err(ParseError::NoSender)
    );
    assert_eq!(parse(b"  \r\n"), Err(ParseError::Empty));
    assert!(parse(b"\x00\x01garbage without headers").is_err());
    // Found by `cargo fuzz`: the MIME parser panics on it; opsdesk reports it instead.
    let path = format!(
        "{}/tests/corpus/fuzz_mime_parser_panic.eml",
        env!("CARGO_MANIFEST_DIR")
    );
    assert!(parse(&std::fs::read(path).unwrap()).is_err());
}

#[test]
fn recipients_include_the_addresses_servers_delivered_to() {
    let m = corpus("nagios_problem.eml");
    assert_eq!(
        m.recipients,
        [
            "alerts@desk.example",
            "noc@acme.example",
            "oncall@acme.example",
            "ops@acme.example"
        ]
    );
    assert_eq!(
        m.subject,
        "** PROBLEM Service Alert: web1/HTTP is CRITICAL **"
    );
}
