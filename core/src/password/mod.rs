//! Password hashing: Argon2 (argon2-cffi compatible), PBKDF2 and bcrypt, in the
//! PHC / argon2-cffi / bcrypt / passlib strings and in Django's encodings.
//!
//! A [`PasswordHasher`] is one configured scheme and encoding: it hashes new
//! passwords in that format and tells, through [`PasswordHasher::needs_rehash`],
//! whether a stored string should be upgraded to it. [`verify`] (and
//! [`PasswordHasher::verify`], which is the same) accepts every supported
//! format, whatever the hasher's own:
//!
//! | format | example | hash | verify |
//! |---|---|---|---|
//! | argon2-cffi PHC | `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<tag>` (also `argon2i`, `argon2d`, no `v=` = version 0x10) | yes | yes |
//! | Django argon2 | `argon2$argon2id$v=19$m=102400,t=2,p=8$<salt>$<tag>` | yes | yes |
//! | Django PBKDF2 | `pbkdf2_sha256$1200000$<salt>$<base64 dk>`, `pbkdf2_sha1$...` | yes | yes |
//! | bcrypt | `$2b$12$<salt><hash>` (`$2a$`, `$2y$` read) | yes | yes |
//! | Django bcrypt | `bcrypt$$2b$12$...`, `bcrypt_sha256$$2b$12$...` | yes | yes |
//! | passlib PBKDF2 | `$pbkdf2-sha256$<rounds>$<ab64 salt>$<ab64 dk>`, `$pbkdf2$...` (SHA-1) | no | yes |
//!
//! Guarantees:
//! - Parsing is strict (fields in the documented order, canonical decimals and
//!   base64, no duplicates or extras, at most [`MAX_ENCODED_LEN`] bytes) and
//!   every cost parameter read from a stored string is bounded before any work
//!   is done, so a hostile stored hash cannot ask for unbounded memory or time;
//!   malformed or unsupported strings give [`ErrorKind::InvalidHash`] and no
//!   input panics.
//! - Tags are compared in constant time; copies of the password, pre-hashes and
//!   derived keys made here are zeroized after use; no error message or `Debug`
//!   output contains a password, a salt or a hash.
//! - Every Argon2 computation draws `memory_cost` KiB from a process-wide
//!   memory budget ([`set_memory_budget_kib`], default 1 GiB) before it
//!   allocates, blocking while the budget is in use.
//! - bcrypt's 72-byte limit is explicit: hashing a longer password with plain
//!   bcrypt is an [`ErrorKind::InvalidArgument`] error; verification truncates
//!   to 72 bytes so hashes written by libraries that truncated still verify.
//!
//! [`ErrorKind::InvalidHash`]: crate::ErrorKind::InvalidHash
//! [`ErrorKind::InvalidArgument`]: crate::ErrorKind::InvalidArgument

mod argon2;
mod bcrypt;
mod encoding;
mod limiter;
mod options;
mod pbkdf2;

use std::fmt;

use zeroize::Zeroizing;

pub use self::argon2::{
    argon2_hash_raw, Argon2Params, Argon2Variant, ARGON2_HASH_LEN_RANGE, ARGON2_MAX_MEMORY_KIB,
    ARGON2_MAX_PARALLELISM, ARGON2_MAX_SECRET_LEN, ARGON2_MAX_TIME_COST, ARGON2_SALT_LEN_RANGE,
    ARGON2_VERSION_10, ARGON2_VERSION_13,
};
pub use self::bcrypt::{
    BCRYPT_MAX_COST, BCRYPT_MAX_PASSWORD_LEN, BCRYPT_MIN_COST, DJANGO_BCRYPT_COST,
};
pub use self::limiter::{
    global_limiter, memory_budget_kib, memory_in_use_kib, set_memory_budget_kib, MemoryLimiter,
    MemoryPermit, DEFAULT_MEMORY_BUDGET_KIB,
};
pub use self::options::HasherOptions;
pub use self::pbkdf2::{Pbkdf2Digest, DJANGO_PBKDF2_ITERATIONS, PBKDF2_MAX_ITERATIONS};

