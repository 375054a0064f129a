//! JWK Sets and the JWKS client, against a local HTTPS server whose
//! certificate the test makes (its own CA, trusted through `ca_pem`). Time
//! (lifespan, cooldown, staleness) is driven by a `ManualClock`; only fetch
//! deadlines are real time.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, RsaKeyPair};
use bastion_core::token::json::{self, Object, Value};
use bastion_core::token::{
    b64, encode, Algorithm, Header, JwksClient, JwksOptions, Key, KeySet, Validation,
};
use bastion_core::{ErrorKind, ManualClock};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const NOW: f64 = 1_700_000_000.0;

// ---- keys and tokens -------------------------------------------------------------

fn rsa_pkcs8(i: usize) -> &'static [u8] {
    static K: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    &K.get_or_init(|| {
        (0..2)
            .map(|_| {
                RsaKeyPair::generate(KeySize::Rsa2048)
                    .unwrap()
                    .as_der()
                    .unwrap()
                    .as_ref()
                    .to_vec()
            })
            .collect()
    })[i]
}

fn ec_pkcs8() -> &'static [u8] {
    static K: OnceLock<Vec<u8>> = OnceLock::new();
    K.get_or_init(|| {
        EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap()
            .to_pkcs8v1()
            .unwrap()
            .as_ref()
            .to_vec()
    })
}

/// The provider's RSA key (kid "rsa1", restricted to RS256).
fn rsa1() -> Key {
    Key::from_der(rsa_pkcs8(0))
        .unwrap()
        .with_kid(Some("rsa1".into()))
        .restrict_to(Algorithm::RS256)
        .unwrap()
}

/// The provider's next RSA key (kid "rsa2"), published later.
fn rsa2() -> Key {
    Key::from_der(rsa_pkcs8(1))
        .unwrap()
        .with_kid(Some("rsa2".into()))
}

fn ec1() -> Key {
    Key::from_der(ec_pkcs8())
        .unwrap()
        .with_kid(Some("ec1".into()))
}

fn jwks(keys: &[Key]) -> String {
    let mut out = String::from("{\"keys\":[");
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_object(&k.public_jwk().unwrap(), &mut out);
    }
    out.push_str("]}");
    out
}

fn claims() -> String {
    format!(r#"{{"sub":"user-1","exp":{}}}"#, NOW as i64 + 100_000)
}

fn token(key: &Key, alg: Algorithm) -> String {
    encode(&Header::new(alg), &claims(), key, false).unwrap()
}

fn token_with_header(key: &Key, alg: Algorithm, extra: Object, kid: Option<&str>) -> String {
    let header = Header {
        algorithm: alg,
        typ: Some("JWT".into()),
        kid: kid.map(str::to_owned),
        extra,
    };
    encode(&header, &claims(), key, false).unwrap()
}

fn validation() -> Validation {
    Validation::new(&[Algorithm::RS256, Algorithm::ES256])
}

// ---- the test server -------------------------------------------------------------

#[derive(Clone)]
enum Reply {
    Json(String),
    Status(u16),
    Slow(Duration, String),
    Redirect(String),
    /// A body larger than any limit, with or without a Content-Length.
    Huge {
        declared: bool,
    },
}

struct Shared {
    hits: AtomicUsize,
    paths: Mutex<Vec<String>>,
    heads: Mutex<Vec<String>>,
    reply: Mutex<Reply>,
}

struct Ca {
    pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

fn new_ca(name: &str) -> Ca {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: rcgen::Issuer::new(params, key),
    }
}

fn test_ca() -> &'static Ca {
    static CA: OnceLock<Ca> = OnceLock::new();
    CA.get_or_init(|| new_ca("bastion test CA"))
}

fn server_tls() -> Arc<rustls::ServerConfig> {
    static CONFIG: OnceLock<Arc<rustls::ServerConfig>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &test_ca().issuer).unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        Arc::new(config)
    }))
}

struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tls: bool,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, shared: Arc<Shared>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 16 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let path = text.split(' ').nth(1).unwrap_or_default().to_owned();
    shared.paths.lock().unwrap().push(path);
    shared.heads.lock().unwrap().push(text);
    shared.hits.fetch_add(1, Ordering::SeqCst);
    let reply = shared.reply.lock().unwrap().clone();
    let ok = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    match reply {
        Reply::Json(body) => {
            let _ = s.write_all(ok(&body).as_bytes()).await;
        }
        Reply::Slow(d, body) => {
            tokio::time::sleep(d).await;
            let _ = s.write_all(ok(&body).as_bytes()).await;
        }
        Reply::Status(code) => {
            let _ = s
                .write_all(
                    format!(
                        "HTTP/1.1 {code} Oops\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                )
                .await;
        }
        Reply::Redirect(to) => {
            let _ = s
                .write_all(
                    format!("HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
        }
        Reply::Huge { declared } => {
            let head = if declared {
                "HTTP/1.1 200 OK\r\ncontent-length: 50000000\r\nconnection: close\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n"
            };
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..800 {
                if s.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = s.shutdown().await;
}

impl Server {
    fn start(reply: Reply, tls: bool) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            hits: AtomicUsize::new(0),
            paths: Mutex::new(Vec::new()),
            heads: Mutex::new(Vec::new()),
            reply: Mutex::new(reply),
        });
        let s = Arc::clone(&shared);
        let acceptor = tokio_rustls::TlsAcceptor::from(server_tls());
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let s = Arc::clone(&s);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if tls {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            answer(stream, s).await;
                        }
                    } else {
                        answer(tcp, s).await;
                    }
                });
            }
        });
        Self {
            addr,
            shared,
            tls,
            runtime: Some(runtime),
        }
    }

    fn https(reply: Reply) -> Self {
        Self::start(reply, true)
    }

    fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!(
            "{scheme}://127.0.0.1:{}/.well-known/jwks.json",
            self.addr.port()
        )
    }

    fn hits(&self) -> usize {
        self.shared.hits.load(Ordering::SeqCst)
    }

    fn reply(&self, r: Reply) {
        *self.shared.reply.lock().unwrap() = r;
    }

    fn paths(&self) -> Vec<String> {
        self.shared.paths.lock().unwrap().clone()
    }
}

fn options() -> JwksOptions {
    JwksOptions {
        ca_pem: Some(test_ca().pem.clone().into_bytes()),
        ..JwksOptions::default()
    }
}

fn client(server: &Server, clock: &ManualClock, o: JwksOptions) -> JwksClient {
    JwksClient::new(&server.url(), o, Arc::new(clock.clone())).unwrap()
}

fn provider() -> Server {
    Server::https(Reply::Json(jwks(&[rsa1(), ec1()])))
}

// ---- KeySet ----------------------------------------------------------------------

#[test]
fn key_set_decodes_by_kid_and_algorithm() {
    let set = KeySet::from_json(jwks(&[rsa1(), ec1()]).as_bytes()).unwrap();
    let clock = ManualClock::new(NOW);
    let v = validation();
    let claims = set
        .decode(token(&rsa1(), Algorithm::RS256).as_bytes(), &v, &clock)
        .unwrap()
        .claims;
    assert_eq!(claims.get("sub").and_then(Value::as_str), Some("user-1"));
    assert!(set
        .decode(token(&ec1(), Algorithm::ES256).as_bytes(), &v, &clock)
        .is_ok());

    // A key bound to RS256 does not verify PS256, even when the caller accepts PS256.
    let ps = Validation::new(&[Algorithm::RS256, Algorithm::PS256]);
    let rsa_unbound = Key::from_der(rsa_pkcs8(0))
        .unwrap()
        .with_kid(Some("rsa1".into()));
    let e = set
        .decode(
            token(&rsa_unbound, Algorithm::PS256).as_bytes(),
            &ps,
            &clock,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyNotFound);

    // An ES256 token naming the RSA key's kid finds nothing.
    let e = set
        .decode(
            token_with_header(&ec1(), Algorithm::ES256, Object::new(), Some("rsa1")).as_bytes(),
            &v,
            &clock,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyNotFound);

    // The accepted algorithms come from the caller only.
    let e = set
        .decode(
            token(&ec1(), Algorithm::ES256).as_bytes(),
            &Validation::new(&[Algorithm::RS256]),
            &clock,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidAlgorithm);
}

