//! Descriptions and comments are written in Markdown and shown as HTML. HTML typed into
//! them shows as the text it is (people paste error messages and config files), and the
//! result is cleaned, so nothing a writer types (`javascript:` links included) reaches the
//! page as markup of its own.

use pulldown_cmark::{Event, Options, Parser, html};

/// `text` as safe HTML.
pub(crate) fn to_html(text: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    let mut rendered = String::with_capacity(text.len() * 3 / 2);
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(markup) | Event::InlineHtml(markup) => Event::Text(markup),
        other => other,
    });
    html::push_html(&mut rendered, events);
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&rendered)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::to_html;

    #[test]
    fn markdown_renders_and_markup_does_not() {
        let cases = [
            (
                "**bold** and `code`",
                "<p><strong>bold</strong> and <code>code</code></p>\n",
            ),
            ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n"),
            (
                "<script>alert(1)</script>hi",
                "&lt;script&gt;alert(1)&lt;/script&gt;hi",
            ),
            (
                "<img src=x onerror=alert(1)>",
                "&lt;img src=x onerror=alert(1)&gt;",
            ),
            (
                "[x](javascript:alert(1))",
                "<p><a rel=\"noopener noreferrer nofollow\">x</a></p>\n",
            ),
        ];
        for (markdown, html) in cases {
            assert_eq!(to_html(markdown), html, "{markdown}");
        }
    }
}
