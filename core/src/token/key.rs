//! Typed signing and verification keys.
//!
//! A [`Key`] is made once from a secret, PEM, DER, JWK or OpenSSH public key,
//! parsed once into the crypto backend's form, and reused for every call. Its
//! [`Family`] is fixed when it is made, so an RSA or EC public key can never be
//! used as an HMAC secret (the "key confusion" attack), whatever a token's header
//! says. Secret material is zeroized on drop and never appears in `Debug` output
//! or error messages.

use super::algorithm::{Algorithm, Curve, Family};
use super::der::{self, SshKey};
use super::json::{self, Object, Value};
use super::{b64, secrets};
use crate::error::{err, Error, ErrorKind, Result};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey};
use aws_lc_rs::{hmac, signature::RsaKeyPair};
use std::fmt;
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// Smallest RSA modulus accepted, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// A key bound to one algorithm family. Cloning is cheap: the parsed key
/// material is shared; the clone may carry its own `kid`/`alg` restriction.
#[derive(Clone)]
pub struct Key {
    inner: std::sync::Arc<Inner>,
    inner_id: u64,
    kid: Option<String>,
    alg: Option<Algorithm>,
}

static NEXT_KEY_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

enum Inner {
    Hmac(Box<HmacKey>),
    Rsa(Box<RsaKey>),
    Ec(EcKey),
    Ed(EdKey),
}

struct HmacKey {
    secret: Zeroizing<Vec<u8>>,
    keys: [hmac::Key; 3],
    /// The strength verdict for HS256/384/512, computed once.
    strength: [Result<()>; 3],
}

impl HmacKey {
    fn check_strength(&self, alg: Algorithm) -> Result<()> {
        self.strength[hmac_index(alg)].clone()
    }
}

struct RsaKey {
    private: Option<RsaKeyPair>,
    /// PKCS#1 `RSAPublicKey` DER.
    public_der: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
    verifiers: [OnceLock<ParsedPublicKey>; 6],
}

struct EcKey {
    curve: Curve,
    private: Option<EcdsaKeyPair>,
    /// Uncompressed SEC1 point.
    point: Vec<u8>,
    verifier: ParsedPublicKey,
}

struct EdKey {
    private: Option<Ed25519KeyPair>,
    public: Vec<u8>,
    verifier: ParsedPublicKey,
}

fn rejected(what: &str) -> impl FnOnce(aws_lc_rs::error::KeyRejected) -> Error + '_ {
    move |e| err!(InvalidKey, "invalid {what}: {e}")
}

impl Key {
    // ---- constructors --------------------------------------------------------

    /// An HMAC key from a shared secret. Refuses material that is a public or
    /// private key (PEM, DER, JWK, OpenSSH) anywhere in the bytes, whatever
    /// prefix precedes it, so a verifier can never be tricked into using a public
    /// key as an HMAC secret. The secret's length is checked against each
    /// algorithm when it is used (see [`secrets::check_hmac_secret`]).
    pub fn hmac(secret: &[u8]) -> Result<Self> {
        if secret.is_empty() {
            return Err(err!(InvalidKey, "the HMAC secret is empty"));
        }
        if secrets::looks_like_asymmetric_key(secret) {
            return Err(err!(
                InvalidKey,
                "The specified key is an asymmetric key or x509 certificate and should not be used as an HMAC secret."
            ));
        }
        Ok(Self::hmac_unchecked(secret))
    }

    fn hmac_unchecked(secret: &[u8]) -> Self {
        let keys = [
            hmac::Key::new(hmac::HMAC_SHA256, secret),
            hmac::Key::new(hmac::HMAC_SHA384, secret),
            hmac::Key::new(hmac::HMAC_SHA512, secret),
        ];
        let strength = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
            .map(|alg| secrets::check_hmac_secret(secret, alg));
        Self::new(Inner::Hmac(Box::new(HmacKey {
            secret: Zeroizing::new(secret.to_vec()),
            keys,
            strength,
        })))
    }

    fn new(inner: Inner) -> Self {
        Self {
            inner: std::sync::Arc::new(inner),
            inner_id: NEXT_KEY_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            kid: None,
            alg: None,
        }
    }

