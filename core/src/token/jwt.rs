//! Signing and verifying JSON Web Tokens (RFC 7519) in JWS compact form.
//!
//! Verification order, each step bounded and strict:
//! 1. the token's length is checked against [`Validation::max_token_size`]
//!    before anything else is done with it;
//! 2. it must have exactly three segments (dots are counted without allocating);
//! 3. the header is strict base64url of strict JSON (no duplicate names): `alg`
//!    must be a string naming an algorithm in the caller's explicit list that
//!    fits the key's family; `crit` must list only extensions the caller
//!    declared it understands; `jwk`/`jku`/`x5u`/`x5c` are never used to find a
//!    key; `b64: false` (unencoded payload) is refused;
//! 4. the signature is verified (constant time for HMAC; ECDSA in fixed
//!    `R || S` form only);
//! 5. only then is the payload decoded and parsed, and the claims checked:
//!    registered claims must have their JSON types, required claims must be
//!    present, `exp`/`nbf`/`iat` are compared with the injected clock and the
//!    leeway, and `aud`/`iss`/`sub`/`jti` must match exactly.

use super::algorithm::Algorithm;
use super::b64;
use super::json::{self, Object, Value};
use super::key::Key;
use crate::clock::Clock;
use crate::error::{err, Detail, Error, ErrorKind, Result};
use std::sync::Arc;

/// Default bound on the size of a token, in bytes.
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 8 * 1024;

/// Header parameters whose values are never used to select or build a key.
pub const UNTRUSTED_KEY_HEADERS: &[&str] = &["jwk", "jku", "x5u", "x5c"];

/// Header parameters defined by RFC 7515/7519; they may not appear in `crit`.
const REGISTERED_HEADERS: &[&str] = &[
    "alg", "jku", "jwk", "kid", "x5u", "x5c", "x5t", "x5t#S256", "typ", "cty", "crit", "enc", "zip",
];

/// What a verifier accepts. Built once, reused for every token.
#[derive(Debug, Clone)]
pub struct Validation {
    /// Accepted algorithms: an explicit, non-empty list, never taken from the token.
    pub algorithms: Vec<Algorithm>,
    /// Seconds of clock skew tolerated on `exp`, `nbf`, `iat` and `max_age`.
    pub leeway: f64,
    /// Reject tokens whose `exp` has passed.
    pub validate_exp: bool,
    /// Reject tokens whose `nbf` lies in the future.
    pub validate_nbf: bool,
    /// Reject tokens whose `iat` lies in the future.
    pub validate_iat: bool,
    /// Check `aud`: when no audience is configured, a token carrying `aud` is
    /// rejected (RFC 7519 §4.1.3).
    pub validate_aud: bool,
    /// Claims that must be present. Default: `["exp"]`.
    pub required_claims: Vec<String>,
    /// Accepted audiences: the token's `aud` must contain one of them.
    pub audience: Option<Vec<String>>,
    /// With `strict_aud`, `aud` must be a single string equal to the single
    /// configured audience (PyJWT's `strict_aud`).
    pub strict_aud: bool,
    /// Accepted issuers: `iss` must equal one of them.
    pub issuer: Option<Vec<String>>,
    /// Expected subject: `sub` must equal it.
    pub subject: Option<String>,
    /// Expected token id: `jti` must equal it.
    pub jti: Option<String>,
    /// Expected `nonce` (OpenID Connect ID tokens): the claim must equal it.
    pub nonce: Option<String>,
    /// Expected header `typ` (compared case-insensitively, `application/`
    /// prefix ignored, as RFC 7515 §4.1.9 describes).
    pub typ: Option<String>,
    /// Maximum age in seconds, measured from `iat` (which becomes required).
    pub max_age: Option<f64>,
    /// Upper bound on the token's length in bytes, checked before decoding.
    pub max_token_size: usize,
    /// `crit` header extensions the caller processes itself. Any other name in
    /// `crit` makes the token invalid.
    pub critical_extensions: Vec<String>,
    /// Accept HMAC secrets shorter than the hash output (never recommended).
    pub allow_weak_keys: bool,
}

impl Default for Validation {
    fn default() -> Self {
        Self {
            algorithms: Vec::new(),
            leeway: 0.0,
            validate_exp: true,
            validate_nbf: true,
            validate_iat: true,
            validate_aud: true,
            required_claims: vec!["exp".to_string()],
            audience: None,
            strict_aud: false,
            issuer: None,
            subject: None,
            jti: None,
            nonce: None,
            typ: None,
            max_age: None,
            max_token_size: DEFAULT_MAX_TOKEN_SIZE,
            critical_extensions: Vec::new(),
            allow_weak_keys: false,
        }
    }
}

