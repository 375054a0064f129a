//! JWS algorithms (RFC 7518, RFC 8037, RFC 8812) and the key families they need.

use crate::error::{err, Result};
use std::fmt;

/// A JWS signature algorithm bastion implements. `none` is deliberately absent:
/// no spelling of it can ever be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 (MGF1 SHA-256, 32-byte salt).
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// ECDSA on secp256k1 with SHA-256 (RFC 8812).
    ES256K,
    /// EdDSA with Ed25519 (RFC 8037).
    EdDSA,
}

/// Elliptic curves for ECDSA keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Curve {
    /// NIST P-256.
    P256,
    /// NIST P-384.
    P384,
    /// NIST P-521.
    P521,
    /// secp256k1.
    Secp256k1,
}

impl Curve {
    /// The JWK `crv` name.
    #[must_use]
    pub const fn jwk_name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
            Self::Secp256k1 => "secp256k1",
        }
    }

    /// Size of one field element / scalar in bytes.
    #[must_use]
    pub const fn coordinate_len(self) -> usize {
        match self {
            Self::P256 | Self::Secp256k1 => 32,
            Self::P384 => 48,
            Self::P521 => 66,
        }
    }

    /// The curve of a JWK `crv` name.
    pub fn from_jwk_name(name: &str) -> Result<Self> {
        Ok(match name {
            "P-256" => Self::P256,
            "P-384" => Self::P384,
            "P-521" => Self::P521,
            "secp256k1" => Self::Secp256k1,
            other => return Err(err!(InvalidKey, "unsupported EC curve {other:?}")),
        })
    }

    /// The one algorithm that signs with this curve.
    #[must_use]
    pub const fn algorithm(self) -> Algorithm {
        match self {
            Self::P256 => Algorithm::ES256,
            Self::P384 => Algorithm::ES384,
            Self::P521 => Algorithm::ES512,
            Self::Secp256k1 => Algorithm::ES256K,
        }
    }
}

/// The kind of key an algorithm needs. A [`super::Key`] belongs to exactly one
/// family, fixed when it is made; it is never used with another family's algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Shared secret for HS256/384/512.
    Hmac,
    /// RSA key for RS* and PS*.
    Rsa,
    /// ECDSA key on one curve.
    Ec(Curve),
    /// Ed25519 key for EdDSA.
    Ed25519,
}

impl Family {
    /// The distinct families `algorithms` need, in order of first appearance:
    /// what an undeclared key (a string or bytes) may turn out to be.
    #[must_use]
    pub fn needed_by(algorithms: &[Algorithm]) -> Vec<Family> {
        let mut out: Vec<Family> = Vec::with_capacity(algorithms.len());
        for f in algorithms.iter().map(|a| a.family()) {
            if !out.contains(&f) {
                out.push(f);
            }
        }
        out
    }

    /// Every algorithm usable with a key of this family.
    #[must_use]
    pub fn algorithms(self) -> &'static [Algorithm] {
        use Algorithm::*;
        match self {
            Self::Hmac => &[HS256, HS384, HS512],
            Self::Rsa => &[RS256, RS384, RS512, PS256, PS384, PS512],
            Self::Ec(Curve::P256) => &[ES256],
            Self::Ec(Curve::P384) => &[ES384],
            Self::Ec(Curve::P521) => &[ES512],
            Self::Ec(Curve::Secp256k1) => &[ES256K],
            Self::Ed25519 => &[EdDSA],
        }
    }

    /// A short name ("HMAC", "RSA", "EC P-256", "Ed25519").
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Hmac => "HMAC",
            Self::Rsa => "RSA",
            Self::Ec(Curve::P256) => "EC P-256",
            Self::Ec(Curve::P384) => "EC P-384",
            Self::Ec(Curve::P521) => "EC P-521",
            Self::Ec(Curve::Secp256k1) => "EC secp256k1",
            Self::Ed25519 => "Ed25519",
        }
    }
}

impl Algorithm {
    /// Every supported algorithm.
    pub const ALL: &'static [Algorithm] = &[
        Self::HS256,
        Self::HS384,
        Self::HS512,
        Self::RS256,
        Self::RS384,
        Self::RS512,
        Self::PS256,
        Self::PS384,
        Self::PS512,
        Self::ES256,
        Self::ES384,
        Self::ES512,
        Self::ES256K,
        Self::EdDSA,
    ];

    /// The registered `alg` name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
            Self::PS256 => "PS256",
            Self::PS384 => "PS384",
            Self::PS512 => "PS512",
            Self::ES256 => "ES256",
            Self::ES384 => "ES384",
            Self::ES512 => "ES512",
            Self::ES256K => "ES256K",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parses an `alg` name exactly (case-sensitive, as RFC 7515 requires).
    /// Returns `None` for unknown names, including every spelling of `none`.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    /// Parses an `alg` name from configuration: unknown names are an error.
    pub fn parse(name: &str) -> Result<Self> {
        Self::from_name(name).ok_or_else(|| {
            if name.eq_ignore_ascii_case("none") {
                err!(InvalidAlgorithm, "the \"none\" algorithm is never accepted")
            } else {
                err!(InvalidAlgorithm, "Algorithm not supported: {name:?}")
            }
        })
    }

    /// The key family this algorithm needs.
    #[must_use]
    pub const fn family(self) -> Family {
        match self {
            Self::HS256 | Self::HS384 | Self::HS512 => Family::Hmac,
            Self::RS256 | Self::RS384 | Self::RS512 | Self::PS256 | Self::PS384 | Self::PS512 => {
                Family::Rsa
            }
            Self::ES256 => Family::Ec(Curve::P256),
            Self::ES384 => Family::Ec(Curve::P384),
            Self::ES512 => Family::Ec(Curve::P521),
            Self::ES256K => Family::Ec(Curve::Secp256k1),
            Self::EdDSA => Family::Ed25519,
        }
    }

    /// For HMAC algorithms, the minimum secret length in bytes (the hash output
    /// size, RFC 7518 §3.2).
    #[must_use]
    pub const fn min_hmac_key_len(self) -> usize {
        match self {
            Self::HS384 => 48,
            Self::HS512 => 64,
            _ => 32,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_none_is_unknown() {
        for a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.name()), Some(*a));
            assert!(a.family().algorithms().contains(a));
        }
        for n in ["none", "None", "NONE", "nOnE", "hs256", "HS256 ", ""] {
            assert!(Algorithm::from_name(n).is_none(), "{n}");
        }
    }
}
