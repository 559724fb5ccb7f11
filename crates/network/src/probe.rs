//! The probes. Each turns a target and its settings into a [`ProbeOutcome`]: up or down,
//! how long it took, and in words why it failed; [`Prober::inspect`] also keeps what each
//! probe saw (addresses, status, certificate, replies) for diagnostics. A probe never
//! panics or returns an error of its own: whatever goes wrong (DNS, refused, timeouts, no
//! raw sockets) is a failed check.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::Resolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RecordType;
use opsdesk_domain::monitor::{MonitorKind, ProbeOutcome, ProbeSettings};

use crate::error_chain;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

/// Longest response body read for keyword and regex checks.
const MAX_BODY_BYTES: usize = 1 << 20;
/// Default days a certificate must still be valid.
const DEFAULT_MIN_DAYS_LEFT: u32 = 14;

/// Runs probes; holds the HTTP clients and TLS settings they share. Cheap to clone.
#[derive(Clone)]
pub struct Prober {
    /// Indexed by `[verify_tls][follow_redirects]`.
    http: Arc<[[reqwest::Client; 2]; 2]>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    roots: Arc<rustls::RootCertStore>,
}

impl Prober {
    /// Builds the shared clients.
    pub fn new() -> Result<Self, String> {
        let client = |verify: bool, follow: bool| {
            reqwest::Client::builder()
                .user_agent(concat!("opsdesk-monitor/", env!("CARGO_PKG_VERSION")))
                .danger_accept_invalid_certs(!verify)
                .redirect(if follow {
                    reqwest::redirect::Policy::limited(10)
                } else {
                    reqwest::redirect::Policy::none()
                })
                .pool_max_idle_per_host(256)
                .build()
                .map_err(|e| format!("HTTP client: {e}"))
        };
        let http = [
            [client(false, false)?, client(false, true)?],
            [client(true, false)?, client(true, true)?],
        ];
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        Ok(Self {
            http: Arc::new(http),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            roots: Arc::new(roots),
        })
    }

    /// Checks `target` once, giving up after `timeout`.
    pub async fn check(
        &self,
        kind: MonitorKind,
        target: &str,
        settings: &ProbeSettings,
        timeout: Duration,
    ) -> ProbeOutcome {
        self.inspect(kind, target, settings, timeout).await.0
    }

    /// Checks `target` once like [`Prober::check`], and also returns what the probe saw,
    /// line by line, whether it passed or not.
    pub async fn inspect(
        &self,
        kind: MonitorKind,
        target: &str,
        settings: &ProbeSettings,
        timeout: Duration,
    ) -> (ProbeOutcome, Vec<String>) {
        let started = Instant::now();
        let mut seen = Vec::new();
        let outcome = tokio::time::timeout(timeout, async {
            match kind {
                MonitorKind::Http => self.http(target, settings, timeout, &mut seen).await,
                MonitorKind::Tcp => tcp(target, &mut seen).await.map(|_| ()),
                MonitorKind::Tls => self.tls(target, settings, &mut seen).await,
                MonitorKind::Dns => dns(target, settings, timeout, &mut seen).await,
                MonitorKind::Icmp => icmp(target, settings, timeout, &mut seen).await,
                MonitorKind::Heartbeat => Err("heartbeats are not probed".to_owned()),
                // Interfaces are polled with the device's credentials, by the scheduler.
                MonitorKind::SnmpInterface => {
                    Err("SNMP interfaces are polled, not probed".to_owned())
                }
            }
        })
        .await;
        let latency = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let result = match outcome {
            Ok(result) => result,
            Err(_) => Err(format!("timed out after {} ms", timeout.as_millis())),
        };
        let result = result.and_then(|()| match settings.max_latency_ms {
            Some(limit) if latency > i64::try_from(limit).unwrap_or(i64::MAX) => Err(format!(
                "took {latency} ms, more than the {limit} ms allowed"
            )),
            _ => Ok(()),
        });
        let outcome = ProbeOutcome {
            ok: result.is_ok(),
            latency_ms: Some(latency),
            error: result.err(),
        };
        (outcome, seen)
    }