use self::encoding::{
    ct_eq, django_salt_too_weak, random_bytes, random_django_salt, DJANGO_SALT_LEN,
};
use crate::error::{err, Error, ErrorKind, Result};

/// Longest encoded hash accepted by [`verify`], [`identify`] and
/// [`PasswordHasher::needs_rehash`], in bytes.
pub const MAX_ENCODED_LEN: usize = 4096;

/// A password-hashing scheme and its cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Argon2 (RFC 9106).
    Argon2(Argon2Params),
    /// PBKDF2-HMAC with `iterations` rounds (1..=[`PBKDF2_MAX_ITERATIONS`]);
    /// written in the Django encoding only.
    Pbkdf2 {
        /// The HMAC digest.
        digest: Pbkdf2Digest,
        /// Iteration count.
        iterations: u32,
    },
    /// bcrypt with `2^cost` rounds (cost 4..=[`BCRYPT_MAX_COST`] = 20); passwords over 72 bytes are
    /// refused when hashing.
    Bcrypt {
        /// log2 of the rounds.
        cost: u32,
    },
    /// Django's `bcrypt_sha256`: bcrypt of the lowercase hex SHA-256 of the
    /// password (no length limit); written in the Django encoding only.
    BcryptSha256 {
        /// log2 of the rounds.
        cost: u32,
    },
}

impl Default for Scheme {
    /// Argon2 with argon2-cffi's default parameters.
    fn default() -> Self {
        Self::Argon2(Argon2Params::default())
    }
}

impl Scheme {
    /// Django 6.0's default hasher: `pbkdf2_sha256` with 1 200 000 iterations.
    #[must_use]
    pub const fn django_pbkdf2() -> Self {
        Self::Pbkdf2 {
            digest: Pbkdf2Digest::Sha256,
            iterations: DJANGO_PBKDF2_ITERATIONS,
        }
    }
}

/// How a hash is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The library-native strings: argon2-cffi's PHC string, bcrypt's `$2b$`,
    /// passlib's `$pbkdf2-sha256$` (read only).
    Phc,
    /// `<algorithm>$...` exactly as `django.contrib.auth.hashers` writes it.
    Django,
}

/// What a stored hash is, as parsed by [`identify`].
///
/// `Debug` shows the algorithm, encoding, parameters and lengths only, never
/// the salt or hash.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HashInfo {
    /// Django's algorithm name in the Django encoding (`"argon2"`,
    /// `"pbkdf2_sha256"`, `"pbkdf2_sha1"`, `"bcrypt_sha256"`, `"bcrypt"`); the
    /// PHC identifier otherwise (`"argon2id"`, `"argon2i"`, `"argon2d"`,
    /// `"bcrypt"`, `"pbkdf2-sha256"`, `"pbkdf2"`).
    pub algorithm: &'static str,
    /// The encoding the string is in (passlib strings count as [`Encoding::Phc`]).
    pub encoding: Encoding,
    /// The scheme and the parameters read from the string. For Argon2,
    /// `hash_len` and `salt_len` are the stored tag's and salt's lengths.
    pub scheme: Scheme,
    /// The salt bytes fed to the function (for Django PBKDF2, the ASCII salt
    /// text; for bcrypt, the 16 decoded bytes).
    pub salt: Vec<u8>,
    /// The stored tag / derived key / bcrypt checksum bytes.
    pub hash: Vec<u8>,
    /// The salt exactly as written in the string.
    pub salt_field: String,
    /// The hash exactly as written in the string.
    pub hash_field: String,
    /// For bcrypt strings, the prefix: `"2a"`, `"2b"` or `"2y"`.
    pub bcrypt_ident: Option<&'static str>,
}

