//! Public conformance vectors, read in place from `../shared/vectors` (beside the
//! repository): the RFC 7520 / RFC 8037 / RFC 7797 JOSE cookbook and the
//! Wycheproof JWS, JWK, JWS-crypto, ECDSA P-256, Ed25519 and HMAC-SHA256 sets.
//! Every case whose algorithm bastion supports is applied; every skipped group
//! is named with its reason. An `invalid` case that verifies is a failure.

mod common;

use bastion_core::token::json::{self, Object, Value};
use bastion_core::token::{verify_jws, Algorithm, Key, Validation};
use common::{hex, shared_vectors_dir};
use std::fs;

fn load(rel: &str) -> Object {
    let path = shared_vectors_dir().join(rel);
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    json::parse_object(&bytes).expect("vector file is valid JSON")
}

fn s<'a>(o: &'a Object, k: &str) -> &'a str {
    o.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string {k}"))
}

fn id(o: &Object) -> String {
    match o.get("tcId") {
        Some(Value::Number(n)) => n.raw().to_string(),
        Some(Value::String(s)) => s.clone(),
        _ => "?".into(),
    }
}

fn obj<'a>(o: &'a Object, k: &str) -> Option<&'a Object> {
    o.get(k).and_then(Value::as_object)
}

fn arr<'a>(o: &'a Object, k: &str) -> &'a [Value] {
    match o.get(k) {
        Some(Value::Array(a)) => a,
        _ => panic!("missing array {k}"),
    }
}

/// Labelled cases bastion rejects on purpose, with their reasons, shared with
/// the Python and Node suites.
fn deviations() -> Vec<(String, String)> {
    let doc = json::parse_object(
        &fs::read(common::own_vectors_dir().join("public_deviations.json")).unwrap(),
    )
    .unwrap();
    obj(&doc, "deliberate_rejections")
        .unwrap()
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_str().unwrap().to_string()))
        .collect()
}

fn is_weak_key_refusal(e: &bastion_core::Error) -> bool {
    e.kind() == bastion_core::ErrorKind::InvalidKey
}

fn relaxed(key: &Key) -> Validation {
    let mut v = validation_for(key);
    v.allow_weak_keys = true;
    v
}

fn validation_for(key: &Key) -> Validation {
    let mut v = Validation::new(&key.algorithms());
    v.required_claims.clear();
    v
}

#[derive(Default)]
struct Tally {
    applied: usize,
    skipped: Vec<String>,
    failures: Vec<String>,
}

impl Tally {
    fn finish(self, set: &str) {
        eprintln!("{set}: {} cases applied", self.applied);
        for s in &self.skipped {
            eprintln!("{set}: skipped {s}");
        }
        assert!(
            self.failures.is_empty(),
            "{set} failures:\n{}",
            self.failures.join("\n")
        );
        assert!(self.applied > 0, "{set}: nothing applied");
    }
}

