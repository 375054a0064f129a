//! The HTTP rules every web integration shares: which methods a rule covers,
//! how a request's rate-limit key is composed, and the answer each bastion
//! error or denied [`Decision`] maps to (RFC 9457 problem details).
//!
//! The Django, FastAPI and Express integrations call these functions and only
//! read requests and write responses, so a Python and a Node service sharing
//! one Redis count the same request under the same key and answer a refusal
//! with the same bytes.
//!
//! Guarantees:
//! - **Method categories** are fixed: `read` = GET, HEAD, OPTIONS; `write` =
//!   POST, PUT, PATCH, DELETE; `any` (also spelt `all`) = every method. A
//!   list names methods (RFC 9110 tokens, upper-cased).
//! - **Keys** are injective and bounded: each part is its prefix (`ip:`,
//!   `user:`, `anon:`, `route:`) and its text; a text over
//!   [`MAX_KEY_PART`] bytes, or one holding the separator `|`, or starting
//!   with `sha256:`, is replaced by `sha256:<hex digest>`; parts are joined
//!   with `|`.
//! - **Credentials** are read from an `Authorization` header as RFC 9110
//!   §11.4 and RFC 6750 §2.1 write them: a scheme (compared
//!   case-insensitively), whitespace, one token without whitespace, nothing
//!   after.
//! - **Answers** are `application/problem+json` with the members `type`,
//!   `title` (the RFC 9110 reason phrase), `status`, `detail`, `code` and,
//!   when a retry delay applies, `retry_after` (whole seconds, rounded up, at
//!   least 1), which is also the `Retry-After` header. Header names and values
//!   are checked (no CR, LF or NUL: no response splitting). Details name the
//!   kind of failure only, never the token, the key or a claim.

use std::fmt::Write as _;

use crate::error::{Error, ErrorKind, Result};
use crate::ratelimit::Decision;
use crate::token::json;

/// The media type of problem details (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";
/// The `read` category.
pub const READ_METHODS: &[&str] = &["GET", "HEAD", "OPTIONS"];
/// The `write` category.
pub const WRITE_METHODS: &[&str] = &["POST", "PUT", "PATCH", "DELETE"];
/// The longest key part text kept as is (bytes); longer ones are digested.
pub const MAX_KEY_PART: usize = 256;
/// The longest `detail` a problem accepts (bytes).
pub const MAX_DETAIL: usize = 1024;
/// The longest JSON text of a problem's extension members (bytes).
pub const MAX_EXTRA: usize = 64 * 1024;
/// The longest method name accepted.
const MAX_METHOD: usize = 32;
/// The most methods a list may name.
const MAX_METHODS: usize = 64;
/// The most parts a key may have.
const MAX_KEY_PARTS: usize = 16;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

// ---- methods ----------------------------------------------------------------------------------

/// Whether `s` is an RFC 9110 token (the syntax of a method and of a header name).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// The request methods a rule covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Methods {
    /// Every method.
    Any,
    /// These methods (upper-case, sorted, distinct).
    Only(Vec<String>),
}

impl Methods {
    /// A category: `"read"`, `"write"` or `"any"` (`"all"` is the same).
    pub fn category(name: &str) -> Result<Self> {
        let of = |list: &[&str]| Self::Only(sorted(list.iter().map(|m| (*m).to_owned())));
        match name {
            "read" => Ok(of(READ_METHODS)),
            "write" => Ok(of(WRITE_METHODS)),
            "any" | "all" => Ok(Self::Any),
            _ => Err(invalid(
                "methods is 'read', 'write', 'any' or a list of methods",
            )),
        }
    }

    /// A list of method names (RFC 9110 tokens, compared upper-cased); not empty.
    pub fn list<S: AsRef<str>>(methods: &[S]) -> Result<Self> {
        if methods.is_empty() || methods.len() > MAX_METHODS {
            return Err(invalid(format!(
                "a list of methods names 1 to {MAX_METHODS} methods"
            )));
        }
        let mut out = Vec::with_capacity(methods.len());
        for m in methods {
            let m = m.as_ref();
            if m.len() > MAX_METHOD || !is_token(m) {
                return Err(invalid("a method is a word such as 'GET' or 'POST'"));
            }
            out.push(m.to_ascii_uppercase());
        }
        Ok(Self::Only(sorted(out.into_iter())))
    }

