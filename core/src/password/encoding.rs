//! Strict text codecs shared by the password formats.
//!
//! Every decoder here is canonical: it accepts exactly the text the matching
//! encoder produces (no whitespace, no padding where none is written, padding
//! where it is, no non-zero trailing bits, no leading zeros or signs in
//! numbers), so one stored hash has one spelling.

use base64::alphabet::{self, Alphabet};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;

use crate::error::{err, Result};

const NO_PAD: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(false)
    .with_decode_padding_mode(DecodePaddingMode::RequireNone)
    .with_decode_allow_trailing_bits(false);

const PAD: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(true)
    .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
    .with_decode_allow_trailing_bits(false);

/// passlib's "adapted base64": the standard alphabet with `.` instead of `+`.
const AB64_ALPHABET: Alphabet =
    match Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789./") {
        Ok(a) => a,
        Err(_) => panic!("invalid ab64 alphabet"),
    };

/// Standard alphabet, no padding: PHC / argon2-cffi salts and tags.
pub(crate) const B64_NOPAD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, NO_PAD);
/// Standard alphabet with padding: Django's PBKDF2 derived keys.
pub(crate) const B64_PAD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, PAD);
/// bcrypt's own alphabet (`./A-Za-z0-9`), no padding.
pub(crate) const BCRYPT_B64: GeneralPurpose = GeneralPurpose::new(&alphabet::BCRYPT, NO_PAD);
/// passlib's adapted base64, no padding.
pub(crate) const AB64: GeneralPurpose = GeneralPurpose::new(&AB64_ALPHABET, NO_PAD);

/// Decodes `text` with `engine`, requiring the decoded length to lie in
/// `min..=max`. The length is checked on the text first, so a huge field
/// allocates nothing.
pub(crate) fn decode_b64(
    engine: &GeneralPurpose,
    text: &str,
    min: usize,
    max: usize,
    what: &str,
) -> Result<Vec<u8>> {
    // The longest text `max` bytes can encode to (padded); longer text is
    // rejected before decoding.
    if text.len() > max.div_ceil(3) * 4 {
        return Err(err!(InvalidHash, "malformed hash: {what} is too long"));
    }
    let bytes = engine.decode(text).map_err(|_| {
        err!(
            InvalidHash,
            "malformed hash: {what} is not canonical base64"
        )
    })?;
    if bytes.len() < min || bytes.len() > max {
        return Err(err!(
            InvalidHash,
            "malformed hash: {what} length is out of bounds"
        ));
    }
    Ok(bytes)
}

/// Parses a canonical unsigned decimal (`0` or `[1-9][0-9]*`) within `min..=max`.
pub(crate) fn parse_decimal(text: &str, min: u64, max: u64) -> Option<u64> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > 19 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if bytes.len() > 1 && bytes[0] == b'0' {
        return None;
    }
    let value: u64 = text.parse().ok()?;
    (min..=max).contains(&value).then_some(value)
}

/// The 62 characters Django's `get_random_string` draws from.
pub(crate) const DJANGO_SALT_CHARS: &[u8; 62] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// Length of the salt Django's `BasePasswordHasher.salt()` generates:
/// `ceil(128 / log2(62))` = 22 characters.
pub(crate) const DJANGO_SALT_LEN: usize = 22;

/// Django's `salt_entropy`.
const DJANGO_SALT_ENTROPY_BITS: f64 = 128.0;

