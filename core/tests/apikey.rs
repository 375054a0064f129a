//! Integration tests of `bastion_core::token::apikey`: the key format
//! (checked against an independent implementation of base62 and CRC-32 in
//! this file), strict parsing of every malformed shape, digests and pepper
//! rotation, constant-time verification outcomes, records and their byte
//! form, and that no secret reaches `Debug` output or an error.

use bastion_core::clock::ManualClock;
use bastion_core::token::apikey::{
    check_prefix, MAX_KEY_LEN, MAX_METADATA_LEN, MAX_RECORD_LEN, MIN_KEY_LEN,
};
use bastion_core::token::{ApiKey, ApiKeyDigest, ApiKeyHasher, ApiKeyId, ApiKeyRecord, RateLimit};
use bastion_core::ErrorKind;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random(n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut out).unwrap();
    out
}

fn pepper() -> Vec<u8> {
    random(32)
}

// ---- an independent implementation of the documented format ---------------

/// Big-endian bytes as `width` base62 digits, by long division on u64 limbs.
fn b62(bytes: &[u8], width: usize) -> String {
    let mut num: Vec<u64> = bytes.iter().map(|&b| u64::from(b)).collect();
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        let mut rem = 0u64;
        for d in &mut num {
            let cur = rem * 256 + *d;
            *d = cur / 62;
            rem = cur % 62;
        }
        *slot = ALPHABET[rem as usize];
    }
    assert!(num.iter().all(|&d| d == 0));
    String::from_utf8(out).unwrap()
}

fn unb62(text: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u64; len];
    for c in text.bytes() {
        let mut carry = ALPHABET.iter().position(|&a| a == c).unwrap() as u64;
        for d in out.iter_mut().rev() {
            let cur = *d * 62 + carry;
            *d = cur % 256;
            carry = cur / 256;
        }
        assert_eq!(carry, 0);
    }
    out.into_iter().map(|d| d as u8).collect()
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & 0u32.wrapping_sub(crc & 1));
        }
    }
    !crc
}

/// A key's text from its parts, with its checksum.
fn assemble(prefix: &str, id: &[u8], secret: &[u8]) -> String {
    let body = format!("{prefix}_{}_{}", b62(id, 17), b62(secret, 43));
    let check = b62(&crc32(body.as_bytes()).to_be_bytes(), 6);
    body + &check
}

/// The parts of a key's text: prefix, id bytes, secret bytes.
fn split(text: &str) -> (String, Vec<u8>, Vec<u8>) {
    let mut parts = text.split('_');
    let prefix = parts.next().unwrap().to_owned();
    let id = unb62(parts.next().unwrap(), 12);
    let tail = parts.next().unwrap();
    (prefix, id, unb62(&tail[..43], 32))
}

fn invalid(text: &[u8], reason: &str) {
    let err = ApiKey::parse(text).expect_err("should be refused");
    assert_eq!(err.kind(), ErrorKind::InvalidApiKey, "{err}");
    assert_eq!(err.code(), "INVALID_API_KEY");
    assert!(
        err.message().contains(reason),
        "{:?} lacks {reason:?}",
        err.message()
    );
    assert!(
        !err.message()
            .contains(&String::from_utf8_lossy(text).into_owned())
            || text.is_empty()
    );
}

// ---- format ---------------------------------------------------------------------

#[test]
fn generated_keys_follow_the_documented_format() {
    let hasher = ApiKeyHasher::new(&pepper()).unwrap();
    for prefix in ["bst", "ab", "acme2024", "abcdefghijklmnop"] {
        let issued = hasher.generate(prefix).unwrap();
        let text = issued.key_text();
        assert_eq!(text.len(), prefix.len() + 1 + 17 + 1 + 49);
        assert!((MIN_KEY_LEN..=MAX_KEY_LEN).contains(&text.len()));
        assert!(text.bytes().all(|c| c == b'_' || c.is_ascii_alphanumeric()));
        let (p, id, secret) = split(&text);
        assert_eq!(p, prefix);
        assert_eq!(id, issued.id().as_bytes());
        // Independent re-assembly gives the same text (checksum included).
        assert_eq!(assemble(prefix, &id, &secret), *text);
        assert_eq!(issued.id().to_string(), text.split('_').nth(1).unwrap());
        assert_eq!(
            ApiKeyId::parse(&issued.id().to_string()).unwrap(),
            issued.id()
        );
        assert_eq!(issued.prefix(), prefix);
        // Parsing round-trips and verifies.
        let parsed = ApiKey::parse(text.as_bytes()).unwrap();
        assert_eq!(parsed.id(), issued.id());
        assert_eq!(*parsed.to_text(), *text);
        assert!(hasher.verify(&parsed, issued.digest()).unwrap());
        assert!(hasher
            .verify_text(text.as_bytes(), &issued.digest().to_string())
            .unwrap());
    }
}

