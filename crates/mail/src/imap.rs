//! Reading a mailbox over IMAP: every message in it is handed to the ingest path, then moved
//! to a folder (or flagged \Seen) once opsdesk has recorded it. A crash between the two makes
//! the next round hand the message over again, which ingest recognises as a duplicate.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_imap::Session;
use futures::TryStreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// Longest an IDLE waits before looking again (servers drop IDLE after 30 minutes).
const MAX_IDLE: Duration = Duration::from_secs(25 * 60);
/// Messages fetched per round, so one huge mailbox cannot hold the whole batch in memory.
const BATCH: usize = 50;
/// Connection and command timeout.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// What went wrong reading a mailbox.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("IMAP mailbox URL is not valid: {0}")]
    Url(String),
    #[error("IMAP connection failed: {0}")]
    Connect(String),
    #[error("IMAP server said: {0}")]
    Protocol(String),
    #[error("IMAP server did not answer within {} s", IO_TIMEOUT.as_secs())]
    Timeout,
}

impl From<async_imap::error::Error> for ImapError {
    fn from(error: async_imap::error::Error) -> Self {
        ImapError::Protocol(error.to_string())
    }
}

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `imap://…` on a trusted network only.
    Plain,
    /// `imap://…?tls=starttls`.
    StartTls,
    /// `imaps://…` (port 993).
    Tls,
}

/// One mailbox to read: `imaps://user:password@host/INBOX`, `imap://…?tls=starttls`.
#[derive(Clone)]
pub struct Mailbox {
    host: String,
    port: u16,
    security: Security,
    user: String,
    password: String,
    folder: String,
    /// Where processed messages go; `None` flags them \Seen instead and reads only unseen mail.
    processed: Option<String>,
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}:{}/{}",
            self.user, self.host, self.port, self.folder
        )
    }
}

fn percent_decode(text: &str) -> Result<String, ImapError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ImapError::Url(format!("bad percent escape in `{text}`")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ImapError::Url("not UTF-8 after decoding".into()))
}

