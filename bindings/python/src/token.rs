//! JSON Web Tokens (mirrors `bastion_core::token`): the typed `Key` (with raw
//! `sign` / `verify`), the pre-built `Verifier`, `sign`, `verify_jws`, and the
//! PyJWT-compatible functions that `bastion.jwt` wraps (`jwt_encode`,
//! `jwt_decode`, `jwt_decode_complete`, `jwt_get_unverified_header`).
//!
//! Every rule (algorithm lists, key families, key strength, header and claim
//! checks, sizes) is the core's; this file converts arguments, calls the core
//! and maps errors. RSA and ECDSA signing run with the GIL released; HMAC and
//! verification stay attached (microseconds).

use crate::clock::{self, ManualClock};
use crate::errors::{self, DecodeError, IntoPyResult, InvalidArgumentError, InvalidTokenError};
use crate::json::{self, DumpOptions};
use bastion_core::clock::SharedClock;
use bastion_core::token::json::{self as core_json, Object, Value};
use bastion_core::token::{
    self as core, Algorithm, Family, Header, KeyCache, Token, Validation, VerifiedCache,
    DEFAULT_MAX_TOKEN_SIZE,
};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use std::sync::Arc;

type CoreKey = core::Key;

// The Python signatures spell the core's default token size out (for introspection).
const _: () = assert!(DEFAULT_MAX_TOKEN_SIZE == 8192);

// ---- argument conversion ---------------------------------------------------------

/// The bytes of a `str` (UTF-8) or `bytes` argument.
pub(crate) fn material<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<&'a [u8]> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(json::py_str(s)?.as_bytes());
    }
    Err(errors::type_error(what, "str or bytes", obj))
}

/// The bytes of a token given as `str` or `bytes` (PyJWT's type rule and message).
pub(crate) fn token_bytes<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<&'a [u8]> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes());
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_str()
            .map(str::as_bytes)
            .map_err(|_| DecodeError::new_err("Invalid token: the string is not valid Unicode"));
    }
    Err(DecodeError::new_err(
        "Invalid token type. Token must be a <class 'bytes'>",
    ))
}

/// A size in bytes: a non-negative `int`.
pub(crate) fn size_arg(obj: &Bound<'_, PyAny>) -> PyResult<usize> {
    if !obj.is_instance_of::<pyo3::types::PyInt>() {
        return Err(errors::type_error("max_token_size", "an int", obj));
    }
    obj.extract::<usize>().map_err(|_| {
        InvalidArgumentError::new_err("max_token_size must be a non-negative number of bytes")
    })
}

/// A list of strings from a `str` (one item) or an iterable of `str`.
fn strings(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(vec![json::py_str(s)?.to_owned()]);
    }
    let iter = obj
        .try_iter()
        .map_err(|_| errors::type_error(what, "a string, an iterable of strings or None", obj))?;
    let mut out = Vec::new();
    for item in iter {
        let item = item?;
        let s = item
            .cast::<PyString>()
            .map_err(|_| errors::type_error(&format!("each item of {what}"), "a str", &item))?;
        out.push(json::py_str(s)?.to_owned());
    }
    Ok(out)
}

/// Accepted algorithms from a `str` or an iterable of names. Unknown names,
/// including every spelling of `none`, are an error (the core's `parse`).
pub(crate) fn algorithms(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Algorithm>> {
    let mut out: Vec<Algorithm> = Vec::new();
    for name in strings(obj, "algorithms")? {
        let alg = Algorithm::parse(&name).py_err()?;
        if !out.contains(&alg) {
            out.push(alg);
        }
    }
    Ok(out)
}

fn families(algorithms: &[Algorithm]) -> Vec<Family> {
    Family::needed_by(algorithms)
}

fn algorithm_names(algs: &[Algorithm]) -> Vec<&'static str> {
    algs.iter().map(|a| a.name()).collect()
}

/// Seconds from a number or a `datetime.timedelta`.
fn seconds(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    if let Ok(v) = obj.extract::<f64>() {
        return Ok(v);
    }
    if let Ok(total) = obj.call_method0(intern!(obj.py(), "total_seconds")) {
        return total.extract::<f64>();
    }
    Err(errors::type_error(
        what,
        "a number of seconds or a datetime.timedelta",
        obj,
    ))
}

