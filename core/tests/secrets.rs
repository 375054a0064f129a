//! Integration tests of `bastion_core::token::secrets::validate_secret` and
//! `check_signing_key_separate`: every refusal reason with its code and a
//! message that never contains the secret, and acceptance of values made the
//! way real deployments make them (random bytes, Python's `secrets`
//! functions, Django's `get_random_secret_key()`).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bastion_core::token::secrets::{estimate_entropy_bits, MAX_SECRET_LEN, MIN_ENTROPY_BITS};
use bastion_core::token::{check_signing_key_separate, validate_secret, Algorithm, SecretPurpose};
use bastion_core::ErrorKind;

const HS256: SecretPurpose = SecretPurpose::Hmac(Algorithm::HS256);
const DJANGO: SecretPurpose = SecretPurpose::DjangoSecretKey;
const PEPPER: SecretPurpose = SecretPurpose::ApiKeyPepper;

/// Django's `get_random_secret_key()` alphabet.
const DJANGO_CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)";

fn random(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut out).unwrap();
    out
}

/// `n` characters drawn uniformly from `alphabet` (rejection sampling).
fn choose(alphabet: &[u8], n: usize) -> Vec<u8> {
    let limit = 256 / alphabet.len() * alphabet.len();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        for b in random(64) {
            if usize::from(b) < limit && out.len() < n {
                out.push(alphabet[usize::from(b) % alphabet.len()]);
            }
        }
    }
    out
}

fn token_urlsafe(n: usize) -> Vec<u8> {
    URL_SAFE_NO_PAD.encode(random(n)).into_bytes()
}

fn token_hex(n: usize) -> Vec<u8> {
    random(n)
        .iter()
        .flat_map(|b| format!("{b:02x}").into_bytes())
        .collect()
}

/// Asserts `secret` is refused as `purpose` with `WEAK_SECRET`, a message
/// containing `reason` and not containing the secret; returns the message.
fn refused(secret: &[u8], purpose: SecretPurpose, reason: &str) -> String {
    let err = validate_secret(secret, purpose).expect_err("should be refused");
    assert_eq!(err.kind(), ErrorKind::WeakSecret, "{err}");
    assert_eq!(err.code(), "WEAK_SECRET");
    assert!(
        err.message().contains(reason),
        "{:?} lacks {reason:?}",
        err.message()
    );
    if let Ok(text) = std::str::from_utf8(secret) {
        if text.len() >= 6 {
            assert!(!err.message().contains(text), "message echoes the secret");
        }
    }
    err.message().to_owned()
}

#[test]
fn random_values_pass_for_every_purpose() {
    for _ in 0..500 {
        let urlsafe = token_urlsafe(32); // secrets.token_urlsafe(32): 43 characters
        validate_secret(&urlsafe, HS256).unwrap();
        validate_secret(&urlsafe, PEPPER).unwrap();
        validate_secret(&token_urlsafe(50), DJANGO).unwrap();
        validate_secret(&token_urlsafe(48), SecretPurpose::Hmac(Algorithm::HS512)).unwrap();
        validate_secret(&token_hex(16), HS256).unwrap(); // exactly 128 random bits
        validate_secret(&token_hex(32), SecretPurpose::Hmac(Algorithm::HS512)).unwrap();
        validate_secret(&random(32), HS256).unwrap();
        validate_secret(&random(48), SecretPurpose::Hmac(Algorithm::HS384)).unwrap();
        validate_secret(&STANDARD.encode(random(32)).into_bytes(), PEPPER).unwrap();
        validate_secret(&choose(DJANGO_CHARS, 50), DJANGO).unwrap(); // get_random_secret_key()
        validate_secret(&random(20), SecretPurpose::Generic { min_len: 16 }).unwrap();
    }
}

