//! Start-up checks of secrets (core `token::secrets` module):
//! `validateSecret` and `checkSigningKeySeparate`. Every rule is the core's;
//! the messages never contain the secret.

use bastion_core::token::secrets::{self, SecretPurpose};
use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;

use crate::errors::{self, arg, bytes_arg, Result};

/// Throws `WEAK_SECRET` unless `secret` (a string, as UTF-8, or a Buffer) is
/// fit for `purpose`: `"HS256"` (default), `"HS384"`, `"HS512"` (at least
/// 32 / 48 / 64 bytes), `"django"` (Django's `SECRET_KEY`: at least 50
/// characters, no `django-insecure-` prefix), `"pepper"` (an API key pepper:
/// at least 32 bytes) or `"generic"` (at least 32 bytes). Every purpose also
/// refuses key material, placeholders and example values, fewer than 8
/// distinct characters and an estimated entropy below 128 bits. An unknown
/// purpose is `INVALID_ARGUMENT`.
#[napi(
    ts_args_type = "secret: string | Buffer, purpose?: 'HS256' | 'HS384' | 'HS512' | 'django' | 'pepper' | 'generic' | null"
)]
pub fn validate_secret(env: &Env, secret: Unknown, purpose: Unknown) -> Result<()> {
    errors::guard(|| {
        let purpose: Option<String> = arg(purpose, "purpose", "a string")?;
        let purpose = SecretPurpose::parse(purpose.as_deref().unwrap_or("HS256"))?;
        secrets::validate_secret(bytes_arg(secret, "secret")?.as_slice(), purpose)
    })
    .map_err(|e| errors::to_js(env, e))
}

/// `true` when `signingKey` differs from `secretKey` (compared in constant
/// time). When they are equal: throws `WEAK_SECRET` if `production`, returns
/// `false` otherwise so the caller can warn.
#[napi(
    ts_args_type = "signingKey: string | Buffer, secretKey: string | Buffer, production: boolean"
)]
pub fn check_signing_key_separate(
    env: &Env,
    signing_key: Unknown,
    secret_key: Unknown,
    production: Unknown,
) -> Result<bool> {
    errors::guard(|| {
        let production: bool = arg(production, "production", "a boolean")?;
        secrets::check_signing_key_separate(
            bytes_arg(signing_key, "signingKey")?.as_slice(),
            bytes_arg(secret_key, "secretKey")?.as_slice(),
            production,
        )
    })
    .map_err(|e| errors::to_js(env, e))
}
