//! The fuzz harnesses: one function per target, taking the raw input bytes.
//!
//! Each function feeds the input to a parser of `bastion-core` and asserts
//! what must hold for every input: no panic, outputs within their documented
//! bounds, and round trips where the format has a writer. The libFuzzer
//! targets in `fuzz_targets/` call these functions, and the stable test
//! `core/tests/fuzz_corpus.rs` replays the committed corpus and the
//! regression vectors through the same functions.

use bastion_core::clock::ManualClock;
use bastion_core::netaddr::{self, ClientIpOptions, ForwardedHeader, TrustedProxies};
use bastion_core::password::{self, Encoding, HashInfo, PasswordHasher, Scheme};
use bastion_core::ratelimit::{parse_rates, Rate};
use bastion_core::token::json::{self, Value};
use bastion_core::token::jwt::{self, Header, Validation};
use bastion_core::token::{Algorithm, Key, KeySet, KeySetLimits};
use std::net::IpAddr;
use std::sync::OnceLock;

/// A harness: runs one input, panicking when a property does not hold.
pub type Harness = fn(&[u8]);

/// The targets, by name, as `cargo fuzz` and the corpus directories call them.
pub const TARGETS: &[(&str, Harness)] = &[
    ("jwt", jwt),
    ("jwks", jwks),
    ("rate", rate),
    ("password", password),
    ("forwarded", forwarded),
];

/// The fixed HMAC key of the `jwt` target (32 bytes: strong enough for HS256).
pub const JWT_SECRET: &[u8] = b"bastion-fuzz-hs256-secret-32-byt";

/// Largest token the `jwt` target accepts (the default bound is larger; a
/// smaller one keeps the bound itself under test).
const MAX_TOKEN: usize = 16 * 1024;

fn hs256() -> &'static Key {
    static KEY: OnceLock<Key> = OnceLock::new();
    KEY.get_or_init(|| Key::hmac(JWT_SECRET).expect("a 32-byte HMAC key"))
}

fn lenient(algorithms: &[Algorithm]) -> Validation {
    let mut v = Validation::new(algorithms);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_iat = false;
    v.validate_aud = false;
    v.required_claims.clear();
    v.max_token_size = MAX_TOKEN;
    v
}

/// Parses, writes and re-parses a JSON document: whatever the strict parser
/// accepts, its compact form parses back to the same value.
fn json_round_trip(text: &[u8]) {
    if let Ok(v) = json::parse(text) {
        let out = v.to_json();
        assert!(
            out.len() <= text.len() * 6 + 2,
            "compact form grew unboundedly"
        );
        let again = json::parse(out.as_bytes()).expect("the writer's output parses");
        assert_eq!(again, v, "JSON round trip changed the value");
    }
}

/// JWS compact tokens. With the first byte even, the input is a token: it is
/// decoded unverified and verified with the fixed key; what decodes must have
/// claims that round-trip. With it odd, the rest is a claims set: whatever the
/// signer accepts must verify with the same key and give back the same claims
/// text byte for byte.
pub fn jwt(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    json_round_trip(rest);
    let key = hs256();
    if mode % 2 == 0 {
        let unverified = jwt::decode_unverified(rest, MAX_TOKEN);
        if rest.len() > MAX_TOKEN {
            assert!(
                unverified.is_err(),
                "a token over the size bound was decoded"
            );
        }
        if let Ok(t) = &unverified {
            let claims = json::parse_object(t.claims_json.as_bytes()).expect("claims re-parse");
            assert_eq!(claims, t.claims);
        }
        let _ = jwt::decode_header(rest, MAX_TOKEN);
        let clock = ManualClock::new(1_800_000_000.0);
        let strict = Validation::new(&[Algorithm::HS256]);
        for v in [strict, lenient(&[Algorithm::HS256, Algorithm::HS512])] {
            if let Ok(t) = jwt::decode(rest, key, &v, &clock) {
                let u = unverified
                    .as_ref()
                    .expect("a verified token decodes unverified");
                assert_eq!(t.claims_json, u.claims_json);
                assert!(rest.len() <= MAX_TOKEN);
            }
        }
        let _ = jwt::verify_jws(rest, key, &lenient(&[Algorithm::HS256]));
    } else if let Ok(claims_json) = std::str::from_utf8(rest) {
        if let Ok(token) = jwt::encode(&Header::new(Algorithm::HS256), claims_json, key, false) {
            let clock = ManualClock::new(1_800_000_000.0);
            let t = jwt::decode(token.as_bytes(), key, &lenient(&[Algorithm::HS256]), &clock)
                .unwrap_or_else(|e| panic!("a token just signed does not verify: {e}"));
            assert_eq!(t.claims_json, claims_json, "claims text changed in signing");
            // One flipped signature bit must fail verification.
            let mut forged = token.into_bytes();
            let last = forged.len() - 2;
            forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
            assert!(
                jwt::decode(&forged, key, &lenient(&[Algorithm::HS256]), &clock).is_err(),
                "a forged signature verified"
            );
        }
    }
}

