//! Key-strength and key-form checks.
//!
//! - An HMAC secret must be at least as long as the hash output (RFC 7518 §3.2:
//!   32 bytes for HS256, 48 for HS384, 64 for HS512) and must not be trivially
//!   guessable (a handful of distinct bytes, a published placeholder).
//! - Material that is, or contains, a public or private key in any form (PEM,
//!   OpenSSH, JWK, DER, bare base64 DER) is never an HMAC secret, whatever
//!   bytes precede it: this closes the HS256-with-a-public-key attack and its
//!   whitespace / zero-width / prefix variants.

use super::algorithm::Algorithm;
use super::der;
use crate::error::{err, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use memchr::memmem;

/// Secrets published in tutorials and framework templates, refused as HMAC keys.
const PLACEHOLDERS: &[&str] = &[
    "secret",
    "changeme",
    "change-me",
    "change_me",
    "your-256-bit-secret",
    "your-384-bit-secret",
    "your-512-bit-secret",
    "your-secret-key",
    "your_secret_key",
    "your-secret-key-change-in-production",
    "your-super-secret-jwt-key-change-this-in-production",
    "supersecret",
    "super-secret-key",
    "mysecretkey",
    "jwt-secret",
    "jwt_secret",
    "secretkey",
    "secret-key",
    "password",
    "development-secret-key-change-in-production-0123456789",
];

/// Fewest distinct byte values a secret of the minimum length must contain.
const MIN_DISTINCT_BYTES: usize = 8;

/// Errors unless `secret` is strong enough to use with `alg`.
pub fn check_hmac_secret(secret: &[u8], alg: Algorithm) -> Result<()> {
    let min = alg.min_hmac_key_len();
    if secret.len() < min {
        return Err(err!(
            InvalidKey,
            "the HMAC key is {} bytes; {alg} needs at least {min} bytes (RFC 7518 §3.2)",
            secret.len()
        ));
    }
    if is_placeholder(secret) {
        return Err(err!(
            InvalidKey,
            "the HMAC key is a published placeholder value"
        ));
    }
    let mut seen = [false; 256];
    let distinct = secret
        .iter()
        .filter(|&&b| !std::mem::replace(&mut seen[b as usize], true))
        .count();
    if distinct < MIN_DISTINCT_BYTES {
        return Err(err!(
            InvalidKey,
            "the HMAC key has only {distinct} distinct byte values: use a random secret"
        ));
    }
    Ok(())
}

/// True when `secret` is a well-known placeholder (case-insensitive), possibly
/// repeated to reach a length requirement.
#[must_use]
pub fn is_placeholder(secret: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(secret) else {
        return false;
    };
    let t = text.trim().to_ascii_lowercase();
    PLACEHOLDERS.iter().any(|p| {
        t == *p
            || (t.len() % p.len() == 0
                && t.len() > p.len()
                && t.as_bytes().chunks(p.len()).all(|c| c == p.as_bytes()))
    })
}

/// How asymmetric key material was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A PEM block.
    Pem,
    /// An OpenSSH public key line.
    Ssh,
    /// A JWK (JSON object with `kty`).
    Jwk,
    /// DER key structure starting at this offset.
    Der(usize),
    /// Base64 text (without PEM armour) of a DER key.
    Base64Der,
}

const SSH_PREFIXES: &[&[u8]] = &[
    b"ssh-rsa ",
    b"ssh-ed25519 ",
    b"ecdsa-sha2-nistp",
    b"ssh-dss ",
];

/// Recognises key material that must never serve as an HMAC secret.
#[must_use]
pub fn asymmetric_form(material: &[u8]) -> Option<Form> {
    if memmem::find(material, b"-----BEGIN").is_some() {
        return Some(Form::Pem);
    }
    if SSH_PREFIXES
        .iter()
        .any(|p| memmem::find(material, p).is_some())
    {
        return Some(Form::Ssh);
    }
    if memmem::find(material, b"\"kty\"").is_some() && material.contains(&b'{') {
        return Some(Form::Jwk);
    }
    // A DER key, possibly after a short prefix an attacker or a careless loader added.
    for start in memchr::memchr_iter(der::SEQUENCE, &material[..material.len().min(64)]) {
        if is_der_key(&material[start..]) {
            return Some(Form::Der(start));
        }
    }
    if base64_der(material).is_some() {
        return Some(Form::Base64Der);
    }
    None
}

/// True when `material` holds asymmetric key material in any form.
#[must_use]
pub fn looks_like_asymmetric_key(material: &[u8]) -> bool {
    asymmetric_form(material).is_some()
}

fn is_der_key(d: &[u8]) -> bool {
    der::parse_spki(d).is_some()
        || der::parse_pkcs8(d).is_some()
        || der::is_pkcs1_public(d)
        || der::is_pkcs1_private(d)
        || der::sec1_curve(d).is_some()
        || der::certificate_spki(d).is_some()
}

/// The DER bytes of bare base64 text that decodes to a key structure.
#[must_use]
pub fn base64_der(material: &[u8]) -> Option<Vec<u8>> {
    if material.len() < 40 {
        return None;
    }
    let compact: Vec<u8> = material
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let der = STANDARD.decode(&compact).ok()?;
    is_der_key(&der).then_some(der)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_strength() {
        let good = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!@";
        assert!(check_hmac_secret(&good[..32], Algorithm::HS256).is_ok());
        assert!(check_hmac_secret(&good[..31], Algorithm::HS256).is_err());
        assert!(check_hmac_secret(&good[..32], Algorithm::HS384).is_err());
        assert!(check_hmac_secret(&good[..48], Algorithm::HS384).is_ok());
        assert!(check_hmac_secret(&good[..64], Algorithm::HS512).is_ok());
        assert!(check_hmac_secret(&[b'a'; 64], Algorithm::HS256).is_err());
        assert!(
            check_hmac_secret(b"your-256-bit-secretyour-256-bit-secret", Algorithm::HS256).is_err()
        );
        assert!(check_hmac_secret(
            b"development-secret-key-change-in-production-0123456789",
            Algorithm::HS256
        )
        .is_err());
    }

    #[test]
    fn recognises_key_forms_with_prefixes() {
        assert_eq!(
            asymmetric_form(b"\xe2\x80\x8b-----BEGIN PUBLIC KEY-----\n..."),
            Some(Form::Pem)
        );
        assert_eq!(asymmetric_form(b"# ssh-rsa AAAAB3Nza x"), Some(Form::Ssh));
        assert_eq!(
            asymmetric_form(br#" {"kty":"RSA","n":"x"}"#),
            Some(Form::Jwk)
        );
        assert_eq!(
            asymmetric_form(b"a perfectly normal random secret 1234567890"),
            None
        );
    }
}