impl Validation {
    /// Defaults with the given accepted algorithms.
    #[must_use]
    pub fn new(algorithms: &[Algorithm]) -> Self {
        Self {
            algorithms: algorithms.to_vec(),
            ..Self::default()
        }
    }

    /// Errors when the configuration cannot be used: no accepted algorithm, a
    /// negative or non-finite leeway or max age, or strict audience checking
    /// without exactly one audience. Every decode checks this too.
    pub fn validate(&self) -> Result<()> {
        if self.algorithms.is_empty() {
            return Err(err!(
                InvalidArgument,
                "the accepted algorithms must be listed explicitly (for example [\"HS256\"])"
            ));
        }
        if !(self.leeway.is_finite() && self.leeway >= 0.0) {
            return Err(err!(
                InvalidArgument,
                "leeway must be a non-negative number of seconds"
            ));
        }
        if let Some(m) = self.max_age {
            if !(m.is_finite() && m >= 0.0) {
                return Err(err!(
                    InvalidArgument,
                    "max_age must be a non-negative number of seconds"
                ));
            }
        }
        if self.strict_aud && self.audience.as_ref().is_some_and(|a| a.len() != 1) {
            return Err(err!(
                InvalidArgument,
                "strict audience checking needs exactly one expected audience"
            ));
        }
        Ok(())
    }
}

/// A decoded token: its header, its claims and the claims' exact JSON text.
#[derive(Debug, Clone)]
pub struct Token {
    /// The protected header (shared: tokens of one issuer share it).
    pub header: Arc<Object>,
    /// The claims set.
    pub claims: Object,
    /// The claims as the exact JSON text that was signed.
    pub claims_json: String,
    /// The algorithm named by the header.
    pub algorithm: Option<Algorithm>,
    /// The decoded signature bytes.
    pub signature: Vec<u8>,
}

struct Parts<'a> {
    signing_input: &'a [u8],
    header_b64: &'a [u8],
    payload_b64: &'a [u8],
    signature_b64: &'a [u8],
}

fn malformed(msg: &str) -> Error {
    Error::new(ErrorKind::MalformedToken, msg)
}

fn split(token: &[u8], max: usize) -> Result<Parts<'_>> {
    if token.len() > max {
        return Err(err!(MalformedToken, "the token is larger than {max} bytes"));
    }
    let mut dots = memchr::memchr_iter(b'.', token);
    let (Some(d1), Some(d2)) = (dots.next(), dots.next()) else {
        return Err(malformed("Not enough segments"));
    };
    if dots.next().is_some() {
        return Err(malformed("Too many segments"));
    }
    Ok(Parts {
        signing_input: &token[..d2],
        header_b64: &token[..d1],
        payload_b64: &token[d1 + 1..d2],
        signature_b64: &token[d2 + 1..],
    })
}

fn parse_header_uncached(b64: &[u8]) -> Result<Object> {
    let raw = b64::decode(b64).ok_or_else(|| malformed("Invalid header padding"))?;
    let header =
        json::parse_object(&raw).map_err(|e| err!(MalformedToken, "Invalid header string: {e}"))?;
    for name in ["alg", "typ", "cty", "kid"] {
        if let Some(v) = header.get(name) {
            if v.as_str().is_none() {
                return Err(err!(
                    MalformedToken,
                    "the header parameter {name:?} must be a string"
                ));
            }
        }
    }
    if header.get("alg").is_none() {
        return Err(malformed("the header has no \"alg\""));
    }
    match header.get("b64") {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            return Err(malformed(
                "unencoded payloads (\"b64\": false) are not supported for JWTs",
            ))
        }
        Some(_) => return Err(malformed("the header parameter \"b64\" must be a boolean")),
    }
    Ok(header)
}

/// Headers already parsed on this thread, by their exact base64url text: every
/// token of one issuer carries the same header segment. Only headers that
/// passed every rule above are kept; bounded; per thread, so no lock.
const HEADER_CACHE_CAPACITY: usize = 32;
const HEADER_CACHE_MAX_LEN: usize = 512;