#[test]
fn keys_are_random() {
    let a = ApiKey::generate("bst").unwrap();
    let b = ApiKey::generate("bst").unwrap();
    assert_ne!(a.id(), b.id());
    assert_ne!(*a.to_text(), *b.to_text());
    assert_ne!(split(&a.to_text()).2, split(&b.to_text()).2);
}

#[test]
fn prefixes() {
    for good in ["bst", "ab", "a1", "z9z9z9z9z9z9z9z9"] {
        check_prefix(good).unwrap();
    }
    for bad in [
        "",
        "a",
        "1ab",
        "Bst",
        "bs-t",
        "bs_t",
        "abcdefghijklmnopq",
        "bé",
    ] {
        assert_eq!(
            check_prefix(bad).unwrap_err().kind(),
            ErrorKind::InvalidArgument,
            "{bad:?}"
        );
        assert_eq!(
            ApiKey::generate(bad).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
}

// ---- malformed keys -------------------------------------------------------------

#[test]
fn malformed_keys_of_every_shape() {
    let good = ApiKey::generate("bst").unwrap().to_text();
    let (prefix, id, secret) = split(&good);
    let body_len = good.len() - 6;

    invalid(b"", "shorter than 70");
    invalid(&good.as_bytes()[..69], "shorter than 70");
    invalid(&good.as_bytes()[..good.len() - 1], "the secret is not 49");
    invalid(format!("{}x", *good).as_bytes(), "the secret is not 49");
    invalid(&[b'a'; MAX_KEY_LEN + 1], "longer than 84");
    invalid(&vec![b'a'; 1 << 20], "longer than 84");
    // Characters outside the alphabet, including non-ASCII and whitespace.
    let mut accented = good.as_bytes().to_vec();
    accented.splice(10..11, "é".bytes());
    invalid(&accented, "outside [0-9A-Za-z_]");
    for (i, c) in [(0, b' '), (10, b'-'), (good.len() - 1, b'\n'), (30, 0u8)] {
        let mut k = good.as_bytes().to_vec();
        k[i] = c;
        invalid(&k, "outside");
    }
    invalid(format!(" {}", &good[1..]).as_bytes(), "outside");
    // Shape: missing or extra separators.
    invalid(
        good.replacen('_', "", 1).as_bytes(),
        "not <prefix>_<id>_<secret>",
    );
    let mut no_sep = good.as_bytes().to_vec();
    no_sep[3] = b'x';
    invalid(&no_sep, "not <prefix>_<id>_<secret>");
    let mut extra = good.as_bytes().to_vec();
    extra[40] = b'_';
    invalid(&extra, "not <prefix>_<id>_<secret>");
    // Prefix rules (with a correct checksum, so only the prefix is wrong).
    for bad in ["Bst", "1st", "bsT"] {
        invalid(assemble(bad, &id, &secret).as_bytes(), "the prefix");
    }
    // Wrong lengths of the id and the secret part (total length kept valid).
    let id_text = b62(&id, 17);
    let tail = &good[good.len() - 49..];
    invalid(
        format!(
            "{prefix}_{}_{}9{}",
            &id_text[..16],
            &tail[..43],
            &tail[43..]
        )
        .as_bytes(),
        "the id is not 17",
    );
    invalid(
        format!("{prefix}_{id_text}9_{}", &tail[1..]).as_bytes(),
        "the id is not 17",
    );
    invalid(
        format!("{prefix}x_{id_text}_{}", &tail[1..]).as_bytes(),
        "the secret is not 49",
    );
    // An id past 2^96 ('z' * 17 overflows).
    invalid(
        format!("{prefix}_{}_{tail}", "z".repeat(17)).as_bytes(),
        "the id is not 17",
    );
    // Checksum: every single-character change is caught.
    for i in body_len..good.len() {
        let mut k = good.as_bytes().to_vec();
        k[i] = if k[i] == b'A' { b'B' } else { b'A' };
        invalid(&k, "checksum");
    }
    for i in [5, 20, 40, 60] {
        let mut k = good.as_bytes().to_vec();
        k[i] = if k[i] == b'A' { b'B' } else { b'A' };
        invalid(&k, "checksum");
    }
    // A secret past 2^256 with a correct checksum.
    let body = format!("{prefix}_{id_text}_{}", "z".repeat(43));
    let over = body.clone() + &b62(&crc32(body.as_bytes()).to_be_bytes(), 6);
    invalid(over.as_bytes(), "out of range");
    // The expected prefix.
    ApiKey::parse_with_prefix(good.as_bytes(), "bst").unwrap();
    let err = ApiKey::parse_with_prefix(good.as_bytes(), "acme").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidApiKey);
    // Id text.
    for bad in [
        "",
        "abc",
        &"z".repeat(17),
        &"0".repeat(18),
        "0000000000000000-",
    ] {
        assert_eq!(
            ApiKeyId::parse(bad).unwrap_err().kind(),
            ErrorKind::InvalidApiKey
        );
    }
}

// ---- digests and verification ------------------------------------------------

#[test]
fn verification_outcomes() {
    let hasher = ApiKeyHasher::new(&pepper()).unwrap();
    let issued = hasher.generate("bst").unwrap();
    let (prefix, id, secret) = split(&issued.key_text());
    let digest = issued.digest();

    // The key itself.
    let same = ApiKey::parse(assemble(&prefix, &id, &secret).as_bytes()).unwrap();
    assert!(hasher.verify(&same, digest).unwrap());
    // One flipped bit anywhere in the secret (with a valid checksum): false.
    for byte in [0, 15, 31] {
        for bit in [0x01, 0x80] {
            let mut s = secret.clone();
            s[byte] ^= bit;
            let k = ApiKey::parse(assemble(&prefix, &id, &s).as_bytes()).unwrap();
            assert!(!hasher.verify(&k, digest).unwrap());
        }
    }
    // The same secret under another id, or another prefix: false.
    let mut other_id = id.clone();
    other_id[0] ^= 1;
    let k = ApiKey::parse(assemble(&prefix, &other_id, &secret).as_bytes()).unwrap();
    assert!(!hasher.verify(&k, digest).unwrap());
    let k = ApiKey::parse(assemble("acme", &id, &secret).as_bytes()).unwrap();
    assert!(!hasher.verify(&k, digest).unwrap());
    // Another key against this digest: false.
    let other = hasher.generate("bst").unwrap();
    assert!(!hasher.verify(other.key(), digest).unwrap());
    // One flipped bit of the stored tag: false.
    let mut mac = *digest.mac();
    mac[7] ^= 4;
    assert!(!hasher
        .verify(issued.key(), &ApiKeyDigest::new(1, mac))
        .unwrap());
    // Another pepper with the same version: false.
    let stranger = ApiKeyHasher::new(&pepper()).unwrap();
    assert!(!stranger.verify(issued.key(), digest).unwrap());
    // The digest is HMAC-SHA256(pepper, prefix || 0 || id || secret).
    let p = pepper();
    let h = ApiKeyHasher::new(&p).unwrap();
    let mut msg = prefix.clone().into_bytes();
    msg.push(0);
    msg.extend(&id);
    msg.extend(&secret);
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &p),
        &msg,
    );
    assert_eq!(h.digest(issued.key()).mac(), tag.as_ref());
}