#[test]
fn a_token_without_kid_needs_exactly_one_fitting_key() {
    let clock = ManualClock::new(NOW);
    let v = validation();
    let bare = Key::from_der(rsa_pkcs8(0)).unwrap();
    let t = token(&bare, Algorithm::RS256);
    // One RSA key and one EC key: exactly one fits RS256.
    let one = KeySet::from_json(jwks(&[rsa1(), ec1()]).as_bytes()).unwrap();
    assert!(one.decode(t.as_bytes(), &v, &clock).is_ok());
    // Two RSA keys: ambiguous.
    let two = KeySet::from_json(jwks(&[rsa1(), rsa2()]).as_bytes()).unwrap();
    let e = two.decode(t.as_bytes(), &v, &clock).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyNotFound);
}

#[test]
fn embedded_keys_and_key_urls_in_the_header_are_ignored() {
    let server = provider();
    let clock = ManualClock::new(NOW);
    let c = client(&server, &clock, options());
    let v = validation();
    let attacker = Key::from_der(rsa_pkcs8(1)).unwrap();
    let jku = format!("https://127.0.0.1:{}/attacker.json", server.addr.port());
    let mut extra = Object::new();
    extra.insert("jku", Value::String(jku.clone()));
    extra.insert("x5u", Value::String(jku));
    extra.insert(
        "jwk",
        Value::Object(
            attacker
                .clone()
                .with_kid(Some("rsa1".into()))
                .public_jwk()
                .unwrap(),
        ),
    );
    // Signed by the attacker, naming the provider's kid: the provider's key is used.
    let forged = token_with_header(&attacker, Algorithm::RS256, extra.clone(), Some("rsa1"));
    let e = c.decode_blocking(forged.as_bytes(), &v).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSignature);
    // Naming the embedded key's own kid: no such key in the set.
    let forged = token_with_header(&attacker, Algorithm::RS256, extra, Some("evil"));
    let e = c.decode_blocking(forged.as_bytes(), &v).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyNotFound);
    // Only the configured URL was ever requested.
    assert!(server.paths().iter().all(|p| p == "/.well-known/jwks.json"));
}

#[test]
fn an_hmac_token_keyed_with_the_public_key_is_rejected() {
    let set = KeySet::from_json(jwks(&[rsa1()]).as_bytes()).unwrap();
    let clock = ManualClock::new(NOW);
    let v = Validation::new(&[Algorithm::RS256, Algorithm::HS256]);
    let mut jwk_text = String::new();
    json::write_object(&rsa1().public_jwk().unwrap(), &mut jwk_text);
    let n = rsa1()
        .public_jwk()
        .unwrap()
        .get("n")
        .and_then(Value::as_str)
        .unwrap()
        .to_owned();
    for secret in [
        jwk_text.as_bytes(),
        n.as_bytes(),
        &b64::decode(n.as_bytes()).unwrap(),
    ] {
        let mut t = String::new();
        b64::encode_into(br#"{"alg":"HS256","kid":"rsa1","typ":"JWT"}"#, &mut t);
        t.push('.');
        b64::encode_into(claims().as_bytes(), &mut t);
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), t.as_bytes());
        t.push('.');
        b64::encode_into(tag.as_ref(), &mut t);
        let e = set.decode(t.as_bytes(), &v, &clock).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::KeyNotFound);
    }
}

// ---- fetching and caching --------------------------------------------------------

