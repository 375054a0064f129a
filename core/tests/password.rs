//! Integration tests of `bastion_core::password`: the shared vectors in
//! `tests/vectors/passwords.json` (generated with argon2-cffi, Django, the
//! python `bcrypt` package and passlib), round trips of every scheme and
//! encoding, the `needs_rehash` truth table, hostile and malformed input, and
//! the Argon2 memory budget.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bastion_core::password::{
    self, argon2_hash_raw, identify, verify, Argon2Params, Argon2Variant, Encoding, MemoryLimiter,
    PasswordHasher, Pbkdf2Digest, Scheme,
};
use bastion_core::token::json::{self, Value};
use bastion_core::ErrorKind;
use common::hex;

mod common;

/// Tests that run Argon2 hold this for reading; tests that change or measure
/// the process-wide memory budget hold it for writing.
static GLOBAL_BUDGET: RwLock<()> = RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    GLOBAL_BUDGET.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    GLOBAL_BUDGET.write().unwrap_or_else(|e| e.into_inner())
}

// ----------------------------------------------------------------------------
// The vectors file, read with the engine's own strict JSON parser.

struct Json(Value);

impl Json {
    fn get(&self, key: &str) -> Option<Json> {
        self.0.as_object()?.get(key).cloned().map(Json)
    }
    fn str(&self, key: &str) -> Option<&str> {
        self.0.as_object()?.get(key)?.as_str()
    }
    fn u32(&self, key: &str) -> Option<u32> {
        let n = self.0.as_object()?.get(key)?.as_number()?.as_i64()?;
        u32::try_from(n).ok()
    }
    fn bool(&self, key: &str) -> Option<bool> {
        match self.0.as_object()?.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }
    fn arr(&self, key: &str) -> Vec<Json> {
        match self.0.as_object().and_then(|o| o.get(key)) {
            Some(Value::Array(a)) => a.iter().cloned().map(Json).collect(),
            _ => panic!("missing array {key}"),
        }
    }
}

fn vectors() -> Json {
    let text = std::fs::read(common::own_vectors_dir().join("passwords.json")).unwrap();
    Json(json::parse(&text).expect("passwords.json is valid JSON"))
}

fn password_of(case: &Json) -> Vec<u8> {
    match (case.str("password"), case.str("password_hex")) {
        (Some(p), _) => p.as_bytes().to_vec(),
        (None, Some(h)) => hex(h),
        _ => panic!("case without password"),
    }
}

fn encoding_of(s: &str) -> Encoding {
    match s {
        "phc" => Encoding::Phc,
        "django" => Encoding::Django,
        other => panic!("unknown encoding {other}"),
    }
}

fn scheme_of(j: &Json) -> Scheme {
    match j.str("type").unwrap() {
        "argon2" => Scheme::Argon2(Argon2Params {
            variant: Argon2Variant::from_name(j.str("variant").unwrap()).unwrap(),
            version: match j.u32("version").unwrap() {
                19 => 0x13,
                16 => 0x10,
                v => panic!("version {v}"),
            },
            time_cost: j.u32("time_cost").unwrap(),
            memory_cost: j.u32("memory_cost").unwrap(),
            parallelism: j.u32("parallelism").unwrap(),
            hash_len: j.u32("hash_len").unwrap(),
            salt_len: j.u32("salt_len").unwrap_or(16),
        }),
        "pbkdf2" => Scheme::Pbkdf2 {
            digest: match j.str("digest").unwrap() {
                "sha256" => Pbkdf2Digest::Sha256,
                "sha1" => Pbkdf2Digest::Sha1,
                d => panic!("digest {d}"),
            },
            iterations: j.u32("iterations").unwrap(),
        },
        "bcrypt" => Scheme::Bcrypt {
            cost: j.u32("cost").unwrap(),
        },
        "bcrypt_sha256" => Scheme::BcryptSha256 {
            cost: j.u32("cost").unwrap(),
        },
        t => panic!("scheme type {t}"),
    }
}