#[test]
fn verify_text_errors_are_typed() {
    let hasher = ApiKeyHasher::new(&pepper()).unwrap();
    let issued = hasher.generate("bst").unwrap();
    let digest = issued.digest().to_string();
    let err = hasher.verify_text(b"bst_nope", &digest).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidApiKey);
    let err = hasher
        .verify_text(issued.key_text().as_bytes(), "v1$short")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidHash);
}

#[test]
fn digest_text_is_strict() {
    let hasher = ApiKeyHasher::with_version(4_294_967_295, &pepper()).unwrap();
    let digest = hasher.generate("bst").unwrap().digest().clone();
    let text = digest.to_string();
    assert!(text.starts_with("v4294967295$"));
    assert_eq!(text.len(), 55);
    assert_eq!(ApiKeyDigest::parse(&text).unwrap(), digest);
    let mac = &text[12..];
    for bad in [
        String::new(),
        format!("4294967295${mac}"),
        format!("v${mac}"),
        format!("v01${mac}"),
        format!("v+1${mac}"),
        format!("v4294967296${mac}"),
        format!("v1{mac}"),
        format!("v1${mac}="),
        format!("v1${}", &mac[1..]),
        format!("v1${mac}A"),
        format!("v1${}+", &mac[1..]),
        format!("V1${mac}"),
        format!("v1$ {}", &mac[1..]),
        "v1$".to_owned() + &"A".repeat(10_000),
    ] {
        let err = ApiKeyDigest::parse(&bad).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidHash, "{bad:?}");
    }
    // Unused trailing bits must be zero: one spelling per tag.
    let mut alt = text.clone().into_bytes();
    let last = alt.len() - 1;
    alt[last] = if alt[last] == b'A' { b'B' } else { b'A' };
    if let Ok(d) = ApiKeyDigest::parse(std::str::from_utf8(&alt).unwrap()) {
        assert_ne!(d, digest);
    }
}

