//! Behaviour of keys, signing and verification, with time driven by a
//! `ManualClock`.

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use bastion_core::token::json::{self, Value};
use bastion_core::token::{
    decode, decode_unverified, encode, Algorithm, Family, Header, Key, KeyCache, Validation,
};
use bastion_core::{ErrorKind, ManualClock};
use std::sync::OnceLock;

const SECRET: &[u8] = b"k8Jd93hsQ0-very-random-test-secret-2Xz7pL4mN1vB6cR9tY3wE5uI8oA0sD";
const NOW: f64 = 1_700_000_000.0;

fn rsa_pkcs8() -> &'static [u8] {
    static K: OnceLock<Vec<u8>> = OnceLock::new();
    K.get_or_init(|| {
        RsaKeyPair::generate(KeySize::Rsa2048)
            .unwrap()
            .as_der()
            .unwrap()
            .as_ref()
            .to_vec()
    })
}

fn private_key(alg: Algorithm) -> Key {
    match alg.family() {
        Family::Hmac => Key::hmac(SECRET).unwrap(),
        Family::Rsa => Key::from_der(rsa_pkcs8()).unwrap(),
        Family::Ec(_) => {
            let signing = match alg {
                Algorithm::ES256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                Algorithm::ES384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
                Algorithm::ES512 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
                _ => &sig::ECDSA_P256K1_SHA256_FIXED_SIGNING,
            };
            let doc = EcdsaKeyPair::generate(signing)
                .unwrap()
                .to_pkcs8v1()
                .unwrap();
            Key::from_der(doc.as_ref()).unwrap()
        }
        Family::Ed25519 => Key::from_der(
            Ed25519KeyPair::generate()
                .unwrap()
                .to_pkcs8()
                .unwrap()
                .as_ref(),
        )
        .unwrap(),
    }
}

fn public_of(key: &Key) -> Key {
    if key.family() == Family::Hmac {
        return Key::hmac(SECRET).unwrap();
    }
    let jwk = key.public_jwk().unwrap();
    assert!(
        !jwk.contains("d"),
        "public JWK must not carry private members"
    );
    Key::from_jwk_object(&jwk).unwrap()
}

/// An HMAC key and an HS256 token with the usual claims expiring at `exp`.
fn hs256_token(exp: f64) -> (Key, String) {
    let key = Key::hmac(SECRET).unwrap();
    let token = encode(&Header::new(Algorithm::HS256), &claims(exp), &key, false).unwrap();
    (key, token)
}

fn claims(exp: f64) -> String {
    format!(
        r#"{{"sub":"42","name":"Ada","roles":["admin"],"iat":{},"exp":{exp}}}"#,
        NOW as i64
    )
}

#[test]
fn every_algorithm_signs_and_verifies() {
    let clock = ManualClock::new(NOW);
    for &alg in Algorithm::ALL {
        let key = private_key(alg);
        assert!(key.can_sign());
        let token = encode(&Header::new(alg), &claims(NOW + 60.0), &key, false).unwrap();
        let public = public_of(&key);
        let t = decode(token.as_bytes(), &public, &Validation::new(&[alg]), &clock)
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(t.claims.get("name").and_then(Value::as_str), Some("Ada"));
        assert_eq!(
            t.header.get("alg").and_then(Value::as_str),
            Some(alg.name())
        );
        assert_eq!(t.header.get("typ").and_then(Value::as_str), Some("JWT"));
        assert_eq!(t.claims_json, claims(NOW + 60.0));
        // A flipped signature byte never verifies.
        let mut bad = token.into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        let err = decode(&bad, &public, &Validation::new(&[alg]), &clock).unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::InvalidSignature | ErrorKind::MalformedToken
            ),
            "{alg}: {err:?}"
        );
    }
}