impl fmt::Debug for HashInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashInfo")
            .field("algorithm", &self.algorithm)
            .field("encoding", &self.encoding)
            .field("scheme", &self.scheme)
            .field("salt_len", &self.salt.len())
            .field("hash_len", &self.hash.len())
            .field("bcrypt_ident", &self.bcrypt_ident)
            .finish_non_exhaustive()
    }
}

const PBKDF2_PHC: &str =
    "PBKDF2 is written in the Django encoding only (passlib strings are verify-only)";
const BCRYPT_SHA256_PHC: &str = "bcrypt_sha256 is written in the Django encoding only";

/// One configured scheme and encoding. Immutable, `Send + Sync`, cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordHasher {
    scheme: Scheme,
    encoding: Encoding,
}

impl Default for PasswordHasher {
    /// Argon2id with argon2-cffi's defaults (t=3, m=64 MiB, p=4), PHC encoding.
    fn default() -> Self {
        Self {
            scheme: Scheme::default(),
            encoding: Encoding::Phc,
        }
    }
}

impl PasswordHasher {
    /// A hasher for `scheme` written in `encoding`.
    ///
    /// # Errors
    /// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) when a parameter
    /// is out of bounds (see [`Argon2Params`], [`Scheme`]) or the pair cannot
    /// be written: PBKDF2 and `bcrypt_sha256` exist only in the Django encoding.
    pub fn new(scheme: Scheme, encoding: Encoding) -> Result<Self> {
        match (&scheme, encoding) {
            (Scheme::Argon2(p), _) => p.validate()?,
            (Scheme::Pbkdf2 { iterations, .. }, Encoding::Django) => {
                pbkdf2::check_iterations(*iterations)?;
            }
            (Scheme::Bcrypt { cost }, _) | (Scheme::BcryptSha256 { cost }, Encoding::Django) => {
                bcrypt::check_cost(*cost)?;
            }
            (Scheme::Pbkdf2 { .. }, Encoding::Phc) => {
                return Err(Error::new(ErrorKind::InvalidArgument, PBKDF2_PHC));
            }
            (Scheme::BcryptSha256 { .. }, Encoding::Phc) => {
                return Err(Error::new(ErrorKind::InvalidArgument, BCRYPT_SHA256_PHC));
            }
        }
        Ok(Self { scheme, encoding })
    }

    /// The scheme and parameters new hashes use.
    #[must_use]
    pub fn scheme(&self) -> &Scheme {
        &self.scheme
    }

