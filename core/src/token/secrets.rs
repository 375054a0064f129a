//! Key-strength and key-form checks.
//!
//! - An HMAC secret must be at least as long as the hash output (RFC 7518 §3.2:
//!   32 bytes for HS256, 48 for HS384, 64 for HS512) and must not be trivially
//!   guessable (a handful of distinct bytes, a published placeholder). JWT
//!   signing and verification apply this per use ([`check_hmac_secret`]).
//! - Material that is, or contains, a public or private key in any form (PEM,
//!   OpenSSH, JWK, DER, bare base64 DER) is never an HMAC secret, whatever
//!   bytes precede it: this closes the HS256-with-a-public-key attack and its
//!   whitespace / zero-width / prefix variants.
//! - [`validate_secret`] is the stricter check for configuration, run once at
//!   start-up on a signing key, a Django `SECRET_KEY` or an API key pepper: it
//!   adds the purpose's minimum length, Django's own rules, placeholder and
//!   example markers, and an entropy estimate ([`estimate_entropy_bits`]) that
//!   sees through repeats, sequences and common words.
//! - [`check_signing_key_separate`] refuses, in production, a JWT signing key
//!   equal to the app's `SECRET_KEY` (compared in constant time).

use super::algorithm::Algorithm;
use super::der;
use crate::error::{err, Result};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use memchr::memmem;
use zeroize::Zeroizing;

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
    "your-secret-key-here",
    "your_secret_key_here",
    "secret_key",
    "secret-key-here",
    "my-secret-key",
    "my_secret_key",
    "test-secret-key",
    "dev-secret-key",
    "s3cr3t",
    "topsecret",
    "letmein",
    "password123",
    "123456",
    "12345678",
    "1234567890",
    "qwerty",
    "admin",
    "default",
    "insecure",
    "abc123",
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

// ---- validate_secret ---------------------------------------------------------

/// What a secret is for: decides its minimum length and the extra rules
/// [`validate_secret`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretPurpose {
    /// An HMAC signing key for `HS256`, `HS384` or `HS512`: at least the hash
    /// output size (32, 48, 64 bytes, RFC 7518 §3.2).
    Hmac(Algorithm),
    /// Django's `SECRET_KEY`: at least 50 characters and not starting with
    /// `django-insecure-` (Django's own `security.W009`, made an error).
    DjangoSecretKey,
    /// The server-side pepper of API key digests: at least 32 bytes.
    ApiKeyPepper,
    /// Any other secret: at least `min_len` bytes.
    Generic {
        /// The minimum length in bytes.
        min_len: usize,
    },
}

/// Fewest characters Django accepts in `SECRET_KEY` (`security.W009`).
pub const DJANGO_SECRET_KEY_MIN_CHARS: usize = 50;
/// The prefix `django-admin startproject` gives the development `SECRET_KEY`.
pub const DJANGO_INSECURE_PREFIX: &str = "django-insecure-";
/// Fewest bytes of an API key pepper (the HMAC-SHA256 output size).
pub const PEPPER_MIN_LEN: usize = 32;
/// The minimum length of the `"generic"` purpose by name.
pub const GENERIC_MIN_LEN: usize = 32;
/// Fewest bits [`estimate_entropy_bits`] must find in a secret.
pub const MIN_ENTROPY_BITS: f64 = 128.0;
/// Longest secret [`validate_secret`] examines, in bytes (bounds its work).
pub const MAX_SECRET_LEN: usize = 4096;

impl SecretPurpose {
    /// The purpose for a configuration name: `"HS256"`, `"HS384"`, `"HS512"`,
    /// `"django"`, `"pepper"` or `"generic"` (at least 32 bytes).
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "django" => Self::DjangoSecretKey,
            "pepper" => Self::ApiKeyPepper,
            "generic" => Self::Generic {
                min_len: GENERIC_MIN_LEN,
            },
            _ => match Algorithm::from_name(name) {
                Some(alg @ (Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)) => {
                    Self::Hmac(alg)
                }
                _ => {
                    return Err(err!(
                        InvalidArgument,
                        "unknown secret purpose {name:?}: expected \"HS256\", \"HS384\", \
                         \"HS512\", \"django\", \"pepper\" or \"generic\""
                    ))
                }
            },
        })
    }

    /// What the secret is, for messages.
    fn describe(self) -> String {
        match self {
            Self::Hmac(alg) => format!("the {alg} key"),
            Self::DjangoSecretKey => "SECRET_KEY".to_owned(),
            Self::ApiKeyPepper => "the API key pepper".to_owned(),
            Self::Generic { .. } => "the secret".to_owned(),
        }
    }
}