/// The key to use: a `Key`, or `str`/`bytes` material resolved through the
/// core's process-wide `KeyCache` for the given families.
fn key_arg(key: &Bound<'_, PyAny>, families: &[Family]) -> PyResult<Arc<CoreKey>> {
    if let Ok(k) = key.cast::<Key>() {
        return Ok(Arc::clone(&k.get().inner));
    }
    if key.is_instance_of::<PyString>() || key.is_instance_of::<PyBytes>() {
        return KeyCache::global()
            .get(material(key, "key")?, families)
            .py_err();
    }
    Err(errors::type_error(
        "key",
        "a bastion Key, str or bytes (bastion.jwt also accepts PyJWK and cryptography keys)",
        key,
    ))
}

/// A JSON object parsed by the core from a Python mapping.
fn mapping_to_object(
    obj: &Bound<'_, PyAny>,
    what: &str,
    json_encoder: Option<&Bound<'_, PyAny>>,
) -> PyResult<Object> {
    if !json::is_mapping(obj)? {
        return Err(errors::type_error(what, "a mapping", obj));
    }
    let text = match json_encoder {
        None => json::dumps(obj, DumpOptions { time_claims: false })?,
        Some(cls) => python_dumps(obj, cls)?,
    };
    core_json::parse_object(text.as_bytes()).map_err(|e| {
        InvalidArgumentError::new_err(format!("{what} is not a valid JSON object: {e}"))
    })
}

static JSON_DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// `json.dumps(obj, separators=(",", ":"), cls=cls)`, for custom encoders.
fn python_dumps(obj: &Bound<'_, PyAny>, cls: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = obj.py();
    let dumps = JSON_DUMPS.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("json")?.getattr("dumps")?.unbind())
    })?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("separators", (",", ":"))?;
    kwargs.set_item("cls", cls)?;
    dumps.bind(py).call((obj,), Some(&kwargs))?.extract()
}

fn complete<'py>(py: Python<'py>, token: &Token) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item(
        intern!(py, "header"),
        json::object_to_py(py, &token.header)?,
    )?;
    out.set_item(
        intern!(py, "payload"),
        json::object_to_py(py, &token.claims)?,
    )?;
    out.set_item(intern!(py, "signature"), PyBytes::new(py, &token.signature))?;
    Ok(out)
}

// ---- Key -------------------------------------------------------------------------

/// A signing or verification key, bound to one family (HMAC, RSA, EC on one
/// curve, Ed25519) when it is made, parsed once and reused. A public key can
/// never be used as an HMAC secret. Secret material is never shown by
/// ``repr`` or in error messages.
#[pyclass(frozen, module = "bastion._native", name = "Key")]
pub struct Key {
    pub(crate) inner: Arc<CoreKey>,
}

impl Key {
    pub(crate) fn wrap(key: CoreKey) -> Self {
        Self {
            inner: Arc::new(key),
        }
    }
}

#[pymethods]
impl Key {
    /// An HMAC key from a shared secret (``str`` is UTF-8 encoded). Material
    /// that is a public or private key in any form is refused. The secret's
    /// strength is checked when it is used.
    #[staticmethod]
    fn hmac(secret: &Bound<'_, PyAny>) -> PyResult<Self> {
        CoreKey::hmac(material(secret, "secret")?)
            .py_err()
            .map(Self::wrap)
    }

    /// A key from PEM text: public key, certificate, PKCS#8, PKCS#1 or SEC1
    /// private key (not encrypted).
    #[staticmethod]
    fn from_pem(pem: &Bound<'_, PyAny>) -> PyResult<Self> {
        CoreKey::from_pem(material(pem, "pem")?)
            .py_err()
            .map(Self::wrap)
    }

    /// A key from DER bytes in any form ``from_pem`` accepts.
    #[staticmethod]
    fn from_der(der: &[u8]) -> PyResult<Self> {
        CoreKey::from_der(der).py_err().map(Self::wrap)
    }

