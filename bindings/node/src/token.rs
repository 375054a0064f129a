//! JSON Web Tokens (core `token` module): `Key`, `sign`, `verify`, their
//! Promise twins, `decode` and `decodeHeader`.
//!
//! Payloads cross the boundary as JSON text: `JSON.stringify` on the way in,
//! the exact signed claims text (for `JSON.parse`) on the way out, which is
//! faster than building objects property by property through napi.
//!
//! `sign` and `verify` take positional arguments, not an options object:
//! napi reads every declared field of an options object on every call, which
//! costs more than the HS256 verification itself (measured: +2.1 µs for an
//! options object, +0.2 µs for positional arguments). The `bastion-engine`
//! JavaScript layer offers the options-object API on top.
//!
//! A key argument is a `Key`, or raw material (a string or a Buffer) that the
//! core classifies (`Key::from_material`), restricted to the families of the
//! accepted algorithms, parses once and keeps in its bounded `KeyCache`.
//!
//! Arguments arrive as `Unknown` and are converted by `errors::arg`, so a value
//! of the wrong type is an `INVALID_ARGUMENT` error like every other.

use std::sync::Arc;

use bastion_core::clock::{Clock, ManualClock as CoreManualClock, SystemClock};
use bastion_core::token::json::{self, Value};
use bastion_core::token::{
    self, Algorithm, Family, Header, Key as CoreKey, KeyCache, Validation, VerifiedCache,
    DEFAULT_MAX_TOKEN_SIZE,
};
use bastion_core::Result as CoreResult;
use napi::bindgen_prelude::{
    AbortSignal, AsyncTask, Buffer, BufferSlice, ClassInstance, FromNapiValue, Function,
    JsObjectValue, Object, Unknown, ValueType,
};
use napi::{Env, Task};
use napi_derive::napi;
use zeroize::Zeroizing;

use crate::clock::ManualClock;
use crate::errors::{self, arg, bytes_arg, invalid_argument, options_arg, Bytes, Result};

// ---- argument conversion ---------------------------------------------------

/// A key argument: a `Key`, or raw material for the core's `KeyCache`.
enum KeyArg<'a> {
    Key(Arc<CoreKey>),
    Material(Bytes<'a>),
}

fn key_arg(value: Unknown<'_>) -> CoreResult<KeyArg<'_>> {
    if value.get_type().map_err(errors::from_napi)? == ValueType::Object {
        if let Ok(k) = ClassInstance::<Key>::from_unknown(value) {
            return Ok(KeyArg::Key(Arc::clone(&k.inner)));
        }
    }
    bytes_arg(value, "key")
        .map(KeyArg::Material)
        .map_err(|_| invalid_argument("key must be a Key, a string or a Buffer"))
}

impl KeyArg<'_> {
    fn resolve(&self, families: &[Family]) -> CoreResult<Arc<CoreKey>> {
        match self {
            Self::Key(k) => Ok(Arc::clone(k)),
            Self::Material(m) => KeyCache::global().get(m.as_slice(), families),
        }
    }

    /// The key or a copy of the material, to move to a worker thread.
    fn into_owned(self) -> Material {
        match self {
            Self::Key(k) => Material::Key(k),
            Self::Material(Bytes::Text(s)) => Material::Raw(Zeroizing::new(s.into_bytes())),
            Self::Material(Bytes::Buffer(b)) => Material::Raw(Zeroizing::new(b.to_vec())),
        }
    }
}

/// Key material held by an async task until the worker thread resolves it.
enum Material {
    Key(Arc<CoreKey>),
    Raw(Zeroizing<Vec<u8>>),
}

impl Material {
    fn resolve(&self, families: &[Family]) -> CoreResult<Arc<CoreKey>> {
        match self {
            Self::Key(k) => Ok(Arc::clone(k)),
            Self::Raw(m) => KeyCache::global().get(m, families),
        }
    }
}

/// Where `verify` reads the time: the system clock, or a `ManualClock`
/// (shared with JavaScript, or made for a fixed number of seconds).
#[derive(Clone)]
pub(crate) enum Time {
    System,
    Manual(CoreManualClock),
}

impl Time {
    pub(crate) fn clock(&self) -> &dyn Clock {
        match self {
            Self::System => &SystemClock,
            Self::Manual(c) => c,
        }
    }
}

pub(crate) fn time_arg(value: Unknown<'_>) -> CoreResult<Time> {
    let expected = "a ManualClock or a number of seconds since the epoch";
    Ok(match value.get_type().map_err(errors::from_napi)? {
        ValueType::Undefined | ValueType::Null => Time::System,
        ValueType::Number => Time::Manual(CoreManualClock::new(arg(value, "clock", expected)?)),
        _ => {
            let c: ClassInstance<ManualClock> = arg(value, "clock", expected)?;
            Time::Manual(c.inner.clone())
        }
    })
}

fn algorithms_arg(value: Unknown<'_>) -> CoreResult<Option<Vec<Algorithm>>> {
    let names: Option<Vec<String>> = arg(value, "algorithms", "an array of algorithm names")?;
    names
        .map(|n| n.iter().map(|a| Algorithm::parse(a)).collect())
        .transpose()
}

fn families(algorithms: &[Algorithm]) -> Vec<Family> {
    Family::needed_by(algorithms)
}

fn size_arg(value: Unknown<'_>, name: &str) -> CoreResult<Option<usize>> {
    let expected = "a non-negative number";
    match arg::<Option<f64>>(value, name, expected)? {
        None => Ok(None),
        Some(v) if v.is_finite() && v >= 0.0 => Ok(Some(v as usize)),
        Some(_) => Err(invalid_argument(format!("{name} must be {expected}"))),
    }
}

