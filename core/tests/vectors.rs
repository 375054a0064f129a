//! The project's own JWT vectors (`tests/vectors/jwt.json`), shared with the
//! Python and Node suites: every attack class bastion handles, and valid tokens
//! for every algorithm. Schema: `tests/vectors/README.md`. The file is read
//! with serde_json: some expected claims nest deeper than the engine's own
//! parser accepts, on purpose.

mod common;

use base64::Engine;
use bastion_core::token::{decode, Algorithm, Family, Key, Validation};
use bastion_core::ManualClock;
use common::{hex, own_vectors_dir};
use serde_json::{Map, Value};

fn strs(v: Option<&Value>) -> Option<Vec<String>> {
    match v {
        Some(Value::Array(a)) => Some(a.iter().map(|x| x.as_str().unwrap().to_string()).collect()),
        Some(Value::String(s)) => Some(vec![s.clone()]),
        _ => None,
    }
}

fn num(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
}

fn material(spec: &Map<String, Value>) -> Vec<u8> {
    let kind = spec["kind"].as_str().unwrap();
    let text = |k: &str| {
        spec.get(k)
            .and_then(Value::as_str)
            .map(|s| s.as_bytes().to_vec())
    };
    match kind {
        "pem" => text("pem").unwrap(),
        "ssh" => text("ssh").unwrap(),
        "jwk" => match &spec["jwk"] {
            Value::String(s) => s.as_bytes().to_vec(),
            v => serde_json::to_vec(v).unwrap(),
        },
        "hmac" => text("secret").unwrap_or_else(|| hex(spec["secret_hex"].as_str().unwrap())),
        "der_b64" => base64::engine::general_purpose::STANDARD
            .decode(spec["der_b64"].as_str().unwrap())
            .unwrap(),
        other => panic!("unknown key kind {other}"),
    }
}

fn typed_key(spec: &Map<String, Value>) -> bastion_core::Result<Key> {
    let m = material(spec);
    match spec["kind"].as_str().unwrap() {
        "pem" => Key::from_pem(&m),
        "ssh" => Key::from_ssh(&m),
        "jwk" => Key::from_jwk(&m),
        "hmac" => Key::hmac(&m),
        _ => Key::from_der(&m),
    }
}

fn token_of(case: &Map<String, Value>) -> Vec<u8> {
    if let Some(Value::String(t)) = case.get("token") {
        return t.as_bytes().to_vec();
    }
    let rep = case["token_repeat"]
        .as_object()
        .expect("token or token_repeat");
    let unit = rep["unit"].as_str().unwrap();
    unit.repeat(rep["count"].as_u64().unwrap() as usize)
        .into_bytes()
}