    /// Whether the rule covers `method` (compared upper-cased).
    #[must_use]
    pub fn matches(&self, method: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Only(list) => list.iter().any(|m| m.eq_ignore_ascii_case(method)),
        }
    }

    /// The methods, or `None` for every method.
    #[must_use]
    pub fn names(&self) -> Option<&[String]> {
        match self {
            Self::Any => None,
            Self::Only(list) => Some(list),
        }
    }
}

fn sorted(it: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = it.collect();
    v.sort_unstable();
    v.dedup();
    v
}

// ---- rate-limit keys --------------------------------------------------------------------------

/// One part of a request's rate-limit key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPart {
    /// `ip:<client key>`: the client address behind the trusted proxies.
    Ip,
    /// `user:<id>` for an authenticated request, else `anon:<client key>`
    /// (Django REST framework's rule).
    User,
    /// `route:<METHOD> <route template or path>`.
    Route,
    /// `global`: one count for every request.
    Global,
    /// A value the application computed (a tenant, an API key id): its text.
    Value,
}

impl KeyPart {
    /// A named part: `"ip"`, `"user"`, `"route"` or `"global"` (a
    /// [`KeyPart::Value`] has no name: the application supplies its text).
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "ip" => Ok(Self::Ip),
            "user" => Ok(Self::User),
            "route" => Ok(Self::Route),
            "global" => Ok(Self::Global),
            _ => Err(invalid(
                "a key part is 'ip', 'user', 'route', 'global' or a function of the request",
            )),
        }
    }

    /// The part's name; `None` for a value.
    #[must_use]
    pub const fn name(self) -> Option<&'static str> {
        match self {
            Self::Ip => Some("ip"),
            Self::User => Some("user"),
            Self::Route => Some("route"),
            Self::Global => Some("global"),
            Self::Value => None,
        }
    }

    /// Checks the number of parts of a key: 1 to 16.
    pub fn check_count(n: usize) -> Result<()> {
        if n == 0 || n > MAX_KEY_PARTS {
            return Err(invalid(format!("a key has 1 to {MAX_KEY_PARTS} parts")));
        }
        Ok(())
    }
}

/// What a request contributes to its key.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyFacts<'a> {
    /// The client's key ([`crate::netaddr`]'s client key).
    pub client: &'a str,
    /// The authenticated user's id, if any.
    pub user: Option<&'a str>,
    /// The request method.
    pub method: &'a str,
    /// The route template, else the path (without the query).
    pub route: &'a str,
    /// The values of the [`KeyPart::Value`] parts, in order.
    pub values: &'a [&'a str],
}

/// Appends `text`, or `sha256:<hex>` when it is long, holds the separator or
/// could be mistaken for a digest.
fn push_bounded(out: &mut String, text: &str) {
    if text.len() <= MAX_KEY_PART && !text.contains('|') && !text.starts_with("sha256:") {
        out.push_str(text);
        return;
    }
    out.push_str("sha256:");
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes());
    for b in d.as_ref() {
        let _ = write!(out, "{b:02x}");
    }
}

/// The rate-limit key of a request: each part's prefix and bounded text,
/// joined with `|`. Fails when a part needs a fact the request lacks (an
/// empty client, method or route, a missing or empty value) or when values
/// are left over.
pub fn rate_limit_key(parts: &[KeyPart], facts: &KeyFacts<'_>) -> Result<String> {
    KeyPart::check_count(parts.len())?;
    let needs = |what: &str, v: &str| {
        if v.is_empty() {
            Err(invalid(format!("this key needs the request's {what}")))
        } else {
            Ok(())
        }
    };
    let mut out = String::with_capacity(64);
    let mut values = facts.values.iter();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        match part {
            KeyPart::Ip => {
                needs("client", facts.client)?;
                out.push_str("ip:");
                push_bounded(&mut out, facts.client);
            }
            KeyPart::User => match facts.user {
                Some(user) if !user.is_empty() => {
                    out.push_str("user:");
                    push_bounded(&mut out, user);
                }
                _ => {
                    needs("client", facts.client)?;
                    out.push_str("anon:");
                    push_bounded(&mut out, facts.client);
                }
            },
            KeyPart::Route => {
                needs("method", facts.method)?;
                needs("route", facts.route)?;
                out.push_str("route:");
                let text = format!("{} {}", facts.method.to_ascii_uppercase(), facts.route);
                push_bounded(&mut out, &text);
            }
            KeyPart::Global => out.push_str("global"),
            KeyPart::Value => match values.next() {
                Some(v) if !v.is_empty() => push_bounded(&mut out, v),
                Some(_) => return Err(invalid("a key value must be a non-empty string")),
                None => return Err(invalid("fewer key values than value parts")),
            },
        }
    }
    if values.next().is_some() {
        return Err(invalid("more key values than value parts"));
    }
    Ok(out)
}