    /// A key from a JWK (JSON text or a dict): ``kty`` oct, RSA, EC or OKP,
    /// public or private. ``algorithm`` restricts the key to one algorithm of
    /// its family (as the JWK's own ``alg`` does).
    #[staticmethod]
    #[pyo3(signature = (jwk, algorithm = None))]
    fn from_jwk(jwk: &Bound<'_, PyAny>, algorithm: Option<&str>) -> PyResult<Self> {
        let key = if jwk.is_instance_of::<PyDict>() {
            let obj = mapping_to_object(jwk, "jwk", None)?;
            CoreKey::from_jwk_object(&obj)
        } else {
            CoreKey::from_jwk(material(jwk, "jwk")?)
        }
        .py_err()?;
        let key = match algorithm {
            Some(name) => key.restrict_to(Algorithm::parse(name).py_err()?).py_err()?,
            None => key,
        };
        Ok(Self::wrap(key))
    }

    /// A public key from an OpenSSH ``authorized_keys`` line.
    #[staticmethod]
    fn from_ssh(line: &Bound<'_, PyAny>) -> PyResult<Self> {
        CoreKey::from_ssh(material(line, "line")?)
            .py_err()
            .map(Self::wrap)
    }

    /// A key from material whose form is not declared (PEM, OpenSSH, JWK, DER,
    /// or else an HMAC secret), restricted to the families that
    /// ``algorithms`` need: public-key material never becomes an HMAC secret.
    #[staticmethod]
    #[pyo3(signature = (material, algorithms = None))]
    fn from_material(
        material: &Bound<'_, PyAny>,
        algorithms: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let fams = match algorithms {
            Some(a) => families(&self::algorithms(a)?),
            None => Vec::new(),
        };
        CoreKey::from_material(self::material(material, "material")?, &fams)
            .py_err()
            .map(Self::wrap)
    }

    /// The key family: "HMAC", "RSA", "EC P-256", "EC P-384", "EC P-521",
    /// "EC secp256k1" or "Ed25519".
    #[getter]
    fn family(&self) -> &'static str {
        self.inner.family().name()
    }

    /// The key id, if any.
    #[getter]
    fn kid(&self) -> Option<&str> {
        self.inner.kid()
    }

    /// The one algorithm the key is restricted to, if any.
    #[getter]
    fn algorithm(&self) -> Option<&'static str> {
        self.inner.algorithm().map(Algorithm::name)
    }

    /// True when the key can sign (an HMAC secret or a private key).
    #[getter]
    fn can_sign(&self) -> bool {
        self.inner.can_sign()
    }

    /// Every algorithm the key may be used with.
    #[getter]
    fn algorithms(&self) -> Vec<&'static str> {
        algorithm_names(&self.inner.algorithms())
    }

    /// Signs ``message`` with ``algorithm`` and returns the raw signature (JWS
    /// form: ECDSA as fixed-length ``R || S``). RSA and ECDSA release the GIL.
    /// ``allow_weak`` skips the HMAC secret-strength rule (never the family rule).
    #[pyo3(signature = (algorithm, message, *, allow_weak = false))]
    fn sign<'py>(
        &self,
        py: Python<'py>,
        algorithm: &str,
        message: &[u8],
        allow_weak: bool,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let alg = Algorithm::parse(algorithm).py_err()?;
        let key = &self.inner;
        let sig = if matches!(key.family(), Family::Hmac) {
            key.sign(alg, message, allow_weak)
        } else {
            py.detach(|| key.sign(alg, message, allow_weak))
        }
        .py_err()?;
        Ok(PyBytes::new(py, &sig))
    }

    /// Verifies a raw ``signature`` over ``message`` (constant time for HMAC);
    /// ``InvalidSignatureError`` when it does not verify.
    #[pyo3(signature = (algorithm, message, signature, *, allow_weak = false))]
    fn verify(
        &self,
        algorithm: &str,
        message: &[u8],
        signature: &[u8],
        allow_weak: bool,
    ) -> PyResult<()> {
        let alg = Algorithm::parse(algorithm).py_err()?;
        self.inner
            .verify(alg, message, signature, allow_weak)
            .py_err()
    }

    /// The public part as a JWK dict (never a private member). HMAC keys have
    /// none: ``InvalidKeyError``.
    fn public_jwk<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let jwk = self.inner.public_jwk().py_err()?;
        json::object_to_py(py, &jwk)
    }

    /// The same key with key id ``kid`` (written as the ``kid`` header when signing).
    fn with_kid(&self, kid: String) -> Self {
        Self::wrap(self.inner.as_ref().clone().with_kid(Some(kid)))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let family = PyString::new(py, self.family()).repr()?;
        Ok(match self.inner.kid() {
            Some(kid) => format!(
                "<Key family={family} kid={}>",
                PyString::new(py, kid).repr()?
            ),
            None => format!("<Key family={family}>"),
        })
    }
}

