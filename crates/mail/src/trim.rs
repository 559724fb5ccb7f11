//! Cutting quoted reply text and signatures from a message's text, so a comment shows what
//! the sender wrote now. The full original stays available as the `.eml`.

/// Lines that introduce the quoted original in the clients people use.
fn starts_quote(line: &str) -> bool {
    let line = line.trim();
    let lower = line.to_lowercase();
    // Gmail, Apple Mail, Thunderbird: "On Tue, 3 Mar 2026 at 10:00, Ana <ana@x> wrote:"
    (lower.starts_with("on ") && lower.ends_with("wrote:"))
        || (lower.starts_with("am ") && lower.ends_with("schrieb:"))
        || (lower.starts_with("le ") && lower.ends_with("a écrit :"))
        // Outlook
        || lower.starts_with("-----original message-----")
        || lower.starts_with("----- original message -----")
        || line.starts_with("________________________________")
        || lower.starts_with("-------- original message --------")
}

/// Outlook's plain-text header block of the quoted original: `From:` then `Sent:`.
fn starts_outlook_header(lines: &[&str], index: usize) -> bool {
    let is = |i: usize, prefix: &str| {
        lines
            .get(i)
            .is_some_and(|l| l.trim_start().to_lowercase().starts_with(prefix))
    };
    is(index, "from:") && (is(index + 1, "sent:") || is(index + 1, "date:"))
}

/// The text with the quoted original and the signature removed. Text made only of a quote
/// (someone forwarding without a word) is kept whole rather than emptied.
pub fn trim_reply(text: &str) -> String {
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    let mut end = lines.len();
    for (index, line) in lines.iter().enumerate() {
        if starts_quote(line) || starts_outlook_header(&lines, index) {
            end = index;
            break;
        }
        // "-- " is the standard signature separator (RFC 3676).
        if *line == "-- " || *line == "--" {
            end = index;
            break;
        }
    }
    let mut kept: Vec<&str> = lines[..end]
        .iter()
        .copied()
        .filter(|line| !line.starts_with('>'))
        .collect();
    while kept.last().is_some_and(|l| l.trim().is_empty()) {
        kept.pop();
    }
    let trimmed = kept.join("\n").trim().to_owned();
    if trimmed.is_empty() {
        text.trim().to_owned()
    } else {
        trimmed
    }
}

#[cfg(test)]
mod tests {
    use super::trim_reply;

    #[test]
    fn examples() {
        let cases = [
            (
                "Thanks!\n\nOn Tue, 3 Mar 2026, Ana <a@x.org> wrote:\n> old\n",
                "Thanks!",
            ),
            ("Fixed now.\n-- \nBob\nACME", "Fixed now."),
            (
                "Yes.\n\n________________________________\nFrom: Ana\nSent: Monday\n",
                "Yes.",
            ),
            ("Sure\r\nFrom: Ana\r\nSent: Monday\r\nold", "Sure"),
            ("a\n> quoted\nb", "a\nb"),
            ("> only a quote", "> only a quote"),
            ("Danke\nAm 3. März 2026 schrieb:\n> x", "Danke"),
        ];
        for (input, expected) in cases {
            assert_eq!(trim_reply(input), expected, "{input:?}");
        }
    }
}
