//! Any bytes through the parse entry point: it must return (a message or an error), never
//! panic, loop or blow up, and what it returns must hold together.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // libfuzzer-sys aborts on every panic, even one `parse` catches (it shields opsdesk
        // from a panicking MIME library). A panic that escapes still aborts at the FFI edge.
        drop(std::panic::take_hook());
        // The MIME library's panics are the caught ones, thousands a run: only others are
        // reported.
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.location().is_some_and(|at| at.file().contains("mail-parser")) {
                report(info);
            }
        }));
    },
    |data: &[u8]| {
    if let Ok(message) = opsdesk_mail::parse(data) {
        assert!(message.from.address.contains('@'));
        assert!(!message.dedup_key.is_empty());
        assert!(message.subject.chars().count() <= 250);
        let _ = opsdesk_mail::trim_reply(&message.text);
    }
    }
);
