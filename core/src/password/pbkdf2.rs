//! PBKDF2-HMAC (aws-lc): Django's `pbkdf2_sha256` / `pbkdf2_sha1` (hash and
//! verify) and passlib's `$pbkdf2-sha256$` / `$pbkdf2$` (verify only).

use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2;
use base64::Engine as _;
use zeroize::Zeroizing;

use super::encoding::{decode_b64, is_django_text_salt, parse_decimal, AB64, B64_PAD};
use crate::error::{err, Error, Result};

/// Largest accepted iteration count (about a minute of work on one core).
pub const PBKDF2_MAX_ITERATIONS: u32 = 100_000_000;

/// Django 6.0's default `PBKDF2PasswordHasher.iterations`.
pub const DJANGO_PBKDF2_ITERATIONS: u32 = 1_200_000;

/// The HMAC digest of PBKDF2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pbkdf2Digest {
    /// HMAC-SHA-256 (32-byte derived key): Django's default `pbkdf2_sha256`.
    Sha256,
    /// HMAC-SHA-1 (20-byte derived key): Django's `pbkdf2_sha1`, for old hashes.
    Sha1,
}

impl Pbkdf2Digest {
    /// Length of the derived key Django and passlib store: the digest size.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha1 => 20,
        }
    }

    /// Django's algorithm name: `"pbkdf2_sha256"` or `"pbkdf2_sha1"`.
    #[must_use]
    pub const fn django_name(self) -> &'static str {
        match self {
            Self::Sha256 => "pbkdf2_sha256",
            Self::Sha1 => "pbkdf2_sha1",
        }
    }

    /// passlib's identifier: `"pbkdf2-sha256"` or `"pbkdf2"` (SHA-1).
    #[must_use]
    pub const fn passlib_name(self) -> &'static str {
        match self {
            Self::Sha256 => "pbkdf2-sha256",
            Self::Sha1 => "pbkdf2",
        }
    }

    fn algorithm(self) -> pbkdf2::Algorithm {
        match self {
            Self::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Self::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
        }
    }
}

/// Checks an iteration count against 1..=[`PBKDF2_MAX_ITERATIONS`].
pub(crate) fn check_iterations(iterations: u32) -> Result<()> {
    if (1..=PBKDF2_MAX_ITERATIONS).contains(&iterations) {
        Ok(())
    } else {
        Err(err!(
            InvalidArgument,
            "pbkdf2 iterations must be between 1 and 100000000"
        ))
    }
}

/// Derives `out.len()` bytes.
pub(crate) fn derive(
    digest: Pbkdf2Digest,
    iterations: u32,
    salt: &[u8],
    password: &[u8],
    out: &mut [u8],
) -> Result<()> {
    check_iterations(iterations)?;
    let iterations = NonZeroU32::new(iterations)
        .ok_or_else(|| err!(InvalidArgument, "pbkdf2 iterations must be positive"))?;
    pbkdf2::derive(digest.algorithm(), iterations, salt, password, out);
    Ok(())
}

/// Django's encoding: `<algorithm>$<iterations>$<salt>$<std base64 with padding>`.
pub(crate) fn hash_django(
    digest: Pbkdf2Digest,
    iterations: u32,
    password: &[u8],
    salt: &[u8],
) -> Result<String> {
    if !is_django_text_salt(salt) {
        return Err(err!(
            InvalidArgument,
            "a Django pbkdf2 salt must be 1..=1024 printable ASCII characters without '$'"
        ));
    }
    let mut dk = Zeroizing::new(vec![0u8; digest.output_len()]);
    derive(digest, iterations, salt, password, &mut dk)?;
    // `is_django_text_salt` guarantees ASCII.
    let salt = std::str::from_utf8(salt).map_err(|_| err!(Internal, "salt is not ASCII"))?;
    Ok(format!(
        "{}${}${}${}",
        digest.django_name(),
        iterations,
        salt,
        B64_PAD.encode(&dk[..])
    ))
}

/// A parsed PBKDF2 hash (either encoding).
pub(crate) struct ParsedPbkdf2<'a> {
    pub digest: Pbkdf2Digest,
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
    pub salt_field: &'a str,
    pub hash_field: &'a str,
}

fn bad(what: &str) -> Error {
    err!(InvalidHash, "malformed pbkdf2 hash: {what}")
}

fn parse_iterations(text: &str) -> Result<u32> {
    parse_decimal(text, 1, u64::from(PBKDF2_MAX_ITERATIONS))
        .and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| bad("iterations must be a canonical decimal in 1..=100000000"))
}

/// Parses the part of a Django string after `<algorithm>$`:
/// `<iterations>$<salt>$<hash>`.
pub(crate) fn parse_django(digest: Pbkdf2Digest, rest: &str) -> Result<ParsedPbkdf2<'_>> {
    let mut fields = rest.split('$');
    let (Some(iterations), Some(salt_field), Some(hash_field), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(bad("expected <algorithm>$<iterations>$<salt>$<hash>"));
    };
    let iterations = parse_iterations(iterations)?;
    if !is_django_text_salt(salt_field.as_bytes()) {
        return Err(bad("salt must be 1..=1024 printable ASCII characters"));
    }
    let n = digest.output_len();
    let hash = decode_b64(&B64_PAD, hash_field, n, n, "pbkdf2 hash")?;
    Ok(ParsedPbkdf2 {
        digest,
        iterations,
        salt: salt_field.as_bytes().to_vec(),
        hash,
        salt_field,
        hash_field,
    })
}

/// Parses the part of a passlib string after `$<ident>$`:
/// `<rounds>$<ab64 salt>$<ab64 hash>`.
pub(crate) fn parse_passlib(digest: Pbkdf2Digest, rest: &str) -> Result<ParsedPbkdf2<'_>> {
    let mut fields = rest.split('$');
    let (Some(iterations), Some(salt_field), Some(hash_field), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(bad("expected $<ident>$<rounds>$<salt>$<hash>"));
    };
    let iterations = parse_iterations(iterations)?;
    let salt = decode_b64(&AB64, salt_field, 1, 1024, "pbkdf2 salt")?;
    let n = digest.output_len();
    let hash = decode_b64(&AB64, hash_field, n, n, "pbkdf2 hash")?;
    Ok(ParsedPbkdf2 {
        digest,
        iterations,
        salt,
        hash,
        salt_field,
        hash_field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6070_sha1() {
        // RFC 6070 test vector 2.
        let mut out = [0u8; 20];
        derive(Pbkdf2Digest::Sha1, 2, b"salt", b"password", &mut out).unwrap();
        assert_eq!(
            out,
            [
                0xea, 0x6c, 0x01, 0x4d, 0xc7, 0x2d, 0x6f, 0x8c, 0xcd, 0x1e, 0xd9, 0x2a, 0xce, 0x1d,
                0x41, 0xf0, 0xd8, 0xde, 0x89, 0x57
            ]
        );
    }

    #[test]
    fn django_salt_rules() {
        assert!(hash_django(Pbkdf2Digest::Sha256, 1, b"pw", b"a$b").is_err());
        assert!(hash_django(Pbkdf2Digest::Sha256, 1, b"pw", b"").is_err());
        assert!(hash_django(Pbkdf2Digest::Sha256, 1, b"pw", b"a b").is_err());
        assert!(hash_django(Pbkdf2Digest::Sha256, 0, b"pw", b"ab").is_err());
        assert!(hash_django(Pbkdf2Digest::Sha256, 1, b"pw", b"ab").is_ok());
    }
}