// ---- signing ---------------------------------------------------------------------

/// Signs with the GIL released for RSA and ECDSA (milliseconds), attached for HMAC.
fn encode_detached(
    py: Python<'_>,
    header: Header,
    claims_json: String,
    key: Arc<CoreKey>,
    allow_weak: bool,
) -> PyResult<String> {
    if matches!(key.family(), Family::Hmac) {
        core::encode(&header, &claims_json, &key, allow_weak).py_err()
    } else {
        py.detach(move || core::encode(&header, &claims_json, &key, allow_weak))
            .py_err()
    }
}

fn is_falsy(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == 0.0,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::Bool(true) => false,
    }
}

/// PyJWT's `jwt.encode`: signs ``payload`` (a mapping; ``datetime`` values of
/// ``exp``, ``iat`` and ``nbf`` become integer timestamps) with ``key``.
/// ``headers["alg"]`` overrides ``algorithm``; a falsy ``headers["typ"]``
/// drops ``typ``. Header members are always written sorted. With
/// ``json_encoder``, ``json.dumps(..., cls=json_encoder)`` writes the JSON.
#[pyfunction]
#[pyo3(
    signature = (payload, key, algorithm = Some("HS256"), headers = None, json_encoder = None, sort_headers = true, allow_weak_keys = false),
    text_signature = "(payload, key, algorithm='HS256', headers=None, json_encoder=None, sort_headers=True, allow_weak_keys=False)"
)]
#[allow(clippy::too_many_arguments)]
pub fn jwt_encode(
    py: Python<'_>,
    payload: &Bound<'_, PyAny>,
    key: &Bound<'_, PyAny>,
    algorithm: Option<&str>,
    headers: Option<&Bound<'_, PyAny>>,
    json_encoder: Option<&Bound<'_, PyAny>>,
    sort_headers: bool,
    allow_weak_keys: bool,
) -> PyResult<String> {
    let _ = sort_headers; // the core always writes header members sorted
    if !json::is_mapping(payload)? {
        return Err(PyTypeError::new_err(
            "Expecting a dict object, as JWT only supports JSON objects as payloads.",
        ));
    }
    let claims_json = match json_encoder {
        None => json::dumps(payload, DumpOptions { time_claims: true })?,
        Some(cls) => python_dumps(json::with_time_claims(payload)?.as_any(), cls)?,
    };
    let mut alg_name = algorithm.unwrap_or("none").to_owned();
    let mut typ = Some("JWT".to_owned());
    let mut kid: Option<String> = None;
    let mut extra = Object::new();
    if let Some(h) = headers {
        extra = mapping_to_object(h, "headers", json_encoder)?;
        if let Some(alg) = extra.remove("alg") {
            match alg {
                Value::String(a) if !a.is_empty() => alg_name = a,
                v if is_falsy(&v) => {}
                _ => {
                    return Err(PyTypeError::new_err(
                        "the header parameter \"alg\" must be a string",
                    ))
                }
            }
        }
        if let Some(t) = extra.remove("typ") {
            typ = match t {
                Value::String(s) if !s.is_empty() => Some(s),
                v if is_falsy(&v) => None,
                _ => {
                    return Err(PyTypeError::new_err(
                        "the header parameter \"typ\" must be a string",
                    ))
                }
            };
        }
        if let Some(k) = extra.remove("kid") {
            match k {
                Value::String(s) => kid = Some(s),
                _ => {
                    return Err(InvalidTokenError::new_err(
                        "Key ID header parameter must be a string",
                    ))
                }
            }
        }
    }
    let alg = Algorithm::parse(&alg_name).py_err()?;
    let core_key = key_arg(key, &[alg.family()])?;
    let header = Header {
        algorithm: alg,
        typ,
        kid,
        extra,
    };
    encode_detached(py, header, claims_json, core_key, allow_weak_keys)
}

