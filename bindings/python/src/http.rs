//! The HTTP rules of the web integrations (mirrors `bastion_core::http`):
//! method categories, request rate-limit keys and problem+json answers.
//! Every rule is the core's; this file converts arguments.

use crate::errors::{type_error, IntoPyResult};
use bastion_core::http::{self as core, KeyFacts, KeyPart, Methods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

/// A ready HTTP answer (``application/problem+json``): ``status``,
/// ``headers`` (``Content-Type`` last), ``body`` (bytes), ``code`` (the
/// stable error code) and ``detail`` (the kind of failure).
#[pyclass(frozen, module = "bastion._native")]
pub struct HttpAnswer {
    inner: core::Answer,
}

impl HttpAnswer {
    pub fn new(inner: core::Answer) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl HttpAnswer {
    /// The HTTP status.
    #[getter]
    fn status(&self) -> u16 {
        self.inner.status
    }

    /// The headers, in order (a new dict on each access).
    #[getter]
    fn headers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in &self.inner.headers {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// The problem+json body.
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.body.as_bytes())
    }

    /// The stable error code (``RATE_LIMITED``, ``TOKEN_EXPIRED`` ...).
    #[getter]
    fn code(&self) -> &str {
        &self.inner.code
    }

    /// The detail: the kind of failure, never a token or a claim.
    #[getter]
    fn detail(&self) -> &str {
        &self.inner.detail
    }

    fn __repr__(&self) -> String {
        format!("HttpAnswer({}, {:?})", self.inner.status, self.inner.code)
    }
}

/// The methods a rule covers: ``"read"`` (GET, HEAD, OPTIONS), ``"write"``
/// (POST, PUT, PATCH, DELETE), ``"any"`` / ``"all"`` (None: every method) or
/// a list of methods (upper-cased, sorted, distinct). Raises
/// ``InvalidArgumentError`` for anything else.
#[pyfunction]
pub fn http_methods(spec: &Bound<'_, PyAny>) -> PyResult<Option<Vec<String>>> {
    let methods = if let Ok(s) = spec.cast::<PyString>() {
        Methods::category(s.to_str()?).py_err()?
    } else {
        let list: Vec<String> = spec
            .extract()
            .map_err(|_| type_error("methods", "'read', 'write', 'any' or a list of str", spec))?;
        Methods::list(&list).py_err()?
    };
    Ok(methods.names().map(<[String]>::to_vec))
}

/// How a request's rate-limit key is composed: ``parts`` names ``"ip"``,
/// ``"user"`` (the user, else ``anon:`` and the client), ``"route"``,
/// ``"global"``, or is None for a value the application computes. Each part
/// becomes its prefix and its text (over 256 bytes, holding ``|`` or looking
/// like a digest: ``sha256:<hex>``), joined with ``|``; the same bytes as
/// Node's ``RequestKey``.
#[pyclass(frozen, module = "bastion._native")]
pub struct RequestKey {
    parts: Vec<KeyPart>,
}

#[pymethods]
impl RequestKey {
    #[new]
    fn py_new(parts: &Bound<'_, PyAny>) -> PyResult<Self> {
        let names: Vec<Option<String>> = parts
            .extract()
            .map_err(|_| type_error("parts", "a list of part names (str) or None", parts))?;
        let mut out = Vec::with_capacity(names.len());
        for n in &names {
            out.push(match n {
                Some(name) => KeyPart::parse(name).py_err()?,
                None => KeyPart::Value,
            });
        }
        // The count is checked once, here.
        KeyPart::check_count(out.len()).py_err()?;
        Ok(Self { parts: out })
    }

    /// The key of one request: ``client`` (its client key), ``user`` (the
    /// authenticated user's id, if any), ``method``, ``route`` (the route
    /// template, else the path) and ``values`` (one per None part, in order).
    #[pyo3(signature = (client, user = None, method = "", route = "", values = Vec::new()))]
    fn key(
        &self,
        client: &str,
        user: Option<&str>,
        method: &str,
        route: &str,
        values: Vec<String>,
    ) -> PyResult<String> {
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let facts = KeyFacts {
            client,
            user,
            method,
            route,
            values: &values,
        };
        core::rate_limit_key(&self.parts, &facts).py_err()
    }

    /// The parts' names (None for a value part).
    #[getter]
    fn parts(&self) -> Vec<Option<&'static str>> {
        self.parts.iter().map(|p| p.name()).collect()
    }

    fn __repr__(&self) -> String {
        let names: Vec<&str> = self
            .parts
            .iter()
            .map(|p| p.name().unwrap_or("<value>"))
            .collect();
        format!("RequestKey({})", names.join(", "))
    }
}