#[test]
fn too_short_for_the_purpose() {
    let key = token_urlsafe(64);
    let msg = refused(&key[..31], HS256, "31 bytes; HS256 needs at least 32 bytes");
    assert!(msg.starts_with("the HS256 key"));
    refused(
        &key[..47],
        SecretPurpose::Hmac(Algorithm::HS384),
        "HS384 needs at least 48",
    );
    refused(
        &key[..63],
        SecretPurpose::Hmac(Algorithm::HS512),
        "HS512 needs at least 64",
    );
    refused(
        &key[..49],
        DJANGO,
        "SECRET_KEY is 49 characters; at least 50",
    );
    refused(&key[..31], PEPPER, "pepper is 31 bytes; at least 32");
    refused(
        &key[..20],
        SecretPurpose::Generic { min_len: 24 },
        "20 bytes; at least 24",
    );
    // Django counts characters, not UTF-8 bytes: 49 two-byte characters are short.
    let wide: String = "é".repeat(25) + "ü".repeat(24).as_str();
    refused(wide.as_bytes(), DJANGO, "49 characters");
}

#[test]
fn django_rules() {
    // Django's startproject value: long and random, but marked insecure.
    let mut dev = b"django-insecure-".to_vec();
    dev.extend(choose(DJANGO_CHARS, 50));
    refused(&dev, DJANGO, "starts with \"django-insecure-\"");
    // As any other purpose it is still a marked development value.
    refused(&dev, HS256, "placeholder or example value");
    // Fewer than 5 unique characters (Django's own rule) and up to 7 (ours).
    refused(&b"abcd".repeat(20), DJANGO, "only 4 distinct characters");
    refused(&b"abcdefg".repeat(10), DJANGO, "only 7 distinct characters");
}

#[test]
fn placeholders_and_markers() {
    for p in [
        "secret",
        "changeme",
        "your-256-bit-secret",
        "your-secret-key-here",
        "password",
    ] {
        // Repeated to pass every length rule.
        let long = p.repeat(70 / p.len() + 1);
        refused(long.as_bytes(), HS256, "placeholder or example value");
        refused(long.as_bytes(), DJANGO, "placeholder or example value");
    }
    // A marker anywhere, in any case, even with random text around it.
    for marker in [
        "CHANGEME",
        "replace-me",
        "Example",
        "placeholder",
        "insecure",
    ] {
        let mut s = token_urlsafe(24);
        s.extend_from_slice(marker.as_bytes());
        s.extend(token_urlsafe(24));
        refused(&s, HS256, "placeholder or example value");
    }
    refused(
        b"development-secret-key-change-in-production-0123456789",
        HS256,
        "placeholder",
    );
}

#[test]
fn few_distinct_characters() {
    refused(&[b'a'; 64], HS256, "only 1 distinct characters");
    refused(&b"abc".repeat(30), DJANGO, "only 3 distinct characters");
    refused(&[0u8; 32], PEPPER, "only 1 distinct");
}

#[test]
fn low_entropy() {
    for weak in [
        // sequences and repeats
        "0123456789".repeat(5),
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN".to_owned(),
        "qwertyuiopasdfghjklzxcvbnm1234567890QWERTYUIOPASDF".to_owned(),
        "Tr0ub4dor&3".repeat(5),
        "P@ssw0rd!".repeat(6),
        "abcdefgh".repeat(7),
        // hand-made phrases of common words
        "my-super-secret-jwt-signing-key-2024-production".to_owned(),
        "ThisIsMyVeryLongAndStrongJwtSigningSecretForProduction2024!".to_owned(),
    ] {
        let bits = estimate_entropy_bits(weak.as_bytes());
        assert!(bits < MIN_ENTROPY_BITS, "{weak:?}: {bits}");
        refused(weak.as_bytes(), HS256, "low entropy");
    }
    // 32 random decimal digits carry 106 bits: fewer than 128.
    refused(&choose(b"0123456789", 32), HS256, "low entropy");
}

