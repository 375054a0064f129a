//! bcrypt (`$2a$` / `$2b$` / `$2y$`), and Django's `bcrypt_sha256` pre-hash.
//!
//! 72-byte policy: bcrypt only reads the first 72 bytes of a password.
//! Hashing a password longer than 72 bytes with plain bcrypt is refused with
//! `InvalidArgument` (as the Python `bcrypt` 5.0 package does), so no new hash
//! silently ignores part of a password. Verifying truncates to 72 bytes, so
//! hashes written by libraries that truncated silently (older `bcrypt`,
//! passlib, PHP, Node) still verify. `bcrypt_sha256` has no limit: it hashes
//! the 64-character hex SHA-256 of the password.

use base64::Engine as _;
use zeroize::Zeroizing;

use super::encoding::BCRYPT_B64;
use crate::error::{err, Error, Result};

/// Smallest accepted bcrypt cost (log2 of the rounds).
pub const BCRYPT_MIN_COST: u32 = 4;
/// Largest accepted bcrypt cost. The format allows 31, but 2^31 rounds take
/// about 36 hours on one core; 20 (about a minute at 250 ms for cost 12) is
/// far above any deployed cost and bounds what a hostile stored hash can cost.
pub const BCRYPT_MAX_COST: u32 = 20;
/// Django's and the Python `bcrypt` package's default cost.
pub const DJANGO_BCRYPT_COST: u32 = 12;
/// The bytes of a password bcrypt reads.
pub const BCRYPT_MAX_PASSWORD_LEN: usize = 72;

/// Length of a bcrypt string: `$2b$12$` + 22 salt + 31 hash characters.
const BCRYPT_LEN: usize = 60;

/// Checks a cost against 4..=31.
pub(crate) fn check_cost(cost: u32) -> Result<()> {
    if (BCRYPT_MIN_COST..=BCRYPT_MAX_COST).contains(&cost) {
        Ok(())
    } else {
        Err(err!(
            InvalidArgument,
            "bcrypt cost must be between 4 and 20"
        ))
    }
}

/// The raw 23-byte bcrypt checksum of `password` (truncated to 72 bytes, NUL
/// terminated when shorter, as OpenBSD and the Python package do).
pub(crate) fn raw(cost: u32, salt: &[u8; 16], password: &[u8]) -> Result<Zeroizing<[u8; 23]>> {
    check_cost(cost)?;
    let len = password.len().min(BCRYPT_MAX_PASSWORD_LEN);
    let mut key = Zeroizing::new([0u8; BCRYPT_MAX_PASSWORD_LEN]);
    key[..len].copy_from_slice(&password[..len]);
    let used = (len + 1).min(BCRYPT_MAX_PASSWORD_LEN);
    let full = Zeroizing::new(bcrypt::bcrypt(cost, *salt, &key[..used]));
    let mut out = Zeroizing::new([0u8; 23]);
    out.copy_from_slice(&full[..23]);
    Ok(out)
}

/// Django's `bcrypt_sha256` pre-hash: lowercase hex of SHA-256(password).
pub(crate) fn sha256_hex(password: &[u8]) -> Zeroizing<[u8; 64]> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, password);
    let mut out = Zeroizing::new([0u8; 64]);
    for (i, b) in digest.as_ref().iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0x0f)];
    }
    out
}

/// Hashes into `$2b$<cost>$<salt><hash>`.
///
/// `password` must already be within the 72-byte policy (checked by the caller
/// for plain bcrypt; the SHA-256 pre-hash is always 64 bytes).
pub(crate) fn hash(cost: u32, salt: &[u8], password: &[u8]) -> Result<String> {
    let salt: &[u8; 16] = salt
        .try_into()
        .map_err(|_| err!(InvalidArgument, "a bcrypt salt must be exactly 16 bytes"))?;
    let checksum = raw(cost, salt, password)?;
    Ok(format!(
        "$2b${:02}${}{}",
        cost,
        BCRYPT_B64.encode(salt),
        BCRYPT_B64.encode(&checksum[..])
    ))
}

/// A parsed bcrypt string.
pub(crate) struct ParsedBcrypt<'a> {
    pub ident: &'static str,
    pub cost: u32,
    pub salt: [u8; 16],
    pub hash: [u8; 23],
    pub salt_field: &'a str,
    pub hash_field: &'a str,
}

fn bad(what: &str) -> Error {
    err!(InvalidHash, "malformed bcrypt hash: {what}")
}

/// Parses a 60-character `$2a$`/`$2b$`/`$2y$` string strictly (two-digit cost
/// 04..=20, canonical bcrypt base64).
pub(crate) fn parse(encoded: &str) -> Result<ParsedBcrypt<'_>> {
    if encoded.len() != BCRYPT_LEN || !encoded.is_ascii() {
        return Err(bad("expected 60 ASCII characters"));
    }
    let b = encoded.as_bytes();
    if b[0] != b'$' || b[3] != b'$' || b[6] != b'$' {
        return Err(bad("expected $2b$<cost>$<salt><hash>"));
    }
    let ident = match &encoded[1..3] {
        "2a" => "2a",
        "2b" => "2b",
        "2y" => "2y",
        _ => return Err(bad("unsupported prefix")),
    };
    if !b[4].is_ascii_digit() || !b[5].is_ascii_digit() {
        return Err(bad("cost is not two digits"));
    }
    let cost = u32::from(b[4] - b'0') * 10 + u32::from(b[5] - b'0');
    if !(BCRYPT_MIN_COST..=BCRYPT_MAX_COST).contains(&cost) {
        return Err(bad("cost must be between 04 and 20"));
    }
    let salt_field = &encoded[7..29];
    let hash_field = &encoded[29..];
    let mut salt = [0u8; 16];
    let mut hash = [0u8; 23];
    let decode = |text: &str, out: &mut [u8]| -> Result<()> {
        match BCRYPT_B64.decode_slice(text, out) {
            Ok(n) if n == out.len() => Ok(()),
            _ => Err(bad("not canonical bcrypt base64")),
        }
    };
    decode(salt_field, &mut salt)?;
    decode(hash_field, &mut hash)?;
    Ok(ParsedBcrypt {
        ident,
        cost,
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
    fn openbsd_vector() {
        // From the Python bcrypt test suite.
        let p = parse("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW").unwrap();
        assert_eq!(p.cost, 5);
        let out = raw(p.cost, &p.salt, b"U*U").unwrap();
        assert_eq!(*out, p.hash);
    }

    #[test]
    fn hash_writes_2b() {
        let s = hash(4, &[0u8; 16], b"pw").unwrap();
        assert!(s.starts_with("$2b$04$......................"));
        assert_eq!(s.len(), 60);
        assert!(hash(4, &[0u8; 15], b"pw").is_err());
        assert!(hash(3, &[0u8; 16], b"pw").is_err());
    }

    #[test]
    fn sha256_hex_is_lowercase_hex() {
        assert_eq!(
            &sha256_hex(b"abc")[..],
            b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
