//! Argon2 (RFC 9106): parameters, bounds, the PHC string as argon2-cffi writes
//! it, and the computation (backend: the `argon2-rust` crate, SIMD fill and
//! lane-parallel threads; see `docs/passwords.md`, "Backend choice").

use std::sync::OnceLock;

use argon2_rust::params::{Memory, TagLen};
use zeroize::Zeroizing;

use super::encoding::{decode_b64, parse_decimal, B64_NOPAD};
use super::limiter::global_limiter;
use crate::error::{err, Error, ErrorKind, Result};

/// Largest accepted `memory_cost`: 2 GiB (2 097 152 KiB), argon2-cffi's
/// `RFC_9106_HIGH_MEMORY` profile.
pub const ARGON2_MAX_MEMORY_KIB: u32 = 2 * 1024 * 1024;
/// Largest accepted `time_cost` (passes over memory).
pub const ARGON2_MAX_TIME_COST: u32 = 64;
/// Largest accepted `parallelism` (lanes); the C reference's decoder limit.
pub const ARGON2_MAX_PARALLELISM: u32 = 255;
/// Accepted tag lengths in bytes.
pub const ARGON2_HASH_LEN_RANGE: std::ops::RangeInclusive<u32> = 4..=1024;
/// Accepted salt lengths in bytes.
pub const ARGON2_SALT_LEN_RANGE: std::ops::RangeInclusive<u32> = 8..=1024;
/// Largest secret (pepper) and associated data accepted by [`argon2_hash_raw`].
pub const ARGON2_MAX_SECRET_LEN: usize = 1024;

/// Which Argon2 function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Argon2Variant {
    /// Argon2id: the hybrid recommended by RFC 9106 and every default here.
    Argon2id,
    /// Argon2i: data-independent addressing (read for old hashes).
    Argon2i,
    /// Argon2d: data-dependent addressing.
    Argon2d,
}

impl Argon2Variant {
    /// The PHC identifier: `"argon2id"`, `"argon2i"` or `"argon2d"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Argon2id => "argon2id",
            Self::Argon2i => "argon2i",
            Self::Argon2d => "argon2d",
        }
    }

    /// The variant with PHC identifier `name`, if any.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "argon2id" => Some(Self::Argon2id),
            "argon2i" => Some(Self::Argon2i),
            "argon2d" => Some(Self::Argon2d),
            _ => None,
        }
    }

    fn backend(self) -> argon2_rust::Algorithm {
        match self {
            Self::Argon2id => argon2_rust::Algorithm::Argon2id,
            Self::Argon2i => argon2_rust::Algorithm::Argon2i,
            Self::Argon2d => argon2_rust::Algorithm::Argon2d,
        }
    }
}

/// Argon2 version 1.3 (`v=19`), the current one.
pub const ARGON2_VERSION_13: u32 = 0x13;
/// Argon2 version 1.0 (`v=16`, or no `v=` field), read for old hashes.
pub const ARGON2_VERSION_10: u32 = 0x10;

/// Argon2 cost parameters, in argon2-cffi's terms.
///
/// Valid values (checked by [`Argon2Params::validate`] and by every parser):
/// `version` 0x13 or 0x10; `time_cost` 1..=[`ARGON2_MAX_TIME_COST`];
/// `parallelism` 1..=[`ARGON2_MAX_PARALLELISM`]; `memory_cost`
/// 8·parallelism..=[`ARGON2_MAX_MEMORY_KIB`] KiB; `hash_len` in
/// [`ARGON2_HASH_LEN_RANGE`]; `salt_len` in [`ARGON2_SALT_LEN_RANGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Argon2Params {
    /// The function.
    pub variant: Argon2Variant,
    /// 0x13 (`v=19`) or 0x10 (`v=16`).
    pub version: u32,
    /// Passes over memory (`t=`).
    pub time_cost: u32,
    /// Memory in KiB (`m=`); this many KiB are drawn from the memory budget per
    /// computation.
    pub memory_cost: u32,
    /// Lanes (`p=`), computed on parallel threads.
    pub parallelism: u32,
    /// Tag length in bytes.
    pub hash_len: u32,
    /// Length in bytes of the random salt [`PasswordHasher::hash`](super::PasswordHasher::hash)
    /// draws in the PHC encoding (the Django encoding always uses Django's
    /// 22-character salt).
    pub salt_len: u32,
}