// ---- credentials ------------------------------------------------------------------------------

/// What an `Authorization` header holds for token authentication.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// The token of one of the accepted schemes.
    Token(&'a str),
    /// Credentials of another scheme (`Basic ...`): not this authenticator's.
    OtherScheme,
}

/// Reads the token of an `Authorization` header whose scheme is one of
/// `schemes` (compared case-insensitively, as RFC 9110 says). Fails with
/// `MALFORMED_TOKEN` for an empty header, or for a scheme of `schemes`
/// without exactly one token after it (`Bearer`, `Bearer a b`); the error
/// never quotes the header.
pub fn authorization_token<'a, S: AsRef<str>>(
    header: &'a str,
    schemes: &[S],
) -> Result<Credentials<'a>> {
    if schemes.is_empty() || schemes.iter().any(|s| !is_token(s.as_ref())) {
        return Err(invalid(
            "the header types are words such as 'Bearer' (at least one)",
        ));
    }
    let malformed = || {
        Error::new(
            ErrorKind::MalformedToken,
            "malformed authorization header: expected '<type> <token>'",
        )
    };
    let mut parts = header.split_ascii_whitespace();
    let scheme = parts.next().ok_or_else(malformed)?;
    if !schemes
        .iter()
        .any(|s| s.as_ref().eq_ignore_ascii_case(scheme))
    {
        return Ok(Credentials::OtherScheme);
    }
    match (parts.next(), parts.next()) {
        (Some(token), None) => Ok(Credentials::Token(token)),
        _ => Err(malformed()),
    }
}

// ---- roles -------------------------------------------------------------------------------------

/// The roles a claim holds: a list (its string items), or a string of
/// roles separated by whitespace (OAuth 2.0's `scope` form).
#[derive(Clone, Copy, Debug)]
pub enum RoleClaim<'a, S: AsRef<str>> {
    /// A string: roles separated by whitespace.
    Text(&'a str),
    /// A list: its string items (other items hold no role).
    List(&'a [S]),
    /// Absent, or of another type: no role.
    None,
}

/// Whether `held` holds one of `wanted` (compared exactly). A role check
/// without a wanted role is refused where it is built, not here: an empty
/// `wanted` holds nothing.
#[must_use]
pub fn holds_role<S: AsRef<str>, W: AsRef<str>>(held: RoleClaim<'_, S>, wanted: &[W]) -> bool {
    let wants = |r: &str| !r.is_empty() && wanted.iter().any(|w| w.as_ref() == r);
    match held {
        RoleClaim::Text(t) => t.split_whitespace().any(wants),
        RoleClaim::List(list) => list.iter().any(|r| wants(r.as_ref())),
        RoleClaim::None => false,
    }
}

// ---- answers ----------------------------------------------------------------------------------

/// The reason phrase of a 4xx or 5xx status (RFC 9110 and the RFCs that
/// registered the others), or `None` for a status this module does not answer.
#[must_use]
pub fn reason_phrase(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => return None,
    })
}

/// `Retry-After` as whole seconds: rounded up, at least 1 (RFC 9110
/// §10.2.3). Fails for a negative or non-finite delay.
pub fn retry_after_seconds(retry_after: f64) -> Result<u64> {
    if !retry_after.is_finite() || retry_after < 0.0 {
        return Err(invalid(
            "retry_after is a finite, non-negative number of seconds",
        ));
    }
    // `as` saturates: a delay beyond u64 seconds is u64::MAX.
    Ok((retry_after.ceil() as u64).max(1))
}