thread_local! {
    static HEADERS: std::cell::RefCell<std::collections::HashMap<Box<[u8]>, Arc<Object>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn parse_header(b64: &[u8]) -> Result<Arc<Object>> {
    if b64.len() > HEADER_CACHE_MAX_LEN {
        return parse_header_uncached(b64).map(Arc::new);
    }
    if let Some(h) = HEADERS.with(|c| c.borrow().get(b64).cloned()) {
        return Ok(h);
    }
    let header = Arc::new(parse_header_uncached(b64)?);
    HEADERS.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= HEADER_CACHE_CAPACITY {
            c.clear();
        }
        c.insert(b64.into(), Arc::clone(&header));
    });
    Ok(header)
}

fn check_crit(header: &Object, understood: &[String]) -> Result<()> {
    let Some(crit) = header.get("crit") else {
        return Ok(());
    };
    let Value::Array(names) = crit else {
        return Err(malformed("\"crit\" must be an array of strings"));
    };
    if names.is_empty() {
        return Err(malformed("\"crit\" must not be empty"));
    }
    let mut seen: Vec<&str> = Vec::with_capacity(names.len());
    for n in names {
        let n = n
            .as_str()
            .ok_or_else(|| malformed("\"crit\" must be an array of strings"))?;
        if seen.contains(&n) {
            return Err(malformed("\"crit\" lists a name twice"));
        }
        seen.push(n);
        if REGISTERED_HEADERS.contains(&n) {
            return Err(err!(
                MalformedToken,
                "\"crit\" may not list the registered header {n:?}"
            ));
        }
        if !header.contains(n) {
            return Err(err!(
                MalformedToken,
                "\"crit\" lists {n:?}, which the header does not contain"
            ));
        }
        if !understood.iter().any(|u| u == n) {
            return Err(err!(
                MalformedToken,
                "Unsupported critical extension: {n:?}"
            ));
        }
    }
    Ok(())
}

