//! API keys (core `token::apikey` module): `ApiKeyHasher` makes keys and
//! digests and verifies them, `IssuedApiKey` carries a new key to show once,
//! `apiKeyId` reads the public id to look a key's digest up. Every rule
//! (format, checksum, pepper strength, rotation) is the core's. Instances
//! have no own properties, so `util.inspect` and `JSON.stringify` never show
//! a key or a pepper.

use std::sync::Arc;

use bastion_core::token::apikey::{self as core, ApiKey, ApiKeyDigest, DEFAULT_PREFIX};
use bastion_core::Result as CoreResult;
use napi::bindgen_prelude::{Buffer, Either, Unknown};
use napi::Env;
use napi_derive::napi;
use zeroize::Zeroizing;

use crate::errors::{self, arg, bytes_arg, invalid_argument, options_arg, Result};

/// An older pepper an `ApiKeyHasher` keeps for digests made before a rotation.
#[napi(object, object_to_js = false)]
pub struct PreviousPepper {
    /// The version digests made with it carry.
    pub version: f64,
    /// The pepper (a string, as UTF-8, or a Buffer).
    pub pepper: Either<String, Buffer>,
}

/// How an `ApiKeyHasher` is set up besides its current pepper.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct ApiKeyHasherOptions {
    /// The version new digests carry (default 1): an integer from 0 to 2^32 - 1.
    pub version: Option<f64>,
    /// Older peppers, so digests made before a rotation still verify.
    pub previous: Option<Vec<PreviousPepper>>,
}

fn version(value: f64, name: &str) -> CoreResult<u32> {
    if value.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&value) {
        Ok(value as u32)
    } else {
        Err(invalid_argument(format!(
            "{name} must be an integer from 0 to 4294967295"
        )))
    }
}

fn digest_arg(value: Unknown<'_>) -> CoreResult<ApiKeyDigest> {
    ApiKeyDigest::parse(&arg::<String>(value, "digest", "a string")?)
}

fn key_arg(value: Unknown<'_>) -> CoreResult<ApiKey> {
    ApiKey::parse(bytes_arg(value, "key")?.as_slice())
}

/// Makes API keys and the digests to store for them, and verifies presented
/// keys against stored digests in constant time. The pepper (at least 32
/// random-looking bytes, as `validateSecret(pepper, "pepper")` requires)
/// keys every new digest and is recorded in it as `version`; `previous`
/// peppers verify digests made before a rotation. Throws `WEAK_SECRET` for
/// a weak pepper, `INVALID_ARGUMENT` for a version given twice.
#[napi]
pub struct ApiKeyHasher {
    pub(crate) inner: Arc<core::ApiKeyHasher>,
}