#[test]
fn expiry_and_not_before_follow_the_manual_clock() {
    let key = Key::hmac(SECRET).unwrap();
    let payload = format!(r#"{{"exp":{},"nbf":{}}}"#, NOW + 60.0, NOW + 10.0);
    let token = encode(&Header::new(Algorithm::HS256), &payload, &key, false).unwrap();
    let v = Validation::new(&[Algorithm::HS256]);
    let clock = ManualClock::new(NOW);
    let e = decode(token.as_bytes(), &key, &v, &clock).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TokenNotYetValid);
    assert_eq!(e.at(), Some(NOW + 10.0));
    clock.advance(10.0);
    decode(token.as_bytes(), &key, &v, &clock).unwrap();
    clock.advance(49.999);
    decode(token.as_bytes(), &key, &v, &clock).unwrap();
    clock.advance(0.001); // now == exp: expired
    let e = decode(token.as_bytes(), &key, &v, &clock).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TokenExpired);
    assert_eq!(e.code(), "TOKEN_EXPIRED");
    let mut lenient = v.clone();
    lenient.leeway = 30.0;
    decode(token.as_bytes(), &key, &lenient, &clock).unwrap();
    clock.advance(30.0);
    assert_eq!(
        decode(token.as_bytes(), &key, &lenient, &clock)
            .unwrap_err()
            .kind(),
        ErrorKind::TokenExpired
    );
    let mut no_exp = v;
    no_exp.validate_exp = false;
    decode(token.as_bytes(), &key, &no_exp, &clock).unwrap();
}

#[test]
fn max_age_counts_from_iat() {
    let (key, token) = hs256_token(NOW + 3600.0);
    let mut v = Validation::new(&[Algorithm::HS256]);
    v.max_age = Some(300.0);
    let clock = ManualClock::new(NOW + 299.0);
    decode(token.as_bytes(), &key, &v, &clock).unwrap();
    clock.advance(1.0);
    assert_eq!(
        decode(token.as_bytes(), &key, &v, &clock)
            .unwrap_err()
            .message(),
        "maxAge exceeded"
    );
}

#[test]
fn keys_are_bound_to_their_family() {
    let rsa = private_key(Algorithm::RS256);
    let hmac = Key::hmac(SECRET).unwrap();
    let clock = ManualClock::new(NOW);
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims(NOW + 60.0),
        &hmac,
        false,
    )
    .unwrap();
    let e = decode(
        token.as_bytes(),
        &rsa,
        &Validation::new(&[Algorithm::HS256, Algorithm::RS256]),
        &clock,
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidAlgorithm);
    assert_eq!(
        encode(&Header::new(Algorithm::HS256), "{}", &rsa, false)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidAlgorithm
    );
    // A public key cannot sign.
    let public = public_of(&rsa);
    assert!(!public.can_sign());
    assert_eq!(
        encode(&Header::new(Algorithm::RS256), "{}", &public, false)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidKey
    );
    // Public-key material is never an HMAC secret, in any form.
    let pem = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEBKrsc2NXJvIT+4qeZNo7hjLkFJWp\nRNAEW1IuunJA+tWH2TFXmKqjpboBd1eHztBeqve04J/IHW0apUboNl1SXQ==\n-----END PUBLIC KEY-----\n";
    for m in [
        pem.to_string(),
        format!(" {pem}"),
        format!("\u{200b}{pem}"),
        format!("#{pem}"),
    ] {
        assert_eq!(
            Key::hmac(m.as_bytes()).unwrap_err().kind(),
            ErrorKind::InvalidKey
        );
        assert_eq!(
            Key::from_material(m.as_bytes(), &[Family::Hmac])
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidKey
        );
        let k = Key::from_material(
            m.as_bytes(),
            &[Family::Hmac, Family::Ec(bastion_core::token::Curve::P256)],
        )
        .unwrap();
        assert_eq!(k.family(), Family::Ec(bastion_core::token::Curve::P256));
    }
    let der = public.public_jwk().unwrap();
    let der_key = Key::from_jwk_object(&der).unwrap();
    assert_eq!(der_key.family(), Family::Rsa);
    let rsa_der = bastion_core::token::key::rsa_public_der(&der_key)
        .unwrap()
        .to_vec();
    assert_eq!(
        Key::hmac(&rsa_der).unwrap_err().kind(),
        ErrorKind::InvalidKey
    );
    let mut prefixed = b"#".to_vec();
    prefixed.extend_from_slice(&rsa_der);
    assert_eq!(
        Key::hmac(&prefixed).unwrap_err().kind(),
        ErrorKind::InvalidKey
    );
}