fn header_alg(header: &Object) -> &str {
    header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// A verified JWS whose payload has not been interpreted.
#[derive(Debug, Clone)]
pub struct Jws {
    /// The protected header (shared: tokens of one issuer share it).
    pub header: Arc<Object>,
    /// The algorithm that verified.
    pub algorithm: Algorithm,
    /// The decoded payload bytes.
    pub payload: Vec<u8>,
}

/// Verifies a JWS in compact form (steps 1-4 above) without interpreting the
/// payload as a claims set: header, `crit`, `typ`, algorithm list, key family
/// and signature are all checked.
pub fn verify_jws(token: &[u8], key: &Key, validation: &Validation) -> Result<Jws> {
    validation.validate()?;
    let parts = split(token, validation.max_token_size)?;
    let (header, algorithm, _) = verify_parts(&parts, key, validation)?;
    let payload =
        b64::decode(parts.payload_b64).ok_or_else(|| malformed("Invalid payload padding"))?;
    Ok(Jws {
        header,
        algorithm,
        payload,
    })
}

fn verify_parts(
    parts: &Parts<'_>,
    key: &Key,
    validation: &Validation,
) -> Result<(Arc<Object>, Algorithm, Vec<u8>)> {
    let header = parse_header(parts.header_b64)?;
    let alg = check_header(&header, key, validation)?;
    let signature =
        b64::decode(parts.signature_b64).ok_or_else(|| malformed("Invalid crypto padding"))?;
    key.verify(
        alg,
        parts.signing_input,
        &signature,
        validation.allow_weak_keys,
    )?;
    Ok((header, alg, signature))
}

/// The header rules that depend on the caller's configuration and key:
/// `crit`, the accepted algorithms, the key family (and HMAC strength), `typ`.
/// Returns the algorithm to verify with.
pub(crate) fn check_header(
    header: &Object,
    key: &Key,
    validation: &Validation,
) -> Result<Algorithm> {
    check_crit(header, &validation.critical_extensions)?;
    let alg = Algorithm::from_name(header_alg(header))
        .filter(|a| validation.algorithms.contains(a))
        .ok_or_else(|| err!(InvalidAlgorithm, "The specified alg value is not allowed"))?;
    key.ensure_usable(alg, validation.allow_weak_keys)?;
    check_typ(header, validation.typ.as_deref())?;
    Ok(alg)
}

/// Splits, bounds and verifies `token`, then parses its claims, without the
/// claim checks (shared by [`decode`] and the verified-token cache).
pub(crate) fn verify_token(token: &[u8], key: &Key, validation: &Validation) -> Result<Token> {
    validation.validate()?;
    let parts = split(token, validation.max_token_size)?;
    let (header, alg, signature) = verify_parts(&parts, key, validation)?;
    let (claims, claims_json) = parse_payload(parts.payload_b64)?;
    Ok(Token {
        header,
        claims,
        claims_json,
        algorithm: Some(alg),
        signature,
    })
}

/// Bounds a token's size and checks it has three segments (no decoding).
pub(crate) fn check_shape(token: &[u8], max_token_size: usize) -> Result<()> {
    split(token, max_token_size).map(|_| ())
}

/// Verifies a token and checks its claims with `clock`'s time.
pub fn decode(
    token: &[u8],
    key: &Key,
    validation: &Validation,
    clock: &dyn Clock,
) -> Result<Token> {
    let t = verify_token(token, key, validation)?;
    validate_claims(&t.claims, validation, clock.now_secs())?;
    Ok(t)
}

/// Decodes a token WITHOUT verifying its signature or claims. The same strict
/// parsing and size bound apply. Use only to read a header (e.g. `kid`) before
/// choosing a key, or to inspect a token already verified elsewhere.
pub fn decode_unverified(token: &[u8], max_token_size: usize) -> Result<Token> {
    let parts = split(token, max_token_size)?;
    let header = parse_header(parts.header_b64)?;
    let signature =
        b64::decode(parts.signature_b64).ok_or_else(|| malformed("Invalid crypto padding"))?;
    let (claims, claims_json) = parse_payload(parts.payload_b64)?;
    let algorithm = Algorithm::from_name(header_alg(&header));
    Ok(Token {
        header,
        claims,
        claims_json,
        algorithm,
        signature,
    })
}

/// Decodes only the header, without verification (strict parsing, size bound).
pub fn decode_header(token: &[u8], max_token_size: usize) -> Result<Object> {
    let parts = split(token, max_token_size)?;
    parse_header(parts.header_b64).map(|h| (*h).clone())
}

fn parse_payload(b64: &[u8]) -> Result<(Object, String)> {
    let raw = b64::decode(b64).ok_or_else(|| malformed("Invalid payload padding"))?;
    let claims = json::parse_object(&raw)
        .map_err(|e| err!(MalformedToken, "Invalid payload string: {e}"))?;
    // parse_object has proven the bytes are UTF-8.
    let text =
        String::from_utf8(raw).map_err(|_| malformed("Invalid payload string: invalid UTF-8"))?;
    Ok((claims, text))
}

fn normalize_typ(t: &str) -> String {
    let t = t.to_ascii_lowercase();
    match t.strip_prefix("application/") {
        Some(rest) => rest.to_string(),
        None => t,
    }
}

fn check_typ(header: &Object, expected: Option<&str>) -> Result<()> {
    let Some(expected) = expected else {
        return Ok(());
    };
    match header.get("typ").and_then(Value::as_str) {
        Some(t) if normalize_typ(t) == normalize_typ(expected) => Ok(()),
        Some(_) => Err(err!(InvalidTokenType, "unexpected \"typ\" header")),
        None => Err(err!(
            InvalidTokenType,
            "the header has no \"typ\"; expected {expected:?}"
        )),
    }
}

fn numeric(claims: &Object, name: &str) -> Option<f64> {
    claims
        .get(name)
        .and_then(Value::as_number)
        .map(json::Number::as_f64)
}

/// Checks the JSON types of the registered claims present in `claims`:
/// `exp`, `nbf`, `iat` numbers; `iss`, `sub`, `jti` strings; `aud` a string or
/// an array of strings. Used when verifying and when signing.
pub fn check_registered_claim_types(claims: &Object) -> Result<()> {
    for (name, kind, msg) in [
        (
            "exp",
            ErrorKind::MalformedToken,
            "Expiration Time claim (exp) must be a number.",
        ),
        (
            "nbf",
            ErrorKind::MalformedToken,
            "Not Before claim (nbf) must be a number.",
        ),
        (
            "iat",
            ErrorKind::InvalidIssuedAt,
            "Issued At claim (iat) must be a number.",
        ),
    ] {
        if let Some(v) = claims.get(name) {
            if v.as_number().is_none() {
                return Err(Error::new(kind, msg).with_detail(Detail::Claim(name.into())));
            }
        }
    }
    for (name, kind, msg) in [
        (
            "iss",
            ErrorKind::InvalidIssuer,
            "Issuer (iss) must be a string.",
        ),
        (
            "sub",
            ErrorKind::InvalidSubject,
            "Subject (sub) must be a string.",
        ),
        (
            "jti",
            ErrorKind::InvalidJti,
            "JWT ID (jti) must be a string.",
        ),
    ] {
        if let Some(v) = claims.get(name) {
            if v.as_str().is_none() {
                return Err(Error::new(kind, msg).with_detail(Detail::Claim(name.into())));
            }
        }
    }
    if let Some(aud) = claims.get("aud") {
        let ok = match aud {
            Value::String(_) => true,
            Value::Array(items) => items.iter().all(|i| i.as_str().is_some()),
            _ => false,
        };
        if !ok {
            return Err(
                Error::new(ErrorKind::InvalidAudience, "Invalid claim format in token")
                    .with_detail(Detail::Claim("aud".into())),
            );
        }
    }
    Ok(())
}

fn missing(name: &str) -> Error {
    Error::new(
        ErrorKind::MissingClaim,
        format!("Token is missing the \"{name}\" claim"),
    )
    .with_detail(Detail::Claim(name.into()))
}

/// Checks a claims set against `validation` at time `now` (seconds since the
/// epoch). Exposed separately so callers that decoded without verification can
/// still apply claim rules.
pub fn validate_claims(claims: &Object, v: &Validation, now: f64) -> Result<()> {
    check_registered_claim_types(claims)?;
    for name in &v.required_claims {
        if !claims.contains(name) {
            return Err(missing(name));
        }
    }
    let leeway = v.leeway;
    if v.validate_iat {
        if let Some(iat) = numeric(claims, "iat") {
            if iat > now + leeway {
                return Err(Error::new(
                    ErrorKind::TokenNotYetValid,
                    "The token is not yet valid (iat)",
                )
                .with_detail(Detail::At(iat))
                .with_detail(Detail::Claim("iat".into())));
            }
        }
    }
    if v.validate_nbf {
        if let Some(nbf) = numeric(claims, "nbf") {
            if nbf > now + leeway {
                return Err(Error::new(
                    ErrorKind::TokenNotYetValid,
                    "The token is not yet valid (nbf)",
                )
                .with_detail(Detail::At(nbf))
                .with_detail(Detail::Claim("nbf".into())));
            }
        }
    }
    if v.validate_exp {
        if let Some(exp) = numeric(claims, "exp") {
            if now >= exp + leeway {
                return Err(Error::new(ErrorKind::TokenExpired, "Signature has expired")
                    .with_detail(Detail::At(exp))
                    .with_detail(Detail::Claim("exp".into())));
            }
        }
    }
    if let Some(max_age) = v.max_age {
        let iat = numeric(claims, "iat").ok_or_else(|| missing("iat"))?;
        if now >= iat + max_age + leeway {
            return Err(Error::new(ErrorKind::TokenExpired, "maxAge exceeded")
                .with_detail(Detail::At(iat + max_age))
                .with_detail(Detail::Claim("iat".into())));
        }
    }
    if let Some(issuers) = &v.issuer {
        let iss = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("iss"))?;
        if !issuers.iter().any(|i| i == iss) {
            return Err(Error::new(ErrorKind::InvalidIssuer, "Invalid issuer")
                .with_detail(Detail::Claim("iss".into())));
        }
    }
    if v.validate_aud {
        check_audience(claims, v)?;
    }
    if let Some(sub) = &v.subject {
        let got = claims
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("sub"))?;
        if got != sub {
            return Err(Error::new(ErrorKind::InvalidSubject, "Invalid subject")
                .with_detail(Detail::Claim("sub".into())));
        }
    }
    if let Some(jti) = &v.jti {
        let got = claims
            .get("jti")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("jti"))?;
        if got != jti {
            return Err(Error::new(ErrorKind::InvalidJti, "Invalid jti")
                .with_detail(Detail::Claim("jti".into())));
        }
    }
    if let Some(nonce) = &v.nonce {
        let got = claims
            .get("nonce")
            .and_then(Value::as_str)
            .ok_or_else(|| missing("nonce"))?;
        if got != nonce {
            return Err(Error::new(ErrorKind::InvalidNonce, "Invalid nonce")
                .with_detail(Detail::Claim("nonce".into())));
        }
    }
    Ok(())
}