fn strings(value: Unknown<'_>, name: &str) -> CoreResult<Option<Vec<String>>> {
    arg(value, name, "an array of strings")
}

pub(crate) fn string(value: Unknown<'_>, name: &str) -> CoreResult<Option<String>> {
    arg(value, name, "a string")
}

fn number(value: Unknown<'_>, name: &str) -> CoreResult<Option<f64>> {
    arg(value, name, "a number")
}

fn boolean(value: Unknown<'_>, name: &str) -> CoreResult<Option<bool>> {
    arg(value, name, "a boolean")
}

// ---- Key -------------------------------------------------------------------

/// A signing or verification key, bound to one algorithm family when it is
/// made and parsed once. An RSA, EC or Ed25519 key can never be used as an
/// HMAC secret, whatever a token's header says. Secret material never appears
/// in errors. Factories throw `INVALID_KEY` (or `INVALID_ARGUMENT` for a
/// value of the wrong type).
#[napi]
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

fn make_key(env: &Env, made: impl FnOnce() -> CoreResult<CoreKey>) -> Result<Key> {
    errors::guard(made)
        .map(Key::wrap)
        .map_err(|e| errors::to_js(env, e))
}

/// Converts a `Buffer` argument (a message or a signature).
fn buffer_arg<'a>(value: Unknown<'a>, name: &str) -> CoreResult<BufferSlice<'a>> {
    arg(value, name, "a Buffer")
}

#[napi]
impl Key {
    /// An HMAC key from a shared secret (HS256/HS384/HS512). Material that is
    /// a public or private key in any form is refused. The secret's length is
    /// checked against each algorithm when it is used (at least 32, 48, 64
    /// bytes) unless weak keys are explicitly allowed.
    #[napi(factory, ts_args_type = "secret: string | Buffer")]
    pub fn hmac(env: &Env, secret: Unknown) -> Result<Key> {
        make_key(env, || {
            CoreKey::hmac(bytes_arg(secret, "secret")?.as_slice())
        })
    }

    /// A key from PEM text: `PUBLIC KEY`, `RSA PUBLIC KEY`, `CERTIFICATE`,
    /// `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY` (not encrypted).
    #[napi(factory, ts_args_type = "pem: string | Buffer")]
    pub fn from_pem(env: &Env, pem: Unknown) -> Result<Key> {
        make_key(env, || CoreKey::from_pem(bytes_arg(pem, "pem")?.as_slice()))
    }

    /// A key from DER bytes (SPKI, PKCS#8, PKCS#1, SEC1 or an X.509 certificate).
    #[napi(factory, ts_args_type = "der: Buffer")]
    pub fn from_der(env: &Env, der: Unknown) -> Result<Key> {
        make_key(env, || {
            let der: BufferSlice = arg(der, "der", "a Buffer")?;
            CoreKey::from_der(&der)
        })
    }

