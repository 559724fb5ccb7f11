//! The test mail server (`.ci/setup.d/20-mail.sh`): a service desk that mails through it,
//! and the mails it delivered, read from its maildir.

use opsdesk_app::{AppConfig, SharedClock};

use crate::{Backend, TestServer};

const SETUP: &str = ".ci/setup.d/20-mail.sh";

impl TestServer {
    /// [`TestServer::service_desk`] on `clock`, mailing through the test mail server with
    /// links to `http://desk.test`, and the maildir that server delivers to; `None` when it
    /// is not set up (a panic when services are required).
    pub async fn mailing_service_desk(
        backend: Backend,
        clock: SharedClock,
    ) -> Option<(TestServer, String)> {
        let smtp_url = crate::service_setting("OPSDESK_TEST_SMTP_URL", SETUP)?;
        let maildir = crate::service_setting("OPSDESK_TEST_SMTP_MAILDIR", SETUP)?;
        let mut config = AppConfig::default();
        config.mail.smtp_url = Some(smtp_url);
        config.public_url = "http://desk.test".into();
        let server = TestServer::service_desk_with(backend, config, clock).await;
        Some((server, maildir))
    }
}

/// The mails in `maildir` whose subject holds each of `words`: each as received, and its
/// text. The maildir is shared by every test, so `words` should hold something unique.
pub fn mails_about(maildir: &str, words: &[&str]) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(format!("{maildir}/new")) else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .filter_map(|raw| {
            let mail = opsdesk_mail::parse(&raw).ok()?;
            let about = words.iter().all(|word| mail.subject.contains(word));
            about.then(|| (String::from_utf8_lossy(&raw).into_owned(), mail.text))
        })
        .collect()
}