    async fn http(
        &self,
        url: &str,
        settings: &ProbeSettings,
        timeout: Duration,
        seen: &mut Vec<String>,
    ) -> Result<(), String> {
        let verify = usize::from(settings.verify_tls.unwrap_or(true));
        let follow = usize::from(settings.follow_redirects.unwrap_or(true));
        let client = &self.http[verify][follow];
        let method = settings
            .method
            .as_deref()
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| format!("method: {e}"))?;
        let mut request = client.request(method, url).timeout(timeout);
        for (name, value) in &settings.headers {
            request = request.header(name, value);
        }
        if let Some(body) = &settings.body {
            request = request.body(body.clone());
        }
        let mut response = request.send().await.map_err(|e| error_chain(&e))?;
        let status = response.status().as_u16();
        seen.push(format!("{:?} {}", response.version(), response.status()));
        if let Some(address) = response.remote_addr() {
            seen.push(format!("from {address}"));
        }
        for name in ["server", "content-type", "content-length", "location"] {
            if let Some(value) = response.headers().get(name).and_then(|v| v.to_str().ok()) {
                seen.push(format!("{name}: {value}"));
            }
        }
        let expected = if settings.expected_status.is_empty() {
            (200..300).contains(&status)
        } else {
            settings.expected_status.contains(&status)
        };
        if !expected {
            return Err(format!("HTTP status {status}"));
        }
        if settings.keyword.is_none() && settings.regex.is_none() {
            return Ok(());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
            body.extend_from_slice(&chunk);
            if body.len() >= MAX_BODY_BYTES {
                body.truncate(MAX_BODY_BYTES);
                break;
            }
        }
        let text = String::from_utf8_lossy(&body);
        if let Some(keyword) = &settings.keyword
            && !text.contains(keyword.as_str())
        {
            return Err(format!("the body does not contain \"{keyword}\""));
        }
        if let Some(pattern) = &settings.regex {
            let regex = regex::Regex::new(pattern).map_err(|e| format!("regex: {e}"))?;
            if !regex.is_match(&text) {
                return Err(format!("the body does not match /{pattern}/"));
            }
        }
        Ok(())
    }

    /// Handshakes, then judges the certificate: days left, and (when verifying) the chain.
    async fn tls(
        &self,
        target: &str,
        settings: &ProbeSettings,
        seen: &mut Vec<String>,
    ) -> Result<(), String> {
        let (host, _) = target.rsplit_once(':').ok_or("target must be host:port")?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let server_name = ServerName::try_from(host).map_err(|e| format!("server name: {e}"))?;
        let config = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(self.provider.clone())))
            .with_no_client_auth();
        let stream = tcp(target, seen).await?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tls = connector
            .connect(server_name.clone(), stream)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        let chain: Vec<CertificateDer<'static>> = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let leaf = chain.first().ok_or("the server sent no certificate")?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf)
            .map_err(|e| format!("unreadable certificate: {e}"))?;
        seen.push(format!("subject: {}", cert.subject()));
        seen.push(format!("issuer: {}", cert.issuer()));
        seen.push(format!("valid until: {}", cert.validity().not_after));
        if let Ok(Some(names)) = cert.subject_alternative_name() {
            let names: Vec<String> = names
                .value
                .general_names
                .iter()
                .map(ToString::to_string)
                .collect();
            seen.push(format!("names: {}", names.join(", ")));
        }
        let not_after = cert.validity().not_after.timestamp();
        let now = UnixTime::now().as_secs() as i64;
        let days_left = (not_after - now).div_euclid(86_400);
        seen.push(format!("days left: {days_left}"));
        // Expiry first: it is what a person acts on, even on an untrusted certificate.
        let minimum = settings.min_days_left.unwrap_or(DEFAULT_MIN_DAYS_LEFT);
        if days_left < i64::from(minimum) {
            return Err(if days_left < 0 {
                format!("the certificate expired {} days ago", -days_left)
            } else {
                format!("the certificate expires in {days_left} days (minimum {minimum})")
            });
        }
        if settings.verify_tls.unwrap_or(true) {
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                self.roots.clone(),
                self.provider.clone(),
            )
            .build()
            .map_err(|e| format!("TLS: {e}"))?;
            verifier
                .verify_server_cert(leaf, &chain[1..], &server_name, &[], UnixTime::now())
                .map_err(|e| format!("certificate chain problem: {e}"))?;
        }
        Ok(())
    }
}