    /// A key from a JWK (RFC 7517), as JSON text or an object: `kty` `oct`,
    /// `RSA`, `EC` (P-256, P-384, P-521, secp256k1) or `OKP` (Ed25519), public
    /// or private. `alg` (or `algorithm`) restricts the key to that algorithm;
    /// `use` must be `sig` when present; `kid` becomes the key id.
    #[napi(
        factory,
        ts_args_type = "jwk: string | object, algorithm?: string | null"
    )]
    pub fn from_jwk(env: &Env, jwk: Unknown, algorithm: Unknown) -> Result<Key> {
        make_key(env, || {
            let expected = "JSON text or an object";
            let text: String = match jwk.get_type().map_err(errors::from_napi)? {
                ValueType::Object => stringify(env, arg(jwk, "jwk", expected)?)
                    .map_err(|_| invalid_argument("the JWK object cannot be serialised as JSON"))?,
                _ => arg(jwk, "jwk", expected)?,
            };
            let key = CoreKey::from_jwk(text.as_bytes())?;
            match string(algorithm, "algorithm")? {
                Some(name) => key.restrict_to(Algorithm::parse(&name)?),
                None => Ok(key),
            }
        })
    }

    /// A public key from an OpenSSH `authorized_keys` line (`ssh-rsa`,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256/384/521`).
    #[napi(factory, ts_args_type = "line: string | Buffer")]
    pub fn from_ssh(env: &Env, line: Unknown) -> Result<Key> {
        make_key(env, || {
            CoreKey::from_ssh(bytes_arg(line, "line")?.as_slice())
        })
    }

    /// A key from material of undeclared form: a PEM block, an OpenSSH public
    /// key, a JWK, DER, or otherwise an HMAC secret. With `algorithms`, the
    /// material must fit one of their families (an asymmetric key offered
    /// where only HMAC is accepted is refused, and so is a plain secret where
    /// only RSA is accepted). This is how string and Buffer keys given to
    /// `sign` and `verify` are read.
    #[napi(
        factory,
        ts_args_type = "material: string | Buffer, algorithms?: string[] | null"
    )]
    pub fn from_material(env: &Env, material: Unknown, algorithms: Unknown) -> Result<Key> {
        make_key(env, || {
            let fams = families(&algorithms_arg(algorithms)?.unwrap_or_default());
            CoreKey::from_material(bytes_arg(material, "material")?.as_slice(), &fams)
        })
    }

    /// The key's family: `"HMAC"`, `"RSA"`, `"EC P-256"`, `"EC P-384"`,
    /// `"EC P-521"`, `"EC secp256k1"` or `"Ed25519"`.
    #[napi(getter)]
    pub fn family(&self) -> &'static str {
        self.inner.family().name()
    }

    /// The key id (a JWK's `kid`, or set with `withKid`), written as the
    /// header `kid` when signing.
    #[napi(getter)]
    pub fn kid(&self) -> Option<String> {
        self.inner.kid().map(str::to_owned)
    }

    /// The same key with key id `kid` (the parsed material is shared).
    #[napi(ts_args_type = "kid: string")]
    pub fn with_kid(&self, env: &Env, kid: Unknown) -> Result<Key> {
        let kid: String = arg(kid, "kid", "a string").map_err(|e| errors::to_js(env, e))?;
        Ok(Key::wrap((*self.inner).clone().with_kid(Some(kid))))
    }

    /// The one algorithm the key is restricted to (a JWK's `alg`), if any.
    #[napi(getter)]
    pub fn algorithm(&self) -> Option<&'static str> {
        self.inner.algorithm().map(Algorithm::name)
    }

    /// True when the key can sign: an HMAC secret or a private key.
    #[napi(getter)]
    pub fn can_sign(&self) -> bool {
        self.inner.can_sign()
    }

    /// Every algorithm the key may be used with (its `algorithm` alone when
    /// restricted). `verify` accepts exactly these when no `algorithms` are given.
    #[napi(getter)]
    pub fn algorithms(&self) -> Vec<&'static str> {
        self.inner
            .algorithms()
            .into_iter()
            .map(Algorithm::name)
            .collect()
    }

    /// The public part as a JWK object (`kty`, key members, `kid`, `alg`,
    /// `use: "sig"`), never a private member. HMAC keys have no public part
    /// and throw `INVALID_KEY`.
    #[napi(ts_return_type = "Record<string, string>")]
    pub fn public_jwk<'e>(&self, env: &'e Env) -> Result<Unknown<'e>> {
        errors::guard(|| {
            let mut text = String::with_capacity(256);
            json::write_object(&self.inner.public_jwk()?, &mut text);
            parse_json(env, text).map_err(errors::from_napi)
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// Signs `message` with `algorithm` and returns the raw signature (JWS
    /// form: ECDSA as fixed-length `R || S`). `allowWeak` skips the HMAC
    /// secret-strength rule (never the family rule). Runs on the calling
    /// thread; use `signAsync` for tokens signed with RSA or ECDSA.
    #[napi(ts_args_type = "algorithm: string, message: Buffer, allowWeak?: boolean | null")]
    pub fn sign(
        &self,
        env: &Env,
        algorithm: Unknown,
        message: Unknown,
        allow_weak: Unknown,
    ) -> Result<Buffer> {
        errors::guard(|| {
            let alg = Algorithm::parse(&arg::<String>(algorithm, "algorithm", "a string")?)?;
            let message = buffer_arg(message, "message")?;
            let allow_weak = boolean(allow_weak, "allowWeak")?.unwrap_or(false);
            self.inner.sign(alg, &message, allow_weak).map(Buffer::from)
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// Verifies a raw `signature` over `message` with `algorithm` (constant
    /// time for HMAC); throws `INVALID_SIGNATURE` when it does not verify.
    #[napi(
        ts_args_type = "algorithm: string, message: Buffer, signature: Buffer, allowWeak?: boolean | null"
    )]
    pub fn verify(
        &self,
        env: &Env,
        algorithm: Unknown,
        message: Unknown,
        signature: Unknown,
        allow_weak: Unknown,
    ) -> Result<()> {
        errors::guard(|| {
            let alg = Algorithm::parse(&arg::<String>(algorithm, "algorithm", "a string")?)?;
            let message = buffer_arg(message, "message")?;
            let signature = buffer_arg(signature, "signature")?;
            let allow_weak = boolean(allow_weak, "allowWeak")?.unwrap_or(false);
            self.inner.verify(alg, &message, &signature, allow_weak)
        })
        .map_err(|e| errors::to_js(env, e))
    }
}

pub(crate) fn stringify(env: &Env, obj: Object) -> napi::Result<String> {
    let json: napi::JSON = env.get_global()?.get_named_property_unchecked("JSON")?;
    json.stringify(obj)
}

pub(crate) fn parse_json(env: &Env, text: String) -> napi::Result<Unknown<'_>> {
    let json: napi::JSON = env.get_global()?.get_named_property_unchecked("JSON")?;
    let parse: Function<String, Unknown> = json.get_named_property_unchecked("parse")?;
    parse.call(text)
}

// ---- verify ----------------------------------------------------------------

/// The core's `decode` through its process-wide `VerifiedCache`: a token seen
/// before with the same key skips decoding and the signature check; every
/// configuration- and time-dependent rule runs again.
fn decode_cached(
    token: &str,
    key: &CoreKey,
    validation: &Validation,
    time: &Time,
) -> CoreResult<String> {
    VerifiedCache::global()
        .decode(token.as_bytes(), key, validation, time.clock())
        .map(|t| t.claims_json)
}

/// Sets how many verified tokens the core remembers (default 4096; 0 turns
/// the cache off and empties it) and returns the previous size. A token
/// presented again with the same key skips decoding and the signature check;
/// the accepted algorithms, key family and strength, `crit`, `typ`, the size
/// bound and every claim check still run on each call.
#[napi(ts_args_type = "size: number")]
pub fn set_verified_token_cache_size(env: &Env, size: Unknown) -> Result<u32> {
    errors::guard(|| {
        let size = size_arg(size, "size")?
            .ok_or_else(|| invalid_argument("size must be a non-negative number"))?;
        let cache = VerifiedCache::global();
        let before = cache.capacity();
        cache.set_capacity(size);
        Ok(u32::try_from(before).unwrap_or(u32::MAX))
    })
    .map_err(|e| errors::to_js(env, e))
}

/// What a `Verifier` accepts: the core's `Validation`, field for field
/// (every field optional; absent = the core's default).
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct VerifierOptions {
    /// Accepted algorithms (default: the key's own, `key.algorithms`; `"none"`
    /// is never accepted).
    pub algorithms: Option<Vec<String>>,
    /// Seconds of clock skew tolerated on `exp`, `nbf`, `iat` and `maxAge` (0).
    pub leeway: Option<f64>,
    /// Claims that must be present (`["exp"]`).
    pub required_claims: Option<Vec<String>>,
    /// Accepted audiences: `aud` must contain one. Without it, a token
    /// carrying `aud` is rejected (RFC 7519 §4.1.3).
    pub audience: Option<Vec<String>>,
    /// Accepted issuers: `iss` must equal one.
    pub issuer: Option<Vec<String>>,
    /// Expected `sub`.
    pub subject: Option<String>,
    /// Expected `jti`.
    pub jti: Option<String>,
    /// Maximum age in seconds since `iat` (which becomes required).
    pub max_age: Option<f64>,
    /// Expected header `typ` (case-insensitive, `application/` prefix ignored).
    pub typ: Option<String>,
    /// Largest accepted token in bytes (8192), checked first.
    pub max_token_size: Option<f64>,
    /// `crit` header names the caller processes itself.
    pub critical_extensions: Option<Vec<String>>,
    /// Reject tokens whose `exp` has passed (true).
    pub validate_exp: Option<bool>,
    /// Reject tokens whose `nbf` lies in the future (true).
    pub validate_nbf: Option<bool>,
    /// Reject tokens whose `iat` lies in the future (true).
    pub validate_iat: Option<bool>,
    /// Check `aud` (true).
    pub validate_aud: Option<bool>,
    /// `aud` must be one string equal to the one audience (false).
    pub strict_aud: Option<bool>,
    /// Accept HMAC secrets shorter than the hash output (false).
    pub allow_weak_keys: Option<bool>,
    /// Expected `nonce` claim (OpenID Connect ID tokens).
    pub nonce: Option<String>,
}

/// A verification request with its arguments converted and its key not yet
/// resolved: the core's `Validation` minus the algorithms, which default to
/// the key's own.
pub(crate) struct VerifySpec {
    algorithms: Option<Vec<Algorithm>>,
    families: Vec<Family>,
    validation: Validation,
}

impl VerifySpec {
    fn from_options(o: VerifierOptions) -> CoreResult<Self> {
        let algorithms = o
            .algorithms
            .map(|n| {
                n.iter()
                    .map(|a| Algorithm::parse(a))
                    .collect::<CoreResult<Vec<_>>>()
            })
            .transpose()?;
        let families = algorithms.as_deref().map(families).unwrap_or_default();
        let max_token_size = match o.max_token_size {
            None => None,
            Some(v) if v.is_finite() && v >= 0.0 => Some(v as usize),
            Some(_) => {
                return Err(invalid_argument(
                    "maxTokenSize must be a non-negative number",
                ))
            }
        };
        let d = Validation::default();
        let validation = Validation {
            algorithms: Vec::new(),
            leeway: o.leeway.unwrap_or(d.leeway),
            validate_exp: o.validate_exp.unwrap_or(d.validate_exp),
            validate_nbf: o.validate_nbf.unwrap_or(d.validate_nbf),
            validate_iat: o.validate_iat.unwrap_or(d.validate_iat),
            validate_aud: o.validate_aud.unwrap_or(d.validate_aud),
            required_claims: o.required_claims.unwrap_or(d.required_claims),
            audience: o.audience,
            strict_aud: o.strict_aud.unwrap_or(d.strict_aud),
            issuer: o.issuer,
            subject: o.subject,
            jti: o.jti,
            nonce: o.nonce,
            typ: o.typ,
            max_age: o.max_age,
            max_token_size: max_token_size.unwrap_or(d.max_token_size),
            critical_extensions: o.critical_extensions.unwrap_or(d.critical_extensions),
            allow_weak_keys: o.allow_weak_keys.unwrap_or(d.allow_weak_keys),
        };
        Ok(Self {
            algorithms,
            families,
            validation,
        })
    }

    /// The positional arguments of `verify` / `verifyAsync`.
    #[allow(clippy::too_many_arguments)]
    fn new(
        algorithms: Unknown,
        leeway: Unknown,
        required_claims: Unknown,
        audience: Unknown,
        issuer: Unknown,
        subject: Unknown,
        jti: Unknown,
        max_age: Unknown,
        typ: Unknown,
        max_token_size: Unknown,
        critical_extensions: Unknown,
        validate_exp: Unknown,
        validate_nbf: Unknown,
        validate_iat: Unknown,
        validate_aud: Unknown,
        strict_aud: Unknown,
        allow_weak_keys: Unknown,
        nonce: Unknown,
    ) -> CoreResult<Self> {
        Self::from_options(VerifierOptions {
            algorithms: arg(algorithms, "algorithms", "an array of algorithm names")?,
            leeway: number(leeway, "leeway")?,
            required_claims: strings(required_claims, "requiredClaims")?,
            audience: strings(audience, "audience")?,
            issuer: strings(issuer, "issuer")?,
            subject: string(subject, "subject")?,
            jti: string(jti, "jti")?,
            max_age: number(max_age, "maxAge")?,
            typ: string(typ, "typ")?,
            max_token_size: number(max_token_size, "maxTokenSize")?,
            critical_extensions: strings(critical_extensions, "criticalExtensions")?,
            validate_exp: boolean(validate_exp, "validateExp")?,
            validate_nbf: boolean(validate_nbf, "validateNbf")?,
            validate_iat: boolean(validate_iat, "validateIat")?,
            validate_aud: boolean(validate_aud, "validateAud")?,
            strict_aud: boolean(strict_aud, "strictAud")?,
            allow_weak_keys: boolean(allow_weak_keys, "allowWeakKeys")?,
            nonce: string(nonce, "nonce")?,
        })
    }

    /// The complete `Validation` for `key`.
    /// The complete `Validation` when there is no key to take the
    /// algorithms from (JWK Sets): `algorithms` must be given.
    pub(crate) fn explicit(o: VerifierOptions) -> CoreResult<Validation> {
        let spec = Self::from_options(o)?;
        let mut v = spec.validation;
        v.algorithms = spec.algorithms.unwrap_or_default();
        v.validate()?;
        Ok(v)
    }

    fn validation_for(mut self, key: &CoreKey) -> Validation {
        self.validation.algorithms = match self.algorithms.take() {
            Some(a) => a,
            None => key.algorithms(),
        };
        self.validation
    }

    fn run(self, token: &str, key: &CoreKey, time: &Time) -> CoreResult<String> {
        let validation = self.validation_for(key);
        decode_cached(token, key, &validation, time)
    }
}

/// A verifier built once and reused: key, accepted algorithms and claim rules
/// are converted once, so each `verify` call only converts the token (the
/// fastest way to verify many tokens with one configuration).
#[napi]
pub struct Verifier {
    key: Arc<CoreKey>,
    validation: Validation,
    time: Time,
}

#[napi]
impl Verifier {
    /// A verifier for `key` (a `Key`, or string / Buffer material restricted to
    /// the families of `options.algorithms`) with `options` (the core's
    /// defaults for what is absent), reading the time from `clock` (a
    /// `ManualClock` or a fixed number of seconds; default the system clock).
    #[napi(
        constructor,
        ts_args_type = "key: Key | string | Buffer, options?: VerifierOptions | null, clock?: ManualClock | number | null"
    )]
    pub fn new(env: &Env, key: Unknown, options: Unknown, clock: Unknown) -> Result<Self> {
        errors::guard(|| {
            let key = key_arg(key)?;
            let o: Option<VerifierOptions> =
                options_arg(options, "options", "an object of verifier options")?;
            let spec = VerifySpec::from_options(o.unwrap_or_default())?;
            let key = key.resolve(&spec.families)?;
            Ok(Self {
                validation: spec.validation_for(&key),
                key,
                time: time_arg(clock)?,
            })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// Verifies `token` and returns its claims as JSON text, as `verify` does.
    #[napi(ts_args_type = "token: string")]
    pub fn verify(&self, env: &Env, token: Unknown) -> Result<String> {
        errors::guard(|| {
            let token: String = arg(token, "token", "a string")?;
            decode_cached(&token, &self.key, &self.validation, &self.time)
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// `verify` on the libuv thread pool.
    #[napi(
        ts_args_type = "token: string, signal?: AbortSignal | null",
        ts_return_type = "Promise<string>"
    )]
    pub fn verify_async(
        &self,
        env: &Env,
        token: Unknown,
        signal: Unknown,
    ) -> Result<AsyncTask<VerifyTask>> {
        let (job, signal) = errors::guard(|| {
            let token: String = arg(token, "token", "a string")?;
            let signal: Option<AbortSignal> = arg(signal, "signal", "an AbortSignal")?;
            let spec = VerifySpec {
                algorithms: Some(self.validation.algorithms.clone()),
                families: Vec::new(),
                validation: self.validation.clone(),
            };
            let job = (
                token,
                Material::Key(Arc::clone(&self.key)),
                spec,
                self.time.clone(),
            );
            Ok((job, signal))
        })
        .map_err(|e| errors::to_js(env, e))?;
        Ok(AsyncTask::with_optional_signal(
            VerifyTask { job: Some(job) },
            signal,
        ))
    }

    /// The accepted algorithms.
    #[napi(getter)]
    pub fn algorithms(&self) -> Vec<&'static str> {
        self.validation
            .algorithms
            .iter()
            .map(|a| a.name())
            .collect()
    }
}

/// Verifies `token` with `key` and returns its claims as the exact JSON text
/// that was signed (for `JSON.parse`). Checks, in order: size, structure,
/// header (`alg` in the accepted list and fitting the key, `crit`, `typ`),
/// signature, then the claims. Arguments after `key` are optional (`undefined`
/// or `null` = the core's default) and mirror the core's `Validation`:
///
/// - `algorithms`: accepted algorithms (default: the key's own, `key.algorithms`;
///   `"none"` is never accepted);
/// - `clock`: a `ManualClock`, or the current time as seconds since the epoch
///   (default: the system clock);
/// - `leeway`: seconds of clock skew tolerated on `exp`, `nbf`, `iat`, `maxAge` (0);
/// - `requiredClaims`: claims that must be present (`["exp"]`);
/// - `audience`: accepted audiences, `aud` must contain one; without it a token
///   carrying `aud` is rejected (RFC 7519 §4.1.3);
/// - `issuer`: accepted issuers; `subject`, `jti`: expected `sub`, `jti`;
/// - `maxAge`: seconds since `iat` (which becomes required);
/// - `typ`: expected header `typ` (case-insensitive, `application/` ignored);
/// - `maxTokenSize`: largest accepted token in bytes (8192), checked first;
/// - `criticalExtensions`: `crit` names the caller processes itself;
/// - `validateExp`, `validateNbf`, `validateIat`, `validateAud` (all true);
/// - `strictAud`: `aud` must be one string equal to the one audience (false);
/// - `allowWeakKeys`: accept HMAC secrets shorter than the hash (false).
///
/// Throws an `Error` whose `code` says why (`MALFORMED_TOKEN`,
/// `INVALID_ALGORITHM`, `INVALID_SIGNATURE`, `TOKEN_EXPIRED`,
/// `TOKEN_NOT_YET_VALID`, `INVALID_AUDIENCE`, `MISSING_CLAIM`, ...), with `at`
/// (seconds since the epoch) on time errors and `claim` on claim errors.
#[napi(
    ts_args_type = "token: string, key: Key | string | Buffer, algorithms?: string[] | null, clock?: ManualClock | number | null, leeway?: number | null, requiredClaims?: string[] | null, audience?: string[] | null, issuer?: string[] | null, subject?: string | null, jti?: string | null, maxAge?: number | null, typ?: string | null, maxTokenSize?: number | null, criticalExtensions?: string[] | null, validateExp?: boolean | null, validateNbf?: boolean | null, validateIat?: boolean | null, validateAud?: boolean | null, strictAud?: boolean | null, allowWeakKeys?: boolean | null, nonce?: string | null"
)]
#[allow(clippy::too_many_arguments)]
pub fn verify(
    env: &Env,
    token: Unknown,
    key: Unknown,
    algorithms: Unknown,
    clock: Unknown,
    leeway: Unknown,
    required_claims: Unknown,
    audience: Unknown,
    issuer: Unknown,
    subject: Unknown,
    jti: Unknown,
    max_age: Unknown,
    typ: Unknown,
    max_token_size: Unknown,
    critical_extensions: Unknown,
    validate_exp: Unknown,
    validate_nbf: Unknown,
    validate_iat: Unknown,
    validate_aud: Unknown,
    strict_aud: Unknown,
    allow_weak_keys: Unknown,
    nonce: Unknown,
) -> Result<String> {
    errors::guard(|| {
        let token: String = arg(token, "token", "a string")?;
        let key = key_arg(key)?;
        let time = time_arg(clock)?;
        let spec = VerifySpec::new(
            algorithms,
            leeway,
            required_claims,
            audience,
            issuer,
            subject,
            jti,
            max_age,
            typ,
            max_token_size,
            critical_extensions,
            validate_exp,
            validate_nbf,
            validate_iat,
            validate_aud,
            strict_aud,
            allow_weak_keys,
            nonce,
        )?;
        let key = key.resolve(&spec.families)?;
        spec.run(&token, &key, &time)
    })
    .map_err(|e| errors::to_js(env, e))
}