/// Substrings (compared case-insensitively) that mark a template or example
/// value wherever they appear. Each is 6 characters or more, so a random
/// secret contains one by chance with a probability below one in a billion.
const PLACEHOLDER_MARKERS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "changethis",
    "change-this",
    "change_this",
    "replaceme",
    "replace-me",
    "replace_me",
    "replace-this",
    "replace_this",
    "example",
    "placeholder",
    "insecure",
    "notasecret",
    "not-a-secret",
    "not_a_secret",
    "yoursecret",
    "your-secret",
    "your_secret",
    "secret-here",
    "secret_here",
    "key-here",
    "key_here",
];

/// Errors (kind `WEAK_SECRET`) unless `secret` is fit for `purpose`.
///
/// The rules, in the order they are checked (the error names the first that
/// fails, never the secret):
///
/// 1. at most [`MAX_SECRET_LEN`] bytes (`INVALID_ARGUMENT` otherwise);
/// 2. not public or private key material in any form (PEM, OpenSSH, JWK, DER);
/// 3. the purpose's minimum length: 32 / 48 / 64 bytes for HS256 / HS384 /
///    HS512, 50 characters for Django's `SECRET_KEY`, 32 bytes for a pepper,
///    `min_len` bytes for a generic secret;
/// 4. Django's `SECRET_KEY` must not start with `django-insecure-`;
/// 5. not a published placeholder (`secret`, `changeme`,
///    `your-256-bit-secret`, ..., also repeated to reach a length), and no
///    template marker anywhere (`changeme`, `replace-me`, `example`,
///    `placeholder`, `insecure`, `your-secret`, ...);
/// 6. at least 8 distinct byte values (Django asks for 5 distinct characters);
/// 7. at least [`MIN_ENTROPY_BITS`] (128) bits by [`estimate_entropy_bits`].
///
/// A secret from a CSPRNG passes: 32 random bytes, `secrets.token_urlsafe(32)`
/// and longer, `secrets.token_hex(16)` and longer, Django's
/// `get_random_secret_key()`. This is stricter than the per-use
/// [`check_hmac_secret`] JWT signing applies, and meant for start-up.
pub fn validate_secret(secret: &[u8], purpose: SecretPurpose) -> Result<()> {
    if secret.len() > MAX_SECRET_LEN {
        return Err(err!(
            InvalidArgument,
            "{} is {} bytes; at most {MAX_SECRET_LEN} bytes are examined",
            purpose.describe(),
            secret.len()
        ));
    }
    let what = purpose.describe();
    if looks_like_asymmetric_key(secret) {
        return Err(err!(
            WeakSecret,
            "{what} is public or private key material, not a secret"
        ));
    }
    match purpose {
        SecretPurpose::Hmac(alg) => {
            if alg.family() != super::Family::Hmac {
                return Err(err!(
                    InvalidArgument,
                    "{alg} does not use a shared secret; expected HS256, HS384 or HS512"
                ));
            }
            let min = alg.min_hmac_key_len();
            if secret.len() < min {
                return Err(err!(
                    WeakSecret,
                    "{what} is {} bytes; {alg} needs at least {min} bytes (RFC 7518 §3.2)",
                    secret.len()
                ));
            }
        }
        SecretPurpose::DjangoSecretKey => {
            let chars =
                std::str::from_utf8(secret).map_or(secret.len(), |text| text.chars().count());
            if chars < DJANGO_SECRET_KEY_MIN_CHARS {
                return Err(err!(
                    WeakSecret,
                    "SECRET_KEY is {chars} characters; at least \
                     {DJANGO_SECRET_KEY_MIN_CHARS} are needed"
                ));
            }
            if secret.starts_with(DJANGO_INSECURE_PREFIX.as_bytes()) {
                return Err(err!(
                    WeakSecret,
                    "SECRET_KEY starts with \"{DJANGO_INSECURE_PREFIX}\": it is the \
                     development value startproject generates; set a new random one"
                ));
            }
        }
        SecretPurpose::ApiKeyPepper => {
            if secret.len() < PEPPER_MIN_LEN {
                return Err(err!(
                    WeakSecret,
                    "{what} is {} bytes; at least {PEPPER_MIN_LEN} are needed",
                    secret.len()
                ));
            }
        }
        SecretPurpose::Generic { min_len } => {
            if secret.len() < min_len {
                return Err(err!(
                    WeakSecret,
                    "{what} is {} bytes; at least {min_len} are needed",
                    secret.len()
                ));
            }
        }
    }
    if is_placeholder(secret) || has_placeholder_marker(secret) {
        return Err(err!(
            WeakSecret,
            "{what} is a placeholder or example value (a published default, or it \
             contains a marker such as \"changeme\", \"example\" or \"insecure\")"
        ));
    }
    let distinct = distinct_bytes(secret);
    if distinct < MIN_DISTINCT_BYTES {
        return Err(err!(
            WeakSecret,
            "{what} has only {distinct} distinct characters; at least \
             {MIN_DISTINCT_BYTES} are needed"
        ));
    }
    let bits = estimate_entropy_bits(secret);
    if bits < MIN_ENTROPY_BITS {
        return Err(err!(
            WeakSecret,
            "{what} has low entropy (an estimated {bits:.0} bits, at least \
             {MIN_ENTROPY_BITS:.0} are needed): repeats, sequences or common words \
             make it guessable; use a value from a random generator"
        ));
    }
    Ok(())
}