#[test]
fn fetches_once_and_verifies_rs256_and_es256() {
    let server = provider();
    let clock = ManualClock::new(NOW);
    let c = client(&server, &clock, options());
    let v = validation();
    let t = c
        .decode_blocking(token(&rsa1(), Algorithm::RS256).as_bytes(), &v)
        .unwrap();
    assert_eq!(t.claims.get("sub").and_then(Value::as_str), Some("user-1"));
    c.decode_blocking(token(&ec1(), Algorithm::ES256).as_bytes(), &v)
        .unwrap();
    let key = c.get_signing_key_blocking(Some("ec1"), None).unwrap();
    assert_eq!(key.kid(), Some("ec1"));
    assert_eq!(server.hits(), 1, "cache hits make no request");
    let s = c.status();
    assert_eq!((s.keys, s.fetches, s.failures, s.stale), (2, 1, 0, false));
    assert_eq!(s.fetched_at, Some(NOW));
    assert_eq!(s.expires_at, Some(NOW + 300.0));
}

#[test]
fn the_set_is_refetched_when_its_lifespan_ends() {
    let server = provider();
    let clock = ManualClock::new(NOW);
    let c = client(&server, &clock, options());
    c.get_signing_key_blocking(Some("rsa1"), None).unwrap();
    clock.advance(299.0);
    c.get_signing_key_blocking(Some("rsa1"), None).unwrap();
    assert_eq!(server.hits(), 1);
    clock.advance(2.0);
    c.get_signing_key_blocking(Some("rsa1"), None).unwrap();
    assert_eq!(server.hits(), 2);
    assert_eq!(c.status().fetched_at, Some(NOW + 301.0));
}

#[test]
fn an_unknown_kid_refetches_once_then_cools_down() {
    let server = provider();
    let clock = ManualClock::new(NOW);
    let c = client(&server, &clock, options());
    let v = validation();
    c.decode_blocking(token(&rsa1(), Algorithm::RS256).as_bytes(), &v)
        .unwrap();
    assert_eq!(server.hits(), 1);

    // The provider rotates: rsa2 appears. Right after a fetch, no refetch.
    server.reply(Reply::Json(jwks(&[rsa1(), rsa2(), ec1()])));
    let t2 = token(&rsa2(), Algorithm::RS256);
    let e = c.decode_blocking(t2.as_bytes(), &v).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyNotFound);
    assert_eq!(server.hits(), 1);

    // After the cooldown, the unknown kid refetches once and verifies.
    clock.advance(31.0);
    c.decode_blocking(t2.as_bytes(), &v).unwrap();
    assert_eq!(server.hits(), 2);

    // A flood of tokens with random kids makes no further request.
    let attacker = Key::from_der(rsa_pkcs8(1)).unwrap();
    for i in 0..500 {
        let t = token_with_header(
            &attacker,
            Algorithm::RS256,
            Object::new(),
            Some(&format!("random-{i}")),
        );
        let e = c.decode_blocking(t.as_bytes(), &v).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::KeyNotFound);
        clock.advance(0.05);
    }
    assert_eq!(
        server.hits(),
        2,
        "25 s of random kids: still within the cooldown"
    );
    clock.advance(6.0);
    for i in 0..100 {
        let _ = c.get_signing_key_blocking(Some(&format!("again-{i}")), None);
    }
    assert_eq!(server.hits(), 3, "one refetch per cooldown");
}