impl Default for Argon2Params {
    /// argon2-cffi's default (`RFC_9106_LOW_MEMORY`): Argon2id, v=19, t=3,
    /// m=65536 (64 MiB), p=4, 32-byte tag, 16-byte salt.
    fn default() -> Self {
        Self {
            variant: Argon2Variant::Argon2id,
            version: ARGON2_VERSION_13,
            time_cost: 3,
            memory_cost: 65536,
            parallelism: 4,
            hash_len: 32,
            salt_len: 16,
        }
    }
}

impl Argon2Params {
    /// Django's `Argon2PasswordHasher`: Argon2id, v=19, t=2, m=102400 (100 MiB),
    /// p=8, 32-byte tag (salt_len 16 as in Django's `params()`; the Django
    /// encoding writes its own 22-character salt).
    #[must_use]
    pub const fn django() -> Self {
        Self {
            variant: Argon2Variant::Argon2id,
            version: ARGON2_VERSION_13,
            time_cost: 2,
            memory_cost: 102_400,
            parallelism: 8,
            hash_len: 32,
            salt_len: 16,
        }
    }

    /// OWASP's minimum (also `@node-rs/argon2`'s default): Argon2id, t=2,
    /// m=19456 (19 MiB), p=1, 32-byte tag, 16-byte salt.
    #[must_use]
    pub const fn owasp() -> Self {
        Self {
            variant: Argon2Variant::Argon2id,
            version: ARGON2_VERSION_13,
            time_cost: 2,
            memory_cost: 19456,
            parallelism: 1,
            hash_len: 32,
            salt_len: 16,
        }
    }

    /// Checks every bound listed on [`Argon2Params`].
    ///
    /// # Errors
    /// [`InvalidArgument`](ErrorKind::InvalidArgument) naming the first
    /// parameter out of bounds.
    pub fn validate(&self) -> Result<()> {
        check_params(self, ErrorKind::InvalidArgument)
    }
}

fn check_params(p: &Argon2Params, kind: ErrorKind) -> Result<()> {
    let what = if p.version != ARGON2_VERSION_13 && p.version != ARGON2_VERSION_10 {
        "version must be 0x13 or 0x10"
    } else if !(1..=ARGON2_MAX_TIME_COST).contains(&p.time_cost) {
        "time_cost must be between 1 and 64"
    } else if !(1..=ARGON2_MAX_PARALLELISM).contains(&p.parallelism) {
        "parallelism must be between 1 and 255"
    } else if p.memory_cost < 8 * p.parallelism || p.memory_cost > ARGON2_MAX_MEMORY_KIB {
        "memory_cost must be between 8*parallelism and 2097152 KiB"
    } else if !ARGON2_HASH_LEN_RANGE.contains(&p.hash_len) {
        "hash_len must be between 4 and 1024 bytes"
    } else if !ARGON2_SALT_LEN_RANGE.contains(&p.salt_len) {
        "salt length must be between 8 and 1024 bytes"
    } else {
        return Ok(());
    };
    Err(if kind == ErrorKind::InvalidHash {
        err!(InvalidHash, "malformed argon2 hash: {what}")
    } else {
        Error::new(kind, format!("argon2 {what}"))
    })
}

fn worker_threads(parallelism: u32) -> u32 {
    static CPUS: OnceLock<u32> = OnceLock::new();
    let cpus = *CPUS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| u32::try_from(n.get()).unwrap_or(u32::MAX))
    });
    parallelism.min(cpus).max(1)
}

