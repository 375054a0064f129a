//! The one HTTP request a JWKS client makes: `GET` of a fixed URL, bounded.
//!
//! Why this stack: hyper 1 (HTTP/1.1 client connection only, no pool) over
//! tokio-rustls with the aws-lc-rs provider, on the engine's own tokio
//! runtime. aws-lc-rs and tokio are already dependencies, so the additions are
//! small (hyper, rustls, webpki-roots and their few helpers), nothing needs
//! OpenSSL or cmake, and the request runs where every other network call runs.
//! reqwest would bring a connection pool, redirect policy, proxies and tower
//! for one `GET` every few minutes; ureq is blocking and would tie up a thread
//! per fetch.
//!
//! Guarantees:
//! - `https` only, unless the client was explicitly built with `allow_http`;
//! - certificates always verified: the Mozilla root store compiled in
//!   (webpki-roots), plus the extra CA certificates the caller supplies (for
//!   tests and private CAs); the verification cannot be turned off;
//! - redirects are never followed: a 3xx answer is a failed fetch, so a
//!   compromised or misconfigured endpoint cannot point the client at another
//!   host, and never from `https` to `http`;
//! - one deadline covers DNS, connect, TLS handshake, request and the whole
//!   body; the body is read at most up to the size bound (a larger
//!   `Content-Length` fails before reading, a longer body stops being read at
//!   the bound);
//! - no cookies, no credentials, no proxy, no compression; the URL's query is
//!   never written into error messages (it may hold an API key).

use crate::error::{err, Error, Result};
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Where to fetch from, parsed and checked once.
#[derive(Clone)]
pub(crate) struct Target {
    https: bool,
    /// Host for DNS / connect (IPv6 literals without brackets).
    host: String,
    port: u16,
    /// The `Host` header value.
    authority: String,
    path_and_query: String,
    /// `scheme://authority/path`, without the query, for messages.
    display: String,
}