    /// A key from PEM text: `PUBLIC KEY` (SPKI), `RSA PUBLIC KEY`,
    /// `CERTIFICATE` (its public key), `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY`
    /// or `EC PRIVATE KEY`. Encrypted PEM is not supported.
    pub fn from_pem(pem: &[u8]) -> Result<Self> {
        let block = der::parse_pem(pem).ok_or_else(|| {
            err!(
                InvalidKey,
                "could not parse the PEM key (or it is encrypted)"
            )
        })?;
        let der = Zeroizing::new(block.der);
        match block.label.as_str() {
            "PUBLIC KEY" => Self::from_spki(&der),
            "RSA PUBLIC KEY" => Self::rsa_public_pkcs1(&der),
            "CERTIFICATE" => {
                let spki = der::certificate_spki(&der)
                    .ok_or_else(|| err!(InvalidKey, "invalid X.509 certificate"))?;
                Self::from_spki(spki)
            }
            "PRIVATE KEY" => Self::from_pkcs8(&der),
            "RSA PRIVATE KEY" => Self::rsa_private_pkcs1(&der),
            "EC PRIVATE KEY" => Self::ec_private_sec1(&der),
            other => Err(err!(InvalidKey, "unsupported PEM block {other:?}")),
        }
    }

    /// A key from DER bytes in any of the forms [`Key::from_pem`] accepts.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        if der::parse_spki(der).is_some() {
            return Self::from_spki(der);
        }
        if der::parse_pkcs8(der).is_some() {
            return Self::from_pkcs8(der);
        }
        if der::is_pkcs1_private(der) {
            return Self::rsa_private_pkcs1(der);
        }
        if der::is_pkcs1_public(der) {
            return Self::rsa_public_pkcs1(der);
        }
        if der::sec1_curve(der).is_some() {
            return Self::ec_private_sec1(der);
        }
        if let Some(spki) = der::certificate_spki(der) {
            return Self::from_spki(spki);
        }
        Err(err!(InvalidKey, "unrecognised DER key structure"))
    }

    /// A public key from an OpenSSH `authorized_keys` line (`ssh-rsa`,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256/384/521`).
    pub fn from_ssh(line: &[u8]) -> Result<Self> {
        match der::parse_ssh_public(line) {
            Some(SshKey::Rsa { n, e }) => Self::rsa_public_components(&n, &e),
            Some(SshKey::Ed25519(raw)) => Self::ed_public(&raw),
            Some(SshKey::Ec { curve, point }) => Self::ec_public(curve, &point),
            None => Err(err!(InvalidKey, "invalid OpenSSH public key")),
        }
    }

    /// A key from a JWK (RFC 7517) given as JSON text. Accepts `kty` `oct`,
    /// `RSA`, `EC` (P-256, P-384, P-521, secp256k1) and `OKP` (Ed25519), public
    /// or private. `alg`, `use` and `key_ops` are honoured: a key whose `alg`
    /// does not fit its type or curve, or whose `use` is not `sig`, is refused.
    pub fn from_jwk(json_text: &[u8]) -> Result<Self> {
        let obj =
            json::parse_object(json_text).map_err(|e| err!(InvalidKey, "invalid JWK JSON: {e}"))?;
        Self::from_jwk_object(&obj)
    }

    /// A key from an already parsed JWK object.
    pub fn from_jwk_object(jwk: &Object) -> Result<Self> {
        let kty = jwk_str(jwk, "kty")?.ok_or_else(|| err!(InvalidKey, "JWK has no \"kty\""))?;
        let key = match kty {
            "oct" => {
                let k =
                    jwk_bytes(jwk, "k")?.ok_or_else(|| err!(InvalidKey, "oct JWK has no \"k\""))?;
                if k.is_empty() {
                    return Err(err!(InvalidKey, "the HMAC secret is empty"));
                }
                Self::hmac_unchecked(&k)
            }
            "RSA" => {
                if jwk.contains("oth") {
                    return Err(err!(InvalidKey, "multi-prime RSA keys are not supported"));
                }
                let n =
                    jwk_bytes(jwk, "n")?.ok_or_else(|| err!(InvalidKey, "RSA JWK has no \"n\""))?;
                let e =
                    jwk_bytes(jwk, "e")?.ok_or_else(|| err!(InvalidKey, "RSA JWK has no \"e\""))?;
                match jwk_bytes(jwk, "d")? {
                    None => Self::rsa_public_components(&n, &e)?,
                    Some(d) => {
                        let mut parts = Vec::with_capacity(5);
                        for name in ["p", "q", "dp", "dq", "qi"] {
                            parts.push(jwk_bytes(jwk, name)?.ok_or_else(|| {
                                err!(
                                    InvalidKey,
                                    "RSA private JWK lacks the CRT parameter {name:?}"
                                )
                            })?);
                        }
                        let components = KeyPairComponents {
                            public_key: PublicKeyComponents {
                                n: n.as_slice(),
                                e: e.as_slice(),
                            },
                            d: d.as_slice(),
                            p: parts[0].as_slice(),
                            q: parts[1].as_slice(),
                            dP: parts[2].as_slice(),
                            dQ: parts[3].as_slice(),
                            qInv: parts[4].as_slice(),
                        };
                        let pair = RsaKeyPair::from_components(&components)
                            .map_err(rejected("RSA private JWK"))?;
                        Self::rsa_from_pair(pair)?
                    }
                }
            }
            "EC" => {
                let crv = jwk_str(jwk, "crv")?
                    .ok_or_else(|| err!(InvalidKey, "EC JWK has no \"crv\""))?;
                let curve = Curve::from_jwk_name(crv)?;
                let len = curve.coordinate_len();
                let x =
                    jwk_bytes(jwk, "x")?.ok_or_else(|| err!(InvalidKey, "EC JWK has no \"x\""))?;
                let y =
                    jwk_bytes(jwk, "y")?.ok_or_else(|| err!(InvalidKey, "EC JWK has no \"y\""))?;
                if x.len() != len || y.len() != len {
                    return Err(err!(
                        InvalidKey,
                        "EC JWK coordinates must be {len} bytes for {crv}"
                    ));
                }
                let mut point = Vec::with_capacity(1 + 2 * len);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                match jwk_bytes(jwk, "d")? {
                    None => Self::ec_public(curve, &point)?,
                    Some(d) => {
                        if d.len() != len {
                            return Err(err!(
                                InvalidKey,
                                "EC JWK \"d\" must be {len} bytes for {crv}"
                            ));
                        }
                        let pair = EcdsaKeyPair::from_private_key_and_public_key(
                            signing_alg(curve),
                            &d,
                            &point,
                        )
                        .map_err(rejected("EC private JWK"))?;
                        Self::ec_from_pair(curve, pair)?
                    }
                }
            }
            "OKP" => {
                let crv = jwk_str(jwk, "crv")?
                    .ok_or_else(|| err!(InvalidKey, "OKP JWK has no \"crv\""))?;
                if crv != "Ed25519" {
                    return Err(err!(InvalidKey, "unsupported OKP curve {crv:?}"));
                }
                let x =
                    jwk_bytes(jwk, "x")?.ok_or_else(|| err!(InvalidKey, "OKP JWK has no \"x\""))?;
                match jwk_bytes(jwk, "d")? {
                    None => Self::ed_public(&x)?,
                    Some(d) => {
                        let pair = Ed25519KeyPair::from_seed_and_public_key(&d, &x)
                            .map_err(rejected("Ed25519 private JWK"))?;
                        Self::ed_from_pair(pair)?
                    }
                }
            }
            other => return Err(err!(InvalidKey, "unsupported JWK key type {other:?}")),
        };
        key.with_jwk_metadata(jwk)
    }

    fn with_jwk_metadata(mut self, jwk: &Object) -> Result<Self> {
        if let Some(u) = jwk_str(jwk, "use")? {
            if u != "sig" {
                return Err(err!(InvalidKey, "JWK \"use\" is {u:?}, not \"sig\""));
            }
        }
        if let Some(ops) = jwk.get("key_ops") {
            let Value::Array(ops) = ops else {
                return Err(err!(InvalidKey, "JWK \"key_ops\" must be an array"));
            };
            let mut names = Vec::new();
            for op in ops {
                let op = op
                    .as_str()
                    .ok_or_else(|| err!(InvalidKey, "JWK \"key_ops\" must hold strings"))?;
                if names.contains(&op) {
                    return Err(err!(InvalidKey, "JWK \"key_ops\" repeats {op:?}"));
                }
                names.push(op);
            }
            if !names.iter().any(|o| *o == "sign" || *o == "verify") {
                return Err(err!(
                    InvalidKey,
                    "JWK \"key_ops\" allows neither \"sign\" nor \"verify\""
                ));
            }
        }
        if let Some(alg) = jwk_str(jwk, "alg")? {
            // "ES521" is a common misspelling of ES512 (P-521 with SHA-512) in JWKs.
            let alg = Algorithm::from_name(if alg == "ES521" { "ES512" } else { alg }).ok_or_else(
                || {
                    err!(
                        InvalidKey,
                        "JWK \"alg\" {alg:?} is not a supported signature algorithm"
                    )
                },
            )?;
            if alg.family() != self.family() {
                return Err(err!(
                    InvalidKey,
                    "JWK \"alg\" {alg} does not fit a {} key",
                    self.family().name()
                ));
            }
            self.alg = Some(alg);
        }
        if let Some(kid) = jwk_str(jwk, "kid")? {
            self.kid = Some(kid.to_string());
        }
        Ok(self)
    }

    /// Makes a key from material whose form is not declared: a PEM block, an
    /// OpenSSH public key, a JWK, a DER key, or otherwise an HMAC secret.
    /// `allowed` lists the families the caller's accepted algorithms need;
    /// material of another family is refused (an asymmetric key offered where
    /// only HMAC is allowed, or a plain secret where only RSA is allowed).
    /// This is the classification the PyJWT- and jsonwebtoken-compatible entry
    /// points use for string and byte keys; it never lets public-key material
    /// become an HMAC secret.
    pub fn from_material(material: &[u8], allowed: &[Family]) -> Result<Self> {
        let key = if let Some(kind) = secrets::asymmetric_form(material) {
            match kind {
                secrets::Form::Pem => Self::from_pem(material)?,
                secrets::Form::Ssh => Self::from_ssh(material)?,
                secrets::Form::Jwk => Self::from_jwk(material)?,
                secrets::Form::Der(start) => Self::from_der(&material[start..])?,
                secrets::Form::Base64Der => {
                    Self::from_der(&secrets::base64_der(material).unwrap_or_default())?
                }
            }
        } else if allowed.is_empty() || allowed.contains(&Family::Hmac) {
            Self::hmac(material)?
        } else {
            return Err(err!(
                InvalidKey,
                "could not parse the key: expected a PEM, DER, JWK or OpenSSH key for {}",
                allowed
                    .iter()
                    .map(|f| f.name())
                    .collect::<Vec<_>>()
                    .join("/")
            ));
        };
        if !allowed.is_empty() && !allowed.contains(&key.family()) {
            return Err(
                if allowed.contains(&Family::Hmac) && key.family() != Family::Hmac {
                    err!(
                    InvalidKey,
                    "The specified key is an asymmetric key or x509 certificate and should not be used as an HMAC secret."
                )
                } else {
                    err!(
                        InvalidKey,
                        "a {} key cannot be used with the accepted algorithms",
                        key.family().name()
                    )
                },
            );
        }
        Ok(key)
    }

    // ---- family-specific construction ----------------------------------------

    fn from_spki(spki: &[u8]) -> Result<Self> {
        let (alg, bits) = der::parse_spki(spki)
            .ok_or_else(|| err!(InvalidKey, "invalid SubjectPublicKeyInfo"))?;
        match alg.oid {
            der::OID_RSA => Self::rsa_public_pkcs1(bits),
            der::OID_EC => {
                let curve = alg
                    .param_oid
                    .and_then(der::curve_from_oid)
                    .ok_or_else(|| err!(InvalidKey, "unsupported or missing EC curve"))?;
                Self::ec_public(curve, bits)
            }
            der::OID_ED25519 if alg.param_oid.is_none() => Self::ed_public(bits),
            _ => Err(err!(InvalidKey, "unsupported public key algorithm")),
        }
    }

    fn from_pkcs8(der: &[u8]) -> Result<Self> {
        let alg =
            der::parse_pkcs8(der).ok_or_else(|| err!(InvalidKey, "invalid PKCS#8 private key"))?;
        match alg.oid {
            der::OID_RSA => Self::rsa_from_pair(
                RsaKeyPair::from_pkcs8(der).map_err(rejected("RSA private key"))?,
            ),
            der::OID_EC => {
                let curve = alg
                    .param_oid
                    .and_then(der::curve_from_oid)
                    .ok_or_else(|| err!(InvalidKey, "unsupported or missing EC curve"))?;
                let pair = EcdsaKeyPair::from_private_key_der(signing_alg(curve), der)
                    .map_err(rejected("EC private key"))?;
                Self::ec_from_pair(curve, pair)
            }
            der::OID_ED25519 => Self::ed_from_pair(
                Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(rejected("Ed25519 private key"))?,
            ),
            _ => Err(err!(InvalidKey, "unsupported private key algorithm")),
        }
    }

    fn rsa_private_pkcs1(der: &[u8]) -> Result<Self> {
        Self::rsa_from_pair(RsaKeyPair::from_der(der).map_err(rejected("RSA private key"))?)
    }

    fn ec_private_sec1(der: &[u8]) -> Result<Self> {
        let curve = der::sec1_curve(der)
            .flatten()
            .ok_or_else(|| err!(InvalidKey, "EC private key does not name a supported curve"))?;
        let pair = EcdsaKeyPair::from_private_key_der(signing_alg(curve), der)
            .map_err(rejected("EC private key"))?;
        Self::ec_from_pair(curve, pair)
    }

    fn rsa_public_components(n: &[u8], e: &[u8]) -> Result<Self> {
        let mut body = Vec::with_capacity(n.len() + e.len() + 16);
        der::write_uint(&mut body, n);
        der::write_uint(&mut body, e);
        let mut pkcs1 = Vec::with_capacity(body.len() + 8);
        der::write_tlv(&mut pkcs1, der::SEQUENCE, &body);
        Self::rsa_public_pkcs1(&pkcs1)
    }

    fn rsa_public_pkcs1(pkcs1: &[u8]) -> Result<Self> {
        Ok(Self::new(Inner::Rsa(Box::new(RsaKey::new(None, pkcs1)?))))
    }

    fn rsa_from_pair(pair: RsaKeyPair) -> Result<Self> {
        let public = pair.public_key().as_ref().to_vec();
        Ok(Self::new(Inner::Rsa(Box::new(RsaKey::new(
            Some(pair),
            &public,
        )?))))
    }

    fn ec_public(curve: Curve, point: &[u8]) -> Result<Self> {
        let verifier =
            ParsedPublicKey::new(verify_alg_ec(curve), point).map_err(rejected("EC public key"))?;
        let expected = 1 + 2 * curve.coordinate_len();
        if point.len() != expected || point[0] != 4 {
            return Err(err!(
                InvalidKey,
                "EC public keys must be uncompressed points"
            ));
        }
        Ok(Self::new(Inner::Ec(EcKey {
            curve,
            private: None,
            point: point.to_vec(),
            verifier,
        })))
    }

    fn ec_from_pair(curve: Curve, pair: EcdsaKeyPair) -> Result<Self> {
        let point = pair.public_key().as_ref().to_vec();
        let verifier = ParsedPublicKey::new(verify_alg_ec(curve), &point)
            .map_err(rejected("EC public key"))?;
        Ok(Self::new(Inner::Ec(EcKey {
            curve,
            private: Some(pair),
            point,
            verifier,
        })))
    }

    fn ed_public(raw: &[u8]) -> Result<Self> {
        if raw.len() != 32 {
            return Err(err!(InvalidKey, "Ed25519 public keys are 32 bytes"));
        }
        let verifier =
            ParsedPublicKey::new(&sig::ED25519, raw).map_err(rejected("Ed25519 public key"))?;
        Ok(Self::new(Inner::Ed(EdKey {
            private: None,
            public: raw.to_vec(),
            verifier,
        })))
    }

    fn ed_from_pair(pair: Ed25519KeyPair) -> Result<Self> {
        let public = pair.public_key().as_ref().to_vec();
        let verifier =
            ParsedPublicKey::new(&sig::ED25519, &public).map_err(rejected("Ed25519 public key"))?;
        Ok(Self::new(Inner::Ed(EdKey {
            private: Some(pair),
            public,
            verifier,
        })))
    }

    // ---- properties ----------------------------------------------------------

    /// The family this key belongs to.
    #[must_use]
    pub fn family(&self) -> Family {
        match &*self.inner {
            Inner::Hmac(_) => Family::Hmac,
            Inner::Rsa(_) => Family::Rsa,
            Inner::Ec(k) => Family::Ec(k.curve),
            Inner::Ed(_) => Family::Ed25519,
        }
    }

    /// True when the key can sign (an HMAC secret or a private key).
    #[must_use]
    pub fn can_sign(&self) -> bool {
        match &*self.inner {
            Inner::Hmac(_) => true,
            Inner::Rsa(k) => k.private.is_some(),
            Inner::Ec(k) => k.private.is_some(),
            Inner::Ed(k) => k.private.is_some(),
        }
    }

    /// The key id (from a JWK's `kid`, or set with [`Key::with_kid`]).
    #[must_use]
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Sets the key id.
    #[must_use]
    pub fn with_kid(mut self, kid: Option<String>) -> Self {
        self.kid = kid;
        self
    }

    /// The one algorithm this key is restricted to (from a JWK's `alg`), if any.
    #[must_use]
    pub fn algorithm(&self) -> Option<Algorithm> {
        self.alg
    }

    /// Restricts the key to one algorithm of its family.
    pub fn restrict_to(mut self, alg: Algorithm) -> Result<Self> {
        self.ensure_fits(alg)?;
        self.alg = Some(alg);
        Ok(self)
    }

    /// Every algorithm this key may be used with.
    #[must_use]
    pub fn algorithms(&self) -> Vec<Algorithm> {
        match self.alg {
            Some(a) => vec![a],
            None => self.family().algorithms().to_vec(),
        }
    }

    /// RSA modulus size in bits, for RSA keys.
    #[must_use]
    pub fn rsa_bits(&self) -> Option<usize> {
        match &*self.inner {
            Inner::Rsa(k) => {
                Some(k.n.len() * 8 - k.n.first().map_or(0, |b| b.leading_zeros() as usize))
            }
            _ => None,
        }
    }

    /// The HMAC secret's length in bytes, for HMAC keys.
    #[must_use]
    pub fn secret_len(&self) -> Option<usize> {
        match &*self.inner {
            Inner::Hmac(k) => Some(k.secret.len()),
            _ => None,
        }
    }

    /// Errors unless `alg` may be used with this key and, for HMAC (unless
    /// `allow_weak`), the secret is strong enough for `alg`.
    pub fn ensure_usable(&self, alg: Algorithm, allow_weak: bool) -> Result<()> {
        self.ensure_fits(alg)?;
        if let Inner::Hmac(k) = &*self.inner {
            if !allow_weak {
                k.check_strength(alg)?;
            }
        }
        Ok(())
    }

    /// An identifier of the parsed key material, unique in this process and
    /// shared by clones (which differ at most in `kid` / algorithm restriction).
    #[must_use]
    pub fn material_id(&self) -> u64 {
        self.inner_id
    }

    /// Errors unless `alg` may be used with this key.
    pub fn ensure_fits(&self, alg: Algorithm) -> Result<()> {
        if alg.family() != self.family() {
            return Err(err!(
                InvalidAlgorithm,
                "the algorithm {alg} cannot be used with a {} key",
                self.family().name()
            ));
        }
        if let Some(only) = self.alg {
            if only != alg {
                return Err(err!(
                    InvalidAlgorithm,
                    "this key is restricted to {only}, not {alg}"
                ));
            }
        }
        Ok(())
    }

    /// The public part as a JWK object (never any private member). HMAC keys have
    /// no public part and give an error.
    pub fn public_jwk(&self) -> Result<Object> {
        let mut o = Object::new();
        let s = |v: &[u8]| Value::String(b64::encode(v));
        match &*self.inner {
            Inner::Hmac(_) => return Err(err!(InvalidKey, "an HMAC key has no public part")),
            Inner::Rsa(k) => {
                o.insert("kty", Value::String("RSA".into()));
                o.insert("n", s(&k.n));
                o.insert("e", s(&k.e));
            }
            Inner::Ec(k) => {
                let len = k.curve.coordinate_len();
                o.insert("kty", Value::String("EC".into()));
                o.insert("crv", Value::String(k.curve.jwk_name().into()));
                o.insert("x", s(&k.point[1..=len]));
                o.insert("y", s(&k.point[1 + len..]));
            }
            Inner::Ed(k) => {
                o.insert("kty", Value::String("OKP".into()));
                o.insert("crv", Value::String("Ed25519".into()));
                o.insert("x", s(&k.public));
            }
        }
        if let Some(kid) = &self.kid {
            o.insert("kid", Value::String(kid.clone()));
        }
        if let Some(alg) = self.alg {
            o.insert("alg", Value::String(alg.name().into()));
        }
        o.insert("use", Value::String("sig".into()));
        Ok(o)
    }

    // ---- operations ----------------------------------------------------------

    /// Signs `message` with `alg`. `allow_weak` skips the HMAC secret strength
    /// rule (never the family rule).
    pub fn sign(&self, alg: Algorithm, message: &[u8], allow_weak: bool) -> Result<Vec<u8>> {
        self.ensure_fits(alg)?;
        match &*self.inner {
            Inner::Hmac(k) => {
                if !allow_weak {
                    k.check_strength(alg)?;
                }
                Ok(hmac::sign(&k.keys[hmac_index(alg)], message)
                    .as_ref()
                    .to_vec())
            }
            Inner::Rsa(k) => {
                let pair = k.private.as_ref().ok_or_else(no_private)?;
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(rsa_padding(alg), &SystemRandom::new(), message, &mut out)
                    .map_err(|_| err!(Internal, "RSA signing failed"))?;
                Ok(out)
            }
            Inner::Ec(k) => {
                let pair = k.private.as_ref().ok_or_else(no_private)?;
                let s = pair
                    .sign(&SystemRandom::new(), message)
                    .map_err(|_| err!(Internal, "ECDSA signing failed"))?;
                Ok(s.as_ref().to_vec())
            }
            Inner::Ed(k) => {
                let pair = k.private.as_ref().ok_or_else(no_private)?;
                Ok(pair.sign(message).as_ref().to_vec())
            }
        }
    }

    /// Verifies `signature` over `message` with `alg`, in constant time for
    /// HMAC. ECDSA signatures must be the fixed-length `R || S` form of JWS.
    pub fn verify(
        &self,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
        allow_weak: bool,
    ) -> Result<()> {
        self.ensure_fits(alg)?;
        let ok = match &*self.inner {
            Inner::Hmac(k) => {
                if !allow_weak {
                    k.check_strength(alg)?;
                }
                hmac::verify(&k.keys[hmac_index(alg)], message, signature).is_ok()
            }
            Inner::Rsa(k) => k.verifier(alg)?.verify_sig(message, signature).is_ok(),
            Inner::Ec(k) => {
                signature.len() == 2 * k.curve.coordinate_len()
                    && k.verifier.verify_sig(message, signature).is_ok()
            }
            Inner::Ed(k) => {
                signature.len() == 64 && k.verifier.verify_sig(message, signature).is_ok()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(err!(InvalidSignature, "Signature verification failed"))
        }
    }
}

