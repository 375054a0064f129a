//! JSON Web Tokens: typed keys, strict parsing, signing and verification.
//!
//! - [`Key`]: a key bound to one [`Family`] when made (secret, PEM, DER, JWK,
//!   OpenSSH), parsed once and reused.
//! - [`Validation`] + [`decode`]: verification against an explicit algorithm
//!   list, strict header and claims checks, injected clock.
//! - [`encode`]: signing with a typed key.
//! - [`KeyCache`]: keys for the compatibility layers that receive raw strings.
//! - [`KeySet`] and [`JwksClient`]: JWK Sets, static or fetched from an
//!   identity provider over HTTPS and cached.
//! - [`TokenService`]: access/refresh pairs, rotation with reuse detection,
//!   revocation, kept in a [`Store`](crate::store::Store).
//! - [`VerifiedCache`]: tokens whose signature already verified, so a bearer
//!   token presented again skips the signature check (every other rule reruns).
//! - [`validate_secret`] / [`check_signing_key_separate`]: start-up checks of
//!   signing keys, Django's `SECRET_KEY` and peppers ([`secrets`]).
//! - [`ApiKeyHasher`], [`ApiKey`], [`ApiKeyRecord`]: API keys with a
//!   recognisable prefix and an offline checksum, stored as peppered digests
//!   ([`apikey`]).
//! - [`ApiKeys`]: the store-backed registry of API keys (create, verify in one
//!   round trip, list, revoke) ([`apikeys`]).

pub mod algorithm;
pub mod apikey;
pub mod apikeys;
pub mod b64;
pub mod cache;
mod der;
pub mod json;
pub mod jwks;
pub mod jwt;
pub mod key;
pub mod lifecycle;
pub mod secrets;
pub mod verified;

pub use algorithm::{Algorithm, Curve, Family};
pub use apikey::{
    ApiKey, ApiKeyDigest, ApiKeyHasher, ApiKeyId, ApiKeyRecord, IssuedApiKey, RateLimit,
};
pub use apikeys::{ApiKeys, ApiKeysOptions, CreatedApiKey, Expiry};
pub use cache::KeyCache;
pub use jwks::{JwksClient, JwksOptions, JwksStatus, KeySet, KeySetLimits, SkippedKey};
pub use jwt::{
    decode, decode_header, decode_unverified, encode, validate_claims, verify_jws, Header, Jws,
    Token, Validation, DEFAULT_MAX_TOKEN_SIZE,
};
pub use key::Key;
pub use lifecycle::{LifecycleOptions, TokenKind, TokenPair, TokenService};
pub use secrets::{check_signing_key_separate, validate_secret, SecretPurpose};
pub use verified::VerifiedCache;