    /// The encoding new hashes are written in.
    #[must_use]
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The algorithm name [`identify`] reports for this hasher's output (in the
    /// Django encoding, Django's `algorithm` attribute).
    #[must_use]
    pub fn algorithm(&self) -> &'static str {
        match (self.scheme, self.encoding) {
            (Scheme::Argon2(_), Encoding::Django) => "argon2",
            (Scheme::Argon2(p), Encoding::Phc) => p.variant.name(),
            (Scheme::Pbkdf2 { digest, .. }, Encoding::Django) => digest.django_name(),
            (Scheme::Pbkdf2 { digest, .. }, Encoding::Phc) => digest.passlib_name(),
            (Scheme::Bcrypt { .. }, _) => "bcrypt",
            (Scheme::BcryptSha256 { .. }, _) => "bcrypt_sha256",
        }
    }

    /// Hashes `password` with a fresh random salt from aws-lc's CSPRNG:
    /// `salt_len` bytes for Argon2 PHC, 16 bytes for bcrypt, and Django's
    /// 22-character alphanumeric salt (over 128 bits, unbiased) in the Django
    /// encoding for Argon2 and PBKDF2.
    ///
    /// # Errors
    /// As [`PasswordHasher::hash_with_salt`].
    pub fn hash(&self, password: &[u8]) -> Result<String> {
        let salt = match (self.scheme, self.encoding) {
            (Scheme::Argon2(p), Encoding::Phc) => random_bytes(p.salt_len as usize)?,
            (Scheme::Argon2(_) | Scheme::Pbkdf2 { .. }, _) => {
                random_django_salt(DJANGO_SALT_LEN)?.into_bytes()
            }
            (Scheme::Bcrypt { .. } | Scheme::BcryptSha256 { .. }, _) => random_bytes(16)?,
        };
        self.hash_with_salt(password, &salt)
    }

    /// Hashes `password` with the given salt: the bytes fed to the function
    /// (8..=1024 for Argon2; printable ASCII without `$` for Django PBKDF2, as
    /// Django passes its salt string; exactly 16 raw bytes for bcrypt).
    /// The output is byte-for-byte what argon2-cffi, Django or the `bcrypt`
    /// package write for the same inputs.
    ///
    /// # Errors
    /// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) for a salt that
    /// does not fit the scheme, a password over 72 bytes with plain bcrypt, or
    /// an Argon2 `memory_cost` above the whole memory budget.
    pub fn hash_with_salt(&self, password: &[u8], salt: &[u8]) -> Result<String> {
        match (self.scheme, self.encoding) {
            (Scheme::Argon2(p), Encoding::Phc) => argon2::hash_phc(&p, password, salt),
            (Scheme::Argon2(p), Encoding::Django) => {
                Ok(format!("argon2{}", argon2::hash_phc(&p, password, salt)?))
            }
            (Scheme::Pbkdf2 { digest, iterations }, Encoding::Django) => {
                pbkdf2::hash_django(digest, iterations, password, salt)
            }
            (Scheme::Bcrypt { cost }, encoding) => {
                if password.len() > BCRYPT_MAX_PASSWORD_LEN {
                    return Err(err!(
                        InvalidArgument,
                        "bcrypt reads at most 72 bytes of a password; refusing to hash a longer \
                         one (use bcrypt_sha256 or Argon2)"
                    ));
                }
                let s = bcrypt::hash(cost, salt, password)?;
                Ok(match encoding {
                    Encoding::Phc => s,
                    Encoding::Django => format!("bcrypt${s}"),
                })
            }
            (Scheme::BcryptSha256 { cost }, Encoding::Django) => {
                let prehash = bcrypt::sha256_hex(password);
                Ok(format!(
                    "bcrypt_sha256${}",
                    bcrypt::hash(cost, salt, &prehash[..])?
                ))
            }
            (Scheme::Pbkdf2 { .. } | Scheme::BcryptSha256 { .. }, Encoding::Phc) => Err(err!(
                Internal,
                "unreachable: scheme/encoding pair rejected at construction"
            )),
        }
    }

    /// Verifies `password` against `encoded`, in any supported format (the
    /// same as the free function [`verify`]).
    ///
    /// # Errors
    /// As [`verify`].
    pub fn verify(&self, encoded: &str, password: &[u8]) -> Result<bool> {
        verify(encoded, password)
    }

    /// Whether `encoded` should be replaced by a fresh hash from this hasher.
    ///
    /// True when the string is another scheme or encoding, or its parameters
    /// differ: Argon2 variant, version, t, m, p, tag length and (PHC) salt
    /// length, as argon2-cffi's `check_needs_rehash`; PBKDF2 digest or
    /// iterations; bcrypt cost, or a `$2a$`/`$2y$` prefix in the PHC encoding.
    /// In the Django encoding it follows Django's `must_update`: the salt
    /// length is not compared, but Argon2 and PBKDF2 salts under 128 bits
    /// (`len * log2(62) < 128`, i.e. under 22 characters) need an update.
    ///
    /// # Errors
    /// [`InvalidHash`](crate::ErrorKind::InvalidHash) for a malformed or
    /// unsupported string.
    pub fn needs_rehash(&self, encoded: &str) -> Result<bool> {
        let info = identify(encoded)?;
        if info.encoding != self.encoding {
            return Ok(true);
        }
        let django = self.encoding == Encoding::Django;
        Ok(match (self.scheme, info.scheme) {
            (Scheme::Argon2(want), Scheme::Argon2(got)) => {
                let same = want.variant == got.variant
                    && want.version == got.version
                    && want.time_cost == got.time_cost
                    && want.memory_cost == got.memory_cost
                    && want.parallelism == got.parallelism
                    && want.hash_len == got.hash_len;
                if django {
                    !same || django_salt_too_weak(info.salt.len())
                } else {
                    !same || want.salt_len != got.salt_len
                }
            }
            (
                Scheme::Pbkdf2 {
                    digest: d1,
                    iterations: i1,
                },
                Scheme::Pbkdf2 {
                    digest: d2,
                    iterations: i2,
                },
            ) => d1 != d2 || i1 != i2 || django_salt_too_weak(info.salt.len()),
            (Scheme::Bcrypt { cost: c1 }, Scheme::Bcrypt { cost: c2 }) => {
                c1 != c2 || (!django && info.bcrypt_ident != Some("2b"))
            }
            (Scheme::BcryptSha256 { cost: c1 }, Scheme::BcryptSha256 { cost: c2 }) => c1 != c2,
            _ => true,
        })
    }
}