/// Computes the tag into `out` (whose length is the tag length), holding
/// `memory_cost` KiB of the global memory budget for the duration.
pub(crate) fn compute(
    params: &Argon2Params,
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    ad: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let salt_len = u32::try_from(salt.len()).unwrap_or(u32::MAX);
    let hash_len = u32::try_from(out.len()).unwrap_or(u32::MAX);
    check_params(
        &Argon2Params {
            salt_len,
            hash_len,
            ..*params
        },
        ErrorKind::InvalidArgument,
    )?;
    let backend_params = argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(params.memory_cost)))
        .passes(params.time_cost)
        .lanes(params.parallelism)
        // The thread count never changes the tag; more threads than cores only
        // spin at the barriers.
        .threads(worker_threads(params.parallelism))
        .tag_len(TagLen::bytes(u64::from(hash_len)))
        .build()
        .map_err(|e| err!(InvalidArgument, "argon2 parameters rejected: {e:?}"))?;
    let version = if params.version == ARGON2_VERSION_13 {
        argon2_rust::Version::V0x13
    } else {
        argon2_rust::Version::V0x10
    };
    let ctx = argon2_rust::Argon2::new(params.variant.backend(), version, backend_params);
    let _permit = global_limiter().acquire(u64::from(params.memory_cost))?;
    ctx.hash_into_with_ad(password, salt, secret, ad, out)
        .map_err(|e| err!(Internal, "argon2 computation failed: {e:?}"))
}

/// Raw Argon2 tag of `params.hash_len` bytes for `password` and `salt`, with an
/// optional `secret` (pepper, RFC 9106 "K") and `associated_data` ("X"):
/// argon2-cffi's `hash_secret_raw` with secret/AD. `params.salt_len` is ignored
/// (the salt's own length is used and must be 8..=1024 bytes); the computation
/// draws `memory_cost` KiB from the memory budget.
///
/// # Errors
/// [`InvalidArgument`](ErrorKind::InvalidArgument) for parameters out of
/// bounds, a salt of bad length, a secret or associated data over
/// [`ARGON2_MAX_SECRET_LEN`] bytes, or `memory_cost` above the whole memory
/// budget.
pub fn argon2_hash_raw(
    params: &Argon2Params,
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    associated_data: &[u8],
) -> Result<Vec<u8>> {
    if secret.len() > ARGON2_MAX_SECRET_LEN || associated_data.len() > ARGON2_MAX_SECRET_LEN {
        return Err(err!(
            InvalidArgument,
            "argon2 secret and associated data must be at most 1024 bytes"
        ));
    }
    check_params(params, ErrorKind::InvalidArgument)?;
    let mut out = vec![0u8; params.hash_len as usize];
    compute(params, password, salt, secret, associated_data, &mut out)?;
    Ok(out)
}

/// Computes the tag for `salt` and returns the PHC string argon2-cffi writes:
/// `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<tag>` (standard base64, no padding).
pub(crate) fn hash_phc(params: &Argon2Params, password: &[u8], salt: &[u8]) -> Result<String> {
    let mut tag = Zeroizing::new(vec![0u8; params.hash_len as usize]);
    compute(params, password, salt, &[], &[], &mut tag)?;
    Ok(format_phc(params, salt, &tag))
}

pub(crate) fn format_phc(params: &Argon2Params, salt: &[u8], tag: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "${}$v={}$m={},t={},p={}${}${}",
        params.variant.name(),
        params.version,
        params.memory_cost,
        params.time_cost,
        params.parallelism,
        B64_NOPAD.encode(salt),
        B64_NOPAD.encode(tag),
    )
}

/// A parsed Argon2 PHC string.
pub(crate) struct ParsedPhc<'a> {
    pub params: Argon2Params,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
    pub salt_field: &'a str,
    pub hash_field: &'a str,
}

fn bad(what: &str) -> Error {
    err!(InvalidHash, "malformed argon2 hash: {what}")
}