/// A ready HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The headers, in order; `Content-Type` last.
    pub headers: Vec<(String, String)>,
    /// The `application/problem+json` body.
    pub body: String,
    /// The stable error code (`RATE_LIMITED`, `TOKEN_EXPIRED`...).
    pub code: String,
    /// The detail: the kind of failure.
    pub detail: String,
}

const STANDARD_MEMBERS: &[&str] = &["type", "title", "status", "detail", "code", "retry_after"];

fn check_header(name: &str, value: &str) -> Result<()> {
    if !is_token(name) || name.len() > 256 {
        return Err(invalid("a header name is a token such as 'X-Request-Id'"));
    }
    if value.len() > 8192 || value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        return Err(invalid(
            "a header value has at most 8192 bytes and no CR, LF or NUL",
        ));
    }
    Ok(())
}

fn check_code(code: &str) -> Result<()> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "a problem code is upper-case letters, digits and '_' (at most 64)",
        ))
    }
}

/// An `application/problem+json` answer (RFC 9457): `type` `about:blank`,
/// `title` the status's reason phrase, `status`, `detail`, `code`, and
/// `retry_after` (also the `Retry-After` header) when given; then the
/// members of `extra` (a JSON object whose members must not reuse those
/// names). `headers` come first (a `Retry-After` or `Content-Type` among
/// them is replaced), `Content-Type` last.
pub fn problem(
    status: u16,
    detail: &str,
    code: &str,
    retry_after: Option<f64>,
    headers: &[(String, String)],
    extra: Option<&str>,
) -> Result<Answer> {
    let title = match reason_phrase(status) {
        Some(t) => t,
        None => {
            return Err(invalid(
                "a problem status is a registered 4xx or 5xx HTTP status",
            ))
        }
    };
    if detail.is_empty() || detail.len() > MAX_DETAIL {
        return Err(invalid(format!(
            "a problem detail has 1 to {MAX_DETAIL} bytes"
        )));
    }
    check_code(code)?;
    let seconds = retry_after.map(retry_after_seconds).transpose()?;
    let mut body = String::with_capacity(160 + detail.len());
    body.push_str("{\"type\":\"about:blank\",\"title\":");
    json::write_str(title, &mut body);
    let _ = write!(body, ",\"status\":{status},\"detail\":");
    json::write_str(detail, &mut body);
    body.push_str(",\"code\":");
    json::write_str(code, &mut body);
    if let Some(s) = seconds {
        let _ = write!(body, ",\"retry_after\":{s}");
    }
    if let Some(extra) = extra {
        if extra.len() > MAX_EXTRA {
            return Err(invalid(format!(
                "a problem's extension members take at most {MAX_EXTRA} bytes of JSON"
            )));
        }
        let members = json::parse_object(extra.as_bytes())
            .map_err(|e| invalid(format!("a problem's extension members: {e}")))?;
        for (name, value) in members.iter() {
            if STANDARD_MEMBERS.contains(&name) {
                return Err(invalid(format!(
                    "the extension member {name:?} would replace a standard member"
                )));
            }
            body.push(',');
            json::write_str(name, &mut body);
            body.push(':');
            json::write_value(value, &mut body);
        }
    }
    body.push('}');

    let mut out = Vec::with_capacity(headers.len() + 2);
    for (name, value) in headers {
        check_header(name, value)?;
        let replaced = name.eq_ignore_ascii_case("content-type")
            || (seconds.is_some() && name.eq_ignore_ascii_case("retry-after"));
        if !replaced {
            out.push((name.clone(), value.clone()));
        }
    }
    if let Some(s) = seconds {
        out.push(("Retry-After".to_owned(), s.to_string()));
    }
    out.push(("Content-Type".to_owned(), PROBLEM_JSON.to_owned()));
    Ok(Answer {
        status,
        headers: out,
        body,
        code: code.to_owned(),
        detail: detail.to_owned(),
    })
}