/// `verify` on the libuv thread pool.
pub struct VerifyTask {
    job: Option<(String, Material, VerifySpec, Time)>,
}

impl Task for VerifyTask {
    type Output = CoreResult<String>;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(errors::guard(|| {
            let (token, material, spec, time) = self
                .job
                .take()
                .ok_or_else(|| invalid_argument("task already run"))?;
            let key = material.resolve(&spec.families)?;
            spec.run(&token, &key, &time)
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<String> {
        output.map_err(|e| errors::to_rejection(&env, e))
    }
}

/// `verify`, computed on the libuv thread pool: the same arguments, then an
/// optional `AbortSignal`. Resolves to the claims JSON text; rejects with the
/// same coded `Error` `verify` throws.
#[napi(
    ts_args_type = "token: string, key: Key | string | Buffer, algorithms?: string[] | null, clock?: ManualClock | number | null, leeway?: number | null, requiredClaims?: string[] | null, audience?: string[] | null, issuer?: string[] | null, subject?: string | null, jti?: string | null, maxAge?: number | null, typ?: string | null, maxTokenSize?: number | null, criticalExtensions?: string[] | null, validateExp?: boolean | null, validateNbf?: boolean | null, validateIat?: boolean | null, validateAud?: boolean | null, strictAud?: boolean | null, allowWeakKeys?: boolean | null, nonce?: string | null, signal?: AbortSignal | null",
    ts_return_type = "Promise<string>"
)]
#[allow(clippy::too_many_arguments)]
pub fn verify_async(
    env: &Env,
    token: Unknown,
    key: Unknown,
    algorithms: Unknown,
    clock: Unknown,
    leeway: Unknown,
    required_claims: Unknown,
    audience: Unknown,
    issuer: Unknown,
    subject: Unknown,
    jti: Unknown,
    max_age: Unknown,
    typ: Unknown,
    max_token_size: Unknown,
    critical_extensions: Unknown,
    validate_exp: Unknown,
    validate_nbf: Unknown,
    validate_iat: Unknown,
    validate_aud: Unknown,
    strict_aud: Unknown,
    allow_weak_keys: Unknown,
    nonce: Unknown,
    signal: Unknown,
) -> Result<AsyncTask<VerifyTask>> {
    let (job, signal) = errors::guard(|| {
        let token: String = arg(token, "token", "a string")?;
        let material = key_arg(key)?.into_owned();
        let time = time_arg(clock)?;
        let spec = VerifySpec::new(
            algorithms,
            leeway,
            required_claims,
            audience,
            issuer,
            subject,
            jti,
            max_age,
            typ,
            max_token_size,
            critical_extensions,
            validate_exp,
            validate_nbf,
            validate_iat,
            validate_aud,
            strict_aud,
            allow_weak_keys,
            nonce,
        )?;
        let signal: Option<AbortSignal> = arg(signal, "signal", "an AbortSignal")?;
        Ok(((token, material, spec, time), signal))
    })
    .map_err(|e| errors::to_js(env, e))?;
    Ok(AsyncTask::with_optional_signal(
        VerifyTask { job: Some(job) },
        signal,
    ))
}

/// A verified JWS whose payload was not read as claims.
#[napi(object, object_from_js = false)]
pub struct VerifiedJws {
    /// The protected header, as JSON text.
    pub header: String,
    /// The payload bytes.
    pub payload: Buffer,
    /// The algorithm that verified.
    pub algorithm: String,
}

/// Verifies a JWS in compact form WITHOUT reading its payload as a claims
/// set: size, header, `crit`, `typ`, accepted algorithms, key family and
/// signature are checked, as `verify` does. For payloads that are not JWT
/// claims. Throws the same coded errors as `verify`.
#[napi(
    ts_args_type = "token: string, key: Key | string | Buffer, algorithms?: string[] | null, typ?: string | null, criticalExtensions?: string[] | null, maxTokenSize?: number | null, allowWeakKeys?: boolean | null"
)]
#[allow(clippy::too_many_arguments)]
pub fn verify_jws(
    env: &Env,
    token: Unknown,
    key: Unknown,
    algorithms: Unknown,
    typ: Unknown,
    critical_extensions: Unknown,
    max_token_size: Unknown,
    allow_weak_keys: Unknown,
) -> Result<VerifiedJws> {
    errors::guard(|| {
        let token: String = arg(token, "token", "a string")?;
        let key = key_arg(key)?;
        let algorithms = algorithms_arg(algorithms)?;
        let key = key.resolve(&algorithms.as_deref().map(families).unwrap_or_default())?;
        let d = Validation::default();
        let validation = Validation {
            algorithms: algorithms.unwrap_or_else(|| key.algorithms()),
            typ: string(typ, "typ")?,
            critical_extensions: strings(critical_extensions, "criticalExtensions")?
                .unwrap_or(d.critical_extensions),
            max_token_size: size_arg(max_token_size, "maxTokenSize")?.unwrap_or(d.max_token_size),
            allow_weak_keys: boolean(allow_weak_keys, "allowWeakKeys")?
                .unwrap_or(d.allow_weak_keys),
            ..d
        };
        let jws = token::verify_jws(token.as_bytes(), &key, &validation)?;
        Ok(VerifiedJws {
            header: header_text(&jws.header),
            payload: jws.payload.into(),
            algorithm: jws.algorithm.name().to_owned(),
        })
    })
    .map_err(|e| errors::to_js(env, e))
}