impl Mailbox {
    /// Parses a mailbox URL. `processed` names the folder processed mail moves to (created
    /// when missing); `None` flags it \Seen instead.
    pub fn from_url(url: &str, processed: Option<String>) -> Result<Self, ImapError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| ImapError::Url("expected imap://… or imaps://…".into()))?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, folder) = rest.split_once('/').unwrap_or((rest, ""));
        let (credentials, address) = authority.rsplit_once('@').ok_or_else(|| {
            ImapError::Url("name the user and password: imaps://user:password@host".into())
        })?;
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        let security = match (scheme, query) {
            ("imaps", _) => Security::Tls,
            ("imap", "tls=starttls") => Security::StartTls,
            ("imap", "") => Security::Plain,
            _ => {
                return Err(ImapError::Url(format!(
                    "unknown scheme or option in `{scheme}://…?{query}`"
                )));
            }
        };
        let default_port = if security == Security::Tls { 993 } else { 143 };
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .map_err(|_| ImapError::Url(format!("bad port `{port}`")))?,
            ),
            None => (address, default_port),
        };
        let folder = percent_decode(folder)?;
        Ok(Self {
            host: host.to_owned(),
            port,
            security,
            user: percent_decode(user)?,
            password: percent_decode(password)?,
            folder: if folder.is_empty() {
                "INBOX".to_owned()
            } else {
                folder
            },
            processed,
        })
    }

    /// Reads the mailbox until `shutdown` turns true: each round hands every waiting message
    /// to `deliver` and files the delivered ones, then waits with IDLE where the server offers
    /// it (else `poll` long). Connection errors are logged and retried after `poll`.
    pub async fn run<F, Fut>(
        &self,
        mut deliver: F,
        poll: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) where
        F: FnMut(Vec<u8>) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        while !*shutdown.borrow() {
            if let Err(error) = self.session_loop(&mut deliver, poll, &mut shutdown).await {
                tracing::warn!(mailbox = ?self, %error, "reading the mailbox failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    async fn session_loop<F, Fut>(
        &self,
        deliver: &mut F,
        poll: Duration,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), ImapError>
    where
        F: FnMut(Vec<u8>) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let mut session = self.connect().await?;
        let idle = timed(session.capabilities()).await??.has_str("IDLE");
        loop {
            self.round(&mut session, deliver).await?;
            if *shutdown.borrow() {
                let _ = timed(session.logout()).await;
                return Ok(());
            }
            if idle {
                let mut handle = session.idle();
                timed(handle.init()).await??;
                let (wait, stop) =
                    handle.wait_with_timeout(poll.min(MAX_IDLE).max(Duration::from_secs(1)));
                tokio::select! {
                    outcome = wait => { outcome?; }
                    _ = shutdown.changed() => { drop(stop); }
                }
                session = timed(handle.done()).await??;
            } else {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
    }

    /// Connects, logs in and selects the folder.
    pub async fn connect(&self) -> Result<Session<Box<dyn Stream>>, ImapError> {
        let tcp = timed(TcpStream::connect((self.host.as_str(), self.port)))
            .await?
            .map_err(|e| ImapError::Connect(format!("{}:{}: {e}", self.host, self.port)))?;
        let stream: Box<dyn Stream> = match self.security {
            Security::Tls => Box::new(self.tls(tcp).await?),
            Security::Plain | Security::StartTls => Box::new(tcp),
        };
        let mut client = async_imap::Client::new(stream);
        timed(client.read_response())
            .await?
            .map_err(|e| ImapError::Connect(e.to_string()))?;
        if self.security == Security::StartTls {
            timed(client.run_command_and_check_ok("STARTTLS", None)).await??;
            let tcp = client.into_inner();
            let secured: Box<dyn Stream> = Box::new(self.tls(tcp).await?);
            client = async_imap::Client::new(secured);
        }
        let mut session = timed(client.login(&self.user, &self.password))
            .await?
            .map_err(|(error, _)| {
                ImapError::Protocol(format!("login as {}: {error}", self.user))
            })?;
        timed(session.select(&self.folder)).await??;
        if let Some(folder) = &self.processed {
            // Already existing is the normal case; a real problem shows when moving.
            let _ = timed(session.create(folder)).await;
        }
        Ok(session)
    }

    async fn tls<S>(&self, stream: S) -> Result<tokio_rustls::client::TlsStream<S>, ImapError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        use rustls_platform_verifier::ConfigVerifierExt;
        let config = tokio_rustls::rustls::ClientConfig::with_platform_verifier()
            .map_err(|e| ImapError::Connect(format!("TLS set-up: {e}")))?;
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| ImapError::Connect(format!("TLS server name: {e}")))?;
        timed(tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, stream))
            .await?
            .map_err(|e| ImapError::Connect(format!("TLS with {}: {e}", self.host)))
    }

    /// Hands over every waiting message; returns how many were delivered and filed. Stops at
    /// the first message `deliver` refuses (a temporary failure): it stays for the next round.
    pub async fn round<F, Fut>(
        &self,
        session: &mut Session<Box<dyn Stream>>,
        deliver: &mut F,
    ) -> Result<usize, ImapError>
    where
        F: FnMut(Vec<u8>) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let query = if self.processed.is_some() {
            "ALL"
        } else {
            "UNSEEN"
        };
        let mut uids: Vec<u32> = timed(session.uid_search(query))
            .await??
            .into_iter()
            .collect();
        uids.sort_unstable();
        let mut filed = 0;
        for uid in uids.into_iter().take(BATCH) {
            let raw = {
                let fetches: Vec<_> = timed(async {
                    session
                        .uid_fetch(uid.to_string(), "BODY.PEEK[]")
                        .await?
                        .try_collect::<Vec<_>>()
                        .await
                })
                .await??;
                fetches.iter().find_map(|f| f.body().map(<[u8]>::to_vec))
            };
            let Some(raw) = raw else { continue };
            if let Err(error) = deliver(raw).await {
                tracing::warn!(mailbox = ?self, uid, %error, "message not filed; it stays for the next round");
                break;
            }
            match &self.processed {
                Some(folder) => timed(session.uid_mv(uid.to_string(), folder)).await??,
                None => {
                    timed(async {
                        session
                            .uid_store(uid.to_string(), "+FLAGS (\\Seen)")
                            .await?
                            .try_collect::<Vec<_>>()
                            .await
                    })
                    .await??;
                }
            }
            filed += 1;
        }
        Ok(filed)
    }
}

/// A connection to an IMAP server, plain or TLS.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + fmt::Debug> Stream for T {}

async fn timed<T>(future: impl Future<Output = T>) -> Result<T, ImapError> {
    tokio::time::timeout(IO_TIMEOUT, future)
        .await
        .map_err(|_| ImapError::Timeout)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn urls() {
        let m =
            Mailbox::from_url("imap://support%40desk.test:s%3Acret@127.0.0.1:10143", None).unwrap();
        assert_eq!(
            (m.user.as_str(), m.password.as_str()),
            ("support@desk.test", "s:cret")
        );
        assert_eq!(
            (m.port, m.security, m.folder.as_str()),
            (10143, Security::Plain, "INBOX")
        );
        let m = Mailbox::from_url("imaps://u:p@mail.example/Support", None).unwrap();
        assert_eq!(
            (m.port, m.security, m.folder.as_str()),
            (993, Security::Tls, "Support")
        );
        let m = Mailbox::from_url("imap://u:p@mail.example?tls=starttls", None).unwrap();
        assert_eq!(m.security, Security::StartTls);
        assert!(Mailbox::from_url("pop3://u:p@x", None).is_err());
        assert!(Mailbox::from_url("imap://mail.example", None).is_err());
    }
}