/// Appends `s` as an RFC 9110 quoted-string.
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// 401 with `WWW-Authenticate: Bearer`, and with `error` and
/// `error_description` when a token was sent (RFC 6750 §3: `error` is
/// `None` for a request without credentials).
pub fn unauthorized(detail: &str, code: &str, error: Option<&str>) -> Result<Answer> {
    let challenge = match error {
        None => "Bearer".to_owned(),
        Some(e) => {
            let ok = !e.is_empty()
                && e.len() <= 64
                && e.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            if !ok {
                return Err(invalid(
                    "an RFC 6750 error is a lower-case code such as 'invalid_token'",
                ));
            }
            let mut c = String::with_capacity(48 + detail.len());
            c.push_str("Bearer error=");
            push_quoted(&mut c, e);
            c.push_str(", error_description=");
            push_quoted(&mut c, detail);
            c
        }
    };
    problem(
        401,
        detail,
        code,
        None,
        &[("WWW-Authenticate".to_owned(), challenge)],
        None,
    )
}

/// The detail of a token failure, by code.
fn token_reason(code: &str) -> Option<&'static str> {
    Some(match code {
        "TOKEN_EXPIRED" => "the token has expired",
        "TOKEN_NOT_YET_VALID" | "INVALID_ISSUED_AT" => "the token is not valid yet",
        "TOKEN_REUSED" | "TOKEN_ALREADY_ROTATED" => "the token was already used",
        "TOKEN_REVOKED" => "the token was revoked",
        "INVALID_TOKEN_TYPE" => "the token is not an access token",
        "INVALID_AUDIENCE" => "the token is not for this audience",
        "INVALID_ISSUER" => "the token is not from a trusted issuer",
        "INVALID_ALGORITHM" => "the token's algorithm is not accepted",
        "INVALID_SIGNATURE" => "the token's signature is not valid",
        "MISSING_CLAIM" => "the token lacks a required claim",
        "MALFORMED_TOKEN" => "the token is malformed",
        "INVALID_SUBJECT" | "INVALID_JTI" | "INVALID_NONCE" | "INVALID_TOKEN" | "KEY_NOT_FOUND" => {
            "the token is not valid"
        }
        _ => return None,
    })
}

/// The answer to a bastion error, by its code (`None` for a code that is
/// not the caller's doing, such as `INVALID_KEY` or `INTERNAL`: a server
/// error the framework answers itself):
///
/// | Code | Status |
/// |---|---|
/// | `RATE_LIMITED` | 429, `Retry-After` |
/// | `ACCOUNT_LOCKED` | `lockout_status` (429, 423, 403...), `Retry-After` |
/// | `CIRCUIT_OPEN` | 503, `Retry-After` |
/// | `STORE_UNAVAILABLE`, `JWKS_FETCH_FAILED` | 503, `Retry-After: 1` |
/// | `PERMISSION_DENIED` | 403 |
/// | `INVALID_API_KEY`, `API_KEY_EXPIRED`, `API_KEY_REVOKED` | 401 |
/// | token failures (`TOKEN_EXPIRED`, `INVALID_SIGNATURE`...) | 401, `WWW-Authenticate` |
///
/// `retry_after` is the error's own delay (1 s when it has none, or one that
/// is not a finite, non-negative number).
pub fn answer_for(
    code: &str,
    retry_after: Option<f64>,
    lockout_status: u16,
) -> Result<Option<Answer>> {
    if !(400..500).contains(&lockout_status) || reason_phrase(lockout_status).is_none() {
        return Err(invalid(
            "the lockout status is a 4xx status such as 429 (the default), 423 or 403",
        ));
    }
    // The delay comes from an error object: one that is not a finite,
    // non-negative number of seconds reads as absent.
    let delay = Some(
        retry_after
            .filter(|r| r.is_finite() && *r >= 0.0)
            .unwrap_or(1.0),
    );
    let answer = match code {
        "RATE_LIMITED" => problem(429, "too many requests", code, delay, &[], None)?,
        "ACCOUNT_LOCKED" => problem(
            lockout_status,
            "too many failed attempts: locked out",
            code,
            delay,
            &[],
            None,
        )?,
        "CIRCUIT_OPEN" => problem(
            503,
            "the upstream service is unavailable",
            code,
            delay,
            &[],
            None,
        )?,
        "STORE_UNAVAILABLE" => problem(
            503,
            "the state store is unavailable",
            code,
            Some(1.0),
            &[],
            None,
        )?,
        "JWKS_FETCH_FAILED" => problem(
            503,
            "the identity provider's keys are unavailable",
            code,
            Some(1.0),
            &[],
            None,
        )?,
        "PERMISSION_DENIED" => problem(403, "not allowed", code, None, &[], None)?,
        "INVALID_API_KEY" | "API_KEY_EXPIRED" | "API_KEY_REVOKED" => {
            unauthorized("the API key is not valid", code, Some("invalid_token"))?
        }
        _ => match token_reason(code) {
            Some(reason) => unauthorized(reason, code, Some("invalid_token"))?,
            None => return Ok(None),
        },
    };
    Ok(Some(answer))
}