async fn tcp(target: &str, seen: &mut Vec<String>) -> Result<TcpStream, String> {
    let stream = TcpStream::connect(target)
        .await
        .map_err(|e| format!("cannot connect to {target}: {e}"))?;
    if let Ok(peer) = stream.peer_addr() {
        seen.push(format!("connected to {peer}"));
    }
    Ok(stream)
}

async fn dns(
    name: &str,
    settings: &ProbeSettings,
    timeout: Duration,
    seen: &mut Vec<String>,
) -> Result<(), String> {
    let record_type: RecordType = settings
        .record_type
        .as_deref()
        .unwrap_or("A")
        .to_ascii_uppercase()
        .parse()
        .map_err(|e| format!("record type: {e}"))?;
    let provider = TokioRuntimeProvider::default();
    let mut builder = match &settings.resolver {
        Some(address) => {
            let address: SocketAddr = address.parse().map_err(|e| format!("resolver: {e}"))?;
            let mut udp = ConnectionConfig::udp();
            udp.port = address.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = address.port();
            let server = NameServerConfig::new(address.ip(), true, vec![udp, tcp]);
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], vec![server]),
                provider,
            )
        }
        None => Resolver::builder(provider).map_err(|e| format!("system resolver: {e}"))?,
    };
    builder.options_mut().timeout = timeout;
    builder.options_mut().attempts = 1;
    builder.options_mut().cache_size = 0;
    let resolver = builder.build().map_err(|e| format!("resolver: {e}"))?;
    let lookup = resolver
        .lookup(name, record_type)
        .await
        .map_err(|e| format!("{record_type} {name}: {e}"))?;
    let answers: Vec<String> = lookup
        .answers()
        .iter()
        .map(|r| r.data.to_string())
        .collect();
    seen.extend(answers.iter().map(|a| format!("{record_type} {a}")));
    if answers.is_empty() {
        return Err(format!("no {record_type} record for {name}"));
    }
    if let Some(expected) = &settings.expected {
        let wanted = expected.trim_end_matches('.');
        if !answers.iter().any(|a| a.trim_end_matches('.') == wanted) {
            return Err(format!("expected {expected}, got {}", answers.join(", ")));
        }
    }
    Ok(())
}

async fn icmp(
    host: &str,
    settings: &ProbeSettings,
    timeout: Duration,
    seen: &mut Vec<String>,
) -> Result<(), String> {
    let address: IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) => tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} has no address"))?
            .ip(),
    };
    let config = match address {
        IpAddr::V4(_) => surge_ping::Config::default(),
        IpAddr::V6(_) => surge_ping::Config::builder()
            .kind(surge_ping::ICMP::V6)
            .build(),
    };
    let client = surge_ping::Client::new(&config)
        .map_err(|e| format!("cannot open an ICMP socket (needs root or ping_group_range): {e}"))?;
    let count = settings.count.unwrap_or(3).max(1);
    let identifier = surge_ping::PingIdentifier((std::process::id() & 0xffff) as u16);
    let mut pinger = client.pinger(address, identifier).await;
    pinger.timeout(timeout / count);
    let mut lost = 0;
    for sequence in 0..count {
        match pinger
            .ping(surge_ping::PingSequence(sequence as u16), &[0; 16])
            .await
        {
            Ok((_, rtt)) => seen.push(format!(
                "reply from {address}: seq={sequence} time={:.1} ms",
                rtt.as_secs_f64() * 1000.0
            )),
            Err(error) => {
                lost += 1;
                seen.push(format!("no reply from {address}: seq={sequence} ({error})"));
            }
        }
    }
    let loss = lost * 100 / count;
    if loss > settings.max_loss_percent.unwrap_or(0) {
        return Err(format!("{loss} % packet loss ({lost} of {count})"));
    }
    Ok(())
}

/// Accepts any certificate during the handshake so that the probe can still read an
/// expired or untrusted one; the chain is judged afterwards when verification is on.
#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