// ---- sign ------------------------------------------------------------------

/// A signing request with its arguments converted, its key not yet resolved.
struct SignSpec {
    algorithm: Option<Algorithm>,
    typ: Option<String>,
    kid: Option<String>,
    extra: json::Object,
    allow_weak_keys: bool,
}

impl SignSpec {
    fn new(
        algorithm: Unknown,
        header: Unknown,
        kid: Unknown,
        allow_weak_keys: Unknown,
    ) -> CoreResult<Self> {
        let algorithm = string(algorithm, "algorithm")?
            .as_deref()
            .map(Algorithm::parse)
            .transpose()?;
        let mut extra = match string(header, "header")? {
            Some(text) => json::parse_object(text.as_bytes()).map_err(|e| {
                invalid_argument(format!("header must be the JSON text of an object: {e}"))
            })?,
            None => json::Object::new(),
        };
        let typ = match extra.remove("typ") {
            None => Some("JWT".to_owned()),
            Some(Value::String(s)) => Some(s),
            Some(Value::Null) => None,
            Some(_) => {
                return Err(invalid_argument(
                    "the header \"typ\" must be a string or null",
                ))
            }
        };
        let kid = match extra.remove("kid") {
            None => string(kid, "kid")?,
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(invalid_argument("the header \"kid\" must be a string")),
        };
        Ok(Self {
            algorithm,
            typ,
            kid,
            extra,
            allow_weak_keys: boolean(allow_weak_keys, "allowWeakKeys")?.unwrap_or(false),
        })
    }