fn no_private() -> Error {
    Error::new(
        ErrorKind::InvalidKey,
        "a public key cannot sign: a private key is needed",
    )
}

impl RsaKey {
    fn new(private: Option<RsaKeyPair>, pkcs1: &[u8]) -> Result<Self> {
        let mut seq =
            der::top_sequence(pkcs1).ok_or_else(|| err!(InvalidKey, "invalid RSA public key"))?;
        let n = der::uint_bytes(
            seq.read(der::INTEGER)
                .ok_or_else(|| err!(InvalidKey, "invalid RSA public key"))?,
        )
        .to_vec();
        let e = der::uint_bytes(
            seq.read(der::INTEGER)
                .ok_or_else(|| err!(InvalidKey, "invalid RSA public key"))?,
        )
        .to_vec();
        if !seq.is_empty() {
            return Err(err!(InvalidKey, "invalid RSA public key"));
        }
        let bits = n.len() * 8 - n.first().map_or(0, |b| b.leading_zeros() as usize);
        if bits < MIN_RSA_BITS {
            return Err(err!(
                InvalidKey,
                "RSA keys must be at least {MIN_RSA_BITS} bits (this one has {bits})"
            ));
        }
        if bits > 8192 {
            return Err(err!(
                InvalidKey,
                "RSA keys larger than 8192 bits are not supported"
            ));
        }
        if has_roca_fingerprint(&n) {
            return Err(err!(InvalidKey, "the RSA key was generated by a library with the ROCA weakness (CVE-2017-15361); replace it"));
        }
        let key = Self {
            private,
            public_der: pkcs1.to_vec(),
            n,
            e,
            verifiers: Default::default(),
        };
        // Parse once now so malformed keys fail at construction, not first use.
        key.verifier(Algorithm::RS256)?;
        Ok(key)
    }

