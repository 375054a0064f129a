//! Building a [`PasswordHasher`] from options given by name, the way the Python
//! and Node APIs receive them, so both apply the same defaults and refusals.

use super::{Argon2Params, Argon2Variant, Encoding, PasswordHasher, Pbkdf2Digest, Scheme};
use super::{DJANGO_BCRYPT_COST, DJANGO_PBKDF2_ITERATIONS};
use crate::error::{err, Result};

/// Hashing options by name; `None` means "the default".
///
/// - `algorithm`: `"argon2id"` (default), `"argon2i"`, `"argon2d"`, `"argon2"`
///   (Django's name for Argon2id), `"pbkdf2_sha256"`, `"pbkdf2_sha1"`,
///   `"bcrypt"`, `"bcrypt_sha256"`.
/// - `encoding`: `"phc"` or `"django"`; default `"django"` for PBKDF2 and
///   bcrypt-SHA256 (which only Django writes), `"phc"` otherwise.
/// - Argon2 costs default to argon2-cffi's (RFC 9106 low-memory) in the PHC
///   encoding and to Django's in the Django encoding; PBKDF2 iterations and
///   bcrypt rounds default to Django's.
/// - A parameter that does not apply to the algorithm is an error, so a typo
///   never silently falls back to a default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HasherOptions {
    /// Algorithm name.
    pub algorithm: Option<String>,
    /// Encoding name.
    pub encoding: Option<String>,
    /// Argon2 passes.
    pub time_cost: Option<u32>,
    /// Argon2 memory in KiB.
    pub memory_cost: Option<u32>,
    /// Argon2 lanes.
    pub parallelism: Option<u32>,
    /// Argon2 tag length in bytes.
    pub hash_len: Option<u32>,
    /// Salt length in bytes (Argon2 PHC).
    pub salt_len: Option<u32>,
    /// Argon2 version (19 or 16).
    pub version: Option<u32>,
    /// PBKDF2 iterations.
    pub iterations: Option<u32>,
    /// bcrypt cost (log2 rounds).
    pub rounds: Option<u32>,
}

impl PasswordHasher {
    /// The hasher the options describe (see [`HasherOptions`]); every bound is
    /// then checked by [`PasswordHasher::new`].
    pub fn from_options(o: &HasherOptions) -> Result<Self> {
        let algorithm = o.algorithm.as_deref().unwrap_or("argon2id");
        let unused = |names: &[(&str, Option<u32>)]| -> Result<()> {
            match names.iter().find(|(_, v)| v.is_some()) {
                Some((n, _)) => Err(err!(InvalidArgument, "{n} does not apply to {algorithm}")),
                None => Ok(()),
            }
        };
        let argon2_names = [
            ("time_cost", o.time_cost),
            ("memory_cost", o.memory_cost),
            ("parallelism", o.parallelism),
            ("hash_len", o.hash_len),
            ("salt_len", o.salt_len),
            ("version", o.version),
        ];
        let variant = match algorithm {
            "argon2" => Some(Argon2Variant::Argon2id),
            name => Argon2Variant::from_name(name),
        };
        let default_encoding = match algorithm {
            "pbkdf2_sha256" | "pbkdf2_sha1" | "bcrypt_sha256" => Encoding::Django,
            _ => Encoding::Phc,
        };
        let encoding = match o.encoding.as_deref() {
            None => default_encoding,
            Some("phc") => Encoding::Phc,
            Some("django") => Encoding::Django,
            Some(other) => {
                return Err(err!(
                    InvalidArgument,
                    "encoding must be \"phc\" or \"django\", not {other:?}"
                ))
            }
        };
        let scheme = if let Some(variant) = variant {
            unused(&[("iterations", o.iterations), ("rounds", o.rounds)])?;
            let mut p = match encoding {
                Encoding::Phc => Argon2Params::default(),
                Encoding::Django => Argon2Params::django(),
            };
            p.variant = variant;
            p.time_cost = o.time_cost.unwrap_or(p.time_cost);
            p.memory_cost = o.memory_cost.unwrap_or(p.memory_cost);
            p.parallelism = o.parallelism.unwrap_or(p.parallelism);
            p.hash_len = o.hash_len.unwrap_or(p.hash_len);
            p.salt_len = o.salt_len.unwrap_or(p.salt_len);
            p.version = o.version.unwrap_or(p.version);
            Scheme::Argon2(p)
        } else {
            unused(&argon2_names)?;
            match algorithm {
                "pbkdf2_sha256" | "pbkdf2_sha1" => {
                    unused(&[("rounds", o.rounds)])?;
                    Scheme::Pbkdf2 {
                        digest: if algorithm == "pbkdf2_sha1" {
                            Pbkdf2Digest::Sha1
                        } else {
                            Pbkdf2Digest::Sha256
                        },
                        iterations: o.iterations.unwrap_or(DJANGO_PBKDF2_ITERATIONS),
                    }
                }
                "bcrypt" | "bcrypt_sha256" => {
                    unused(&[("iterations", o.iterations)])?;
                    let cost = o.rounds.unwrap_or(DJANGO_BCRYPT_COST);
                    if algorithm == "bcrypt" {
                        Scheme::Bcrypt { cost }
                    } else {
                        Scheme::BcryptSha256 { cost }
                    }
                }
                other => {
                    return Err(err!(
                        InvalidArgument,
                        "unsupported password hashing algorithm {other:?}"
                    ))
                }
            }
        };
        PasswordHasher::new(scheme, encoding)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(algorithm: &str) -> HasherOptions {
        HasherOptions {
            algorithm: Some(algorithm.into()),
            ..HasherOptions::default()
        }
    }

    #[test]
    fn defaults_follow_the_algorithm_and_encoding() {
        let h = PasswordHasher::from_options(&HasherOptions::default()).unwrap();
        assert_eq!(h.scheme(), &Scheme::Argon2(Argon2Params::default()));
        assert_eq!(h.encoding(), Encoding::Phc);
        let mut d = opts("argon2");
        d.encoding = Some("django".into());
        assert_eq!(
            PasswordHasher::from_options(&d).unwrap().scheme(),
            &Scheme::Argon2(Argon2Params::django())
        );
        let p = PasswordHasher::from_options(&opts("pbkdf2_sha256")).unwrap();
        assert_eq!(p.encoding(), Encoding::Django);
        assert_eq!(
            p.scheme(),
            &Scheme::Pbkdf2 {
                digest: Pbkdf2Digest::Sha256,
                iterations: DJANGO_PBKDF2_ITERATIONS
            }
        );
        assert_eq!(
            PasswordHasher::from_options(&opts("bcrypt"))
                .unwrap()
                .encoding(),
            Encoding::Phc
        );
        assert_eq!(
            PasswordHasher::from_options(&opts("bcrypt_sha256"))
                .unwrap()
                .encoding(),
            Encoding::Django
        );
    }

    #[test]
    fn refuses_what_does_not_apply() {
        let mut o = opts("bcrypt");
        o.iterations = Some(1000);
        assert!(PasswordHasher::from_options(&o).is_err());
        let mut o = opts("pbkdf2_sha1");
        o.memory_cost = Some(1024);
        assert!(PasswordHasher::from_options(&o).is_err());
        let mut o = opts("argon2id");
        o.rounds = Some(12);
        assert!(PasswordHasher::from_options(&o).is_err());
        assert!(PasswordHasher::from_options(&opts("scrypt")).is_err());
        let mut o = opts("argon2id");
        o.encoding = Some("passlib".into());
        assert!(PasswordHasher::from_options(&o).is_err());
    }
}