/// Runs the JOSE-family Wycheproof files (JsonWebSignature, JsonWebKey, JsonWebCrypto).
fn run_wycheproof_jose(file: &str) {
    let doc = load(file);
    let mut t = Tally::default();
    let mut policy_refused: Vec<String> = Vec::new();
    let deviations = deviations();
    // The same token bytes labelled both valid and invalid cannot be satisfied
    // by any implementation: such cases are named and left out.
    let mut labels: std::collections::HashMap<String, Vec<(String, String)>> = Default::default();
    let group_key = |g: &Object| -> String {
        obj(g, "public")
            .or_else(|| obj(g, "private"))
            .map(|k| Value::Object(k.clone()).to_json())
            .unwrap_or_default()
    };
    for g in arr(&doc, "testGroups") {
        let g = g.as_object().unwrap();
        for case in arr(g, "tests") {
            let case = case.as_object().unwrap();
            if let Some(Value::String(jws)) = case.get("jws") {
                labels
                    .entry(format!("{jws} {}", group_key(g)))
                    .or_default()
                    .push((id(case), s(case, "result").to_string()));
            }
        }
    }
    for g in arr(&doc, "testGroups") {
        let g = g.as_object().unwrap();
        let comment = g.get("comment").and_then(Value::as_str).unwrap_or("");
        let key_obj = obj(g, "public").or_else(|| obj(g, "private"));
        let Some(key_obj) = key_obj else {
            t.skipped.push(format!("group {comment:?}: no key"));
            continue;
        };
        let key_obj = match key_obj.get("keys") {
            Some(Value::Array(keys)) if keys.len() == 1 => keys[0].as_object().unwrap(),
            Some(_) => {
                t.skipped.push(format!(
                    "group {comment:?}: a JWK set of several keys (kid selection, mixed and duplicate kids) belongs to the JWKS layer"
                ));
                continue;
            }
            None => key_obj,
        };
        let key = Key::from_jwk_object(key_obj);
        for case in arr(g, "tests") {
            let case = case.as_object().unwrap();
            let id = id(case);
            let result = s(case, "result");
            let Some(jws) = case.get("jws") else {
                if case.contains("jwe") {
                    continue; // JWE cases: counted in the group skip below
                }
                panic!("case {id} has neither jws nor jwe");
            };
            if let Value::String(token) = jws {
                let same = &labels[&format!("{token} {}", group_key(g))];
                if same.iter().any(|(_, r)| r != result) && same.iter().any(|(_, r)| r == "valid") {
                    let others: Vec<String> = same
                        .iter()
                        .filter(|(i, _)| *i != id)
                        .map(|(i, r)| format!("{i} ({r})"))
                        .collect();
                    // The valid twin is still applied below.
                    if result != "valid" {
                        t.skipped.push(format!(
                            "case {id} ({comment}, labelled {result}): the same token and key as case {}; contradictory labels",
                            others.join(", ")
                        ));
                        continue;
                    }
                }
            }
            if let Some((_, why)) = deviations
                .iter()
                .find(|(f, _)| *f == format!("{file}#{id}"))
            {
                // Deliberately stricter than the label: the case must be rejected.
                let rejected = match (&key, jws) {
                    (Ok(k), Value::String(token)) => {
                        verify_jws(token.as_bytes(), k, &relaxed(k)).is_err()
                    }
                    _ => true,
                };
                assert!(
                    rejected,
                    "case {id}: listed as a deliberate rejection but accepted"
                );
                t.skipped.push(format!(
                    "case {id} ({comment}, labelled {result}): rejected on purpose: {why}"
                ));
                continue;
            }
            let outcome = match (&key, jws) {
                (Err(e), _) => Err(e.clone()),
                (Ok(k), Value::String(token)) => {
                    match verify_jws(token.as_bytes(), k, &validation_for(k)) {
                        Ok(_) => Ok(()),
                        // Valid as a JWS but refused by the HMAC key-strength policy: the
                        // case still has to verify once the policy is relaxed, and is
                        // reported.
                        Err(e) if result == "valid" && is_weak_key_refusal(&e) => {
                            policy_refused.push(id.clone());
                            verify_jws(token.as_bytes(), k, &relaxed(k)).map(|_| ())
                        }
                        Err(e) => {
                            // An invalid case must stay invalid when the key policy is
                            // relaxed, unless key strength is what the case is about.
                            if result == "invalid"
                                && is_weak_key_refusal(&e)
                                && !comment.to_ascii_lowercase().contains("hs")
                                && verify_jws(token.as_bytes(), k, &relaxed(k)).is_ok()
                            {
                                t.failures
                                    .push(format!("case {id}: only the key policy rejects it"));
                            }
                            Err(e)
                        }
                    }
                }
                (Ok(_), _) => {
                    // JSON serialisation: compact form is the only one accepted, so
                    // a `valid` case here cannot be applied; an invalid one must not verify
                    // (it cannot: there is no entry point taking JSON serialisation).
                    if result == "valid" {
                        t.skipped.push(format!(
                            "case {id}: JWS JSON serialisation is not supported"
                        ));
                        continue;
                    }
                    t.applied += 1;
                    continue;
                }
            };
            t.applied += 1;
            match (result, outcome) {
                ("valid", Err(e)) => t
                    .failures
                    .push(format!("case {id} ({comment}): valid but rejected: {e}")),
                ("invalid", Ok(())) => t
                    .failures
                    .push(format!("case {id} ({comment}): invalid but accepted")),
                _ => {}
            }
        }
        if arr(g, "tests")
            .iter()
            .any(|c| c.as_object().unwrap().contains("jwe"))
        {
            t.skipped.push(format!(
                "group {comment:?}: JWE (encryption) is not part of bastion"
            ));
        }
    }
    if !policy_refused.is_empty() {
        eprintln!(
            "{file}: cases {} verify, and are refused by default because their HMAC key is weak (all-zero bytes)",
            policy_refused.join(", ")
        );
    }
    t.finish(file);
}

