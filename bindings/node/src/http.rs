//! The HTTP rules of the web integrations (core `http` module): method
//! categories, request rate-limit keys and problem+json answers. Every rule
//! is the core's; this file converts arguments.

use bastion_core::http::{self as core, KeyFacts, KeyPart, Methods};
use bastion_core::Result as CoreResult;
use indexmap::IndexMap;
use napi::bindgen_prelude::{FromNapiValue, JsObjectValue, Object, Unknown, ValueType};
use napi::{Env, JsValue};
use napi_derive::napi;

use crate::errors::{self, arg, from_napi, invalid_argument, options_arg, whole, Result};

/// A ready HTTP answer (`application/problem+json`).
#[napi(object, object_from_js = false)]
pub struct HttpAnswer {
    /// The HTTP status.
    pub status: u32,
    /// The headers, in order (`Content-Type` last).
    #[napi(ts_type = "Record<string, string>")]
    pub headers: IndexMap<String, String>,
    /// The problem+json body.
    pub body: String,
    /// The stable error code (`RATE_LIMITED`, `TOKEN_EXPIRED`...).
    pub code: String,
    /// The detail: the kind of failure, never a token or a claim.
    pub detail: String,
}

impl From<core::Answer> for HttpAnswer {
    fn from(a: core::Answer) -> Self {
        Self {
            status: u32::from(a.status),
            headers: a.headers.into_iter().collect(),
            body: a.body,
            code: a.code,
            detail: a.detail,
        }
    }
}

/// The methods a rule covers: `'read'` (GET, HEAD, OPTIONS), `'write'`
/// (POST, PUT, PATCH, DELETE), `'any'` / `'all'` (null: every method) or a
/// list of methods (upper-cased, sorted, distinct). Throws
/// `INVALID_ARGUMENT` for anything else.
#[napi(ts_args_type = "spec: string | string[]")]
pub fn http_methods(env: &Env, spec: Unknown) -> Result<Option<Vec<String>>> {
    errors::guard(|| {
        let methods = match spec.get_type().map_err(from_napi)? {
            ValueType::String => Methods::category(&arg::<String>(spec, "methods", "a string")?)?,
            _ => Methods::list(&arg::<Vec<String>>(
                spec,
                "methods",
                "'read', 'write', 'any' or an array of method names",
            )?)?,
        };
        Ok(methods.names().map(<[String]>::to_vec))
    })
    .map_err(|e| errors::to_js(env, e))
}

/// How a request's rate-limit key is composed: each part names `'ip'`,
/// `'user'` (the user, else `anon:` and the client), `'route'`, `'global'`,
/// or is null for a value the application computes. Each part becomes its
/// prefix and its text (over 256 bytes, holding `|` or looking like a digest:
/// `sha256:<hex>`), joined with `|`: the same bytes as Python's `RequestKey`.
#[napi]
pub struct RequestKey {
    parts: Vec<KeyPart>,
}

/// What a request contributes to its key (`null` reads as absent).
#[napi(object, object_to_js = false, object_from_js = false)]
pub struct RequestKeyFacts {
    /// The client key (`clientKey`).
    pub client: String,
    /// The authenticated user's id, if any.
    pub user: Option<String>,
    /// The request method.
    pub method: Option<String>,
    /// The route template, else the path.
    pub route: Option<String>,
    /// One value per null part, in order.
    pub values: Option<Vec<String>>,
}