/// Checks that a JWT signing key is not the app's `SECRET_KEY` (compared in
/// constant time). Equal keys are an error (`WEAK_SECRET`) when `production`
/// is true; otherwise the answer is `Ok(false)` so the caller can warn (a
/// development set-up may fall back to `SECRET_KEY`). `Ok(true)`: separate.
pub fn check_signing_key_separate(
    signing_key: &[u8],
    secret_key: &[u8],
    production: bool,
) -> Result<bool> {
    let same = aws_lc_rs::constant_time::verify_slices_are_equal(signing_key, secret_key).is_ok();
    if same && production {
        return Err(err!(
            WeakSecret,
            "the JWT signing key is the same as SECRET_KEY: in production set a \
             separate, random signing key"
        ));
    }
    Ok(!same)
}

fn distinct_bytes(secret: &[u8]) -> usize {
    let mut seen = [false; 256];
    secret
        .iter()
        .filter(|&&b| !std::mem::replace(&mut seen[b as usize], true))
        .count()
}

fn has_placeholder_marker(secret: &[u8]) -> bool {
    let lower = Zeroizing::new(secret.to_ascii_lowercase());
    PLACEHOLDER_MARKERS
        .iter()
        .any(|m| memmem::find(&lower, m.as_bytes()).is_some())
}

// ---- entropy estimate --------------------------------------------------------

/// How far back [`estimate_entropy_bits`] looks for a repeat.
const REPEAT_WINDOW: usize = 256;
/// Shortest repeat or sequence counted as one token.
const MIN_RUN: usize = 4;

/// Character orders people type in sequence (compared in lower case), in
/// either direction: the alphabet, the digits, the keyboard rows.
const ORDERS: &[&[u8]] = &[
    b"abcdefghijklmnopqrstuvwxyz",
    b"01234567890",
    b"qwertyuiop",
    b"asdfghjkl",
    b"zxcvbnm",
    b"!@#$%^&*()",
];

/// Words found in hand-made secrets (compared in lower case): each counts as
/// one token however long it is.
const WORDS: &[&str] = &[
    "abc",
    "admin",
    "and",
    "api",
    "apikey",
    "app",
    "application",
    "auth",
    "backend",
    "bar",
    "baz",
    "change",
    "company",
    "config",
    "cookie",
    "default",
    "demo",
    "dev",
    "develop",
    "development",
    "django",
    "dummy",
    "env",
    "express",
    "fake",
    "fastapi",
    "flask",
    "foo",
    "for",
    "hash",
    "hello",
    "here",
    "hmac",
    "jwt",
    "key",
    "keys",
    "letmein",
    "local",
    "localhost",
    "long",
    "mine",
    "not",
    "password",
    "passwd",
    "pepper",
    "please",
    "private",
    "prod",
    "production",
    "project",
    "public",
    "qwerty",
    "random",
    "replace",
    "root",
    "salt",
    "sample",
    "secret",
    "secrets",
    "server",
    "session",
    "settings",
    "sign",
    "signing",
    "staging",
    "strong",
    "string",
    "super",
    "test",
    "testing",
    "that",
    "the",
    "this",
    "token",
    "tokens",
    "use",
    "user",
    "value",
    "very",
    "welcome",
    "with",
    "world",
    "xyz",
    "your",
];