#[test]
fn pepper_rotation() {
    let (p1, p2, p3) = (pepper(), pepper(), pepper());
    let old = ApiKeyHasher::new(&p1).unwrap();
    let issued = old.generate("bst").unwrap();
    assert_eq!(issued.digest().version(), 1);
    assert!(!old.needs_rehash(issued.digest()));

    let rotated = ApiKeyHasher::with_version(2, &p2)
        .unwrap()
        .with_previous(1, &p1)
        .unwrap();
    assert_eq!(rotated.version(), 2);
    assert_eq!(rotated.previous_versions(), vec![1]);
    // Old digests still verify, and ask to be re-stored.
    assert!(rotated.verify(issued.key(), issued.digest()).unwrap());
    assert!(rotated.needs_rehash(issued.digest()));
    let fresh = rotated.digest(issued.key());
    assert_eq!(fresh.version(), 2);
    assert!(!rotated.needs_rehash(&fresh));
    assert!(rotated.verify(issued.key(), &fresh).unwrap());
    assert_ne!(fresh.mac(), issued.digest().mac());
    // The old hasher cannot read the new digest: a typed error, not `false`.
    let err = old.verify(issued.key(), &fresh).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidHash);
    assert!(err.message().contains("pepper version 2"));
    // Once version 1 is retired, its digests are an error.
    let retired = ApiKeyHasher::with_version(3, &p3)
        .unwrap()
        .with_previous(2, &p2)
        .unwrap();
    assert_eq!(
        retired
            .verify(issued.key(), issued.digest())
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidHash
    );
    assert!(retired.verify(issued.key(), &fresh).unwrap());
    // A version given twice.
    let dup = ApiKeyHasher::with_version(2, &p2)
        .unwrap()
        .with_previous(2, &p1);
    assert_eq!(dup.unwrap_err().kind(), ErrorKind::InvalidArgument);
    let dup = retired.with_previous(2, &p1);
    assert_eq!(dup.unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn weak_peppers_are_refused() {
    for weak in [
        b"too short".to_vec(),
        vec![7u8; 64],
        b"changeme".repeat(8),
        b"0123456789".repeat(8),
    ] {
        let err = ApiKeyHasher::new(&weak).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WeakSecret, "{err}");
        let ok = ApiKeyHasher::new(&pepper()).unwrap();
        assert_eq!(
            ok.with_previous(0, &weak).unwrap_err().kind(),
            ErrorKind::WeakSecret
        );
    }
}