#[test]
fn concurrent_misses_make_one_request() {
    let server = Server::https(Reply::Slow(
        Duration::from_millis(300),
        jwks(&[rsa1(), ec1()]),
    ));
    let clock = ManualClock::new(NOW);
    let c = client(&server, &clock, options());
    let v = validation();
    let t = token(&rsa1(), Algorithm::RS256);
    let barrier = Arc::new(std::sync::Barrier::new(50));
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let (c, v, t, b) = (c.clone(), v.clone(), t.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                b.wait();
                c.decode_blocking(t.as_bytes(), &v).map(|_| ())
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap().unwrap();
    }
    assert_eq!(server.hits(), 1);

    // The same with futures awaited on another executor, after expiry.
    clock.advance(301.0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(async {
        let tasks: Vec<_> = (0..50)
            .map(|_| tokio::spawn(c.decode(t.clone().into_bytes(), v.clone())))
            .collect();
        let mut out = Vec::new();
        for task in tasks {
            out.push(task.await.unwrap());
        }
        out
    });
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(server.hits(), 2);
}

// ---- failures --------------------------------------------------------------------

fn fetch_error(reply: Reply, o: JwksOptions) -> (bastion_core::Error, usize) {
    let server = Server::https(reply);
    let clock = ManualClock::new(NOW);
    let c = client(&server, &clock, o);
    let e = c.get_signing_key_blocking(Some("rsa1"), None).unwrap_err();
    (e, server.hits())
}

#[test]
fn failed_fetches_are_typed_errors() {
    let (e, _) = fetch_error(Reply::Status(500), options());
    assert_eq!(e.kind(), ErrorKind::JwksFetchFailed);
    assert!(e.message().contains("HTTP status 500"), "{}", e.message());

    let (e, _) = fetch_error(Reply::Json("{\"keys\": [".into()), options());
    assert_eq!(e.kind(), ErrorKind::JwksFetchFailed);
    assert!(e.message().contains("not usable"), "{}", e.message());

    let (e, _) = fetch_error(
        Reply::Json(r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#.into()),
        options(),
    );
    assert_eq!(e.kind(), ErrorKind::JwksFetchFailed);

    let small = JwksOptions {
        max_size: 4096,
        ..options()
    };
    for declared in [true, false] {
        let (e, _) = fetch_error(Reply::Huge { declared }, small.clone());
        assert_eq!(e.kind(), ErrorKind::JwksFetchFailed);
        assert!(
            e.message().contains("larger than 4096 bytes"),
            "{}",
            e.message()
        );
    }

    let quick = JwksOptions {
        timeout: 0.3,
        ..options()
    };
    let (e, _) = fetch_error(Reply::Slow(Duration::from_secs(5), jwks(&[rsa1()])), quick);
    assert_eq!(e.kind(), ErrorKind::JwksFetchFailed);
    assert!(e.message().contains("within"), "{}", e.message());

    let (e, hits) = fetch_error(Reply::Redirect("http://127.0.0.1:1/jwks".into()), options());
    assert_eq!(e.kind(), ErrorKind::JwksFetchFailed);
    assert!(
        e.message().contains("redirects are not followed"),
        "{}",
        e.message()
    );
    assert_eq!(hits, 1);

    // Nothing listens: connection refused.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = JwksClient::new(
        &format!("https://127.0.0.1:{port}/jwks"),
        options(),
        Arc::new(ManualClock::new(NOW)),
    )
    .unwrap();
    let e = c.get_signing_key_blocking(Some("rsa1"), None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::JwksFetchFailed);
    assert!(e.message().contains("cannot connect"), "{}", e.message());
}

#[test]
fn a_failed_first_fetch_is_retried_once_per_cooldown() {
    let server = Server::https(Reply::Status(503));
    let clock = ManualClock::new(NOW);
    let c = client(&server, &clock, options());
    for _ in 0..20 {
        let e = c.get_signing_key_blocking(Some("rsa1"), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::JwksFetchFailed);
    }
    assert_eq!(server.hits(), 1);
    server.reply(Reply::Json(jwks(&[rsa1()])));
    clock.advance(31.0);
    c.get_signing_key_blocking(Some("rsa1"), None).unwrap();
    assert_eq!(server.hits(), 2);
}

#[test]
fn the_last_good_set_is_served_while_refreshes_fail() {
    let server = provider();
    let clock = ManualClock::new(NOW);
    let c = client(&server, &clock, options());
    let v = validation();
    let t = token(&rsa1(), Algorithm::RS256);
    c.decode_blocking(t.as_bytes(), &v).unwrap();

    server.reply(Reply::Status(500));
    clock.advance(301.0);
    c.decode_blocking(t.as_bytes(), &v).unwrap();
    assert_eq!(server.hits(), 2);
    let s = c.status();
    assert!(s.stale);
    assert_eq!(s.failures, 1);
    assert_eq!(s.last_error.unwrap().kind(), ErrorKind::JwksFetchFailed);

    // Within the cooldown: served stale, no request.
    clock.advance(10.0);
    c.decode_blocking(t.as_bytes(), &v).unwrap();
    assert_eq!(server.hits(), 2);
    // After it: one more attempt, still stale.
    clock.advance(25.0);
    c.decode_blocking(t.as_bytes(), &v).unwrap();
    assert_eq!(server.hits(), 3);

    // Past lifespan + max_stale, the stale set is no longer trusted.
    clock.set(NOW + 300.0 + 3600.0 + 1.0);
    let e = c.decode_blocking(t.as_bytes(), &v).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::JwksFetchFailed);
    assert_eq!(server.hits(), 4);

    // Recovery.
    server.reply(Reply::Json(jwks(&[rsa1()])));
    clock.advance(31.0);
    c.decode_blocking(t.as_bytes(), &v).unwrap();
    let s = c.status();
    assert!(!s.stale && s.last_error.is_none());
}

