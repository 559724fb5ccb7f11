//! The one shape of every mail a reset sends: a secret made for it, kept as its hash only,
//! and shown in the mail between an opening and a closing paragraph.

use opsdesk_store::directories as store;

use super::code::new_code;
use crate::clock::{random_secret, secret_hash};
use crate::jobs::JobError;
use crate::mail::{PersonalMail, html_escape};
use crate::{App, AppError};

/// The secret a reset mail carries. Only its hash is kept, so it exists in the mail alone.
#[derive(Debug, Clone, Copy)]
pub(super) enum Secret {
    /// The one-time code the person enters on the page where they asked.
    Code,
    /// The token the manager approves or denies with.
    Decision,
    /// The link the person finishes with once their manager approved.
    Link,
}

impl Secret {
    fn make(self) -> Result<String, AppError> {
        match self {
            Secret::Code => new_code(),
            Secret::Decision | Secret::Link => random_secret(),
        }
    }

    /// What the Message-ID of reset `id`'s mail is made from: one per secret, so that a
    /// reset's mails do not thread as one.
    fn key(self, id: i64) -> String {
        match self {
            Secret::Code => format!("password-reset.{id}"),
            Secret::Decision => format!("password-reset.{id}.approval"),
            Secret::Link => format!("password-reset.{id}.approved"),
        }
    }
}

/// A link a reset mail offers: its label in the HTML, and before the address in the text.
pub(super) struct Link {
    pub label: &'static str,
    pub text_label: &'static str,
    pub url: String,
}

/// How a mail shows its secret.
pub(super) enum Shown {
    /// As a code to type: `Your code: 12345678`.
    Code(String),
    /// As links to follow.
    Links(Vec<Link>),
}

/// A reset mail as its sender words it; [`App::mail_reset_secret`] renders it as text and HTML.
pub(super) struct ResetMail {
    pub to: String,
    pub subject: String,
    pub opening: String,
    pub shown: Shown,
    /// Lines the text keeps apart and the HTML runs together in one paragraph.
    pub closing: Vec<String>,
}

impl ResetMail {
    fn text(&self) -> String {
        let shown = match &self.shown {
            Shown::Code(code) => format!("Your code: {code}"),
            Shown::Links(links) => links
                .iter()
                .map(|link| format!("{}: {}", link.text_label, link.url))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        format!(
            "{}\n\n{shown}\n\n{}\n",
            self.opening,
            self.closing.join("\n")
        )
    }

    fn html(&self) -> String {
        let shown = match &self.shown {
            Shown::Code(code) => format!("Your code: <strong>{}</strong>", html_escape(code)),
            Shown::Links(links) => links
                .iter()
                .map(|link| format!("<a href=\"{}\">{}</a>", html_escape(&link.url), link.label))
                .collect::<Vec<_>>()
                .join(" · "),
        };
        format!(
            "<p>{}</p><p>{shown}</p><p>{}</p>",
            html_escape(&self.opening),
            html_escape(&self.closing.join(" "))
        )
    }
}

/// What a reset of `kind` asks for, as a mail to `whose` account says it.
pub(super) fn asked_for(kind: &str, whose: &str) -> String {
    match kind {
        "unlock" => format!("unlock {whose} account"),
        _ => "choose a new password".to_owned(),
    }
}

impl App {
    /// Makes `secret` for reset `id`, keeps its hash, and mails the mail `compose` words
    /// around it.
    pub(super) async fn mail_reset_secret(
        &self,
        id: i64,
        secret: Secret,
        compose: impl FnOnce(&str) -> ResetMail,
    ) -> Result<(), JobError> {
        let made = secret.make()?;
        let hash = secret_hash(&made);
        self.system_change("password reset", move |tx| {
            Box::pin(async move {
                let conn = tx.conn;
                match secret {
                    Secret::Code => store::set_reset_code(conn, id, &hash).await?,
                    Secret::Decision => store::set_approval_token(conn, id, &hash).await?,
                    Secret::Link => store::set_approval_link(conn, id, &hash).await?,
                }
                Ok(())
            })
        })
        .await?;
        let mail = compose(&made);
        self.send_personal(PersonalMail {
            to: mail.to.clone(),
            subject: mail.subject.clone(),
            text: mail.text(),
            html: mail.html(),
            key: secret.key(id),
        })
        .await?;
        Ok(())
    }
}