/// JWK Sets: parsing stays within its limits, and every public key kept in a
/// set round-trips through its public JWK.
pub fn jwks(data: &[u8]) {
    json_round_trip(data);
    let limits = KeySetLimits {
        max_size: 64 * 1024,
        max_keys: 16,
        allow_symmetric: true,
    };
    let Ok(set) = KeySet::parse(data, &limits) else {
        return;
    };
    assert!(data.len() <= limits.max_size);
    assert!(set.len() + set.skipped().len() <= limits.max_keys);
    assert!(!set.is_empty(), "a set without a usable key was accepted");
    for key in set.keys() {
        if let Ok(jwk) = key.public_jwk() {
            let text = Value::Object(jwk.clone()).to_json();
            let again = Key::from_jwk(text.as_bytes())
                .unwrap_or_else(|e| panic!("a kept key's public JWK does not parse: {e}"));
            assert_eq!(again.public_jwk().expect("public part"), jwk);
            assert_eq!(again.family(), key.family());
        }
        let _ = set.get(key.kid(), key.algorithm());
    }
    let _ = set.get(None, None);
}

/// Rate strings: what parses is within the documented bounds, and its
/// canonical form parses back to the same rates.
pub fn rate(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rates) = parse_rates(text) else {
        return;
    };
    assert!(
        !rates.is_empty() && rates.len() <= 16,
        "{} rates",
        rates.len()
    );
    assert!(text.len() <= 1024, "a rate string over 1 KiB was accepted");
    for r in &rates {
        assert!((1..=1_000_000_000).contains(&r.limit), "{r:?}");
        assert!((1..=10 * 365 * 86_400_000).contains(&r.window_ms), "{r:?}");
        let one = Rate::parse(&r.to_string()).expect("a canonical rate parses");
        assert_eq!(one, *r, "canonical form {r} changed the rate");
    }
    let canonical: Vec<String> = rates.iter().map(ToString::to_string).collect();
    assert_eq!(
        parse_rates(&canonical.join(";")).expect("canonical list"),
        rates
    );
}

/// Whether verifying `info` costs at most a few milliseconds: fuzzing never
/// runs a hash whose cost the input chose beyond this (the parsers' own
/// bounds are asserted instead).
fn cheap(info: &HashInfo) -> bool {
    match info.scheme {
        Scheme::Argon2(p) => p.memory_cost <= 256 && p.time_cost <= 2 && p.parallelism <= 2,
        Scheme::Pbkdf2 { iterations, .. } => iterations <= 2_000,
        Scheme::Bcrypt { cost } | Scheme::BcryptSha256 { cost } => cost <= 5,
    }
}

fn within_bounds(info: &HashInfo) {
    match info.scheme {
        Scheme::Argon2(p) => {
            assert!(p.validate().is_ok(), "{info:?}");
            assert_eq!(p.hash_len as usize, info.hash.len());
        }
        Scheme::Pbkdf2 { iterations, .. } => {
            assert!(
                (1..=password::PBKDF2_MAX_ITERATIONS).contains(&iterations),
                "{info:?}"
            );
        }
        Scheme::Bcrypt { cost } | Scheme::BcryptSha256 { cost } => {
            assert!((password::BCRYPT_MIN_COST..=password::BCRYPT_MAX_COST).contains(&cost));
            assert_eq!(info.salt.len(), 16);
        }
    }
}