#[test]
fn entropy_estimate_examples() {
    let est = |s: &[u8]| estimate_entropy_bits(s);
    assert_eq!(est(b""), 0.0);
    // A run is one character then one repeat token.
    assert!((est(&[b'a'; 100]) - 2.0 * 26f64.log2()).abs() < 1e-9);
    // `0123456789` repeated: one sequence (the digit row wraps from 9 to 0).
    assert!((est("0123456789".repeat(8).as_bytes()) - 10f64.log2()).abs() < 1e-9);
    assert!((est("9876543210".repeat(8).as_bytes()) - 10f64.log2()).abs() < 1e-9);
    // `13579` repeated: five characters (steps of 2 are not a sequence), one repeat.
    assert!((est("13579".repeat(10).as_bytes()) - 6.0 * 10f64.log2()).abs() < 1e-9);
    // `xqz` repeated: three characters then one repeat.
    assert!((est("xqz".repeat(30).as_bytes()) - 4.0 * 26f64.log2()).abs() < 1e-9);
    // `abc` is a common word: one token, then one repeat.
    assert!((est("abc".repeat(30).as_bytes()) - 2.0 * 26f64.log2()).abs() < 1e-9);
    // Random bytes: 8 bits a byte, nearly all single tokens.
    assert!(est(&random(32)) >= 200.0);
    assert!(est(&token_urlsafe(50)) >= 300.0);
    // Case does not hide a repeat.
    assert!(est(b"SeCrEtSecret") < est(b"SeCrEtXyzzyQ"));
}

#[test]
fn key_material_is_not_a_secret() {
    let pem = b"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";
    refused(pem, HS256, "key material, not a secret");
    refused(
        br#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}"#,
        DJANGO,
        "key material",
    );
}

#[test]
fn bounds_and_purposes() {
    let err = validate_secret(&random(MAX_SECRET_LEN + 1), PEPPER).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    validate_secret(&random(MAX_SECRET_LEN), PEPPER).unwrap();
    // Huge repetitive input is refused quickly (the repeat search is windowed).
    let huge = "0123456789".repeat(MAX_SECRET_LEN / 10);
    refused(huge.as_bytes(), HS256, "low entropy");

    let err = validate_secret(&random(64), SecretPurpose::Hmac(Algorithm::RS256)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    assert_eq!(SecretPurpose::parse("HS256").unwrap(), HS256);
    assert_eq!(
        SecretPurpose::parse("HS512").unwrap(),
        SecretPurpose::Hmac(Algorithm::HS512)
    );
    assert_eq!(SecretPurpose::parse("django").unwrap(), DJANGO);
    assert_eq!(SecretPurpose::parse("pepper").unwrap(), PEPPER);
    assert_eq!(
        SecretPurpose::parse("generic").unwrap(),
        SecretPurpose::Generic { min_len: 32 }
    );
    for bad in ["RS256", "hs256", "none", "", "Django"] {
        let err = SecretPurpose::parse(bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{bad:?}");
    }
}

#[test]
fn signing_key_separate_from_secret_key() {
    let secret_key = choose(DJANGO_CHARS, 50);
    let signing_key = token_urlsafe(50);
    assert!(check_signing_key_separate(&signing_key, &secret_key, true).unwrap());
    assert!(check_signing_key_separate(&signing_key, &secret_key, false).unwrap());
    // Same key: an error in production, `false` (warn) in development.
    let err = check_signing_key_separate(&secret_key, &secret_key.clone(), true).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WeakSecret);
    assert!(err.message().contains("same as SECRET_KEY"));
    assert!(!err
        .message()
        .contains(std::str::from_utf8(&secret_key).unwrap()));
    assert!(!check_signing_key_separate(&secret_key, &secret_key.clone(), false).unwrap());
    // One byte off, or a prefix, is a different key.
    let mut near = secret_key.clone();
    near[49] ^= 1;
    assert!(check_signing_key_separate(&near, &secret_key, true).unwrap());
    assert!(check_signing_key_separate(&secret_key[..49], &secret_key, true).unwrap());
}
