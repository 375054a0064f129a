//! The project's own JWT vectors (`tests/vectors/jwt.json`), shared with the
//! Python and Node suites: every attack class bastion handles, and valid tokens
//! for every algorithm. Schema: `tests/vectors/README.md`.

mod common;

use base64::Engine;
use bastion_core::token::json::{self, Object, Value};
use bastion_core::token::{decode, Algorithm, Family, Key, Validation};
use bastion_core::ManualClock;
use common::{hex, own_vectors_dir};

fn strs(v: Option<&Value>) -> Option<Vec<String>> {
    match v {
        Some(Value::Array(a)) => Some(a.iter().map(|x| x.as_str().unwrap().to_string()).collect()),
        Some(Value::String(s)) => Some(vec![s.clone()]),
        _ => None,
    }
}

fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_number).map(json::Number::as_f64)
}

fn material(spec: &Object) -> Vec<u8> {
    let kind = spec.get("kind").and_then(Value::as_str).unwrap();
    let text = |k: &str| {
        spec.get(k)
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec())
    };
    match kind {
        "pem" => text("pem").unwrap(),
        "ssh" => text("ssh").or_else(|| text("line")).unwrap(),
        "jwk" => match spec.get("jwk").unwrap() {
            Value::String(s) => s.as_bytes().to_vec(),
            v => v.to_json().into_bytes(),
        },
        "hmac" => text("secret")
            .unwrap_or_else(|| hex(spec.get("secret_hex").and_then(Value::as_str).unwrap())),
        "der_b64" => base64::engine::general_purpose::STANDARD
            .decode(spec.get("der_b64").and_then(Value::as_str).unwrap())
            .unwrap(),
        other => panic!("unknown key kind {other}"),
    }
}

fn typed_key(spec: &Object) -> bastion_core::Result<Key> {
    let m = material(spec);
    match spec.get("kind").and_then(Value::as_str).unwrap() {
        "pem" => Key::from_pem(&m),
        "ssh" => Key::from_ssh(&m),
        "jwk" => Key::from_jwk(&m),
        "hmac" => Key::hmac(&m),
        _ => Key::from_der(&m),
    }
}

fn token_of(case: &Object) -> Vec<u8> {
    if let Some(Value::String(t)) = case.get("token") {
        return t.as_bytes().to_vec();
    }
    let rep = case
        .get("token_repeat")
        .and_then(Value::as_object)
        .expect("token or token_repeat");
    let unit = rep.get("unit").and_then(Value::as_str).unwrap();
    let count = num(rep.get("count")).unwrap() as usize;
    let mut t = unit.repeat(count);
    if let Some(Value::String(suffix)) = rep.get("suffix") {
        t.push_str(suffix);
    }
    if let Some(Value::String(prefix)) = rep.get("prefix") {
        t.insert_str(0, prefix);
    }
    t.into_bytes()
}

#[test]
fn own_jwt_vectors() {
    let path = own_vectors_dir().join("jwt.json");
    let doc = json::parse_object(&std::fs::read(&path).expect("tests/vectors/jwt.json")).unwrap();
    let now = num(doc.get("now")).unwrap();
    let keys = doc.get("keys").and_then(Value::as_object).unwrap();
    let Some(Value::Array(cases)) = doc.get("cases") else {
        panic!("no cases")
    };
    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    for case in cases {
        let c = case.as_object().unwrap();
        let name = c.get("name").and_then(Value::as_str).unwrap();
        assert!(names.insert(name.to_string()), "duplicate case name {name}");
        let algorithms: Vec<Algorithm> = strs(c.get("algorithms"))
            .unwrap()
            .iter()
            .map(|a| Algorithm::parse(a).unwrap())
            .collect();
        let spec = keys
            .get(c.get("key").and_then(Value::as_str).unwrap())
            .and_then(Value::as_object)
            .unwrap();
        let key = if c.get("key_mode").and_then(Value::as_str) == Some("material") {
            let mut m = c
                .get("material_prefix")
                .and_then(Value::as_str)
                .map(|p| p.as_bytes().to_vec())
                .unwrap_or_default();
            m.extend(material(spec));
            let families: Vec<Family> = algorithms.iter().map(|a| a.family()).collect();
            Key::from_material(&m, &families)
        } else {
            typed_key(spec)
        };
        let mut v = Validation::new(&algorithms);
        v.leeway = num(c.get("leeway")).unwrap_or(0.0);
        v.audience = strs(c.get("audience"));
        v.issuer = strs(c.get("issuer"));
        v.subject = c.get("subject").and_then(Value::as_str).map(str::to_string);
        if let Some(req) = strs(c.get("required")) {
            v.required_claims = req;
        }
        v.typ = c.get("typ").and_then(Value::as_str).map(str::to_string);
        if let Some(m) = num(c.get("max_token_size")) {
            v.max_token_size = m as usize;
        }
        v.critical_extensions = strs(c.get("critical_extensions")).unwrap_or_default();
        let clock = ManualClock::new(num(c.get("now")).unwrap_or(now));
        let token = token_of(c);
        let outcome = key.and_then(|k| decode(&token, &k, &v, &clock));
        let expect = c.get("expect").and_then(Value::as_str).unwrap();
        match (expect, outcome) {
            ("valid", Ok(t)) => {
                if let Some(Value::Object(expected)) = c.get("claims") {
                    if Value::Object(t.claims.clone()) != Value::Object(expected.clone()) {
                        failures.push(format!("{name}: claims differ"));
                    }
                }
            }
            ("valid", Err(e)) => {
                failures.push(format!("{name}: expected valid, got {} ({e})", e.code()))
            }
            (code, Ok(_)) => failures.push(format!(
                "{name}: expected {code}, but the token was ACCEPTED"
            )),
            (code, Err(e)) if e.code() != code => {
                failures.push(format!("{name}: expected {code}, got {} ({e})", e.code()));
            }
            _ => {}
        }
    }
    eprintln!("{} JWT vectors applied", cases.len());
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