impl Target {
    /// Parses `url`: an absolute `https` URL (or `http` with `allow_http`),
    /// with a host, without user information or fragment.
    pub(crate) fn parse(url: &str, allow_http: bool) -> Result<Self> {
        let uri: Uri = url
            .parse()
            .map_err(|_| err!(InvalidArgument, "the JWKS URL is not a valid absolute URL"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") if allow_http => false,
            Some("http") => {
                return Err(err!(
                    InvalidArgument,
                    "the JWKS URL must use https (plain http needs allow_http)"
                ))
            }
            _ => {
                return Err(err!(
                    InvalidArgument,
                    "the JWKS URL must be an absolute https URL"
                ))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| err!(InvalidArgument, "the JWKS URL has no host"))?;
        if authority.as_str().contains('@') {
            return Err(err!(
                InvalidArgument,
                "the JWKS URL may not contain user information"
            ));
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(err!(InvalidArgument, "the JWKS URL has no host"));
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = uri.path();
        let path = if path.is_empty() { "/" } else { path };
        let path_and_query = uri
            .path_and_query()
            .map_or_else(|| path.to_owned(), |p| p.as_str().to_owned());
        let path_and_query = if path_and_query.starts_with('/') {
            path_and_query
        } else {
            format!("/{path_and_query}")
        };
        Ok(Self {
            https,
            host: host.to_owned(),
            port,
            authority: authority.as_str().to_owned(),
            display: format!(
                "{}://{}{}",
                if https { "https" } else { "http" },
                authority.as_str(),
                path
            ),
            path_and_query,
        })
    }

    /// `scheme://authority/path` (no query).
    pub(crate) fn display(&self) -> &str {
        &self.display
    }
}

/// A TLS configuration that trusts the Mozilla roots plus every certificate
/// in `extra_ca_pem` (at least one when given).
pub(crate) fn tls_config(extra_ca_pem: Option<&[u8]>) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(pem) = extra_ca_pem {
        let mut added = 0usize;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| {
                err!(
                    InvalidArgument,
                    "ca_pem is not valid PEM certificate text: {e}"
                )
            })?;
            roots
                .add(cert)
                .map_err(|e| err!(InvalidArgument, "ca_pem holds an unusable certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(err!(
                InvalidArgument,
                "ca_pem holds no \"CERTIFICATE\" PEM block"
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err!(Internal, "cannot configure TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Fetches a target's body, within a deadline and a size bound.
pub(crate) struct Fetcher {
    pub(crate) target: Target,
    tls: TlsConnector,
    headers: HeaderMap,
    timeout: Duration,
    max_size: usize,
}

/// Request headers the client writes itself.
const RESERVED: &[HeaderName] = &[
    hyper::header::HOST,
    hyper::header::CONNECTION,
    hyper::header::CONTENT_LENGTH,
    hyper::header::TRANSFER_ENCODING,
    hyper::header::ACCEPT_ENCODING,
    hyper::header::UPGRADE,
    hyper::header::TE,
];

/// Checks and converts caller-supplied headers (values are never echoed).
fn extra_headers(headers: &[(String, String)]) -> Result<HeaderMap> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| err!(InvalidArgument, "invalid HTTP header name {name:?}"))?;
        if RESERVED.contains(&n) {
            return Err(err!(
                InvalidArgument,
                "the header {name:?} is set by the client itself"
            ));
        }
        let mut v = HeaderValue::from_str(value).map_err(|_| {
            err!(
                InvalidArgument,
                "the value of the header {name:?} is not valid"
            )
        })?;
        v.set_sensitive(true);
        map.append(n, v);
    }
    Ok(map)
}

const USER_AGENT: &str = concat!("bastion-jwks/", env!("CARGO_PKG_VERSION"));

fn failed(target: &Target, what: impl std::fmt::Display) -> Error {
    err!(
        JwksFetchFailed,
        "fetching the JWKS from {} failed: {what}",
        target.display
    )
}

impl Fetcher {
    pub(crate) fn new(
        target: Target,
        tls: Arc<ClientConfig>,
        headers: &[(String, String)],
        timeout: Duration,
        max_size: usize,
    ) -> Result<Self> {
        Ok(Self {
            target,
            tls: TlsConnector::from(tls),
            headers: extra_headers(headers)?,
            timeout,
            max_size,
        })
    }

    /// `GET`s the target and returns the body of a `200` answer. Must run on
    /// a tokio runtime with I/O and time enabled (the engine's runtime).
    pub(crate) async fn fetch(&self) -> Result<Bytes> {
        match tokio::time::timeout(self.timeout, self.fetch_unbounded()).await {
            Ok(r) => r,
            Err(_) => Err(failed(
                &self.target,
                format_args!("no complete answer within {:?}", self.timeout),
            )),
        }
    }

    async fn fetch_unbounded(&self) -> Result<Bytes> {
        let t = &self.target;
        let tcp = TcpStream::connect((t.host.as_str(), t.port))
            .await
            .map_err(|e| failed(t, format_args!("cannot connect: {e}")))?;
        let _ = tcp.set_nodelay(true);
        if t.https {
            let name = ServerName::try_from(t.host.clone())
                .map_err(|_| failed(t, "the host is not a valid TLS server name"))?;
            let tls = self
                .tls
                .connect(name, tcp)
                .await
                .map_err(|e| failed(t, format_args!("TLS: {e}")))?;
            self.exchange(TokioIo::new(tls)).await
        } else {
            self.exchange(TokioIo::new(tcp)).await
        }
    }

    async fn exchange<IO>(&self, io: IO) -> Result<Bytes>
    where
        IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let t = &self.target;
        let (mut sender, conn) = hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(io)
            .await
            .map_err(|e| failed(t, format_args!("HTTP: {e}")))?;
        let mut request = Request::get(t.path_and_query.as_str())
            .header(hyper::header::HOST, t.authority.as_str())
            .header(hyper::header::USER_AGENT, USER_AGENT)
            .header(
                hyper::header::ACCEPT,
                "application/jwk-set+json, application/json",
            )
            .header(hyper::header::CONNECTION, "close")
            .body(Empty::new())
            .map_err(|e| failed(t, format_args!("cannot build the request: {e}")))?;
        // Caller headers replace the defaults (User-Agent, Accept).
        for name in self.headers.keys() {
            request.headers_mut().remove(name);
        }
        for (name, value) in &self.headers {
            request.headers_mut().append(name, value.clone());
        }
        let exchange = async move {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| failed(t, format_args!("HTTP: {e}")))?;
            let status = response.status();
            if status.is_redirection() {
                return Err(failed(
                    t,
                    format_args!(
                        "HTTP status {} (redirects are not followed: configure the final URL)",
                        status.as_u16()
                    ),
                ));
            }
            if status != StatusCode::OK {
                return Err(failed(t, format_args!("HTTP status {}", status.as_u16())));
            }
            let headers = response.headers();
            if let Some(enc) = headers.get(hyper::header::CONTENT_ENCODING) {
                if !enc.as_bytes().eq_ignore_ascii_case(b"identity") {
                    return Err(failed(t, "the answer is compressed (none was asked for)"));
                }
            }
            let declared = headers
                .get(hyper::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > self.max_size as u64) {
                return Err(self.too_large());
            }
            let body = Limited::new(response.into_body(), self.max_size)
                .collect()
                .await
                .map_err(|e| {
                    if e.downcast_ref::<LengthLimitError>().is_some() {
                        self.too_large()
                    } else {
                        failed(t, format_args!("reading the body: {e}"))
                    }
                })?;
            Ok(body.to_bytes())
        };
        tokio::pin!(exchange);
        tokio::pin!(conn);
        // Drive the connection and the exchange together; when the connection
        // ends first (the server closed it), the exchange still finishes with
        // the data or the error the connection left for it.
        tokio::select! {
            biased;
            r = &mut exchange => r,
            _ = &mut conn => exchange.await,
        }
    }

    fn too_large(&self) -> Error {
        failed(
            &self.target,
            format_args!("the answer is larger than {} bytes", self.max_size),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        let t = Target::parse(
            "https://idp.example.com/.well-known/jwks.json?x=secret",
            false,
        )
        .unwrap();
        assert_eq!(t.host, "idp.example.com");
        assert_eq!(t.port, 443);
        assert_eq!(t.path_and_query, "/.well-known/jwks.json?x=secret");
        assert_eq!(t.display(), "https://idp.example.com/.well-known/jwks.json");
        let t = Target::parse("https://[::1]:8443", false).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8443));
        assert_eq!(t.path_and_query, "/");
        assert!(Target::parse("http://idp.example.com/jwks", false).is_err());
        assert!(Target::parse("http://idp.example.com/jwks", true).is_ok());
        for bad in [
            "ftp://x/jwks",
            "/jwks",
            "https://user:pw@idp.example.com/jwks",
            "file:///etc/passwd",
            "",
        ] {
            let e = Target::parse(bad, true).err().unwrap();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{bad}");
            assert!(!e.message().contains("pw"));
        }
    }

    #[test]
    fn headers_are_checked() {
        let ok = [("X-Api-Key".to_owned(), "s3cr3t".to_owned())];
        assert_eq!(extra_headers(&ok).unwrap().len(), 1);
        for (n, v) in [("Host", "x"), ("bad name", "x"), ("X-A", "line\nbreak")] {
            let e = extra_headers(&[(n.to_owned(), v.to_owned())]).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument);
            assert!(!e.message().contains(v) || v == "x");
        }
    }

    #[test]
    fn ca_pem_must_hold_a_certificate() {
        assert!(tls_config(None).is_ok());
        assert_eq!(
            tls_config(Some(b"not pem")).unwrap_err().kind(),
            crate::ErrorKind::InvalidArgument
        );
    }
}