/// An estimate, in bits, of how hard `secret` is to guess, meant to refuse
/// hand-made secrets while values from a random generator pass.
///
/// The secret is read left to right, in lower case, as tokens; each token is
/// the longest of:
///
/// - a **repeat**: 4 or more characters equal to characters starting earlier,
///   within the previous 256 (overlap allowed, so the run `aaaaaa` is `a`
///   then one repeat, and `xqzxqzxqz` is `x`, `q`, `z` then one repeat);
/// - a **sequence**: 4 or more characters each one byte value above (or
///   below) the one before (`abcd`, `9876`), or walking the alphabet, the
///   digit row (which wraps from 9 to 0, as on a keyboard), a letter row of
///   the keyboard or the shifted digit row, either way (`qwerty`, `lkjh`,
///   `!@#$`);
/// - a **common word** of hand-made secrets (`secret`, `password`, `django`,
///   `jwt`, `key`, `production`, ...);
/// - otherwise one character.
///
/// Every token is worth `log2(pool)` bits, where the pool is the sum of the
/// character classes present: lower case 26, upper case 26, digits 10, ASCII
/// punctuation and space 33, or 256 as soon as any other byte (control,
/// non-ASCII) appears. The estimate is the number of tokens times that.
///
/// Random values are nearly all single-character tokens: 32 random bytes
/// give about 256 bits, `secrets.token_urlsafe(32)` about 280,
/// `secrets.token_hex(16)` about 160 (its true entropy is 128), Django's
/// `get_random_secret_key()` about 300. `0123456789` repeated is one token
/// (3 bits), `my-super-secret-jwt-key-2024` about 92 bits. The estimate
/// needs headroom: a random value of exactly 128 bits in a large pool (16
/// random bytes) falls below 128 whenever one common word appears by chance.
#[must_use]
pub fn estimate_entropy_bits(secret: &[u8]) -> f64 {
    let lower = Zeroizing::new(secret.to_ascii_lowercase());
    let s: &[u8] = &lower;
    let mut tokens = 0usize;
    let mut i = 0;
    while i < s.len() {
        let run = repeat_len(s, i).max(sequence_len(s, i));
        let run = if run >= MIN_RUN { run } else { 1 };
        i += run.max(word_len(s, i));
        tokens += 1;
    }
    tokens as f64 * pool_bits(secret)
}

/// `log2` of the size of the character classes present in `secret`.
fn pool_bits(secret: &[u8]) -> f64 {
    let (mut lower, mut upper, mut digit, mut punct) = (false, false, false, false);
    for &b in secret {
        match b {
            b'a'..=b'z' => lower = true,
            b'A'..=b'Z' => upper = true,
            b'0'..=b'9' => digit = true,
            0x20..=0x7e => punct = true,
            _ => return 8.0,
        }
    }
    let pool = 26 * usize::from(lower)
        + 26 * usize::from(upper)
        + 10 * usize::from(digit)
        + 33 * usize::from(punct);
    (pool.max(1) as f64).log2()
}

/// Length of the longest match of `s[i..]` against a string starting in the
/// previous [`REPEAT_WINDOW`] characters.
fn repeat_len(s: &[u8], i: usize) -> usize {
    let rest = &s[i..];
    (i.saturating_sub(REPEAT_WINDOW)..i)
        .map(|j| s[j..].iter().zip(rest).take_while(|(a, b)| a == b).count())
        .max()
        .unwrap_or(0)
}

/// Length of the longest sequence starting at `i`.
fn sequence_len(s: &[u8], i: usize) -> usize {
    let rest = &s[i..];
    if rest.len() < 2 {
        return rest.len();
    }
    let step = i16::from(rest[1]) - i16::from(rest[0]);
    let arithmetic = if step.abs() == 1 {
        1 + rest
            .windows(2)
            .take_while(|w| i16::from(w[1]) - i16::from(w[0]) == step)
            .count()
    } else {
        1
    };
    let walked = ORDERS
        .iter()
        .flat_map(|order| [(order, true), (order, false)])
        .map(|(order, forward)| {
            1 + rest
                .windows(2)
                .take_while(|w| {
                    order.windows(2).any(|o| {
                        if forward {
                            o == *w
                        } else {
                            o[0] == w[1] && o[1] == w[0]
                        }
                    })
                })
                .count()
        })
        .max()
        .unwrap_or(1);
    arithmetic.max(walked)
}

/// Length of the longest common word starting at `i`.
fn word_len(s: &[u8], i: usize) -> usize {
    WORDS
        .iter()
        .filter(|w| s[i..].starts_with(w.as_bytes()))
        .map(|w| w.len())
        .max()
        .unwrap_or(0)
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