#[test]
fn debug_never_shows_secrets() {
    let p = b"Qm9yZWFsaXMtcGVwcGVyLWZvci1iYXN0aW9uLXRlc3Rz".to_vec();
    let hasher = ApiKeyHasher::new(&p)
        .unwrap()
        .with_previous(0, &pepper())
        .unwrap();
    let shown = format!("{hasher:?} {hasher:#?}");
    assert!(
        !shown.contains("Qm9y") && !shown.contains("81, 109"),
        "{shown}"
    );
    assert!(shown.contains("version: 1"));

    let issued = hasher.generate("bst").unwrap();
    let text = issued.key_text();
    let secret_part = &text[text.len() - 49..text.len() - 6];
    let tag = issued.digest().to_string();
    for shown in [
        format!("{issued:?}"),
        format!("{issued:#?}"),
        format!("{:?}", issued.key()),
        format!("{:?}", ApiKey::parse(text.as_bytes()).unwrap()),
        format!("{:?}", issued.digest()),
        format!("{:?}", issued.to_record("user:42", "ci", 1).unwrap()),
    ] {
        assert!(!shown.contains(secret_part), "{shown}");
        assert!(!shown.contains(&tag[3..]), "{shown}");
    }
    assert!(format!("{issued:?}").contains(&issued.id().to_string()));
}

// ---- records --------------------------------------------------------------------

fn record() -> ApiKeyRecord {
    let hasher = ApiKeyHasher::new(&pepper()).unwrap();
    hasher
        .generate("bst")
        .unwrap()
        .to_record("user:42", "deploy bot", 1_700_000_000)
        .unwrap()
}