fn check_audience(claims: &Object, v: &Validation) -> Result<()> {
    let bad = || {
        Error::new(ErrorKind::InvalidAudience, "Invalid audience")
            .with_detail(Detail::Claim("aud".into()))
    };
    let Some(expected) = &v.audience else {
        // RFC 7519 §4.1.3: a token meant for named audiences is rejected by a
        // verifier that does not identify itself with one of them.
        return if claims.contains("aud") {
            Err(bad())
        } else {
            Ok(())
        };
    };
    let aud = claims.get("aud").ok_or_else(|| missing("aud"))?;
    if v.strict_aud {
        return match aud {
            Value::String(s) if expected.iter().any(|e| e == s) => Ok(()),
            Value::String(_) => Err(Error::new(
                ErrorKind::InvalidAudience,
                "Audience doesn't match",
            )
            .with_detail(Detail::Claim("aud".into()))),
            _ => Err(
                Error::new(ErrorKind::InvalidAudience, "Invalid claim format in token")
                    .with_detail(Detail::Claim("aud".into())),
            ),
        };
    }
    let matches = match aud {
        Value::String(s) => expected.iter().any(|e| e == s),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .any(|s| expected.iter().any(|e| e == s)),
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(bad())
    }
}

/// How to build a token's header.
#[derive(Debug, Clone)]
pub struct Header {
    /// The signing algorithm (written as `alg`).
    pub algorithm: Algorithm,
    /// `typ`; default `"JWT"`; `None` leaves it out.
    pub typ: Option<String>,
    /// `kid`; defaults to the key's own id when `None`.
    pub kid: Option<String>,
    /// Further header parameters. `alg` here must agree with `algorithm`;
    /// `crit` and `b64` are refused.
    pub extra: Object,
}