#[test]
fn own_jwt_vectors() {
    let path = own_vectors_dir().join("jwt.json");
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("tests/vectors/jwt.json")).unwrap();
    let now = num(doc.get("now")).unwrap();
    let keys = doc["keys"].as_object().unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    for case in cases {
        let c = case.as_object().unwrap();
        let name = c["name"].as_str().unwrap();
        assert!(names.insert(name.to_string()), "duplicate case name {name}");
        // An algorithm list naming something unknown (e.g. "none") is itself an error.
        let parsed: bastion_core::Result<Vec<Algorithm>> = strs(c.get("algorithms"))
            .unwrap()
            .iter()
            .map(|a| Algorithm::parse(a))
            .collect();
        let config_error = parsed.as_ref().err().cloned();
        let algorithms = parsed.unwrap_or_default();
        let spec = keys[c["key"].as_str().unwrap()].as_object().unwrap();
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
        if let Some(m) = c.get("max_token_size").and_then(Value::as_u64) {
            v.max_token_size = m as usize;
        }
        v.critical_extensions = strs(c.get("critical_extensions")).unwrap_or_default();
        let clock = ManualClock::new(num(c.get("now")).unwrap_or(now));
        let token = token_of(c);
        let outcome = match config_error {
            Some(e) => Err(e),
            None => key.and_then(|k| decode(&token, &k, &v, &clock)),
        };
        let expect = c["expect"].as_str().unwrap();
        match (expect, outcome) {
            ("valid", Ok(t)) => {
                if let Some(expected) = c.get("claims") {
                    let got: Value = serde_json::from_str(&t.claims_json).unwrap();
                    if &got != expected {
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

/// A header value: a string, or `{"repeat", "count", "prefix", "suffix"}` for huge values.
fn header_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let unit = o["repeat"].as_str().unwrap();
            let count = o["count"].as_u64().unwrap() as usize;
            format!(
                "{}{}{}",
                o["prefix"].as_str().unwrap_or(""),
                unit.repeat(count),
                o["suffix"].as_str().unwrap_or("")
            )
        }
        other => panic!("bad header value {other}"),
    }
}

#[test]
fn client_ip_vectors() {
    use bastion_core::netaddr::{
        client_ip, client_key, ClientIpOptions, ForwardedHeader, TrustedProxies,
    };
    let path = own_vectors_dir().join("client_ip.json");
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("tests/vectors/client_ip.json"))
            .unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    for case in cases {
        let c = case.as_object().unwrap();
        let name = c["name"].as_str().unwrap();
        assert!(names.insert(name.to_string()), "duplicate case name {name}");
        let headers: Vec<(String, String)> = c["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_string(), header_value(&p[1])))
            .collect();
        let pairs = || headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        let options = (|| {
            let trusted = match &c["trusted"] {
                Value::Number(n) => TrustedProxies::hops(n.as_u64().unwrap())?,
                v => TrustedProxies::cidrs(strs(Some(v)).unwrap())?,
            };
            let header = match c.get("header").and_then(Value::as_str) {
                Some(h) => ForwardedHeader::parse(h)?,
                None => ForwardedHeader::default(),
            };
            let ipv6_prefix = c
                .get("ipv6_prefix")
                .and_then(Value::as_u64)
                .map(|p| u8::try_from(p).unwrap_or(u8::MAX));
            Ok::<_, bastion_core::Error>(ClientIpOptions {
                trusted,
                header,
                ipv6_prefix,
            })
        })();
        let peer = c["peer"].as_str().unwrap();
        let ip = options
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|o| client_ip(peer, pairs(), o));
        let key = options
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|o| client_key(peer, pairs(), o));
        if let Some(code) = c.get("error").and_then(Value::as_str) {
            for (what, got) in [
                ("client_ip", ip.map(|i| i.to_string())),
                ("client_key", key),
            ] {
                match got {
                    Ok(v) => failures.push(format!("{name}: {what} expected {code}, got {v}")),
                    Err(e) if e.code() != code => {
                        failures.push(format!("{name}: {what} expected {code}, got {}", e.code()));
                    }
                    Err(_) => {}
                }
            }
            continue;
        }
        let want_ip = c["ip"].as_str().unwrap();
        let want_key = c.get("key").and_then(Value::as_str).unwrap_or(want_ip);
        match ip {
            Ok(i) if i.to_string() == want_ip => {}
            other => failures.push(format!(
                "{name}: client_ip expected {want_ip}, got {other:?}"
            )),
        }
        match key {
            Ok(k) if k == want_key => {}
            other => failures.push(format!(
                "{name}: client_key expected {want_key}, got {other:?}"
            )),
        }
    }
    eprintln!("{} client IP vectors applied", cases.len());
    assert!(
        cases.len() >= 40,
        "client_ip.json should hold at least 40 cases"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `tests/vectors/http.json`: method categories, rate-limit keys and
/// problem+json answers (core `http`), byte for byte.
#[test]
fn http_vectors() {
    use bastion_core::http::{
        answer_for, authorization_token, holds_role, problem, rate_limit_key, unauthorized, Answer,
        Credentials, KeyFacts, KeyPart, Methods, RoleClaim,
    };
    let path = own_vectors_dir().join("http.json");
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&path).expect("tests/vectors/http.json")).unwrap();
    let mut failures = Vec::new();
    let mut applied = 0;
    let mut check =
        |name: &str, got: bastion_core::Result<Value>, case: &Map<String, Value>, key: &str| {
            applied += 1;
            let want_error = case.get("error").and_then(Value::as_str);
            match (got, want_error) {
                (Err(e), Some(code)) if e.code() == code => {}
                (Ok(v), None) if v == case[key] => {}
                (got, _) => failures.push(format!("{name}: got {got:?}")),
            }
        };
    let answer_json = |a: Option<Answer>| match a {
        None => Value::Null,
        Some(a) => serde_json::json!({
            "status": a.status,
            "headers": a.headers.iter().map(|(k, v)| vec![k.clone(), v.clone()]).collect::<Vec<_>>(),
            "body": a.body,
        }),
    };
    for case in doc["methods"].as_array().unwrap() {
        let c = case.as_object().unwrap();
        let got = match &c["spec"] {
            Value::String(s) => Methods::category(s),
            v => Methods::list(&strs(Some(v)).unwrap()),
        }
        .map(|m| serde_json::to_value(m.names()).unwrap());
        check(c["name"].as_str().unwrap(), got, c, "names");
    }
    for case in doc["keys"].as_array().unwrap() {
        let c = case.as_object().unwrap();
        let f = c["facts"].as_object().unwrap();
        let values = strs(f.get("values")).unwrap();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let got = (|| {
            let parts = c["parts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().map_or(Ok(KeyPart::Value), KeyPart::parse))
                .collect::<bastion_core::Result<Vec<_>>>()?;
            KeyPart::check_count(parts.len())?;
            let facts = KeyFacts {
                client: f["client"].as_str().unwrap(),
                user: f["user"].as_str(),
                method: f["method"].as_str().unwrap(),
                route: f["route"].as_str().unwrap(),
                values: &values,
            };
            rate_limit_key(&parts, &facts).map(Value::String)
        })();
        check(c["name"].as_str().unwrap(), got, c, "key");
    }
    for case in doc["problems"].as_array().unwrap() {
        let c = case.as_object().unwrap();
        let headers: Vec<(String, String)> = c
            .get("headers")
            .and_then(Value::as_array)
            .map(|h| {
                h.iter()
                    .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
                    .collect()
            })
            .unwrap_or_default();
        let got = problem(
            u16::try_from(c["status"].as_u64().unwrap()).unwrap(),
            c["detail"].as_str().unwrap(),
            c["code"].as_str().unwrap(),
            num(c.get("retry_after")),
            &headers,
            c.get("extra").and_then(Value::as_str),
        )
        .map(|a| answer_json(Some(a)));
        check(c["name"].as_str().unwrap(), got, c, "answer");
    }
    for case in doc["unauthorized"].as_array().unwrap() {
        let mut c = case.as_object().unwrap().clone();
        // `error` is the RFC 6750 argument here; the expected failure is `raises`.
        let error = c.remove("error");
        if let Some(r) = c.get("raises").cloned() {
            c.insert("error".into(), r);
        }
        let got = unauthorized(
            c["detail"].as_str().unwrap(),
            c["code"].as_str().unwrap(),
            error.as_ref().and_then(Value::as_str),
        )
        .map(|a| answer_json(Some(a)));
        check(c["name"].as_str().unwrap(), got, &c, "answer");
    }
    for case in doc["answers"].as_array().unwrap() {
        let c = case.as_object().unwrap();
        let lockout = c
            .get("lockout_status")
            .and_then(Value::as_u64)
            .unwrap_or(429);
        let got = answer_for(
            c["code"].as_str().unwrap(),
            num(c.get("retry_after")),
            u16::try_from(lockout).unwrap(),
        )
        .map(answer_json);
        check(c["name"].as_str().unwrap(), got, c, "answer");
    }
    for case in doc["authorization"].as_array().unwrap() {
        let c = case.as_object().unwrap();
        let schemes = strs(c.get("schemes")).unwrap();
        let got = authorization_token(c["header"].as_str().unwrap(), &schemes).map(|t| match t {
            Credentials::Token(t) => Value::String(t.to_owned()),
            Credentials::OtherScheme => Value::Null,
        });
        check(c["name"].as_str().unwrap(), got, c, "token");
    }
    for case in doc["roles"].as_array().unwrap() {
        let c = case.as_object().unwrap();
        let wanted = strs(c.get("wanted")).unwrap();
        let list: Vec<String> = c["held"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let held = match &c["held"] {
            Value::String(t) => RoleClaim::Text(t),
            Value::Array(_) => RoleClaim::List(&list),
            _ => RoleClaim::None,
        };
        let got = Ok(Value::Bool(holds_role(held, &wanted)));
        check(c["name"].as_str().unwrap(), got, c, "holds");
    }
    eprintln!("{applied} HTTP vectors applied");
    assert!(applied >= 100, "http.json should hold at least 100 cases");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