#[test]
fn plain_http_needs_allow_http() {
    let server = Server::start(Reply::Json(jwks(&[rsa1()])), false);
    let clock = ManualClock::new(NOW);
    let e = JwksClient::new(&server.url(), options(), Arc::new(clock.clone())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    let c = client(
        &server,
        &clock,
        JwksOptions {
            allow_http: true,
            ..options()
        },
    );
    c.get_signing_key_blocking(Some("rsa1"), None).unwrap();
    assert_eq!(server.hits(), 1);
}

#[test]
fn a_certificate_from_an_unknown_ca_is_refused() {
    let server = provider();
    let clock = ManualClock::new(NOW);
    for o in [
        JwksOptions::default(),
        JwksOptions {
            ca_pem: Some(new_ca("another CA").pem.into_bytes()),
            ..JwksOptions::default()
        },
    ] {
        let c = client(&server, &clock, o);
        let e = c.get_signing_key_blocking(Some("rsa1"), None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::JwksFetchFailed);
        assert!(e.message().contains("TLS"), "{}", e.message());
        clock.advance(60.0);
    }
    // The TLS handshake failed before any request was made.
    assert_eq!(server.hits(), 0);
}

#[test]
fn refresh_fetches_now_and_reports_its_own_error() {
    let server = provider();
    let clock = ManualClock::new(NOW);
    let c = client(&server, &clock, options());
    assert_eq!(c.refresh_blocking().unwrap().len(), 2);
    assert_eq!(c.refresh_blocking().unwrap().len(), 2);
    assert_eq!(server.hits(), 2);
    server.reply(Reply::Status(404));
    let e = c.refresh_blocking().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::JwksFetchFailed);
    // The cache keeps its last good set.
    assert_eq!(c.key_set_blocking().unwrap().len(), 2);
    assert_eq!(server.hits(), 3);
}

#[test]
fn the_request_is_a_plain_get_with_the_configured_headers() {
    let server = provider();
    let clock = ManualClock::new(NOW);
    let o = JwksOptions {
        headers: vec![
            ("X-Api-Key".into(), "k-123".into()),
            ("User-Agent".into(), "my-app/1.0".into()),
        ],
        ..options()
    };
    assert!(!format!("{o:?}").contains("k-123"));
    let c = client(&server, &clock, o);
    c.get_signing_key_blocking(Some("rsa1"), None).unwrap();
    let head = server.shared.heads.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.starts_with("get /.well-known/jwks.json http/1.1\r\n"),
        "{head}"
    );
    assert!(head.contains("x-api-key: k-123\r\n"), "{head}");
    assert!(head.contains("user-agent: my-app/1.0\r\n"), "{head}");
    assert!(!head.contains("bastion-jwks"), "{head}");
    assert!(
        !head.contains("cookie") && !head.contains("authorization"),
        "{head}"
    );
    let e = JwksClient::new(
        &server.url(),
        JwksOptions {
            headers: vec![("Host".into(), "evil.example".into())],
            ..options()
        },
        Arc::new(clock),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
}