fn code_of(kind: ErrorKind) -> &'static str {
    kind.code()
}

// ----------------------------------------------------------------------------
// Shared vectors.

#[test]
fn shared_verify_vectors() {
    let _g = shared();
    let v = vectors();
    let cases = v.arr("verify");
    assert!(cases.len() > 100);
    for case in cases {
        let name = case.str("name").unwrap();
        let encoded = case.str("encoded").unwrap();
        let pw = password_of(&case);
        let result = verify(encoded, &pw);
        if let Some(code) = case.str("error") {
            let e = result.expect_err(name);
            assert_eq!(code_of(e.kind()), code, "{name}");
            assert_eq!(
                code_of(identify(encoded).expect_err(name).kind()),
                code,
                "{name}"
            );
            assert_eq!(case.bool("valid"), Some(false), "{name}");
            continue;
        }
        assert_eq!(
            result.unwrap_or_else(|e| panic!("{name}: {e}")),
            case.bool("valid").unwrap(),
            "{name}"
        );
        let info = identify(encoded).unwrap();
        if let Some(alg) = case.str("algorithm") {
            assert_eq!(info.algorithm, alg, "{name}");
        }
        if let Some(enc) = case.str("encoding") {
            assert_eq!(info.encoding, encoding_of(enc), "{name}");
        }
        if let Some(params) = case.get("params") {
            let mut want = scheme_of(&params);
            if let (Scheme::Argon2(w), None) = (&mut want, params.u32("salt_len")) {
                // Only the salt length is unknown to the case; take it from the string.
                if let Scheme::Argon2(got) = info.scheme {
                    w.salt_len = got.salt_len;
                }
            }
            assert_eq!(info.scheme, want, "{name}");
        }
    }
}

#[test]
fn shared_hash_vectors() {
    let _g = shared();
    let v = vectors();
    for case in v.arr("hash") {
        let name = case.str("name").unwrap();
        let hasher = PasswordHasher::new(
            scheme_of(&case.get("scheme").unwrap()),
            encoding_of(case.str("encoding").unwrap()),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let salt = match (case.str("salt"), case.str("salt_hex")) {
            (Some(s), _) => s.as_bytes().to_vec(),
            (None, Some(h)) => hex(h),
            _ => panic!("{name}: no salt"),
        };
        let pw = password_of(&case);
        let result = hasher.hash_with_salt(&pw, &salt);
        if let Some(code) = case.str("error") {
            assert_eq!(code_of(result.expect_err(name).kind()), code, "{name}");
            continue;
        }
        let expected = case.str("expected").unwrap();
        let got = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, expected, "{name}");
        assert!(!hasher.needs_rehash(&got).unwrap(), "{name}");
    }
}