#[napi]
impl RequestKey {
    /// `parts`: `'ip'`, `'user'`, `'route'`, `'global'`, or null for a value.
    #[napi(constructor, ts_args_type = "parts: Array<string | null>")]
    pub fn new(env: &Env, parts: Unknown) -> Result<Self> {
        errors::guard(|| {
            let names: Vec<Option<String>> =
                arg(parts, "parts", "an array of part names (strings) or nulls")?;
            let parts = names
                .iter()
                .map(|n| n.as_deref().map_or(Ok(KeyPart::Value), KeyPart::parse))
                .collect::<CoreResult<Vec<_>>>()?;
            KeyPart::check_count(parts.len())?;
            Ok(Self { parts })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// The key of one request.
    #[napi(ts_args_type = "facts: RequestKeyFacts")]
    pub fn key(&self, env: &Env, facts: Unknown) -> Result<String> {
        errors::guard(|| {
            let f = facts_arg(facts)?;
            let values: Vec<&str> = f.values.iter().flatten().map(String::as_str).collect();
            let facts = KeyFacts {
                client: &f.client,
                user: f.user.as_deref(),
                method: f.method.as_deref().unwrap_or(""),
                route: f.route.as_deref().unwrap_or(""),
                values: &values,
            };
            core::rate_limit_key(&self.parts, &facts)
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// The parts' names (null for a value part).
    #[napi(getter)]
    pub fn parts(&self) -> Vec<Option<&'static str>> {
        self.parts.iter().map(|p| p.name()).collect()
    }
}

const FACTS: &str = "an object { client, user, method, route, values }";

/// Reads the facts object field by field: `undefined` and `null` are absent.
fn facts_arg(facts: Unknown<'_>) -> CoreResult<RequestKeyFacts> {
    if facts.get_type().map_err(from_napi)? != ValueType::Object {
        return Err(invalid_argument(format!("facts must be {FACTS}")));
    }
    let obj: Object<'_> = arg(facts, "facts", FACTS)?;
    fn field<T: FromNapiValue>(
        obj: &Object<'_>,
        name: &str,
        expected: &str,
    ) -> CoreResult<Option<T>> {
        let v: Unknown<'_> = obj.get_named_property(name).map_err(from_napi)?;
        match v.get_type().map_err(from_napi)? {
            ValueType::Undefined | ValueType::Null => Ok(None),
            _ => arg(v, name, expected).map(Some),
        }
    }
    Ok(RequestKeyFacts {
        client: field(&obj, "client", "a string")?
            .ok_or_else(|| invalid_argument("facts.client must be a string"))?,
        user: field(&obj, "user", "a string")?,
        method: field(&obj, "method", "a string")?,
        route: field(&obj, "route", "a string")?,
        values: field(&obj, "values", "an array of strings")?,
    })
}

/// The options of `httpProblem`.
#[napi(object, object_to_js = false)]
pub struct HttpProblemOptions {
    /// Seconds until a retry may succeed: the `retry_after` member and the
    /// `Retry-After` header (whole seconds, rounded up, at least 1).
    pub retry_after: Option<f64>,
    /// Headers to send with it (checked: no CR, LF or NUL).
    pub headers: Option<IndexMap<String, String>>,
    /// Extension members, as the text of a JSON object.
    pub extra: Option<String>,
}

/// An `application/problem+json` answer (RFC 9457): `type` `about:blank`,
/// `title` (the status's RFC 9110 reason phrase), `status`, `detail`, `code`
/// and `retry_after` when given, then the members of `extra`.
#[napi(
    ts_args_type = "status: number, detail: string, code: string, options?: HttpProblemOptions | null"
)]
pub fn http_problem(
    env: &Env,
    status: Unknown,
    detail: Unknown,
    code: Unknown,
    options: Unknown,
) -> Result<HttpAnswer> {
    errors::guard(|| {
        let status = status_arg(status, "status")?;
        let detail: String = arg(detail, "detail", "a string")?;
        let code: String = arg(code, "code", "a string")?;
        let o: Option<HttpProblemOptions> = options_arg(options, "options", "an options object")?;
        let (retry_after, headers, extra) = match o {
            Some(o) => (o.retry_after, o.headers.unwrap_or_default(), o.extra),
            None => (None, IndexMap::new(), None),
        };
        let headers: Vec<(String, String)> = headers.into_iter().collect();
        core::problem(
            status,
            &detail,
            &code,
            retry_after,
            &headers,
            extra.as_deref(),
        )
    })
    .map(HttpAnswer::from)
    .map_err(|e| errors::to_js(env, e))
}

fn status_arg(value: Unknown<'_>, name: &str) -> CoreResult<u16> {
    let n: f64 = arg(value, name, "an HTTP status")?;
    u16::try_from(whole(n, name, 999.0)?).map_err(|_| invalid_argument("an HTTP status"))
}

/// 401 with `WWW-Authenticate: Bearer`; with `error` (RFC 6750, default
/// `'invalid_token'`) and `error_description` when a token was sent, `error`
/// null when none was.
#[napi(ts_args_type = "detail: string, code: string, error?: string | null")]
pub fn http_unauthorized(
    env: &Env,
    detail: Unknown,
    code: Unknown,
    error: Unknown,
) -> Result<HttpAnswer> {
    errors::guard(|| {
        let detail: String = arg(detail, "detail", "a string")?;
        let code: String = arg(code, "code", "a string")?;
        let error: Option<String> = match error.get_type().map_err(from_napi)? {
            ValueType::Undefined => Some("invalid_token".to_owned()),
            _ => arg(error, "error", "a string or null")?,
        };
        core::unauthorized(&detail, &code, error.as_deref())
    })
    .map(HttpAnswer::from)
    .map_err(|e| errors::to_js(env, e))
}

/// The answer to a bastion error by its `code`: 401 for token and API-key
/// failures, 403 for a refused permission, 429 (or `lockoutStatus`: 423, 403...) for
/// a lockout, 429 for a rate limit, 503 for an open circuit, an unreachable
/// store or identity provider; null for a code that is a server error.
/// `retryAfter` is the error's delay (1 s when null).
#[napi(ts_args_type = "code: string, retryAfter?: number | null, lockoutStatus?: number | null")]
pub fn http_answer_for(
    env: &Env,
    code: Unknown,
    retry_after: Unknown,
    lockout_status: Unknown,
) -> Result<Option<HttpAnswer>> {
    errors::guard(|| {
        let code: String = arg(code, "code", "a string")?;
        let retry_after: Option<f64> = arg(retry_after, "retryAfter", "a number")?;
        let lockout = match lockout_status.get_type().map_err(from_napi)? {
            ValueType::Undefined | ValueType::Null => 429,
            _ => status_arg(lockout_status, "lockoutStatus")?,
        };
        core::answer_for(&code, retry_after, lockout)
    })
    .map(|a| a.map(HttpAnswer::from))
    .map_err(|e| errors::to_js(env, e))
}

/// The token of an `Authorization` header whose scheme is one of `schemes`
/// (compared case-insensitively); null for credentials of another scheme.
/// Throws `MALFORMED_TOKEN` for an empty header or a scheme of `schemes`
/// without exactly one token after it.
#[napi(ts_args_type = "header: string, schemes: string[]")]
pub fn http_authorization_token(
    env: &Env,
    header: Unknown,
    schemes: Unknown,
) -> Result<Option<String>> {
    errors::guard(|| {
        let header: String = arg(header, "header", "a string")?;
        let schemes: Vec<String> = arg(schemes, "schemes", "an array of strings")?;
        Ok(match core::authorization_token(&header, &schemes)? {
            core::Credentials::Token(t) => Some(t.to_owned()),
            core::Credentials::OtherScheme => None,
        })
    })
    .map_err(|e| errors::to_js(env, e))
}

/// Whether the claim value `held` holds one of `roles`: an array (its string
/// items) or a string of roles separated by whitespace (the `scope` form);
/// anything else holds none.
#[napi(ts_args_type = "held: unknown, roles: string[]")]
pub fn http_holds_role(env: &Env, held: Unknown, roles: Unknown) -> Result<bool> {
    errors::guard(|| {
        let roles: Vec<String> = arg(roles, "roles", "an array of strings")?;
        let answer = match held.get_type().map_err(from_napi)? {
            ValueType::String => {
                let text: String = arg(held, "held", "a string")?;
                core::holds_role(core::RoleClaim::<&str>::Text(&text), &roles)
            }
            _ if held.is_array().map_err(from_napi)? => {
                let items: Vec<Unknown<'_>> = arg(held, "held", "an array")?;
                let mut strings = Vec::with_capacity(items.len());
                for item in items {
                    if item.get_type().map_err(from_napi)? == ValueType::String {
                        strings.push(arg::<String>(item, "held", "a string")?);
                    }
                }
                core::holds_role(core::RoleClaim::List(&strings), &roles)
            }
            _ => core::holds_role(core::RoleClaim::<&str>::None, &roles),
        };
        Ok(answer)
    })
    .map_err(|e| errors::to_js(env, e))
}