#[test]
fn wycheproof_json_web_signature() {
    run_wycheproof_jose("wycheproof/json_web_signature_test.json");
}

#[test]
fn wycheproof_json_web_key() {
    run_wycheproof_jose("wycheproof/json_web_key_test.json");
}

#[test]
fn wycheproof_json_web_crypto() {
    run_wycheproof_jose("wycheproof/json_web_crypto_test.json");
}

/// Strict DER `ECDSA-Sig-Value` to the fixed `R || S` form JWS uses; `None`
/// when the DER is not canonical (such a signature cannot appear in a JWS).
fn der_sig_to_fixed(der: &[u8], len: usize) -> Option<Vec<u8>> {
    fn int(b: &[u8]) -> Option<(&[u8], &[u8])> {
        let (&tag, rest) = b.split_first()?;
        let (&l, rest) = rest.split_first()?;
        if tag != 2 || l >= 0x80 || rest.len() < usize::from(l) || l == 0 {
            return None;
        }
        let (v, rest) = rest.split_at(usize::from(l));
        if v[0] & 0x80 != 0 || (v.len() > 1 && v[0] == 0 && v[1] & 0x80 == 0) {
            return None;
        }
        Some((v, rest))
    }
    let (&tag, rest) = der.split_first()?;
    let (&l, body) = rest.split_first()?;
    if tag != 0x30 || l >= 0x80 || body.len() != usize::from(l) {
        return None;
    }
    let (r, rest) = int(body)?;
    let (s, rest) = int(rest)?;
    if !rest.is_empty() {
        return None;
    }
    let mut out = vec![0u8; 2 * len];
    for (i, v) in [r, s].iter().enumerate() {
        let v = if v.len() > 1 && v[0] == 0 { &v[1..] } else { v };
        if v.len() > len {
            return None;
        }
        out[(i + 1) * len - v.len()..(i + 1) * len].copy_from_slice(v);
    }
    Some(out)
}

#[test]
fn wycheproof_ecdsa_p256_sha256() {
    let doc = load("wycheproof/ecdsa_secp256r1_sha256_test.json");
    let mut t = Tally::default();
    let mut not_representable = 0;
    for g in arr(&doc, "testGroups") {
        let g = g.as_object().unwrap();
        let key = Key::from_pem(s(g, "publicKeyPem").as_bytes());
        for case in arr(g, "tests") {
            let case = case.as_object().unwrap();
            let (id, result) = (id(case), s(case, "result"));
            let msg = hex(s(case, "msg"));
            let Some(fixed) = der_sig_to_fixed(&hex(s(case, "sig")), 32) else {
                // Non-canonical DER: only `invalid`/`acceptable` cases may fall here.
                if result == "valid" {
                    t.failures
                        .push(format!("case {id}: valid signature not canonical DER"));
                }
                not_representable += 1;
                continue;
            };
            t.applied += 1;
            let outcome = match &key {
                Ok(k) => k.verify(Algorithm::ES256, &msg, &fixed, false),
                Err(e) => Err(e.clone()),
            };
            match (result, outcome) {
                ("valid", Err(e)) => t
                    .failures
                    .push(format!("case {id}: valid but rejected: {e}")),
                ("invalid", Ok(())) => t.failures.push(format!("case {id}: invalid but accepted")),
                _ => {}
            }
        }
    }
    t.skipped.push(format!(
        "{not_representable} cases whose DER signature encoding is malformed: JWS carries R||S, never DER"
    ));
    t.finish("ecdsa_secp256r1_sha256");
}

#[test]
fn wycheproof_ed25519() {
    let doc = load("wycheproof/ed25519_test.json");
    let mut t = Tally::default();
    for g in arr(&doc, "testGroups") {
        let g = g.as_object().unwrap();
        let key = Key::from_jwk_object(obj(g, "publicKeyJwk").unwrap());
        for case in arr(g, "tests") {
            let case = case.as_object().unwrap();
            let (id, result) = (id(case), s(case, "result"));
            t.applied += 1;
            let outcome = match &key {
                Ok(k) => k.verify(
                    Algorithm::EdDSA,
                    &hex(s(case, "msg")),
                    &hex(s(case, "sig")),
                    false,
                ),
                Err(e) => Err(e.clone()),
            };
            match (result, outcome) {
                ("valid", Err(e)) => t
                    .failures
                    .push(format!("case {id}: valid but rejected: {e}")),
                ("invalid", Ok(())) => t.failures.push(format!("case {id}: invalid but accepted")),
                _ => {}
            }
        }
    }
    t.finish("ed25519");
}