/// Parses the PHC body after the leading `$`:
/// `argon2<x>[$v=<16|19>]$m=<m>,t=<t>,p=<p>$<salt>$<tag>`, strictly (fields in
/// that order, canonical decimals and base64, bounds checked before any work).
pub(crate) fn parse_phc(body: &str) -> Result<ParsedPhc<'_>> {
    let mut fields = body.split('$');
    let variant = fields
        .next()
        .and_then(Argon2Variant::from_name)
        .ok_or_else(|| bad("unknown variant"))?;
    let mut next = fields.next().ok_or_else(|| bad("missing parameters"))?;
    let version = if let Some(v) = next.strip_prefix("v=") {
        let version = match parse_decimal(v, 0, 255) {
            Some(16) => ARGON2_VERSION_10,
            Some(19) => ARGON2_VERSION_13,
            _ => return Err(bad("unsupported version")),
        };
        next = fields.next().ok_or_else(|| bad("missing parameters"))?;
        version
    } else {
        ARGON2_VERSION_10
    };
    let mut costs = next.split(',');
    let mut cost = |name: &str| -> Result<u32> {
        let field = costs.next().ok_or_else(|| bad("missing cost parameter"))?;
        let value = field
            .strip_prefix(name)
            .and_then(|v| v.strip_prefix('='))
            .ok_or_else(|| bad("cost parameters must be m, t, p in that order"))?;
        parse_decimal(value, 0, u64::from(u32::MAX))
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| bad("cost parameter is not a canonical decimal"))
    };
    let memory_cost = cost("m")?;
    let time_cost = cost("t")?;
    let parallelism = cost("p")?;
    if costs.next().is_some() {
        return Err(bad("unsupported extra parameters (keyid/data)"));
    }
    let salt_field = fields.next().ok_or_else(|| bad("missing salt"))?;
    let hash_field = fields.next().ok_or_else(|| bad("missing hash"))?;
    if fields.next().is_some() {
        return Err(bad("too many fields"));
    }
    // Bounds of everything but the lengths, before decoding anything.
    let mut params = Argon2Params {
        variant,
        version,
        time_cost,
        memory_cost,
        parallelism,
        hash_len: 32,
        salt_len: 16,
    };
    check_params(&params, ErrorKind::InvalidHash)?;
    let salt = decode_b64(&B64_NOPAD, salt_field, 8, 1024, "argon2 salt")?;
    let hash = decode_b64(&B64_NOPAD, hash_field, 4, 1024, "argon2 hash")?;
    params.salt_len = u32::try_from(salt.len()).map_err(|_| bad("salt length"))?;
    params.hash_len = u32::try_from(hash.len()).map_err(|_| bad("hash length"))?;
    Ok(ParsedPhc {
        params,
        salt,
        hash,
        salt_field,
        hash_field,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trip() {
        let p = Argon2Params::default();
        let s = format_phc(&p, b"0123456789abcdef", &[7u8; 32]);
        assert!(s.starts_with("$argon2id$v=19$m=65536,t=3,p=4$MDEyMzQ1Njc4OWFiY2RlZg$"));
        let parsed = parse_phc(&s[1..]).unwrap();
        assert_eq!(parsed.params, p);
        assert_eq!(parsed.salt, b"0123456789abcdef");
        assert_eq!(parsed.hash, [7u8; 32]);
    }

    #[test]
    fn version_absent_means_0x10() {
        let parsed = parse_phc("argon2i$m=256,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(parsed.params.version, ARGON2_VERSION_10);
        assert_eq!(parsed.params.variant, Argon2Variant::Argon2i);
        assert_eq!(parsed.params.hash_len, 16);
    }

    #[test]
    fn bounds_are_checked_before_work() {
        for body in [
            "argon2id$v=19$m=4294967295,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
            "argon2id$v=19$m=2097153,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
            "argon2id$v=19$m=256,t=65,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
            "argon2id$v=19$m=256,t=0,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
            "argon2id$v=19$m=4096,t=1,p=256$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
            "argon2id$v=19$m=256,t=1,p=0$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
            "argon2id$v=19$m=8,t=1,p=2$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
            "argon2id$v=18$m=256,t=1,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
            "argon2id$v=19$m=256,t=1,p=1$c2FsdA$AAAAAAAAAAAAAAAAAAAAAA",
            "argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHQ$AAA",
        ] {
            assert_eq!(
                parse_phc(body).err().map(|e| e.kind()),
                Some(ErrorKind::InvalidHash),
                "{body}"
            );
        }
    }

    #[test]
    fn raw_matches_backend_known_answer() {
        // From argon2-rust's own documentation (C reference output).
        let p = Argon2Params {
            memory_cost: 64,
            time_cost: 1,
            parallelism: 1,
            ..Argon2Params::default()
        };
        let s = hash_phc(&p, b"password", b"somesalt").unwrap();
        assert_eq!(
            s,
            "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHQ$cpx6VEQbwTVZvcpxNIxOVUWZ5xnAipUmAe1cg2GMG70"
        );
    }
}
