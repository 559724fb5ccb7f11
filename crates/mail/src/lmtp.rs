//! An LMTP listener (RFC 2033) for MTAs that deliver over a socket (Postfix `lmtp:`, Exim).
//! Each message is handed to the ingest path; the reply per recipient is 250 when it was
//! recorded and 451 (try again later) when it was not, so the MTA keeps it queued.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::MAX_MESSAGE_BYTES;

/// Connections served at once; more wait for a free slot.
const MAX_CONNECTIONS: usize = 16;
/// A client silent for this long is disconnected.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest command line accepted.
const MAX_LINE: usize = 4096;
/// Recipients per transaction.
const MAX_RECIPIENTS: usize = 100;

/// Serves LMTP on `listener` until `shutdown` turns true.
pub async fn serve<F, Fut>(listener: TcpListener, deliver: F, mut shutdown: watch::Receiver<bool>)
where
    F: Fn(Vec<u8>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send,
{
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "LMTP accept failed");
                continue;
            }
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let deliver = deliver.clone();
        tokio::spawn(async move {
            if let Err(error) = session(stream, deliver).await {
                tracing::debug!(%peer, %error, "LMTP session ended");
            }
            drop(slot);
        });
    }
}

/// One LMTP conversation.
pub async fn session<S, F, Fut>(stream: S, deliver: F) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: Fn(Vec<u8>) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = BufReader::new(read);
    write.write_all(b"220 opsdesk LMTP ready\r\n").await?;
    let mut recipients = 0usize;
    let mut sender = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if read_line(&mut reader, &mut line, MAX_LINE).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).trim_end().to_owned();
        let verb = command
            .split([' ', ':'])
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "LHLO" => {
                b"250-opsdesk\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 PIPELINING\r\n"
            }
            "MAIL" => {
                sender = true;
                recipients = 0;
                b"250 2.1.0 OK\r\n"
            }
            "RCPT" if !sender => b"503 5.5.1 MAIL first\r\n",
            "RCPT" if recipients >= MAX_RECIPIENTS => b"452 4.5.3 too many recipients\r\n",
            "RCPT" => {
                recipients += 1;
                b"250 2.1.5 OK\r\n"
            }
            "DATA" if recipients == 0 => b"503 5.5.1 RCPT first\r\n",
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let message = read_data(&mut reader).await?;
                let reply: &[u8] = match message {
                    None => b"552 5.3.4 message too large\r\n",
                    Some(raw) => match deliver(raw).await {
                        Ok(()) => b"250 2.0.0 filed\r\n",
                        Err(error) => {
                            tracing::warn!(%error, "LMTP message not filed; the MTA will retry");
                            b"451 4.3.0 not filed, try again later\r\n"
                        }
                    },
                };
                // LMTP answers once per recipient; the message is filed once whatever their number.
                for _ in 0..recipients {
                    write.write_all(reply).await?;
                }
                sender = false;
                recipients = 0;
                continue;
            }
            "RSET" => {
                sender = false;
                recipients = 0;
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => b"500 5.5.2 unknown command\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads one line (with its ending) of at most `limit` bytes; longer lines are cut.
async fn read_line<R: AsyncBufReadExt + Unpin>(
    reader: &mut R,
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<usize> {
    let read = tokio::time::timeout(IDLE_TIMEOUT, async {
        let mut total = 0;
        loop {
            let buffer = reader.fill_buf().await?;
            if buffer.is_empty() {
                return Ok::<_, std::io::Error>(total);
            }
            let (take, done) = match buffer.iter().position(|b| *b == b'\n') {
                Some(end) => (end + 1, true),
                None => (buffer.len(), false),
            };
            if line.len() < limit {
                line.extend_from_slice(&buffer[..take.min(limit - line.len())]);
            }
            reader.consume(take);
            total += take;
            if done {
                return Ok(total);
            }
        }
    })
    .await;
    read.map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "client idle"))?
}

/// Reads a DATA section, undoing dot-stuffing; `None` when it exceeded the size limit (the
/// rest is read and dropped so the conversation can go on).
async fn read_data<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Option<Vec<u8>>> {
    let mut message = Vec::new();
    let mut line = Vec::new();
    let mut too_large = false;
    loop {
        line.clear();
        if read_line(reader, &mut line, MAX_LINE * 256).await? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed during DATA",
            ));
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok((!too_large).then_some(message));
        }
        let content = line.strip_prefix(b".").unwrap_or(&line);
        if message.len() + content.len() > MAX_MESSAGE_BYTES {
            too_large = true;
            message.clear();
        }
        if !too_large {
            message.extend_from_slice(content);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_conversation() {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let received = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = received.clone();
        let deliver = move |raw: Vec<u8>| {
            let sink = sink.clone();
            async move {
                if let Ok(mut all) = sink.lock() {
                    all.push(raw);
                }
                Ok::<(), String>(())
            }
        };
        let server = tokio::spawn(session(server, deliver));
        let (read, mut write) = tokio::io::split(client);
        write
            .write_all(
                b"LHLO mx\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<s@d.test>\r\nRCPT TO:<t@d.test>\r\nDATA\r\n\
Subject: hi\r\n\r\n..dot\r\nbody\r\n.\r\nQUIT\r\n",
            )
            .await
            .unwrap();
        let mut replies = String::new();
        let mut reader = BufReader::new(read);
        let mut line = String::new();
        while reader.read_line(&mut line).await.unwrap() > 0 {
            replies.push_str(&line);
            line.clear();
        }
        server.await.unwrap().unwrap();
        assert_eq!(replies.matches("250 2.0.0 filed").count(), 2, "{replies}");
        assert!(replies.ends_with("221 2.0.0 bye\r\n"));
        let all = received.lock().unwrap();
        assert_eq!(
            all.as_slice(),
            [b"Subject: hi\r\n\r\n.dot\r\nbody\r\n".to_vec()]
        );
    }
}