/// Signs ``claims`` (a mapping) with ``key`` and ``algorithm``. ``typ`` (default
/// "JWT"; None leaves it out) and ``kid`` (default: the key's) go in the
/// header with ``headers``. Registered claims must have their JSON types.
#[pyfunction]
#[pyo3(
    signature = (claims, key, algorithm, *, headers = None, typ = Some("JWT".to_owned()), kid = None),
    text_signature = "(claims, key, algorithm, *, headers=None, typ='JWT', kid=None)"
)]
pub fn sign(
    py: Python<'_>,
    claims: &Bound<'_, PyAny>,
    key: &Bound<'_, Key>,
    algorithm: &str,
    headers: Option<&Bound<'_, PyAny>>,
    typ: Option<String>,
    kid: Option<String>,
) -> PyResult<String> {
    if !json::is_mapping(claims)? {
        return Err(errors::type_error("claims", "a mapping", claims));
    }
    let claims_json = json::dumps(claims, DumpOptions { time_claims: true })?;
    let extra = match headers {
        Some(h) => mapping_to_object(h, "headers", None)?,
        None => Object::new(),
    };
    let k = key.get();
    let header = Header {
        algorithm: Algorithm::parse(algorithm).py_err()?,
        typ,
        kid,
        extra,
    };
    encode_detached(py, header, claims_json, Arc::clone(&k.inner), false)
}

// ---- PyJWT-compatible verification -----------------------------------------------

/// PyJWT's options, read from a dict.
struct CompatOptions {
    verify_signature: bool,
    verify_exp: bool,
    verify_nbf: bool,
    verify_iat: bool,
    verify_aud: bool,
    verify_iss: bool,
    verify_sub: bool,
    /// Whether any claim check was explicitly enabled (matters without signature verification).
    any_enabled: bool,
    require: Vec<String>,
    strict_aud: bool,
    enforce_minimum_key_length: bool,
}

impl CompatOptions {
    fn read(options: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        let dict = match options {
            None => None,
            Some(o) if o.is_none() => None,
            Some(o) => Some(match o.cast::<PyDict>() {
                Ok(d) => d.clone(),
                Err(_) if json::is_mapping(o)? => o
                    .py()
                    .get_type::<PyDict>()
                    .call1((o,))?
                    .cast_into::<PyDict>()?,
                Err(_) => return Err(errors::type_error("options", "a dict", o)),
            }),
        };
        let get = |name: &str| -> PyResult<Option<bool>> {
            match &dict {
                None => Ok(None),
                Some(d) => match d.get_item(name)? {
                    None => Ok(None),
                    Some(v) => Ok(Some(v.is_truthy()?)),
                },
            }
        };
        let verify_signature = get("verify_signature")?.unwrap_or(true);
        let mut any_enabled = false;
        let mut flag = |name: &str| -> PyResult<bool> {
            let v = get(name)?;
            any_enabled |= v == Some(true);
            Ok(v.unwrap_or(verify_signature))
        };
        let verify_exp = flag("verify_exp")?;
        let verify_nbf = flag("verify_nbf")?;
        let verify_iat = flag("verify_iat")?;
        let verify_aud = flag("verify_aud")?;
        let verify_iss = flag("verify_iss")?;
        let verify_sub = flag("verify_sub")?;
        let _ = flag("verify_jti")?; // jti's type is always checked by the core
        let require = match dict
            .as_ref()
            .map(|d| d.get_item("require"))
            .transpose()?
            .flatten()
        {
            Some(r) if !r.is_none() => strings(&r, "options[\"require\"]")?,
            _ => Vec::new(),
        };
        Ok(Self {
            verify_signature,
            verify_exp,
            verify_nbf,
            verify_iat,
            verify_aud,
            verify_iss,
            verify_sub,
            any_enabled: any_enabled || !require.is_empty(),
            require,
            strict_aud: get("strict_aud")?.unwrap_or(false),
            enforce_minimum_key_length: get("enforce_minimum_key_length")?.unwrap_or(true),
        })
    }
}