#[test]
fn shared_needs_rehash_vectors() {
    let v = vectors();
    for case in v.arr("needs_rehash") {
        let name = case.str("name").unwrap();
        let h = case.get("hasher").unwrap();
        let hasher = PasswordHasher::new(
            scheme_of(&h.get("scheme").unwrap()),
            encoding_of(h.str("encoding").unwrap()),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        let result = hasher.needs_rehash(case.str("encoded").unwrap());
        match case.str("error") {
            Some(code) => assert_eq!(code_of(result.expect_err(name).kind()), code, "{name}"),
            None => assert_eq!(result.unwrap(), case.bool("expected").unwrap(), "{name}"),
        }
    }
}

#[test]
fn shared_argon2_raw_vectors_include_rfc9106() {
    let _g = shared();
    let v = vectors();
    let cases = v.arr("argon2_raw");
    assert!(cases
        .iter()
        .any(|c| c.str("name").unwrap().contains("RFC 9106 section 5.3")));
    for case in cases {
        let name = case.str("name").unwrap();
        let Scheme::Argon2(params) = scheme_of(&case.get("params").unwrap()) else {
            panic!("{name}")
        };
        let tag = argon2_hash_raw(
            &params,
            &hex(case.str("password_hex").unwrap()),
            &hex(case.str("salt_hex").unwrap()),
            &hex(case.str("secret_hex").unwrap()),
            &hex(case.str("ad_hex").unwrap()),
        )
        .unwrap();
        assert_eq!(tag, hex(case.str("expected_hex").unwrap()), "{name}");
    }
}

// ----------------------------------------------------------------------------
// Round trips.

fn small_argon2() -> Argon2Params {
    Argon2Params {
        time_cost: 1,
        memory_cost: 256,
        parallelism: 2,
        ..Argon2Params::default()
    }
}

fn all_small_hashers() -> Vec<PasswordHasher> {
    let mut out = Vec::new();
    for encoding in [Encoding::Phc, Encoding::Django] {
        for variant in [
            Argon2Variant::Argon2id,
            Argon2Variant::Argon2i,
            Argon2Variant::Argon2d,
        ] {
            for version in [0x13, 0x10] {
                out.push(
                    PasswordHasher::new(
                        Scheme::Argon2(Argon2Params {
                            variant,
                            version,
                            ..small_argon2()
                        }),
                        encoding,
                    )
                    .unwrap(),
                );
            }
        }
        out.push(PasswordHasher::new(Scheme::Bcrypt { cost: 4 }, encoding).unwrap());
    }
    for digest in [Pbkdf2Digest::Sha256, Pbkdf2Digest::Sha1] {
        out.push(
            PasswordHasher::new(
                Scheme::Pbkdf2 {
                    digest,
                    iterations: 1000,
                },
                Encoding::Django,
            )
            .unwrap(),
        );
    }
    out.push(PasswordHasher::new(Scheme::BcryptSha256 { cost: 4 }, Encoding::Django).unwrap());
    out
}

#[test]
fn round_trip_every_scheme_and_encoding() {
    let _g = shared();
    let passwords: [&[u8]; 5] = [
        b"correct horse battery staple",
        b"",
        "pässwörd 🔑".as_bytes(),
        b"\x00\xff\xfe binary",
        &[b'x'; 72],
    ];
    for hasher in all_small_hashers() {
        for pw in passwords {
            let encoded = hasher.hash(pw).unwrap();
            let what = format!("{:?} {:?}", hasher.scheme(), hasher.encoding());
            assert!(verify(&encoded, pw).unwrap(), "{what}");
            assert!(hasher.verify(&encoded, pw).unwrap(), "{what}");
            let mut wrong = pw.to_vec();
            wrong.push(b'!');
            if !(matches!(hasher.scheme(), Scheme::Bcrypt { .. }) && pw.len() >= 72) {
                assert!(!verify(&encoded, &wrong).unwrap(), "{what}");
            }
            assert!(!verify(&encoded, b"something else").unwrap(), "{what}");
            assert!(!hasher.needs_rehash(&encoded).unwrap(), "{what}");
            let info = identify(&encoded).unwrap();
            assert_eq!(info.algorithm, hasher.algorithm(), "{what}");
            assert_eq!(info.encoding, hasher.encoding(), "{what}");
            match hasher.encoding() {
                Encoding::Django => assert!(encoded.starts_with(&format!("{}$", info.algorithm))),
                Encoding::Phc => assert!(encoded.starts_with('$')),
            }
        }
    }
}

#[test]
fn fresh_salts_and_django_salt_shape() {
    let _g = shared();
    for hasher in all_small_hashers() {
        let a = hasher.hash(b"pw").unwrap();
        let b = hasher.hash(b"pw").unwrap();
        assert_ne!(a, b, "{:?}", hasher.scheme());
        let info = identify(&a).unwrap();
        match (hasher.scheme(), hasher.encoding()) {
            (Scheme::Argon2(_) | Scheme::Pbkdf2 { .. }, Encoding::Django) => {
                assert_eq!(info.salt.len(), 22);
                assert!(info.salt.iter().all(u8::is_ascii_alphanumeric));
            }
            (Scheme::Argon2(p), Encoding::Phc) => assert_eq!(info.salt.len(), p.salt_len as usize),
            _ => assert_eq!(info.salt.len(), 16),
        }
    }
}

#[test]
fn default_profiles() {
    let d = Argon2Params::default();
    assert_eq!(
        (
            d.variant,
            d.version,
            d.time_cost,
            d.memory_cost,
            d.parallelism,
            d.hash_len,
            d.salt_len
        ),
        (Argon2Variant::Argon2id, 0x13, 3, 65536, 4, 32, 16)
    );
    let j = Argon2Params::django();
    assert_eq!(
        (
            j.variant,
            j.time_cost,
            j.memory_cost,
            j.parallelism,
            j.hash_len
        ),
        (Argon2Variant::Argon2id, 2, 102_400, 8, 32)
    );
    assert_eq!(
        Scheme::django_pbkdf2(),
        Scheme::Pbkdf2 {
            digest: Pbkdf2Digest::Sha256,
            iterations: 1_200_000
        }
    );
    let h = PasswordHasher::default();
    assert_eq!(h.scheme(), &Scheme::Argon2(d));
    assert_eq!(h.encoding(), Encoding::Phc);
    let _g = shared();
    let encoded = h.hash(b"correct horse battery staple").unwrap();
    assert!(encoded.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"));
    assert_eq!(encoded.split('$').nth(4).unwrap().len(), 22); // 16-byte salt
    assert_eq!(encoded.split('$').nth(5).unwrap().len(), 43); // 32-byte tag
    assert!(verify(&encoded, b"correct horse battery staple").unwrap());
}

// ----------------------------------------------------------------------------
// Parameter validation and the bcrypt policy.

#[test]
fn new_rejects_out_of_bounds_parameters() {
    let a = Argon2Params::default();
    let bad_argon2 = [
        Argon2Params { version: 0x12, ..a },
        Argon2Params { time_cost: 0, ..a },
        Argon2Params { time_cost: 65, ..a },
        Argon2Params {
            parallelism: 0,
            ..a
        },
        Argon2Params {
            parallelism: 256,
            memory_cost: 1 << 20,
            ..a
        },
        Argon2Params {
            memory_cost: 31,
            parallelism: 4,
            ..a
        },
        Argon2Params {
            memory_cost: 2_097_153,
            ..a
        },
        Argon2Params { hash_len: 3, ..a },
        Argon2Params {
            hash_len: 1025,
            ..a
        },
        Argon2Params { salt_len: 7, ..a },
        Argon2Params {
            salt_len: 1025,
            ..a
        },
    ];
    for p in bad_argon2 {
        for enc in [Encoding::Phc, Encoding::Django] {
            let e = PasswordHasher::new(Scheme::Argon2(p), enc).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{p:?}");
        }
    }
    let bad = [
        (
            Scheme::Pbkdf2 {
                digest: Pbkdf2Digest::Sha256,
                iterations: 0,
            },
            Encoding::Django,
        ),
        (
            Scheme::Pbkdf2 {
                digest: Pbkdf2Digest::Sha256,
                iterations: 100_000_001,
            },
            Encoding::Django,
        ),
        (
            Scheme::Pbkdf2 {
                digest: Pbkdf2Digest::Sha256,
                iterations: 1000,
            },
            Encoding::Phc,
        ),
        (Scheme::Bcrypt { cost: 3 }, Encoding::Phc),
        (Scheme::Bcrypt { cost: 21 }, Encoding::Django),
        (Scheme::Bcrypt { cost: 31 }, Encoding::Phc),
        (Scheme::BcryptSha256 { cost: 12 }, Encoding::Phc),
        (Scheme::BcryptSha256 { cost: 3 }, Encoding::Django),
    ];
    for (scheme, enc) in bad {
        let e = PasswordHasher::new(scheme, enc).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{scheme:?} {enc:?}");
    }
    // The edges are accepted.
    for p in [
        Argon2Params {
            memory_cost: 2_097_152,
            time_cost: 64,
            ..a
        },
        Argon2Params {
            memory_cost: 8 * 255,
            parallelism: 255,
            hash_len: 4,
            salt_len: 8,
            ..a
        },
    ] {
        PasswordHasher::new(Scheme::Argon2(p), Encoding::Phc).unwrap();
    }
    PasswordHasher::new(Scheme::Bcrypt { cost: 20 }, Encoding::Phc).unwrap();
}

#[test]
fn bcrypt_72_byte_policy() {
    for enc in [Encoding::Phc, Encoding::Django] {
        let h = PasswordHasher::new(Scheme::Bcrypt { cost: 4 }, enc).unwrap();
        let e = h.hash(&[b'a'; 73]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(!e.message().contains("aaaa"));
        let encoded = h.hash(&[b'a'; 72]).unwrap();
        // Verification reads 72 bytes, like every bcrypt that truncated.
        assert!(verify(&encoded, &[b'a'; 72]).unwrap());
        assert!(verify(&encoded, &[b'a'; 200]).unwrap());
        assert!(!verify(&encoded, &[b'a'; 71]).unwrap());
    }
    // bcrypt_sha256 has no limit and reads every byte.
    let h = PasswordHasher::new(Scheme::BcryptSha256 { cost: 4 }, Encoding::Django).unwrap();
    let mut long = vec![b'a'; 500];
    let encoded = h.hash(&long).unwrap();
    assert!(verify(&encoded, &long).unwrap());
    long[499] = b'b';
    assert!(!verify(&encoded, &long).unwrap());
}

#[test]
fn salt_rules_of_hash_with_salt() {
    let _g = shared();
    let argon = PasswordHasher::new(Scheme::Argon2(small_argon2()), Encoding::Phc).unwrap();
    assert!(argon.hash_with_salt(b"pw", &[0; 7]).is_err());
    assert!(argon.hash_with_salt(b"pw", &[0; 1025]).is_err());
    assert!(argon.hash_with_salt(b"pw", &[0; 8]).is_ok());
    let dj = PasswordHasher::new(
        Scheme::Pbkdf2 {
            digest: Pbkdf2Digest::Sha256,
            iterations: 1000,
        },
        Encoding::Django,
    )
    .unwrap();
    for salt in [&b""[..], b"a$b", b"with space", b"caf\xc3\xa9", b"tab\t"] {
        assert_eq!(
            dj.hash_with_salt(b"pw", salt).unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
    let bc = PasswordHasher::new(Scheme::Bcrypt { cost: 4 }, Encoding::Phc).unwrap();
    assert!(bc.hash_with_salt(b"pw", &[0; 15]).is_err());
    assert!(bc.hash_with_salt(b"pw", &[0; 17]).is_err());
}

// ----------------------------------------------------------------------------
// needs_rehash truth table (beyond the shared vectors).

#[test]
fn needs_rehash_truth_table() {
    let _g = shared();
    let base = small_argon2();
    let phc = PasswordHasher::new(Scheme::Argon2(base), Encoding::Phc).unwrap();
    let dj = PasswordHasher::new(Scheme::Argon2(base), Encoding::Django).unwrap();
    let h_phc = phc.hash(b"pw").unwrap();
    let h_dj = dj.hash(b"pw").unwrap();
    assert!(!phc.needs_rehash(&h_phc).unwrap());
    assert!(!dj.needs_rehash(&h_dj).unwrap());
    assert!(phc.needs_rehash(&h_dj).unwrap());
    assert!(dj.needs_rehash(&h_phc).unwrap());
    let variations = [
        Argon2Params {
            variant: Argon2Variant::Argon2i,
            ..base
        },
        Argon2Params {
            version: 0x10,
            ..base
        },
        Argon2Params {
            time_cost: 2,
            ..base
        },
        Argon2Params {
            memory_cost: 512,
            ..base
        },
        Argon2Params {
            parallelism: 1,
            ..base
        },
        Argon2Params {
            hash_len: 16,
            ..base
        },
    ];
    for p in variations {
        for enc in [Encoding::Phc, Encoding::Django] {
            let other = PasswordHasher::new(Scheme::Argon2(p), enc).unwrap();
            let own = if enc == Encoding::Phc { &h_phc } else { &h_dj };
            assert!(other.needs_rehash(own).unwrap(), "{p:?} {enc:?}");
        }
    }
    // salt_len matters in PHC (argon2-cffi) but not in Django (entropy instead).
    let salt32 = Argon2Params {
        salt_len: 32,
        ..base
    };
    assert!(PasswordHasher::new(Scheme::Argon2(salt32), Encoding::Phc)
        .unwrap()
        .needs_rehash(&h_phc)
        .unwrap());
    assert!(
        !PasswordHasher::new(Scheme::Argon2(salt32), Encoding::Django)
            .unwrap()
            .needs_rehash(&h_dj)
            .unwrap()
    );
    // A Django argon2 string with a 16 random-byte salt is under 128 bits of
    // Django entropy (16 "characters"), so Django would update it.
    let weak = format!("argon2{}", h_phc);
    assert!(dj.needs_rehash(&weak).unwrap());

    let bc4 = PasswordHasher::new(Scheme::Bcrypt { cost: 4 }, Encoding::Phc).unwrap();
    let bc5 = PasswordHasher::new(Scheme::Bcrypt { cost: 5 }, Encoding::Phc).unwrap();
    let s = bc4.hash(b"pw").unwrap();
    assert!(!bc4.needs_rehash(&s).unwrap());
    assert!(bc5.needs_rehash(&s).unwrap());
    assert!(bc4.needs_rehash(&s.replacen("$2b$", "$2a$", 1)).unwrap());
    let djbc = PasswordHasher::new(Scheme::Bcrypt { cost: 4 }, Encoding::Django).unwrap();
    // Django's must_update looks at the work factor only.
    assert!(!djbc
        .needs_rehash(&format!("bcrypt${}", s.replacen("$2b$", "$2a$", 1)))
        .unwrap());
    assert!(djbc.needs_rehash(&s).unwrap());
    assert!(phc.needs_rehash(&s).unwrap());
    assert!(bc4.needs_rehash(&h_phc).unwrap());
    assert_eq!(
        bc4.needs_rehash("not a hash").unwrap_err().kind(),
        ErrorKind::InvalidHash
    );
}

// ----------------------------------------------------------------------------
// Hostile and malformed input.

/// Strings derived from valid hashes of every format by truncation, character
/// substitution, insertion of `$`, digits and non-ASCII, and duplication.
fn mutations(valid: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = valid.chars().collect();
    for i in 0..=chars.len() {
        out.push(chars[..i].iter().collect());
        out.push(chars[i..].iter().collect());
    }
    for i in 0..chars.len() {
        for sub in [
            '$', '0', '9', ',', '=', 'A', '.', '+', '/', '-', ' ', 'é', '\0',
        ] {
            let mut c = chars.clone();
            c[i] = sub;
            out.push(c.into_iter().collect());
            let mut c = chars.clone();
            c.insert(i, sub);
            out.push(c.into_iter().collect());
        }
        let mut c = chars.clone();
        c.remove(i);
        out.push(c.into_iter().collect());
    }
    out.push(format!("{valid}{valid}"));
    out.push(format!("{valid}$"));
    out.push(valid.replace('$', "$$"));
    out.push(valid.to_uppercase());
    out
}

/// Work a parsed string may ask for in this test before it is only identified.
fn cheap(scheme: &Scheme) -> bool {
    match *scheme {
        Scheme::Argon2(p) => u64::from(p.memory_cost) * u64::from(p.time_cost) <= 64 * 1024,
        Scheme::Pbkdf2 { iterations, .. } => iterations <= 100_000,
        Scheme::Bcrypt { cost } | Scheme::BcryptSha256 { cost } => cost <= 6,
    }
}

#[test]
fn malformed_inputs_never_panic_and_never_leak() {
    let _g = shared();
    let mut seeds = vec![
        "$argon2id$v=19$m=256,t=1,p=2$c29tZXNhbHRzb21lc2FsdA$Jmb1Vq/ta4YgFS6fA6FZ3QUiN7DsSJwjMgzu8xIN0/c".to_owned(),
        "$argon2i$m=64,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$sebvvcg1VH574T3ImxsUlg".to_owned(),
    ];
    for h in all_small_hashers() {
        seeds.push(h.hash(b"pw").unwrap());
    }
    seeds.push(
        "$pbkdf2-sha256$1000$cGFzc2xpYi1zYWx0LTE2Yg$9lnUXfqoUOzwQlpfYhDfDNG8KSkdpKpq3nTqxVgPXlQ"
            .to_owned(),
    );
    seeds.push("$pbkdf2$1000$cGFzc2xpYi1zYWx0LTE2Yg$AAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned());
    let mut fixed: Vec<String> = [
        "",
        "$",
        "$$",
        "$$$$$$",
        "argon2",
        "argon2$",
        "argon2$$",
        "bcrypt$",
        "bcrypt$$",
        "bcrypt_sha256$$2b$",
        "pbkdf2_sha256$",
        "pbkdf2_sha256$$$",
        "pbkdf2_sha256$1$$",
        "pbkdf2_sha256$1$a$",
        "$2b$",
        "$2b$04$",
        "$argon2id$",
        "$argon2id$v=19$",
        "$argon2id$v=19$m=,t=,p=$$",
        "$argon2id$v=19$m=256,t=1,p=1$$",
        "$pbkdf2-sha256$$$",
        "\u{0}",
        "💥",
        "$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHQ$💥",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    fixed.push("a".repeat(1 << 20));
    fixed.push("$".repeat(100_000));
    fixed.push(format!(
        "$argon2id$v=19$m={},t=1,p=1$c29tZXNhbHQ$AAAAAAAA",
        "9".repeat(5000)
    ));
    fixed.push(format!("pbkdf2_sha256${}$salt$AAAA", "9".repeat(100)));

    let mut checked = 0usize;
    for s in seeds.iter().flat_map(|s| mutations(s)).chain(fixed) {
        checked += 1;
        match identify(&s) {
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidHash, "{s:?}");
                assert!(e.message().len() < 200);
                for field in s.split('$').filter(|f| f.len() >= 8) {
                    assert!(!e.message().contains(field), "error message leaks input");
                }
                assert_eq!(
                    verify(&s, b"pw").unwrap_err().kind(),
                    ErrorKind::InvalidHash
                );
            }
            Ok(info) => {
                assert!(format!("{info:?}").len() < 400);
                if cheap(&info.scheme) {
                    // Either a boolean or a bounded refusal; never a panic.
                    if let Err(e) = verify(&s, b"pw") {
                        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{s:?}");
                    }
                }
            }
        }
    }
    assert!(checked > 10_000, "{checked}");
}

#[test]
fn hostile_parameters_are_refused_before_work() {
    let _g = shared();
    // Each of these would take minutes or gigabytes if honoured.
    for s in [
        "$argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=65536,t=4294967295,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
        "$argon2id$v=19$m=65536,t=1,p=16777215$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
        "pbkdf2_sha256$4294967295$abcdefghijklmnopqrstuv$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ=",
        "$2b$99$abcdefghijklmnopqrstuuBzzIgyKkz7xMWYSzkIjUSnxEQFQ0WNe",
    ] {
        let start = std::time::Instant::now();
        assert_eq!(
            verify(s, b"pw").unwrap_err().kind(),
            ErrorKind::InvalidHash,
            "{s}"
        );
        assert!(start.elapsed() < Duration::from_secs(1));
    }
    // Within the format bounds but above the whole memory budget: refused by the
    // limiter at once, nothing allocated.
    let big = "$argon2id$v=19$m=2097152,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$AAAAAAAAAAAAAAAAAAAAAA";
    assert!(identify(big).is_ok());
    if password::memory_budget_kib() < 2_097_152 {
        assert_eq!(
            verify(big, b"pw").unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
}

// ----------------------------------------------------------------------------
// The memory budget.

#[test]
fn limiter_refuses_requests_above_the_budget() {
    let _g = shared();
    let params = Argon2Params {
        memory_cost: 1_572_864, // 1.5 GiB, above the default 1 GiB budget
        time_cost: 1,
        parallelism: 1,
        ..Argon2Params::default()
    };
    assert!(password::memory_budget_kib() < 1_572_864);
    let h = PasswordHasher::new(Scheme::Argon2(params), Encoding::Phc).unwrap();
    let e = h.hash(b"pw").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.message().contains("memory budget"));
    assert_eq!(
        password::set_memory_budget_kib(0).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn global_budget_accounting_and_blocking() {
    let _g = exclusive();
    let before = password::memory_budget_kib();
    assert_eq!(password::memory_in_use_kib(), 0);

    // Concurrent hashes and verifies: all succeed, the budget is whole afterwards.
    let hasher = PasswordHasher::new(Scheme::Argon2(small_argon2()), Encoding::Phc).unwrap();
    let encoded = hasher.hash(b"pw").unwrap();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                for _ in 0..5 {
                    let e = hasher.hash(b"pw").unwrap();
                    assert!(verify(&e, b"pw").unwrap());
                    assert!(verify(&encoded, b"pw").unwrap());
                }
            });
        }
    });
    assert_eq!(password::memory_in_use_kib(), 0);

    // A budget of exactly one hash: a second caller blocks until it is free.
    password::set_memory_budget_kib(256).unwrap();
    let permit = password::global_limiter().acquire(256).unwrap();
    assert_eq!(password::memory_in_use_kib(), 256);
    let waiter = {
        let (hasher, encoded) = (hasher.clone(), encoded.clone());
        std::thread::spawn(move || hasher.verify(&encoded, b"pw"))
    };
    while password::global_limiter().waiting() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(!waiter.is_finished());
    drop(permit);
    assert!(waiter.join().unwrap().unwrap());
    assert_eq!(password::memory_in_use_kib(), 0);

    // Larger than the whole budget: an error, not a deadlock.
    let big = PasswordHasher::new(
        Scheme::Argon2(Argon2Params {
            memory_cost: 512,
            ..small_argon2()
        }),
        Encoding::Phc,
    )
    .unwrap();
    assert_eq!(
        big.hash(b"pw").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    password::set_memory_budget_kib(before).unwrap();
    assert_eq!(password::memory_budget_kib(), before);
    assert_eq!(password::memory_in_use_kib(), 0);
}

#[test]
fn limiter_never_exceeds_budget_under_contention() {
    let limiter = Arc::new(MemoryLimiter::new(1000));
    let high_water = Arc::new(AtomicU64::new(0));
    let current = Arc::new(AtomicU64::new(0));
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let (limiter, high_water, current) = (&limiter, &high_water, &current);
            s.spawn(move || {
                for i in 0..200u64 {
                    let kib = 50 + (t * 37 + i * 91) % 700;
                    let permit = limiter.acquire(kib).unwrap();
                    let now = current.fetch_add(kib, Ordering::SeqCst) + kib;
                    high_water.fetch_max(now, Ordering::SeqCst);
                    assert!(now <= 1000);
                    std::thread::yield_now();
                    current.fetch_sub(kib, Ordering::SeqCst);
                    drop(permit);
                }
            });
        }
    });
    assert!(high_water.load(Ordering::SeqCst) <= 1000);
    assert_eq!(limiter.in_use_kib(), 0);
    assert_eq!(limiter.waiting(), 0);
    assert!(limiter.acquire(1001).is_err());
}