    fn families(&self) -> Vec<Family> {
        self.algorithm.map(|a| vec![a.family()]).unwrap_or_default()
    }

    fn run(self, payload: &str, key: &CoreKey) -> CoreResult<String> {
        let algorithm = match self.algorithm {
            Some(a) => a,
            None => key.algorithm().unwrap_or(key.family().algorithms()[0]),
        };
        let header = Header {
            algorithm,
            typ: self.typ,
            kid: self.kid,
            extra: self.extra,
        };
        token::encode(&header, payload, key, self.allow_weak_keys)
    }
}

/// Signs `payload`, the JSON text of a claims object (kept byte for byte),
/// and returns the compact JWS. Registered claims must have their JSON types
/// (`exp`/`nbf`/`iat` numbers, `iss`/`sub`/`jti` strings, `aud` a string or
/// an array of strings). Optional arguments:
///
/// - `algorithm`: default the key's `algorithm` when restricted, else the
///   first of its family (HS256, RS256, ES256, ES384, ES512, ES256K, EdDSA);
/// - `header`: further header members as the JSON text of an object; its
///   `typ` (default `"JWT"`, `null` leaves it out) and `kid` are used, an
///   `alg` must equal the algorithm, `crit` and `b64` are refused;
/// - `kid`: the header `kid` (default the key's `kid`; `header.kid` wins);
/// - `allowWeakKeys`: accept HMAC secrets shorter than the hash output.
///
/// Throws a coded `Error` (`INVALID_ARGUMENT`, `INVALID_KEY`, `INVALID_ALGORITHM`).
#[napi(
    ts_args_type = "payload: string, key: Key | string | Buffer, algorithm?: string | null, header?: string | null, kid?: string | null, allowWeakKeys?: boolean | null"
)]
pub fn sign(
    env: &Env,
    payload: Unknown,
    key: Unknown,
    algorithm: Unknown,
    header: Unknown,
    kid: Unknown,
    allow_weak_keys: Unknown,
) -> Result<String> {
    errors::guard(|| {
        let payload: String = arg(payload, "payload", "a string (JSON text)")?;
        let key = key_arg(key)?;
        let spec = SignSpec::new(algorithm, header, kid, allow_weak_keys)?;
        let key = key.resolve(&spec.families())?;
        spec.run(&payload, &key)
    })
    .map_err(|e| errors::to_js(env, e))
}