fn header_pairs(headers: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, String)>> {
    let Some(h) = headers else {
        return Ok(Vec::new());
    };
    let wrong = || type_error("headers", "a dict of str to str", h);
    let items = if h.hasattr("items")? {
        h.call_method0("items")?
    } else {
        return Err(wrong());
    };
    let mut out = Vec::new();
    for item in items.try_iter()? {
        let pair: (String, String) = item?.extract().map_err(|_| wrong())?;
        out.push(pair);
    }
    Ok(out)
}

/// An ``application/problem+json`` answer (RFC 9457): ``type``
/// ``about:blank``, ``title`` (the status's RFC 9110 reason phrase),
/// ``status``, ``detail``, ``code`` and ``retry_after`` (whole seconds,
/// rounded up, at least 1; also the ``Retry-After`` header) when given; then
/// the members of ``extra`` (a JSON object text, not reusing those names).
/// ``headers`` are checked (no CR, LF or NUL).
#[pyfunction]
#[pyo3(signature = (status, detail, code, *, retry_after = None, headers = None, extra = None))]
pub fn http_problem(
    status: u16,
    detail: &str,
    code: &str,
    retry_after: Option<f64>,
    headers: Option<&Bound<'_, PyAny>>,
    extra: Option<&str>,
) -> PyResult<HttpAnswer> {
    let headers = header_pairs(headers)?;
    core::problem(status, detail, code, retry_after, &headers, extra)
        .py_err()
        .map(HttpAnswer::new)
}

/// 401 with ``WWW-Authenticate: Bearer``; with ``error`` (RFC 6750, such as
/// ``"invalid_token"``) and ``error_description`` when a token was sent,
/// ``error=None`` when none was.
#[pyfunction]
#[pyo3(signature = (detail, code, error = Some("invalid_token")), text_signature = "(detail, code, error='invalid_token')")]
pub fn http_unauthorized(detail: &str, code: &str, error: Option<&str>) -> PyResult<HttpAnswer> {
    core::unauthorized(detail, code, error)
        .py_err()
        .map(HttpAnswer::new)
}

/// The answer to a bastion error by its ``code``: 401 for token and API-key
/// failures, 403 for a refused permission, 429 (or ``lockout_status``: 423, 403...)
/// for a lockout, 429 for a rate limit, 503 for an open circuit, an
/// unreachable store or identity provider; None for a code that is a server
/// error. ``retry_after`` is the error's delay (1 s when None).
#[pyfunction]
#[pyo3(signature = (code, retry_after = None, lockout_status = 429))]
pub fn http_answer_for(
    code: &str,
    retry_after: Option<f64>,
    lockout_status: u16,
) -> PyResult<Option<HttpAnswer>> {
    Ok(core::answer_for(code, retry_after, lockout_status)
        .py_err()?
        .map(HttpAnswer::new))
}

/// The token of an ``Authorization`` header whose scheme is one of
/// ``schemes`` (compared case-insensitively); None for credentials of
/// another scheme. Raises ``DecodeError`` (``MALFORMED_TOKEN``) for an empty
/// header or a scheme of ``schemes`` without exactly one token after it.
#[pyfunction]
pub fn http_authorization_token(header: &str, schemes: Vec<String>) -> PyResult<Option<String>> {
    Ok(
        match core::authorization_token(header, &schemes).py_err()? {
            core::Credentials::Token(t) => Some(t.to_owned()),
            core::Credentials::OtherScheme => None,
        },
    )
}

/// Whether the claim value ``held`` holds one of ``roles``: a list (its str
/// items) or a string of roles separated by whitespace (the ``scope`` form);
/// anything else holds none.
#[pyfunction]
pub fn http_holds_role(held: &Bound<'_, PyAny>, roles: Vec<String>) -> PyResult<bool> {
    if let Ok(s) = held.cast::<PyString>() {
        return Ok(core::holds_role(
            core::RoleClaim::<&str>::Text(s.to_str()?),
            &roles,
        ));
    }
    if let Ok(list) = held.cast::<pyo3::types::PyList>() {
        let items: Vec<String> = list
            .iter()
            .filter_map(|i| {
                i.cast::<PyString>()
                    .ok()
                    .and_then(|s| s.to_str().ok().map(str::to_owned))
            })
            .collect();
        return Ok(core::holds_role(core::RoleClaim::List(&items), &roles));
    }
    Ok(core::holds_role(core::RoleClaim::<&str>::None, &roles))
}