#[test]
fn wycheproof_hmac_sha256() {
    let doc = load("wycheproof/hmac_sha256_test.json");
    let mut t = Tally::default();
    for g in arr(&doc, "testGroups") {
        let g = g.as_object().unwrap();
        let tag_size = g
            .get("tagSize")
            .and_then(Value::as_number)
            .unwrap()
            .as_i64()
            .unwrap();
        let key_size = g
            .get("keySize")
            .and_then(Value::as_number)
            .unwrap()
            .as_i64()
            .unwrap();
        if tag_size != 256 {
            t.skipped.push(format!(
                "group keySize={key_size} tagSize={tag_size}: truncated HMAC tags never occur in JWS (HS256 uses all 256 bits)"
            ));
            continue;
        }
        for case in arr(g, "tests") {
            let case = case.as_object().unwrap();
            let (id, result) = (id(case), s(case, "result"));
            t.applied += 1;
            // Primitive check: the key-strength policy is tested elsewhere.
            let outcome = Key::hmac(&hex(s(case, "key"))).and_then(|k| {
                k.verify(
                    Algorithm::HS256,
                    &hex(s(case, "msg")),
                    &hex(s(case, "tag")),
                    true,
                )
            });
            match (result, outcome) {
                ("valid", Err(e)) => t
                    .failures
                    .push(format!("case {id}: valid but rejected: {e}")),
                ("invalid", Ok(())) => t.failures.push(format!("case {id}: invalid but accepted")),
                _ => {}
            }
        }
    }
    t.finish("hmac_sha256");
}

/// The RFC 7520 (§4.1-4.4), RFC 8037 and RFC 7797 cookbook examples.
#[test]
fn jose_cookbook() {
    let mut t = Tally::default();
    for file in [
        "jose-cookbook/jws/4_1.rsa_v15_signature.json",
        "jose-cookbook/jws/4_2.rsa-pss_signature.json",
        "jose-cookbook/jws/4_3.ecdsa_signature.json",
        "jose-cookbook/jws/4_4.hmac-sha2_integrity_protection.json",
        "jose-cookbook/curve25519/jws.json",
    ] {
        let doc = load(file);
        let input = obj(&doc, "input").unwrap();
        let key = Key::from_jwk_object(obj(input, "key").unwrap()).expect(file);
        let alg = Algorithm::parse(s(input, "alg")).unwrap();
        let compact = s(obj(&doc, "output").unwrap(), "compact");
        let jws = verify_jws(compact.as_bytes(), &key, &validation_for(&key))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(jws.algorithm, alg);
        assert_eq!(
            std::str::from_utf8(&jws.payload).unwrap(),
            s(input, "payload"),
            "{file}"
        );
        // Signing again with the private key verifies too (ECDSA/PSS are randomised).
        let signing = obj(&doc, "signing").unwrap();
        let sig = key
            .sign(alg, s(signing, "sig-input").as_bytes(), false)
            .unwrap();
        key.verify(alg, s(signing, "sig-input").as_bytes(), &sig, false)
            .unwrap();
        t.applied += 1;
    }
    for (file, reason) in [
        (
            "4_5.signature_with_detached_content",
            "detached content is JWS-only; a JWT always carries its claims",
        ),
        (
            "4_6.protecting_specific_header_fields",
            "unprotected header fields exist only in JWS JSON serialisation",
        ),
        (
            "4_7.protecting_content_only",
            "no protected header: not expressible in compact form",
        ),
        (
            "4_8.multiple_signatures",
            "multiple signatures exist only in JWS JSON serialisation",
        ),
    ] {
        t.skipped.push(format!("jws/{file}: {reason}"));
    }
    // RFC 7797 unencoded payload: must be refused, never misread as base64url.
    let doc = load("jose-cookbook/rfc7797/4.2.hmac-sha2_b64_false.json");
    let input = obj(&doc, "input").unwrap();
    let key = Key::from_jwk_object(obj(input, "key").unwrap()).unwrap();
    let signing = obj(&doc, "signing").unwrap();
    let compact = format!("{}..{}", s(signing, "protected_b64u"), s(signing, "sig"));
    let mut v = validation_for(&key);
    v.critical_extensions = vec!["b64".into()];
    assert!(verify_jws(compact.as_bytes(), &key, &v).is_err());
    t.applied += 1;
    t.finish("jose-cookbook");
}