    fn verifier(&self, alg: Algorithm) -> Result<&ParsedPublicKey> {
        let (i, params): (usize, &'static sig::RsaParameters) = match alg {
            Algorithm::RS256 => (0, &sig::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::RS384 => (1, &sig::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::RS512 => (2, &sig::RSA_PKCS1_2048_8192_SHA512),
            Algorithm::PS256 => (3, &sig::RSA_PSS_2048_8192_SHA256),
            Algorithm::PS384 => (4, &sig::RSA_PSS_2048_8192_SHA384),
            Algorithm::PS512 => (5, &sig::RSA_PSS_2048_8192_SHA512),
            _ => return Err(err!(Internal, "not an RSA algorithm")),
        };
        if let Some(v) = self.verifiers[i].get() {
            return Ok(v);
        }
        let parsed =
            ParsedPublicKey::new(params, &self.public_der).map_err(rejected("RSA public key"))?;
        Ok(self.verifiers[i].get_or_init(|| parsed))
    }
}

/// The ROCA test (CVE-2017-15361, Nemec et al. 2017): moduli made by the
/// affected Infineon library satisfy, for each of these small primes `p`,
/// `n mod p ∈ ⟨65537⟩ (mod p)`. A random modulus passes all 38 tests with
/// negligible probability.
fn has_roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let r = n
            .iter()
            .fold(0u32, |acc, &b| (acc * 256 + u32::from(b)) % p);
        let g = 65537 % p;
        let mut x = 1u32;
        loop {
            x = x * g % p;
            if x == r {
                return true;
            }
            if x == 1 {
                return false;
            }
        }
    })
}