#[napi]
impl ApiKeyHasher {
    /// A hasher with `pepper` as its current pepper.
    #[napi(
        constructor,
        ts_args_type = "pepper: string | Buffer, options?: ApiKeyHasherOptions | null"
    )]
    pub fn new(env: &Env, pepper: Unknown, options: Unknown) -> Result<Self> {
        errors::guard(|| {
            let pepper = bytes_arg(pepper, "pepper")?;
            let o: ApiKeyHasherOptions =
                options_arg(options, "options", "an object of hasher options")?.unwrap_or_default();
            let v = version(o.version.unwrap_or(1.0), "version")?;
            let mut inner = core::ApiKeyHasher::with_version(v, pepper.as_slice())?;
            for p in o.previous.unwrap_or_default() {
                let bytes = Zeroizing::new(match &p.pepper {
                    Either::A(text) => text.as_bytes().to_vec(),
                    Either::B(buf) => buf.to_vec(),
                });
                inner = inner.with_previous(version(p.version, "previous[].version")?, &bytes)?;
            }
            Ok(Self {
                inner: Arc::new(inner),
            })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// A new key with `prefix` (default `"bst"`; 2 to 16 characters of
    /// `[a-z0-9]` starting with a letter): the key to show its owner once,
    /// its public id and the digest to store.
    #[napi(ts_args_type = "prefix?: string | null")]
    pub fn generate(&self, env: &Env, prefix: Unknown) -> Result<IssuedApiKey> {
        errors::guard(|| {
            let prefix: Option<String> = arg(prefix, "prefix", "a string")?;
            let issued = self
                .inner
                .generate(prefix.as_deref().unwrap_or(DEFAULT_PREFIX))?;
            Ok(IssuedApiKey {
                key: issued.key_text(),
                id: issued.id().to_string(),
                prefix: issued.prefix().to_owned(),
                digest: issued.digest().to_string(),
            })
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// `true` when `key` matches the stored `digest`, `false` otherwise
    /// (constant time). Throws `INVALID_API_KEY` for a malformed key (checked
    /// offline: shape, prefix, length, checksum) and `INVALID_HASH` for a
    /// malformed digest or one made with a pepper this hasher does not hold.
    #[napi(ts_args_type = "key: string | Buffer, digest: string")]
    pub fn verify(&self, env: &Env, key: Unknown, digest: Unknown) -> Result<bool> {
        errors::guard(|| {
            let key = key_arg(key)?;
            self.inner.verify(&key, &digest_arg(digest)?)
        })
        .map_err(|e| errors::to_js(env, e))
    }

    /// The digest of `key` with the current pepper: store it in place of a
    /// digest for which `needsRehash` is true, after `verify` passed.
    #[napi(ts_args_type = "key: string | Buffer")]
    pub fn hash(&self, env: &Env, key: Unknown) -> Result<String> {
        errors::guard(|| Ok(self.inner.digest(&key_arg(key)?).to_string()))
            .map_err(|e| errors::to_js(env, e))
    }

    /// `true` when `digest` was made with another pepper than the current one.
    #[napi(ts_args_type = "digest: string")]
    pub fn needs_rehash(&self, env: &Env, digest: Unknown) -> Result<bool> {
        errors::guard(|| Ok(self.inner.needs_rehash(&digest_arg(digest)?)))
            .map_err(|e| errors::to_js(env, e))
    }

    /// The version of the current pepper.
    #[napi(getter)]
    pub fn version(&self) -> u32 {
        self.inner.version()
    }

    /// The versions of the older peppers.
    #[napi(getter)]
    pub fn previous_versions(&self) -> Vec<u32> {
        self.inner.previous_versions()
    }
}

/// A key just made by `ApiKeyHasher.generate`: `key` is the plaintext to
/// show its owner once (never store it); store `id` and `digest`.
#[napi]
pub struct IssuedApiKey {
    key: Zeroizing<String>,
    id: String,
    prefix: String,
    digest: String,
}

#[napi]
impl IssuedApiKey {
    /// The plaintext key, `<prefix>_<id>_<secret+checksum>`.
    #[napi(getter)]
    pub fn key(&self) -> String {
        self.key.to_string()
    }

    /// The public id (17 base62 characters): look the digest up by it.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.id.clone()
    }

    /// The prefix.
    #[napi(getter)]
    pub fn prefix(&self) -> String {
        self.prefix.clone()
    }

    /// The digest to store, `v<pepper version>$<HMAC-SHA256, base64url>`.
    #[napi(getter)]
    pub fn digest(&self) -> String {
        self.digest.clone()
    }
}

/// The public id of a presented key, to look its digest up, after the
/// offline checks (shape, length, characters, checksum; the prefix too when
/// `prefix` is given). Throws `INVALID_API_KEY` for a malformed key.
#[napi(ts_args_type = "key: string | Buffer, prefix?: string | null")]
pub fn api_key_id(env: &Env, key: Unknown, prefix: Unknown) -> Result<String> {
    errors::guard(|| {
        let key = bytes_arg(key, "key")?;
        let prefix: Option<String> = arg(prefix, "prefix", "a string")?;
        match prefix {
            Some(p) => ApiKey::parse_with_prefix(key.as_slice(), &p),
            None => ApiKey::parse(key.as_slice()),
        }
        .map(|k| k.id().to_string())
    })
    .map_err(|e| errors::to_js(env, e))
}