/// Verifies `password` against a stored hash in any supported format.
///
/// Returns `Ok(true)` on a match and `Ok(false)` on a mismatch; the tag is
/// compared in constant time. bcrypt reads the first 72 bytes of the password.
///
/// # Errors
/// [`InvalidHash`](crate::ErrorKind::InvalidHash) for a malformed or
/// unsupported string (checked before any work);
/// [`InvalidArgument`](crate::ErrorKind::InvalidArgument) when an Argon2 hash
/// asks for more memory than the whole memory budget.
pub fn verify(encoded: &str, password: &[u8]) -> Result<bool> {
    let info = identify(encoded)?;
    match info.scheme {
        Scheme::Argon2(p) => {
            let mut tag = Zeroizing::new(vec![0u8; info.hash.len()]);
            argon2::compute(&p, password, &info.salt, &[], &[], &mut tag)?;
            Ok(ct_eq(&tag, &info.hash))
        }
        Scheme::Pbkdf2 { digest, iterations } => {
            let mut dk = Zeroizing::new(vec![0u8; info.hash.len()]);
            pbkdf2::derive(digest, iterations, &info.salt, password, &mut dk)?;
            Ok(ct_eq(&dk, &info.hash))
        }
        Scheme::Bcrypt { cost } => {
            let checksum = bcrypt::raw(cost, &bcrypt_salt(&info)?, password)?;
            Ok(ct_eq(&checksum[..], &info.hash))
        }
        Scheme::BcryptSha256 { cost } => {
            let prehash = bcrypt::sha256_hex(password);
            let checksum = bcrypt::raw(cost, &bcrypt_salt(&info)?, &prehash[..])?;
            Ok(ct_eq(&checksum[..], &info.hash))
        }
    }
}

fn bcrypt_salt(info: &HashInfo) -> Result<[u8; 16]> {
    info.salt
        .as_slice()
        .try_into()
        .map_err(|_| err!(Internal, "bcrypt salt is not 16 bytes"))
}

fn unsupported() -> Error {
    err!(InvalidHash, "unsupported or malformed password hash")
}