#[test]
fn record_check_expiry_and_revocation() {
    let r = record().with_expiry(1_700_003_600).unwrap();
    r.check(1_700_000_000.0).unwrap();
    r.check(1_700_003_599.9).unwrap();
    let err = r.check(1_700_003_600.0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ApiKeyExpired);
    assert_eq!(err.code(), "API_KEY_EXPIRED");
    assert_eq!(err.at(), Some(1_700_003_600.0));
    let clock = ManualClock::new(1_700_000_000.0);
    r.check_at(&clock).unwrap();
    clock.advance(3600.0);
    assert_eq!(
        r.check_at(&clock).unwrap_err().kind(),
        ErrorKind::ApiKeyExpired
    );

    let mut r = r;
    assert!(!r.is_revoked());
    r.revoke(1_700_000_100);
    r.revoke(1_700_000_200);
    assert!(r.is_revoked());
    assert_eq!(r.revoked_at(), Some(1_700_000_100));
    // Revocation is reported first, before and after expiry.
    for now in [1_700_000_000.0, 1_800_000_000.0] {
        let err = r.check(now).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ApiKeyRevoked);
        assert_eq!(err.code(), "API_KEY_REVOKED");
        assert_eq!(err.at(), Some(1_700_000_100.0));
    }
    // No expiry: valid forever unless revoked.
    record().check(f64::MAX).unwrap();
    assert_eq!(
        record().with_expiry(1_700_000_000).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn record_metadata_rules() {
    let r = record();
    assert_eq!(r.owner(), "user:42");
    assert_eq!(r.name(), "deploy bot");
    assert_eq!(r.prefix(), "bst");
    assert_eq!(r.created_at(), 1_700_000_000);
    assert_eq!(r.rate_limit(), None);
    let limited = r
        .clone()
        .with_rate_limit(RateLimit::new(1000, 3600).unwrap());
    assert_eq!(limited.rate_limit().unwrap().requests(), 1000);
    assert_eq!(limited.rate_limit().unwrap().window_secs(), 3600);
    for (req, win) in [(0, 60), (10, 0)] {
        assert_eq!(
            RateLimit::new(req, win).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
    let digest = r.digest().clone();
    let make =
        |owner: &str, name: &str| ApiKeyRecord::new(r.id(), "bst", digest.clone(), owner, name, 0);
    make("o", "").unwrap();
    make("ünïcode owner", "名前").unwrap();
    make(&"o".repeat(MAX_METADATA_LEN), &"n".repeat(MAX_METADATA_LEN)).unwrap();
    for (owner, name) in [
        ("", "x"),
        (&*"o".repeat(MAX_METADATA_LEN + 1), "x"),
        ("o", &*"n".repeat(MAX_METADATA_LEN + 1)),
        ("a\nb", "x"),
        ("o", "tab\there"),
        ("o", "nul\0"),
    ] {
        assert_eq!(
            make(owner, name).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
    let err = ApiKeyRecord::new(r.id(), "BST", digest, "o", "n", 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn record_bytes_round_trip() {
    let base = record();
    let mut variants = vec![base.clone()];
    variants.push(base.clone().with_expiry(1_700_086_400).unwrap());
    variants.push(
        base.clone()
            .with_rate_limit(RateLimit::new(1000, 3600).unwrap()),
    );
    let mut all = base
        .clone()
        .with_expiry(u64::MAX)
        .unwrap()
        .with_rate_limit(RateLimit::new(u32::MAX, u32::MAX).unwrap());
    all.revoke(1_700_000_001);
    variants.push(all);
    let mut revoked = base.clone();
    revoked.revoke(0);
    variants.push(revoked);
    let long = ApiKeyRecord::new(
        base.id(),
        "abcdefghijklmnop",
        base.digest().clone(),
        &"o".repeat(MAX_METADATA_LEN),
        &"é".repeat(MAX_METADATA_LEN / 2),
        u64::MAX - 1,
    )
    .unwrap()
    .with_expiry(u64::MAX)
    .unwrap()
    .with_rate_limit(RateLimit::new(1, 1).unwrap());
    let mut long = long;
    long.revoke(u64::MAX);
    variants.push(long);
    for r in variants {
        let bytes = r.to_bytes();
        assert!(bytes.len() <= MAX_RECORD_LEN);
        assert_eq!(bytes[0], 1, "format version");
        let back = ApiKeyRecord::from_bytes(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.to_bytes(), bytes);
        // Every truncation is refused, and so is a trailing byte.
        for cut in 0..bytes.len() {
            let err = ApiKeyRecord::from_bytes(&bytes[..cut]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidHash, "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(
            ApiKeyRecord::from_bytes(&extra).unwrap_err().kind(),
            ErrorKind::InvalidHash
        );
    }
    // A rotated digest survives the round trip.
    let mut r = base.clone();
    r.set_digest(ApiKeyDigest::new(7, [9; 32]));
    assert_eq!(
        ApiKeyRecord::from_bytes(&r.to_bytes())
            .unwrap()
            .digest()
            .version(),
        7
    );
}

#[test]
fn record_bytes_are_strict() {
    let r = record().with_rate_limit(RateLimit::new(5, 60).unwrap());
    let bytes = r.to_bytes();
    let bad = |mutate: &dyn Fn(&mut Vec<u8>), what: &str| {
        let mut b = bytes.clone();
        mutate(&mut b);
        let err = ApiKeyRecord::from_bytes(&b).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidHash, "{what}");
        assert!(
            err.message().starts_with("malformed API key record"),
            "{what}"
        );
    };
    bad(&|b| b[0] = 2, "unknown format version");
    bad(&|b| b[0] = 0, "format 0");
    bad(&|b| b[1] |= 0x08, "unknown flag");
    bad(&|b| b[1] |= 0x01, "expiry flag without a field");
    bad(&|b| b[14] = 1, "prefix of 1 byte");
    bad(&|b| b[14] = 200, "prefix length past the end");
    bad(&|b| b[15] = b'B', "uppercase prefix");
    // The rate limit: requests 0.
    let rate_at = 2 + 12 + 1 + 3 + 4 + 32 + 8;
    bad(
        &|b| b[rate_at..rate_at + 4].copy_from_slice(&[0; 4]),
        "zero requests",
    );
    // Owner: invalid UTF-8, a control character, empty.
    let owner_at = rate_at + 8 + 2;
    bad(&|b| b[owner_at] = 0xFF, "owner not UTF-8");
    bad(&|b| b[owner_at] = b'\n', "owner control character");
    let mut empty_owner = bytes[..owner_at - 2].to_vec();
    empty_owner.extend([0, 0]);
    empty_owner.extend(&bytes[owner_at + "user:42".len()..]);
    assert_eq!(
        ApiKeyRecord::from_bytes(&empty_owner).unwrap_err().kind(),
        ErrorKind::InvalidHash
    );
    // Expiry not after creation.
    let mut e = record().with_expiry(1_700_000_001).unwrap().to_bytes();
    let exp_at = 2 + 12 + 1 + 3 + 4 + 32 + 8;
    e[exp_at..exp_at + 8].copy_from_slice(&1_700_000_000u64.to_be_bytes());
    assert_eq!(
        ApiKeyRecord::from_bytes(&e).unwrap_err().kind(),
        ErrorKind::InvalidHash
    );
    // Oversized input is refused before it is read.
    let huge = vec![1u8; MAX_RECORD_LEN + 1];
    assert_eq!(
        ApiKeyRecord::from_bytes(&huge).unwrap_err().kind(),
        ErrorKind::InvalidHash
    );
}