impl Header {
    /// A header for `algorithm` with `typ: "JWT"`.
    #[must_use]
    pub fn new(algorithm: Algorithm) -> Self {
        Self {
            algorithm,
            typ: Some("JWT".to_string()),
            kid: None,
            extra: Object::new(),
        }
    }
}

/// Signs the claims set `claims_json` (a JSON object, kept byte for byte) with
/// `key`. Registered claims must have their JSON types. Header members are
/// written in sorted order, as PyJWT does.
pub fn encode(
    header: &Header,
    claims_json: &str,
    key: &Key,
    allow_weak_keys: bool,
) -> Result<String> {
    let claims = json::parse_object(claims_json.as_bytes())
        .map_err(|e| err!(InvalidArgument, "the payload must be a JSON object: {e}"))?;
    check_registered_claim_types(&claims)
        .map_err(|e| Error::new(ErrorKind::InvalidArgument, e.message()))?;
    let alg = header.algorithm;
    key.ensure_fits(alg)?;
    let mut h = header.extra.clone();
    for forbidden in ["crit", "b64"] {
        if h.contains(forbidden) {
            return Err(err!(
                InvalidArgument,
                "the header parameter {forbidden:?} cannot be set"
            ));
        }
    }
    match h.remove("alg") {
        None => {}
        Some(Value::String(a)) if a == alg.name() => {}
        Some(_) => {
            return Err(err!(
                InvalidArgument,
                "the header's \"alg\" differs from the signing algorithm {alg}"
            ))
        }
    }
    h.insert("alg", Value::String(alg.name().to_string()));
    for name in ["kid", "typ", "cty"] {
        if h.get(name).is_some_and(|v| v.as_str().is_none()) {
            return Err(err!(
                InvalidArgument,
                "the header parameter {name:?} must be a string"
            ));
        }
    }
    match &header.typ {
        Some(t) => h.insert("typ", Value::String(t.clone())),
        None => {
            h.remove("typ");
        }
    }
    // An explicit kid (argument, then extra header) wins over the key's own.
    if let Some(kid) = header.kid.as_deref() {
        h.insert("kid", Value::String(kid.to_string()));
    } else if !h.contains("kid") {
        if let Some(kid) = key.kid() {
            h.insert("kid", Value::String(kid.to_string()));
        }
    }
    h.sort();
    let mut header_json = String::with_capacity(64);
    json::write_object(&h, &mut header_json);
    let mut out =
        String::with_capacity(header_json.len() * 4 / 3 + claims_json.len() * 4 / 3 + 350);
    b64::encode_into(header_json.as_bytes(), &mut out);
    out.push('.');
    b64::encode_into(claims_json.as_bytes(), &mut out);
    let signature = key.sign(alg, out.as_bytes(), allow_weak_keys)?;
    out.push('.');
    b64::encode_into(&signature, &mut out);
    Ok(out)
}