/// A uniformly random string of `len` characters from [`DJANGO_SALT_CHARS`],
/// like Django's `get_random_string(len)`. Bytes from aws-lc's CSPRNG are
/// rejection-sampled (only bytes below 248 = 4 * 62 are used), so every
/// character is unbiased.
pub(crate) fn random_django_salt(len: usize) -> Result<String> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        aws_lc_rs::rand::fill(&mut buf)
            .map_err(|_| err!(Internal, "the system random generator failed"))?;
        for &b in &buf {
            if out.len() == len {
                break;
            }
            if b < 248 {
                out.push(char::from(DJANGO_SALT_CHARS[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

/// `len` random bytes from aws-lc's CSPRNG.
pub(crate) fn random_bytes(len: usize) -> Result<Vec<u8>> {
    let mut out = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut out)
        .map_err(|_| err!(Internal, "the system random generator failed"))?;
    Ok(out)
}

/// Django's `must_update_salt`: true when `len(salt) * log2(62) < 128`, computed
/// in `f64` exactly as Django does (22 characters and more pass).
pub(crate) fn django_salt_too_weak(salt_chars: usize) -> bool {
    #[allow(clippy::cast_precision_loss)]
    let len = salt_chars as f64;
    len * 62f64.log2() < DJANGO_SALT_ENTROPY_BITS
}

/// True when `salt` can be written into a Django `$`-separated field: non-empty,
/// at most 1024 bytes, printable ASCII other than `$`.
pub(crate) fn is_django_text_salt(salt: &[u8]) -> bool {
    !salt.is_empty()
        && salt.len() <= 1024
        && salt.iter().all(|&b| b.is_ascii_graphic() && b != b'$')
}

/// Constant-time equality of two byte strings (lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_is_canonical() {
        assert_eq!(parse_decimal("0", 0, 10), Some(0));
        assert_eq!(parse_decimal("10", 0, 10), Some(10));
        assert_eq!(parse_decimal("11", 0, 10), None);
        assert_eq!(parse_decimal("01", 0, 10), None);
        assert_eq!(parse_decimal("+1", 0, 10), None);
        assert_eq!(parse_decimal("", 0, 10), None);
        assert_eq!(parse_decimal(" 1", 0, 10), None);
        assert_eq!(parse_decimal("99999999999999999999999", 0, u64::MAX), None);
        assert_eq!(parse_decimal("1_0", 0, 100), None);
        assert_eq!(parse_decimal("١", 0, 100), None);
    }

    #[test]
    fn base64_is_canonical() {
        assert_eq!(decode_b64(&B64_NOPAD, "YWJj", 1, 10, "x").unwrap(), b"abc");
        assert!(decode_b64(&B64_NOPAD, "YWI=", 1, 10, "x").is_err());
        assert!(decode_b64(&B64_NOPAD, "YWJ", 1, 10, "x").is_err()); // trailing bits
        assert!(decode_b64(&B64_NOPAD, "YWI", 1, 10, "x").is_ok());
        assert!(decode_b64(&B64_PAD, "YWI", 1, 10, "x").is_err());
        assert!(decode_b64(&B64_PAD, "YWI=", 1, 10, "x").is_ok());
        assert!(decode_b64(&B64_NOPAD, "YW Jj", 1, 10, "x").is_err());
        assert!(decode_b64(&B64_NOPAD, "YWJj", 4, 10, "x").is_err());
        assert!(decode_b64(&B64_NOPAD, &"A".repeat(100), 1, 10, "x").is_err());
        assert!(decode_b64(&AB64, "a.b/", 1, 10, "x").is_ok());
        assert!(decode_b64(&AB64, "a+b/", 1, 10, "x").is_err());
    }

    #[test]
    fn django_salt_is_alphanumeric_and_strong() {
        let salt = random_django_salt(DJANGO_SALT_LEN).unwrap();
        assert_eq!(salt.len(), 22);
        assert!(salt.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(!django_salt_too_weak(22));
        assert!(django_salt_too_weak(21));
        assert!(django_salt_too_weak(12));
        assert_ne!(salt, random_django_salt(DJANGO_SALT_LEN).unwrap());
    }

    #[test]
    fn django_salt_is_unbiased_enough() {
        // 62 * 400 draws: every character must appear (a biased or truncated
        // alphabet would miss some); a loose bound on the spread.
        let s = random_django_salt(62 * 400).unwrap();
        let mut counts = [0u32; 128];
        for b in s.bytes() {
            counts[usize::from(b)] += 1;
        }
        for &c in DJANGO_SALT_CHARS {
            let n = counts[usize::from(c)];
            assert!(
                (250..=550).contains(&n),
                "char {} drawn {n} times",
                c as char
            );
        }
    }
}
