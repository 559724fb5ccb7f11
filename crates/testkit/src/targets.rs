//! Local services tests aim opsdesk at: a webhook receiver, and a TLS server with an
//! expiring certificate.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// One webhook POST as a [`WebhookReceiver`] got it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `x-opsdesk-event`.
    pub event: String,
    /// `x-opsdesk-delivery`: the id of the job that sent it.
    pub delivery: String,
    /// `x-opsdesk-signature`.
    pub signature: String,
    pub body: Value,
}

type Received = Arc<Mutex<Vec<Delivery>>>;

/// A local HTTP endpoint for webhooks at `url`: records every POST and answers each with the
/// status it was started with.
pub struct WebhookReceiver {
    pub url: String,
    received: Received,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    pub async fn start(status: u16) -> Self {
        Self::start_slow(status, Duration::ZERO).await
    }

    /// A receiver that records each delivery on arrival but answers only after `delay`,
    /// to catch a sender in the middle of a delivery.
    pub async fn start_slow(status: u16, delay: Duration) -> Self {
        let status = axum::http::StatusCode::from_u16(status).unwrap();
        let received: Received = Arc::default();
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(record_delivery))
            .with_state((received.clone(), status, delay));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            url: format!("http://{address}/hook"),
            received,
            task,
        }
    }

    /// Everything received so far, in order of arrival.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record_delivery(
    axum::extract::State((received, status, delay)): axum::extract::State<(
        Received,
        axum::http::StatusCode,
        Duration,
    )>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let delivery = Delivery {
        event: header("x-opsdesk-event"),
        delivery: header("x-opsdesk-delivery"),
        signature: header("x-opsdesk-signature"),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    received.lock().unwrap().push(delivery);
    tokio::time::sleep(delay).await;
    status
}

/// A TLS server on 127.0.0.1 whose self-signed certificate for `localhost` expires in
/// `days` days: what certificate monitors and diagnostics must warn about.
pub async fn expiring_tls_server(days: i64) -> SocketAddr {
    use tokio::io::AsyncWriteExt;
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(days);
    let cert = params.self_signed(&key).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(socket).await {
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    address
}