/// Parses a stored hash without computing anything: its algorithm, encoding,
/// parameters, salt and hash (for Django's `decode` / `safe_summary`).
///
/// # Errors
/// [`InvalidHash`](crate::ErrorKind::InvalidHash) for a malformed or
/// unsupported string (longer than [`MAX_ENCODED_LEN`], non-ASCII, unknown
/// algorithm, fields out of order or out of bounds, non-canonical numbers or
/// base64).
pub fn identify(encoded: &str) -> Result<HashInfo> {
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(err!(InvalidHash, "malformed password hash: too long"));
    }
    if !encoded.is_ascii() {
        return Err(err!(InvalidHash, "malformed password hash: not ASCII"));
    }
    if let Some(body) = encoded.strip_prefix('$') {
        let id = body.split('$').next().unwrap_or_default();
        match id {
            "argon2id" | "argon2i" | "argon2d" => argon2_info(body, Encoding::Phc),
            "2a" | "2b" | "2y" => Ok(bcrypt_info(encoded, "bcrypt", Encoding::Phc, false)?),
            "pbkdf2-sha256" | "pbkdf2" => {
                let digest = if id == "pbkdf2" {
                    Pbkdf2Digest::Sha1
                } else {
                    Pbkdf2Digest::Sha256
                };
                let rest = &body[id.len()..];
                let rest = rest.strip_prefix('$').ok_or_else(unsupported)?;
                let p = pbkdf2::parse_passlib(digest, rest)?;
                Ok(pbkdf2_info(p, digest.passlib_name(), Encoding::Phc))
            }
            _ => Err(unsupported()),
        }
    } else {
        let (algorithm, rest) = encoded.split_once('$').ok_or_else(unsupported)?;
        match algorithm {
            "argon2" => argon2_info(rest, Encoding::Django),
            "pbkdf2_sha256" | "pbkdf2_sha1" => {
                let digest = if algorithm == "pbkdf2_sha1" {
                    Pbkdf2Digest::Sha1
                } else {
                    Pbkdf2Digest::Sha256
                };
                let p = pbkdf2::parse_django(digest, rest)?;
                Ok(pbkdf2_info(p, digest.django_name(), Encoding::Django))
            }
            "bcrypt" => bcrypt_info(rest, "bcrypt", Encoding::Django, false),
            "bcrypt_sha256" => bcrypt_info(rest, "bcrypt_sha256", Encoding::Django, true),
            _ => Err(unsupported()),
        }
    }
}

fn argon2_info(body: &str, encoding: Encoding) -> Result<HashInfo> {
    let p = argon2::parse_phc(body)?;
    Ok(HashInfo {
        algorithm: match encoding {
            Encoding::Django => "argon2",
            Encoding::Phc => p.params.variant.name(),
        },
        encoding,
        scheme: Scheme::Argon2(p.params),
        salt: p.salt,
        hash: p.hash,
        salt_field: p.salt_field.to_owned(),
        hash_field: p.hash_field.to_owned(),
        bcrypt_ident: None,
    })
}

fn pbkdf2_info(p: pbkdf2::ParsedPbkdf2<'_>, algorithm: &'static str, enc: Encoding) -> HashInfo {
    HashInfo {
        algorithm,
        encoding: enc,
        scheme: Scheme::Pbkdf2 {
            digest: p.digest,
            iterations: p.iterations,
        },
        salt: p.salt,
        hash: p.hash,
        salt_field: p.salt_field.to_owned(),
        hash_field: p.hash_field.to_owned(),
        bcrypt_ident: None,
    }
}

fn bcrypt_info(
    text: &str,
    algorithm: &'static str,
    encoding: Encoding,
    sha256: bool,
) -> Result<HashInfo> {
    let p = bcrypt::parse(text)?;
    Ok(HashInfo {
        algorithm,
        encoding,
        scheme: if sha256 {
            Scheme::BcryptSha256 { cost: p.cost }
        } else {
            Scheme::Bcrypt { cost: p.cost }
        },
        salt: p.salt.to_vec(),
        hash: p.hash.to_vec(),
        salt_field: p.salt_field.to_owned(),
        hash_field: p.hash_field.to_owned(),
        bcrypt_ident: Some(p.ident),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn hasher_is_send_sync_clone() {
        assert_send_sync::<PasswordHasher>();
        assert_send_sync::<HashInfo>();
    }

    #[test]
    fn debug_hides_material() {
        let info = identify(
            "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$ESUkIq3XvMIs+R/ZmdQSkE1EDQIVk18SzognBfgBuPQ=",
        )
        .unwrap();
        let dbg = format!("{info:?}");
        assert!(!dbg.contains("abcdefghijklmnopqrstuv"), "{dbg}");
        assert!(!dbg.contains("ESUkIq3X"), "{dbg}");
        assert!(dbg.contains("salt_len: 22"), "{dbg}");
    }
}