/// PHC, bcrypt, passlib and Django hash strings: the input up to the first
/// newline is the stored hash, the rest (at most 64 bytes) the password.
/// Parsing stays within the cost bounds; for cheap parameters, verifying
/// agrees with re-hashing the password with the string's own parameters and
/// salt, and that fresh hash verifies.
pub fn password(data: &[u8]) {
    let (encoded, pw) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let pw = &pw[..pw.len().min(64)];
    let Ok(encoded) = std::str::from_utf8(encoded) else {
        return;
    };
    let hasher =
        PasswordHasher::new(Scheme::Bcrypt { cost: 4 }, Encoding::Django).expect("bcrypt cost 4");
    let info = match password::identify(encoded) {
        Ok(info) => info,
        Err(_) => {
            assert!(hasher.needs_rehash(encoded).is_err());
            return;
        }
    };
    assert!(encoded.len() <= password::MAX_ENCODED_LEN);
    within_bounds(&info);
    let _ = hasher
        .needs_rehash(encoded)
        .expect("identified strings can be compared");
    if !cheap(&info) {
        return;
    }
    let matched = password::verify(encoded, pw).expect("an identified cheap hash verifies");
    let Ok(same) = PasswordHasher::new(info.scheme, info.encoding) else {
        return; // passlib's strings are verify-only
    };
    let Ok(fresh) = same.hash_with_salt(pw, &info.salt) else {
        return; // e.g. a Django salt containing '$'
    };
    let fresh_info = password::identify(&fresh).expect("a fresh hash parses");
    assert_eq!(fresh_info.scheme, info.scheme);
    assert!(
        password::verify(&fresh, pw).expect("fresh hash"),
        "a fresh hash does not verify"
    );
    assert_eq!(
        matched,
        fresh_info.hash == info.hash,
        "verify disagrees with re-hashing under the same parameters"
    );
}

/// Forwarded headers behind trusted proxies. Lines: the first byte picks the
/// header kind and the trust setting; then the peer; then header lines
/// `name: value`. The answer is the peer or an address written in a header,
/// an untrusted peer is answered as itself, and the key is bounded.
pub fn forwarded(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut lines = text.split('\n');
    let peer = lines.next().unwrap_or_default();
    let headers: Vec<(&str, &str)> = lines
        .take(128)
        .map(|l| {
            l.split_once(':')
                .map_or((l, ""), |(n, v)| (n, v.trim_start()))
        })
        .collect();
    let header = match mode % 3 {
        0 => ForwardedHeader::XForwardedFor,
        1 => ForwardedHeader::Forwarded,
        _ => ForwardedHeader::XRealIp,
    };
    let trusted = match (mode / 3) % 4 {
        0 => TrustedProxies::None,
        1 => TrustedProxies::cidrs(["loopback", "private"]).expect("named ranges"),
        2 => TrustedProxies::hops(u64::from(mode / 12)).expect("hops"),
        // Every address, in the widest ranges accepted (a /0 is refused).
        _ => TrustedProxies::cidrs(["0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1"])
            .expect("every address"),
    };
    let untrusting = trusted == TrustedProxies::None || trusted == TrustedProxies::Hops(0);
    let options = ClientIpOptions {
        trusted,
        header,
        ipv6_prefix: if mode & 0x80 != 0 { Some(64) } else { None },
    };
    let _ = netaddr::Cidr::parse(peer);
    let peer_ip = netaddr::parse_address(peer.trim());
    match netaddr::client_ip(peer, headers.iter().copied(), &options) {
        Err(_) => assert!(peer_ip.is_none(), "a valid peer was refused"),
        Ok(ip) => {
            let peer_ip = peer_ip.expect("an answer needs a valid peer");
            if untrusting {
                assert_eq!(ip, peer_ip, "an untrusted peer's headers were believed");
            } else if ip != peer_ip {
                assert!(
                    headers
                        .iter()
                        .any(|(n, v)| header.matches(n) && mentions(v, ip)),
                    "{ip} appears in no forwarding header"
                );
            }
            let key = netaddr::client_key(peer, headers.iter().copied(), &options)
                .expect("client_ip answered");
            assert!(key.len() <= 64, "key of {} bytes", key.len());
        }
    }
}

/// Whether `value` names `ip` in any of the forms the parser accepts: the text
/// itself, or an IPv4-mapped IPv6 address written for an IPv4 answer.
fn mentions(value: &str, ip: IpAddr) -> bool {
    let lower = value.to_ascii_lowercase();
    let plain = ip.to_string();
    if lower.contains(&plain) {
        return true;
    }
    // Alternative spellings (leading zeros in IPv6 groups, `::ffff:` forms,
    // upper-case hex) name the same address: parse every token instead.
    lower
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
        .filter(|t| !t.is_empty())
        .any(|t| {
            netaddr::parse_address(t).is_some_and(|a| canonical(a) == canonical(ip))
                || t.rsplit_once(':').is_some_and(|(h, _)| {
                    netaddr::parse_address(h).is_some_and(|a| canonical(a) == canonical(ip))
                })
        })
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}