/// The 429 answer to a denied decision: its rate-limit headers,
/// `Retry-After`, and the extension member `violated-policies` naming the
/// limit that denied (draft-ietf-httpapi-ratelimit-headers). Fails for an
/// admitted decision.
pub fn rate_limited(decision: &Decision) -> Result<Answer> {
    if decision.allowed {
        return Err(invalid("the decision admitted the request"));
    }
    let headers: Vec<(String, String)> = decision
        .headers()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    let mut extra = String::from("{\"violated-policies\":[");
    json::write_str(&decision.binding_policy_name(), &mut extra);
    extra.push_str("]}");
    problem(
        429,
        "too many requests",
        ErrorKind::RateLimited.code(),
        Some(decision.retry_after),
        &headers,
        Some(&extra),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_and_lists() {
        assert_eq!(Methods::category("any").unwrap(), Methods::Any);
        assert_eq!(Methods::category("all").unwrap(), Methods::Any);
        let read = Methods::category("read").unwrap();
        assert!(read.matches("get") && read.matches("HEAD") && !read.matches("POST"));
        let write = Methods::category("write").unwrap();
        assert!(write.matches("DELETE") && !write.matches("GET"));
        assert!(Methods::category("Read").is_err());
        let list = Methods::list(&["post", "GET", "post"]).unwrap();
        assert_eq!(list.names().unwrap(), ["GET", "POST"]);
        assert!(Methods::list::<&str>(&[]).is_err());
        assert!(Methods::list(&["GET\r\n"]).is_err());
        assert!(Methods::list(&["G ET"]).is_err());
    }

    #[test]
    fn keys_are_prefixed_bounded_and_joined() {
        let parts = [
            KeyPart::Ip,
            KeyPart::User,
            KeyPart::Route,
            KeyPart::Global,
            KeyPart::Value,
        ];
        let facts = KeyFacts {
            client: "203.0.113.7",
            user: Some("42"),
            method: "get",
            route: "/items/{id}",
            values: &["tenant-a"],
        };
        assert_eq!(
            rate_limit_key(&parts, &facts).unwrap(),
            "ip:203.0.113.7|user:42|route:GET /items/{id}|global|tenant-a"
        );
        let anon = KeyFacts {
            user: None,
            values: &[],
            ..facts
        };
        assert_eq!(
            rate_limit_key(&[KeyPart::User], &anon).unwrap(),
            "anon:203.0.113.7"
        );
        let long = "x".repeat(MAX_KEY_PART + 1);
        let k = rate_limit_key(
            &[KeyPart::Value],
            &KeyFacts {
                values: &[&long],
                ..facts
            },
        )
        .unwrap();
        assert!(k.starts_with("sha256:") && k.len() == 7 + 64);
        // The separator cannot be smuggled in: ("a|b", "c") and ("a", "b|c") differ.
        let two = [KeyPart::Value, KeyPart::Value];
        let a = rate_limit_key(
            &two,
            &KeyFacts {
                values: &["a|b", "c"],
                ..facts
            },
        )
        .unwrap();
        let b = rate_limit_key(
            &two,
            &KeyFacts {
                values: &["a", "b|c"],
                ..facts
            },
        )
        .unwrap();
        assert_ne!(a, b);
        assert!(rate_limit_key(
            &[KeyPart::Value],
            &KeyFacts {
                values: &[],
                ..facts
            }
        )
        .is_err());
        assert!(rate_limit_key(&[KeyPart::Global], &facts).is_err()); // a value left over
        assert!(KeyPart::parse("IP").is_err());
        assert!(KeyPart::parse("value").is_err());
        assert!(KeyPart::check_count(0).is_err() && KeyPart::check_count(17).is_err());
    }

    #[test]
    fn authorization_headers() {
        let b = ["Bearer"];
        assert_eq!(
            authorization_token("Bearer abc", &b).unwrap(),
            Credentials::Token("abc")
        );
        assert_eq!(
            authorization_token("bearer  abc ", &b).unwrap(),
            Credentials::Token("abc")
        );
        assert_eq!(
            authorization_token("Basic YWxp", &b).unwrap(),
            Credentials::OtherScheme
        );
        for bad in ["", "   ", "Bearer", "Bearer a b", "Bearer\ta\tb"] {
            let e = authorization_token(bad, &b).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::MalformedToken, "{bad:?}");
        }
        assert!(authorization_token::<&str>("Bearer a", &[]).is_err());
    }

    #[test]
    fn roles_from_a_list_or_a_scope_string() {
        let wanted = ["admin"];
        assert!(holds_role(RoleClaim::<&str>::Text("read admin"), &wanted));
        assert!(holds_role(RoleClaim::<&str>::Text("read\tadmin"), &wanted));
        assert!(!holds_role(
            RoleClaim::<&str>::Text("administrator"),
            &wanted
        ));
        assert!(holds_role(RoleClaim::List(&["staff", "admin"]), &wanted));
        assert!(!holds_role(RoleClaim::List(&["admin staff"]), &wanted));
        assert!(!holds_role(RoleClaim::<&str>::None, &wanted));
        assert!(!holds_role(RoleClaim::List(&[""]), &[""]));
    }

    #[test]
    fn problems_are_checked() {
        let a = problem(429, "slow down", "RATE_LIMITED", Some(0.2), &[], None).unwrap();
        assert_eq!(
            a.body,
            r#"{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"slow down","code":"RATE_LIMITED","retry_after":1}"#
        );
        assert_eq!(a.headers.last().unwrap().1, PROBLEM_JSON);
        assert!(problem(200, "x", "OK", None, &[], None).is_err());
        assert!(problem(499, "x", "X", None, &[], None).is_err());
        assert!(problem(400, "", "X", None, &[], None).is_err());
        assert!(problem(400, "x", "lower", None, &[], None).is_err());
        assert!(problem(400, "x", "X", Some(f64::NAN), &[], None).is_err());
        let split = [("X-A".to_owned(), "v\r\nSet-Cookie: a=b".to_owned())];
        assert!(problem(400, "x", "X", None, &split, None).is_err());
        assert!(problem(400, "x", "X", None, &[], Some(r#"{"status":1}"#)).is_err());
        assert!(problem(400, "x", "X", None, &[], Some("[1]")).is_err());
        let e = problem(
            400,
            "x",
            "X",
            None,
            &[],
            Some(r#"{"errors":[{"field":"a"}]}"#),
        )
        .unwrap();
        assert!(e.body.ends_with(r#","errors":[{"field":"a"}]}"#));
    }

    #[test]
    fn a_quoted_detail_cannot_break_the_challenge() {
        let a = unauthorized("say \"hi\"", "INVALID_TOKEN", Some("invalid_token")).unwrap();
        assert_eq!(
            a.headers[0].1,
            r#"Bearer error="invalid_token", error_description="say \"hi\"""#
        );
    }

    #[test]
    fn every_error_code_has_a_deliberate_answer() {
        for kind in ErrorKind::ALL {
            let a = answer_for(kind.code(), None, 429).unwrap();
            let server_side = matches!(
                kind,
                ErrorKind::InvalidArgument
                    | ErrorKind::InvalidKey
                    | ErrorKind::InvalidHash
                    | ErrorKind::StoreFull
                    | ErrorKind::WeakSecret
                    | ErrorKind::InvalidKeySet
                    | ErrorKind::Internal
            );
            assert_eq!(a.is_none(), server_side, "{kind:?}");
        }
    }
}