/// `sign` on the libuv thread pool.
pub struct SignTask {
    job: Option<(String, Material, SignSpec)>,
}

impl Task for SignTask {
    type Output = CoreResult<String>;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(errors::guard(|| {
            let (payload, material, spec) = self
                .job
                .take()
                .ok_or_else(|| invalid_argument("task already run"))?;
            let key = material.resolve(&spec.families())?;
            spec.run(&payload, &key)
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<String> {
        output.map_err(|e| errors::to_rejection(&env, e))
    }
}

/// `sign`, computed on the libuv thread pool (RSA and EC signing take
/// milliseconds): the same arguments, then an optional `AbortSignal`.
/// Resolves to the token; rejects with the coded `Error` `sign` throws.
#[napi(
    ts_args_type = "payload: string, key: Key | string | Buffer, algorithm?: string | null, header?: string | null, kid?: string | null, allowWeakKeys?: boolean | null, signal?: AbortSignal | null",
    ts_return_type = "Promise<string>"
)]
#[allow(clippy::too_many_arguments)]
pub fn sign_async(
    env: &Env,
    payload: Unknown,
    key: Unknown,
    algorithm: Unknown,
    header: Unknown,
    kid: Unknown,
    allow_weak_keys: Unknown,
    signal: Unknown,
) -> Result<AsyncTask<SignTask>> {
    let (job, signal) = errors::guard(|| {
        let payload: String = arg(payload, "payload", "a string (JSON text)")?;
        let key = key_arg(key)?;
        let spec = SignSpec::new(algorithm, header, kid, allow_weak_keys)?;
        let material = key.into_owned();
        let signal: Option<AbortSignal> = arg(signal, "signal", "an AbortSignal")?;
        Ok(((payload, material, spec), signal))
    })
    .map_err(|e| errors::to_js(env, e))?;
    Ok(AsyncTask::with_optional_signal(
        SignTask { job: Some(job) },
        signal,
    ))
}

// ---- decode ----------------------------------------------------------------

/// A token's parts as JSON text, NOT verified.
#[napi(object)]
pub struct DecodedToken {
    /// The protected header, as JSON text.
    pub header: String,
    /// The claims, as the exact JSON text in the token.
    pub payload: String,
}

fn header_text(header: &json::Object) -> String {
    let mut text = String::with_capacity(64);
    json::write_object(header, &mut text);
    text
}

/// Decodes a token WITHOUT verifying its signature or claims, with the same
/// strict parsing and size bound (`maxTokenSize`, default 8192) as `verify`;
/// the payload must be a JSON object. Use it only to read a header (e.g.
/// `kid`) before choosing a key, or to inspect a token verified elsewhere.
/// Throws `MALFORMED_TOKEN`.
#[napi(ts_args_type = "token: string, maxTokenSize?: number | null")]
pub fn decode(env: &Env, token: Unknown, max_token_size: Unknown) -> Result<DecodedToken> {
    errors::guard(|| {
        let token: String = arg(token, "token", "a string")?;
        let max = size_arg(max_token_size, "maxTokenSize")?.unwrap_or(DEFAULT_MAX_TOKEN_SIZE);
        let t = token::decode_unverified(token.as_bytes(), max)?;
        Ok(DecodedToken {
            header: header_text(&t.header),
            payload: t.claims_json,
        })
    })
    .map_err(|e| errors::to_js(env, e))
}

/// Decodes only the header, NOT verified, as JSON text (strict parsing, size
/// bound as `decode`). Throws `MALFORMED_TOKEN`.
#[napi(ts_args_type = "token: string, maxTokenSize?: number | null")]
pub fn decode_header(env: &Env, token: Unknown, max_token_size: Unknown) -> Result<String> {
    errors::guard(|| {
        let token: String = arg(token, "token", "a string")?;
        let max = size_arg(max_token_size, "maxTokenSize")?.unwrap_or(DEFAULT_MAX_TOKEN_SIZE);
        Ok(header_text(&token::decode_header(token.as_bytes(), max)?))
    })
    .map_err(|e| errors::to_js(env, e))
}