#[test]
fn hmac_secrets_must_be_strong_enough_for_the_algorithm() {
    let short = Key::hmac(b"0123456789abcdefghijklmnopqrstu").unwrap(); // 31 bytes
    let e = encode(&Header::new(Algorithm::HS256), "{}", &short, false).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidKey);
    assert!(
        !e.message().contains("0123456789"),
        "error must not echo the secret"
    );
    encode(&Header::new(Algorithm::HS256), "{}", &short, true).unwrap();
    let k32 = Key::hmac(&SECRET[..32]).unwrap();
    encode(&Header::new(Algorithm::HS256), "{}", &k32, false).unwrap();
    assert_eq!(
        encode(&Header::new(Algorithm::HS512), "{}", &k32, false)
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidKey
    );
    assert_eq!(Key::hmac(b"").unwrap_err().kind(), ErrorKind::InvalidKey);
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let k = Key::hmac(SECRET).unwrap();
    let dbg = format!("{k:?}");
    assert!(dbg.contains("HMAC"));
    assert!(!dbg.contains("very-random"), "{dbg}");
    let rsa = format!("{:?}", private_key(Algorithm::RS256));
    assert!(rsa.len() < 200, "{rsa}");
}

#[test]
fn validation_requires_an_explicit_algorithm_list() {
    let (key, token) = hs256_token(NOW + 60.0);
    let e = decode(
        token.as_bytes(),
        &key,
        &Validation::default(),
        &ManualClock::new(NOW),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(Algorithm::parse("none").is_err());
}

#[test]
fn header_parameters_and_kid() {
    let key = Key::hmac(SECRET).unwrap().with_kid(Some("k1".into()));
    let mut h = Header::new(Algorithm::HS384);
    h.extra.insert("zzz", Value::Bool(true));
    let secret48 = Key::hmac(&SECRET[..48])
        .unwrap()
        .with_kid(Some("k1".into()));
    let token = encode(&h, "{}", &secret48, false).unwrap();
    let header = bastion_core::token::decode_header(token.as_bytes(), 8192).unwrap();
    assert_eq!(
        Value::Object(header).to_json(),
        r#"{"alg":"HS384","kid":"k1","typ":"JWT","zzz":true}"#
    );
    let _ = key;
    let mut h = Header::new(Algorithm::HS256);
    h.extra.insert("alg", Value::String("none".into()));
    assert_eq!(
        encode(&h, "{}", &secret48, false).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let mut h = Header::new(Algorithm::HS256);
    h.typ = None;
    let token = encode(&h, "{}", &secret48, false).unwrap();
    assert!(!bastion_core::token::decode_header(token.as_bytes(), 8192)
        .unwrap()
        .contains("typ"));
}

#[test]
fn encode_checks_registered_claim_types() {
    let key = Key::hmac(SECRET).unwrap();
    for bad in [
        r#"{"exp":"soon"}"#,
        r#"{"iss":1}"#,
        r#"{"aud":[1]}"#,
        r#"{"sub":null}"#,
        "[]",
        r#"{"a":1,"a":2}"#,
    ] {
        let e = encode(&Header::new(Algorithm::HS256), bad, &key, false).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
    }
}

#[test]
fn unverified_decode_is_still_strict() {
    let key = Key::hmac(SECRET).unwrap();
    let token = encode(&Header::new(Algorithm::HS256), &claims(1.0), &key, false).unwrap();
    let t = decode_unverified(token.as_bytes(), 8192).unwrap();
    assert_eq!(t.algorithm, Some(Algorithm::HS256));
    assert!(decode_unverified(b"a.b", 8192).is_err());
    assert!(decode_unverified(&vec![b'.'; 100_000], 8192).is_err());
}

#[test]
fn key_cache_parses_once_and_stays_bounded() {
    let cache = KeyCache::default();
    let a = cache.get(SECRET, &[Family::Hmac]).unwrap();
    let b = cache.get(SECRET, &[Family::Hmac]).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b));
    for i in 0..(KeyCache::CAPACITY * 3) {
        let secret = format!("{i:08}-distinct-secret-material-abcdefghijklmnop");
        cache.get(secret.as_bytes(), &[Family::Hmac]).unwrap();
        assert!(cache.len() <= KeyCache::CAPACITY);
    }
}