fn optional_strings(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Vec<String>>> {
    match obj {
        Some(o) if !o.is_none() => strings(o, what).map(Some),
        _ => Ok(None),
    }
}

/// The PyJWT-compatible decode shared by `jwt_decode` and `jwt_decode_complete`.
#[allow(clippy::too_many_arguments)]
fn compat_decode(
    jwt: &Bound<'_, PyAny>,
    key: &Bound<'_, PyAny>,
    algorithms: Option<&Bound<'_, PyAny>>,
    options: Option<&Bound<'_, PyAny>>,
    detached_payload: Option<&Bound<'_, PyAny>>,
    audience: Option<&Bound<'_, PyAny>>,
    issuer: Option<&Bound<'_, PyAny>>,
    subject: Option<&str>,
    leeway: &Bound<'_, PyAny>,
    clock: Option<&Bound<'_, ManualClock>>,
    max_token_size: usize,
) -> PyResult<Token> {
    let raw = token_bytes(jwt)?;
    let opts = CompatOptions::read(options)?;
    if detached_payload.is_some_and(|d| !d.is_none()) {
        return Err(DecodeError::new_err(
            "detached payloads (RFC 7797 \"b64\": false) are not supported",
        ));
    }
    let algs = match algorithms {
        Some(a) if !a.is_none() => self::algorithms(a)?,
        _ => Vec::new(),
    };
    if opts.verify_signature && algs.is_empty() {
        return Err(DecodeError::new_err(
            "It is required that you pass in a value for the \"algorithms\" argument when calling decode().",
        ));
    }
    let mut v = Validation::new(&algs);
    v.leeway = seconds(leeway, "leeway")?;
    v.validate_exp = opts.verify_exp;
    v.validate_nbf = opts.verify_nbf;
    v.validate_iat = opts.verify_iat;
    v.validate_aud = opts.verify_aud;
    v.required_claims = opts.require;
    v.strict_aud = opts.strict_aud;
    v.max_token_size = max_token_size;
    v.allow_weak_keys = !opts.enforce_minimum_key_length;
    if opts.verify_aud {
        v.audience = optional_strings(audience, "audience")?;
    }
    if opts.verify_iss {
        v.issuer = optional_strings(issuer, "issuer")?;
    }
    if opts.verify_sub {
        v.subject = subject.map(str::to_owned);
    }
    let clock = clock::borrow(clock);
    if opts.verify_signature {
        let key = key_arg(key, &families(&algs))?;
        VerifiedCache::global()
            .decode(raw, &key, &v, clock)
            .py_err()
    } else {
        let token = core::decode_unverified(raw, max_token_size).py_err()?;
        if opts.any_enabled {
            core::validate_claims(&token.claims, &v, clock.now_secs()).py_err()?;
        }
        Ok(token)
    }
}

/// PyJWT's ``decode_complete``: verifies ``jwt`` and returns
/// ``{"header": dict, "payload": dict, "signature": bytes}``.
#[pyfunction]
#[pyo3(signature = (jwt, key = None, algorithms = None, options = None, detached_payload = None, audience = None, issuer = None, subject = None, leeway = None, clock = None, max_token_size = 8192))]
#[allow(clippy::too_many_arguments)]
pub fn jwt_decode_complete<'py>(
    py: Python<'py>,
    jwt: &Bound<'py, PyAny>,
    key: Option<&Bound<'py, PyAny>>,
    algorithms: Option<&Bound<'py, PyAny>>,
    options: Option<&Bound<'py, PyAny>>,
    detached_payload: Option<&Bound<'py, PyAny>>,
    audience: Option<&Bound<'py, PyAny>>,
    issuer: Option<&Bound<'py, PyAny>>,
    subject: Option<&str>,
    leeway: Option<&Bound<'py, PyAny>>,
    clock: Option<&Bound<'py, ManualClock>>,
    #[pyo3(from_py_with = size_arg)] max_token_size: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let empty = PyString::new(py, "").into_any();
    let zero = 0i32.into_pyobject(py)?.into_any();
    let token = compat_decode(
        jwt,
        key.unwrap_or(&empty),
        algorithms,
        options,
        detached_payload,
        audience,
        issuer,
        subject,
        leeway.unwrap_or(&zero),
        clock,
        max_token_size,
    )?;
    complete(py, &token)
}