fn hmac_index(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 1,
        Algorithm::HS512 => 2,
        _ => 0,
    }
}

fn rsa_padding(alg: Algorithm) -> &'static dyn sig::RsaEncoding {
    match alg {
        Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_SHA512,
        _ => &sig::RSA_PKCS1_SHA256,
    }
}

fn signing_alg(curve: Curve) -> &'static sig::EcdsaSigningAlgorithm {
    match curve {
        Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
        Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
        Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED_SIGNING,
        Curve::Secp256k1 => &sig::ECDSA_P256K1_SHA256_FIXED_SIGNING,
    }
}

fn verify_alg_ec(curve: Curve) -> &'static sig::EcdsaVerificationAlgorithm {
    match curve {
        Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED,
        Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED,
        Curve::P521 => &sig::ECDSA_P521_SHA512_FIXED,
        Curve::Secp256k1 => &sig::ECDSA_P256K1_SHA256_FIXED,
    }
}

fn jwk_str<'a>(jwk: &'a Object, name: &str) -> Result<Option<&'a str>> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(err!(InvalidKey, "JWK member {name:?} must be a string")),
    }
}

fn jwk_bytes(jwk: &Object, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
    match jwk_str(jwk, name)? {
        None => Ok(None),
        Some(s) => b64::decode(s.as_bytes())
            .map(|v| Some(Zeroizing::new(v)))
            .ok_or_else(|| err!(InvalidKey, "JWK member {name:?} is not valid base64url")),
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("family", &self.family().name())
            .field(
                "private",
                &(self.can_sign() && self.family() != Family::Hmac),
            )
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Reads the public-key bytes of an RSA key, for tests and JWKS export.
#[doc(hidden)]
pub fn rsa_public_der(key: &Key) -> Option<&[u8]> {
    match &*key.inner {
        Inner::Rsa(k) => Some(&k.public_der),
        _ => None,
    }
}

const _: () = {
    const fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<Key>();
};