#[test]
fn jwk_round_trip_and_restrictions() {
    for alg in [
        Algorithm::RS256,
        Algorithm::ES384,
        Algorithm::EdDSA,
        Algorithm::ES512,
    ] {
        let key = private_key(alg);
        let mut jwk = key.public_jwk().unwrap();
        jwk.insert("kid", Value::String("main".into()));
        jwk.insert("alg", Value::String(alg.name().into()));
        let text = Value::Object(jwk.clone()).to_json();
        let k = Key::from_jwk(text.as_bytes()).unwrap();
        assert_eq!(k.kid(), Some("main"));
        assert_eq!(k.algorithms(), vec![alg]);
        jwk.insert("use", Value::String("enc".into()));
        assert!(Key::from_jwk_object(&jwk).is_err());
    }
    let bad =
        json::parse_object(br#"{"kty":"EC","crv":"P-256","alg":"ES384","x":"AAAA","y":"AAAA"}"#)
            .unwrap();
    assert!(Key::from_jwk_object(&bad).is_err());
}

#[test]
fn keys_clone_cheaply_and_kid_precedence() {
    let key = Key::hmac(SECRET).unwrap().with_kid(Some("from-key".into()));
    let copy = key.clone().with_kid(Some("copy".into()));
    assert_eq!(key.kid(), Some("from-key"));
    assert_eq!(copy.kid(), Some("copy"));
    let header_kid = |h: &Header| {
        let t = encode(h, "{}", &key, false).unwrap();
        let header = bastion_core::token::decode_header(t.as_bytes(), 8192).unwrap();
        header
            .get("kid")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    assert_eq!(
        header_kid(&Header::new(Algorithm::HS256)).as_deref(),
        Some("from-key")
    );
    let mut h = Header::new(Algorithm::HS256);
    h.extra.insert("kid", Value::String("extra".into()));
    assert_eq!(header_kid(&h).as_deref(), Some("extra"));
    h.kid = Some("explicit".into());
    assert_eq!(header_kid(&h).as_deref(), Some("explicit"));
    let mut bad = Header::new(Algorithm::HS256);
    bad.extra.insert("kid", Value::Bool(true));
    assert_eq!(
        encode(&bad, "{}", &key, false).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn decoded_tokens_carry_their_signature_and_configs_validate_early() {
    let (key, token) = hs256_token(NOW + 60.0);
    let t = decode(
        token.as_bytes(),
        &key,
        &Validation::new(&[Algorithm::HS256]),
        &ManualClock::new(NOW),
    )
    .unwrap();
    assert_eq!(t.signature.len(), 32);
    assert_eq!(
        bastion_core::token::b64::encode(&t.signature),
        token.rsplit('.').next().unwrap()
    );
    assert!(Validation::new(&[]).validate().is_err());
    let mut v = Validation::new(&[Algorithm::HS256]);
    v.leeway = -1.0;
    assert!(v.validate().is_err());
    v.leeway = f64::NAN;
    assert!(v.validate().is_err());
}

#[test]
fn key_cache_refuses_huge_material() {
    let cache = KeyCache::default();
    let huge = vec![b'x'; KeyCache::MAX_MATERIAL + 1];
    assert_eq!(
        cache.get(&huge, &[Family::Hmac]).unwrap_err().kind(),
        ErrorKind::InvalidKey
    );
    let big: Vec<u8> = (0..KeyCache::MAX_CACHED_MATERIAL + 10)
        .map(|i| (i % 251) as u8 + 1)
        .collect();
    cache.get(&big, &[Family::Hmac]).unwrap();
    assert_eq!(cache.len(), 0, "large material is not cached");
}

mod verified_cache {
    use super::*;
    use bastion_core::token::VerifiedCache;

    #[test]
    fn hits_give_the_same_answers_as_decode() {
        let cache = VerifiedCache::new(64);
        let key = private_key(Algorithm::ES256);
        let public = public_of(&key);
        let token = encode(
            &Header::new(Algorithm::ES256),
            &claims(NOW + 60.0),
            &key,
            false,
        )
        .unwrap();
        let v = Validation::new(&[Algorithm::ES256]);
        let clock = ManualClock::new(NOW);
        let first = cache.decode(token.as_bytes(), &public, &v, &clock).unwrap();
        assert_eq!(cache.len(), 1);
        let again = cache.decode(token.as_bytes(), &public, &v, &clock).unwrap();
        assert_eq!(first.claims_json, again.claims_json);
        // Every configuration- and time-dependent rule still applies on a hit.
        assert_eq!(
            cache
                .decode(
                    token.as_bytes(),
                    &public,
                    &Validation::new(&[Algorithm::ES384]),
                    &clock
                )
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidAlgorithm
        );
        let mut typed = v.clone();
        typed.typ = Some("at+jwt".into());
        assert_eq!(
            cache
                .decode(token.as_bytes(), &public, &typed, &clock)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidTokenType
        );
        let mut aud = v.clone();
        aud.audience = Some(vec!["api".into()]);
        assert_eq!(
            cache
                .decode(token.as_bytes(), &public, &aud, &clock)
                .unwrap_err()
                .kind(),
            ErrorKind::MissingClaim
        );
        let mut small = v.clone();
        small.max_token_size = 10;
        assert_eq!(
            cache
                .decode(token.as_bytes(), &public, &small, &clock)
                .unwrap_err()
                .kind(),
            ErrorKind::MalformedToken
        );
        clock.advance(60.0);
        assert_eq!(
            cache
                .decode(token.as_bytes(), &public, &v, &clock)
                .unwrap_err()
                .kind(),
            ErrorKind::TokenExpired
        );
        // Another key never hits the entry made with this one.
        let other = public_of(&private_key(Algorithm::ES256));
        clock.set(NOW);
        assert_eq!(
            cache
                .decode(token.as_bytes(), &other, &v, &clock)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidSignature
        );
    }

    #[test]
    fn forged_tokens_are_never_stored_and_weak_keys_still_refused() {
        let cache = VerifiedCache::new(64);
        let clock = ManualClock::new(NOW);
        let short = Key::hmac(b"0123456789abcdefghijklmnopqrstu").unwrap();
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims(NOW + 60.0),
            &short,
            true,
        )
        .unwrap();
        let mut lenient = Validation::new(&[Algorithm::HS256]);
        lenient.allow_weak_keys = true;
        cache
            .decode(token.as_bytes(), &short, &lenient, &clock)
            .unwrap();
        assert_eq!(
            cache
                .decode(
                    token.as_bytes(),
                    &short,
                    &Validation::new(&[Algorithm::HS256]),
                    &clock
                )
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidKey
        );
        let before = cache.len();
        let mut forged = token.clone().into_bytes();
        let n = forged.len();
        forged[n - 3] = if forged[n - 3] == b'A' { b'B' } else { b'A' };
        assert!(cache.decode(&forged, &short, &lenient, &clock).is_err());
        assert_eq!(cache.len(), before);
    }

    #[test]
    fn stays_bounded_and_can_be_turned_off() {
        let cache = VerifiedCache::new(32);
        let key = Key::hmac(SECRET).unwrap();
        let clock = ManualClock::new(NOW);
        let v = Validation::new(&[Algorithm::HS256]);
        for i in 0..500 {
            let t = encode(
                &Header::new(Algorithm::HS256),
                &format!(r#"{{"exp":{},"n":{i}}}"#, NOW + 60.0),
                &key,
                false,
            )
            .unwrap();
            cache.decode(t.as_bytes(), &key, &v, &clock).unwrap();
            assert!(cache.len() <= 32 + 16, "{}", cache.len());
        }
        cache.set_capacity(0);
        assert!(cache.is_empty());
        let t = encode(
            &Header::new(Algorithm::HS256),
            &claims(NOW + 60.0),
            &key,
            false,
        )
        .unwrap();
        cache.decode(t.as_bytes(), &key, &v, &clock).unwrap();
        assert!(cache.is_empty());
    }
}

#[test]
fn nonce_and_error_details() {
    let key = Key::hmac(SECRET).unwrap();
    let token = encode(
        &Header::new(Algorithm::HS256),
        &format!(r#"{{"exp":{},"iat":{},"nonce":"n-1"}}"#, NOW + 60.0, NOW),
        &key,
        false,
    )
    .unwrap();
    let clock = ManualClock::new(NOW);
    let mut v = Validation::new(&[Algorithm::HS256]);
    v.nonce = Some("n-1".into());
    decode(token.as_bytes(), &key, &v, &clock).unwrap();
    v.nonce = Some("n-2".into());
    let e = decode(token.as_bytes(), &key, &v, &clock).unwrap_err();
    assert_eq!((e.code(), e.claim()), ("INVALID_NONCE", Some("nonce")));
    v.nonce = None;
    v.max_age = Some(10.0);
    clock.advance(10.0);
    let e = decode(token.as_bytes(), &key, &v, &clock).unwrap_err();
    assert_eq!(
        (e.code(), e.claim(), e.at()),
        ("TOKEN_EXPIRED", Some("iat"), Some(NOW + 10.0))
    );
    v.max_age = None;
    clock.advance(50.0);
    let e = decode(token.as_bytes(), &key, &v, &clock).unwrap_err();
    assert_eq!((e.claim(), e.at()), (Some("exp"), Some(NOW + 60.0)));
}

#[test]
fn shared_headers_never_skip_configuration_checks() {
    // The parsed header is shared per thread; crit, typ and the algorithm list
    // are still checked against each caller's configuration on every decode.
    let key = Key::hmac(SECRET).unwrap();
    let mut h = Header::new(Algorithm::HS256);
    h.extra.insert("x-ext", Value::Bool(true));
    let token = encode(&h, &claims(NOW + 60.0), &key, false).unwrap();
    // Hand-build a crit header over the same claims (encode refuses crit).
    let head =
        bastion_core::token::b64::encode(br#"{"alg":"HS256","crit":["x-ext"],"x-ext":true}"#);
    let body = token.split('.').nth(1).unwrap();
    let input = format!("{head}.{body}");
    let sig = key.sign(Algorithm::HS256, input.as_bytes(), false).unwrap();
    let crit_token = format!("{input}.{}", bastion_core::token::b64::encode(&sig));
    let clock = ManualClock::new(NOW);
    let mut understood = Validation::new(&[Algorithm::HS256]);
    understood.critical_extensions = vec!["x-ext".into()];
    let mut hs384 = understood.clone();
    hs384.algorithms = vec![Algorithm::HS384];
    for _ in 0..3 {
        decode(crit_token.as_bytes(), &key, &understood, &clock).unwrap();
        let e = decode(
            crit_token.as_bytes(),
            &key,
            &Validation::new(&[Algorithm::HS256]),
            &clock,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::MalformedToken);
        let mut typed = understood.clone();
        typed.typ = Some("JWT".into());
        assert_eq!(
            decode(crit_token.as_bytes(), &key, &typed, &clock)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidTokenType
        );
        assert_eq!(
            decode(crit_token.as_bytes(), &key, &hs384, &clock)
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidAlgorithm
        );
    }
    let header = bastion_core::token::decode_header(crit_token.as_bytes(), 8192).unwrap();
    assert_eq!(header.get("x-ext"), Some(&Value::Bool(true)));
}