/// PyJWT's ``decode``: verifies ``jwt`` and returns its claims.
#[pyfunction]
#[pyo3(signature = (jwt, key = None, algorithms = None, options = None, detached_payload = None, audience = None, issuer = None, subject = None, leeway = None, clock = None, max_token_size = 8192))]
#[allow(clippy::too_many_arguments)]
pub fn jwt_decode<'py>(
    py: Python<'py>,
    jwt: &Bound<'py, PyAny>,
    key: Option<&Bound<'py, PyAny>>,
    algorithms: Option<&Bound<'py, PyAny>>,
    options: Option<&Bound<'py, PyAny>>,
    detached_payload: Option<&Bound<'py, PyAny>>,
    audience: Option<&Bound<'py, PyAny>>,
    issuer: Option<&Bound<'py, PyAny>>,
    subject: Option<&str>,
    leeway: Option<&Bound<'py, PyAny>>,
    clock: Option<&Bound<'py, ManualClock>>,
    #[pyo3(from_py_with = size_arg)] max_token_size: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let empty = PyString::new(py, "").into_any();
    let zero = 0i32.into_pyobject(py)?.into_any();
    let token = compat_decode(
        jwt,
        key.unwrap_or(&empty),
        algorithms,
        options,
        detached_payload,
        audience,
        issuer,
        subject,
        leeway.unwrap_or(&zero),
        clock,
        max_token_size,
    )?;
    json::object_to_py(py, &token.claims)
}

/// PyJWT's ``get_unverified_header``: the header, parsed strictly, NOT verified.
#[pyfunction]
pub fn jwt_get_unverified_header<'py>(
    py: Python<'py>,
    jwt: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let header = core::decode_header(token_bytes(jwt)?, DEFAULT_MAX_TOKEN_SIZE).py_err()?;
    json::object_to_py(py, &header)
}

/// Verifies a JWS in compact form without reading its payload as claims:
/// size, header, ``crit``, ``typ``, accepted algorithms, key family and
/// signature are checked. Returns ``{"header": dict, "payload": bytes,
/// "algorithm": str}``.
#[pyfunction]
#[pyo3(signature = (token, key, algorithms, *, typ = None, critical_extensions = None, max_token_size = 8192, allow_weak_keys = false))]
#[allow(clippy::too_many_arguments)]
pub fn verify_jws<'py>(
    py: Python<'py>,
    token: &Bound<'py, PyAny>,
    key: &Bound<'py, PyAny>,
    algorithms: &Bound<'py, PyAny>,
    typ: Option<String>,
    critical_extensions: Option<&Bound<'py, PyAny>>,
    #[pyo3(from_py_with = size_arg)] max_token_size: usize,
    allow_weak_keys: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let algs = self::algorithms(algorithms)?;
    let key = key_arg(key, &families(&algs))?;
    let mut v = Validation::new(&algs);
    v.typ = typ;
    v.max_token_size = max_token_size;
    v.allow_weak_keys = allow_weak_keys;
    if let Some(c) = critical_extensions {
        v.critical_extensions = strings(c, "critical_extensions")?;
    }
    let jws = core::verify_jws(token_bytes(token)?, &key, &v).py_err()?;
    let out = PyDict::new(py);
    out.set_item(intern!(py, "header"), json::object_to_py(py, &jws.header)?)?;
    out.set_item(intern!(py, "payload"), PyBytes::new(py, &jws.payload))?;
    out.set_item(intern!(py, "algorithm"), jws.algorithm.name())?;
    Ok(out)
}

// ---- Verifier --------------------------------------------------------------------

/// The `Validation` for the keyword arguments `Verifier`, `KeySet.decode` and
/// `JwksClient.decode` share. A configuration that can never verify fails
/// here, not at first use.
#[allow(clippy::too_many_arguments)]
pub(crate) fn validation(
    algorithms: Vec<Algorithm>,
    audience: Option<&Bound<'_, PyAny>>,
    issuer: Option<&Bound<'_, PyAny>>,
    subject: Option<String>,
    leeway: f64,
    required: Option<&Bound<'_, PyAny>>,
    typ: Option<String>,
    max_age: Option<f64>,
    max_token_size: usize,
    critical_extensions: Option<&Bound<'_, PyAny>>,
    nonce: Option<String>,
) -> PyResult<Validation> {
    let mut v = Validation::new(&algorithms);
    v.audience = optional_strings(audience, "audience")?;
    v.issuer = optional_strings(issuer, "issuer")?;
    v.subject = subject;
    v.leeway = leeway;
    if let Some(r) = required {
        v.required_claims = strings(r, "required")?;
    }
    v.typ = typ;
    v.max_age = max_age;
    v.max_token_size = max_token_size;
    if let Some(c) = critical_extensions {
        v.critical_extensions = strings(c, "critical_extensions")?;
    }
    v.nonce = nonce;
    v.validate().py_err()?;
    Ok(v)
}

/// A verifier built once and reused: key, accepted algorithms and claim rules
/// are fixed at construction. ``exp`` is required by default; a token carrying
/// ``aud`` is rejected unless ``audience`` names one of its values.
#[pyclass(frozen, module = "bastion._native")]
pub struct Verifier {
    key: Arc<CoreKey>,
    validation: Validation,
    clock: SharedClock,
}

impl Verifier {
    fn verify(&self, jwt: &Bound<'_, PyAny>) -> PyResult<Token> {
        VerifiedCache::global()
            .decode(
                token_bytes(jwt)?,
                &self.key,
                &self.validation,
                self.clock.as_ref(),
            )
            .py_err()
    }
}

#[pymethods]
impl Verifier {
    #[new]
    #[pyo3(signature = (key, algorithms, *, audience = None, issuer = None, subject = None, leeway = 0.0, required = None, typ = None, max_age = None, clock = None, max_token_size = 8192, critical_extensions = None, nonce = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        key: &Bound<'_, PyAny>,
        algorithms: &Bound<'_, PyAny>,
        audience: Option<&Bound<'_, PyAny>>,
        issuer: Option<&Bound<'_, PyAny>>,
        subject: Option<String>,
        leeway: f64,
        required: Option<&Bound<'_, PyAny>>,
        typ: Option<String>,
        max_age: Option<f64>,
        clock: Option<&Bound<'_, ManualClock>>,
        #[pyo3(from_py_with = size_arg)] max_token_size: usize,
        critical_extensions: Option<&Bound<'_, PyAny>>,
        nonce: Option<String>,
    ) -> PyResult<Self> {
        let algs = self::algorithms(algorithms)?;
        let key = if key.is_instance_of::<PyString>() || key.is_instance_of::<PyBytes>() {
            Arc::new(CoreKey::from_material(material(key, "key")?, &families(&algs)).py_err()?)
        } else {
            key_arg(key, &[])?
        };
        let v = validation(
            algs,
            audience,
            issuer,
            subject,
            leeway,
            required,
            typ,
            max_age,
            max_token_size,
            critical_extensions,
            nonce,
        )?;
        Ok(Self {
            key,
            validation: v,
            clock: clock::resolve(clock),
        })
    }

    /// Verifies ``token`` (str or bytes) and returns its claims.
    fn decode<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let t = self.verify(token)?;
        json::object_to_py(py, &t.claims)
    }

    /// Verifies ``token`` and returns ``{"header", "payload", "signature"}``.
    fn decode_complete<'py>(
        &self,
        py: Python<'py>,
        token: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let t = self.verify(token)?;
        complete(py, &t)
    }

    /// The accepted algorithms.
    #[getter]
    fn algorithms(&self) -> Vec<&'static str> {
        algorithm_names(&self.validation.algorithms)
    }

    fn __repr__(&self) -> String {
        // Family and algorithm names are plain ASCII: quote them as Python does.
        let algs: Vec<String> = algorithm_names(&self.validation.algorithms)
            .iter()
            .map(|a| format!("'{a}'"))
            .collect();
        format!(
            "<Verifier family='{}' algorithms=[{}]>",
            self.key.family().name(),
            algs.join(", ")
        )
    }
}

/// Names of every algorithm bastion implements.
#[pyfunction]
pub fn supported_algorithms<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, algorithm_names(Algorithm::ALL))
}

/// Sets how many verified tokens are remembered (default 4096; 0 turns the
/// cache off). A token presented again with the same key skips decoding and
/// the signature check; every configuration- and time-dependent rule still
/// runs. Returns the previous capacity.
#[pyfunction]
pub fn set_verified_token_cache_size(size: usize) -> usize {
    let cache = VerifiedCache::global();
    let before = cache.capacity();
    cache.set_capacity(size);
    before
}
