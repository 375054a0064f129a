//! API keys: generation, strict offline parsing, keyed digests with pepper
//! rotation, and the record a store keeps per key.
//!
//! A key reads `<prefix>_<id>_<secret><checksum>`, for example
//! `bst_4Xk2...(17)_Qm9y...(43)Ab12Cd(6)`:
//!
//! - `prefix`: `[a-z][a-z0-9]{1,15}`, chosen by the application (default
//!   `bst`), so people and secret scanners recognise whose key it is;
//! - `id`: 12 random bytes as 17 base62 characters, public: it names the
//!   record to look up and may be logged;
//! - `secret`: 32 random bytes (aws-lc's CSPRNG) as 43 base62 characters;
//! - `checksum`: the CRC-32 (IEEE) of everything before it, as 6 base62
//!   characters, so a typo or a scanner's false match is rejected offline,
//!   before any lookup.
//!
//! Base62 is `0-9A-Za-z`, fixed width, big-endian; a key is 70 to 84 ASCII
//! characters matching `[a-z][a-z0-9]{1,15}_[0-9A-Za-z]{17}_[0-9A-Za-z]{49}`
//! and selectable with a double click. Parsing checks the length before
//! anything else and accepts exactly one spelling of each key.
//!
//! Only a digest is stored: HMAC-SHA256 keyed with a server-side pepper over
//! `prefix ‖ 0x00 ‖ id ‖ secret` (the raw bytes), tagged with the pepper's
//! version so peppers can be rotated: an [`ApiKeyHasher`] holds the current
//! pepper and older ones, verifies digests made with any of them and says
//! when a digest should be re-stored ([`ApiKeyHasher::needs_rehash`]). A
//! stolen table of digests is useless without the pepper; verification
//! compares in constant time. Secrets and peppers are zeroized and never
//! appear in `Debug` output or in errors.
//!
//! [`ApiKeyRecord`] is the metadata a store keeps per key (owner, name, rate
//! limit, creation, expiry, revocation) with a compact, versioned byte form
//! and a pure [`ApiKeyRecord::check`] for expiry and revocation.

use std::fmt;

use aws_lc_rs::hmac;
use zeroize::Zeroizing;

use super::b64;
use super::secrets::{validate_secret, SecretPurpose};
use crate::clock::Clock;
use crate::error::{err, Detail, Error, ErrorKind, Result};

/// The prefix keys get when the application names none.
pub const DEFAULT_PREFIX: &str = "bst";
/// Bytes of a key id.
pub const ID_LEN: usize = 12;
/// Bytes of a key secret.
pub const SECRET_LEN: usize = 32;
/// Bytes of a digest's HMAC-SHA256 tag.
pub const MAC_LEN: usize = 32;
/// Shortest and longest prefix.
pub const PREFIX_LEN: std::ops::RangeInclusive<usize> = 2..=16;

const ID_CHARS: usize = 17;
const SECRET_CHARS: usize = 43;
const CHECKSUM_CHARS: usize = 6;
const TAIL_CHARS: usize = SECRET_CHARS + CHECKSUM_CHARS;

/// Length of a key with the longest prefix (84 characters).
pub const MAX_KEY_LEN: usize = 16 + 1 + ID_CHARS + 1 + TAIL_CHARS;
/// Length of a key with the shortest prefix (70 characters).
pub const MIN_KEY_LEN: usize = 2 + 1 + ID_CHARS + 1 + TAIL_CHARS;

// ---- base62 and CRC-32 -----------------------------------------------------

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn base62_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'Z' => Some(c - b'A' + 10),
        b'a'..=b'z' => Some(c - b'a' + 36),
        _ => None,
    }
}

/// Appends `bytes` (a big-endian number) as exactly `width` base62 digits.
/// `width` must be large enough for every value of that many bytes.
fn base62_encode(bytes: &[u8], width: usize, out: &mut String) {
    let mut num = Zeroizing::new(bytes.to_vec());
    let mut digits = Zeroizing::new(vec![0u8; width]);
    for d in digits.iter_mut().rev() {
        let mut rem = 0u32;
        for b in num.iter_mut() {
            let acc = (rem << 8) | u32::from(*b);
            *b = (acc / 62) as u8;
            rem = acc % 62;
        }
        *d = BASE62[rem as usize];
    }
    debug_assert!(num.iter().all(|&b| b == 0), "base62 width too small");
    out.extend(digits.iter().map(|&d| char::from(d)));
}

/// Decodes fixed-width base62 into `out` (big-endian). False for a character
/// outside the alphabet or a value that does not fit in `out`, so every byte
/// string has exactly one accepted spelling.
fn base62_decode(text: &[u8], out: &mut [u8]) -> bool {
    out.fill(0);
    for &c in text {
        let Some(v) = base62_digit(c) else {
            return false;
        };
        let mut carry = u32::from(v);
        for b in out.iter_mut().rev() {
            let acc = u32::from(*b) * 62 + carry;
            *b = acc as u8;
            carry = acc >> 8;
        }
        if carry != 0 {
            return false;
        }
    }
    true
}

/// CRC-32 (IEEE 802.3, reflected, as zlib and GitHub's token checksums).
fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
                k += 1;
            }
            table[i] = c;
            i += 1;
        }
        table
    };
    !data.iter().fold(!0u32, |c, &b| {
        TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8)
    })
}

fn checksum(body: &[u8]) -> String {
    let mut out = String::with_capacity(CHECKSUM_CHARS);
    base62_encode(&crc32(body).to_be_bytes(), CHECKSUM_CHARS, &mut out);
    out
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>> {
    let mut out = Zeroizing::new([0u8; N]);
    aws_lc_rs::rand::fill(&mut out[..])
        .map_err(|_| err!(Internal, "the system random generator failed"))?;
    Ok(out)
}

fn is_valid_prefix(p: &[u8]) -> bool {
    PREFIX_LEN.contains(&p.len())
        && p[0].is_ascii_lowercase()
        && p.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Errors (`INVALID_ARGUMENT`) unless `prefix` is 2 to 16 characters of
/// `[a-z0-9]` starting with a letter.
pub fn check_prefix(prefix: &str) -> Result<()> {
    if is_valid_prefix(prefix.as_bytes()) {
        Ok(())
    } else {
        Err(err!(
            InvalidArgument,
            "an API key prefix must be 2 to 16 characters of [a-z0-9] starting with a letter"
        ))
    }
}

// ---- ids and keys --------------------------------------------------------------

/// The public id of an API key: 12 random bytes, written as 17 base62
/// characters. It names the key's record and may be logged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyId([u8; ID_LEN]);

impl ApiKeyId {
    /// A fresh random id.
    pub fn random() -> Result<Self> {
        Ok(Self(*random::<ID_LEN>()?))
    }

    /// The id with these bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// Parses the 17-character text form (`INVALID_API_KEY` otherwise).
    pub fn parse(text: &str) -> Result<Self> {
        let mut id = [0u8; ID_LEN];
        if text.len() == ID_CHARS && base62_decode(text.as_bytes(), &mut id) {
            Ok(Self(id))
        } else {
            Err(err!(
                InvalidApiKey,
                "an API key id is {ID_CHARS} base62 characters"
            ))
        }
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::with_capacity(ID_CHARS);
        base62_encode(&self.0, ID_CHARS, &mut s);
        f.write_str(&s)
    }
}

impl fmt::Debug for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeyId({self})")
    }
}

/// An API key, generated or parsed from the text a client presented: its
/// prefix, id and secret. The secret is zeroized on drop and never shown by
/// `Debug`.
#[derive(Clone)]
pub struct ApiKey {
    prefix: String,
    id: ApiKeyId,
    secret: Zeroizing<[u8; SECRET_LEN]>,
}

fn malformed(what: &str) -> Error {
    Error::new(
        ErrorKind::InvalidApiKey,
        format!("malformed API key: {what}"),
    )
}

impl ApiKey {
    /// A new key with a random id and secret. `prefix` must pass
    /// [`check_prefix`].
    pub fn generate(prefix: &str) -> Result<Self> {
        check_prefix(prefix)?;
        Ok(Self {
            prefix: prefix.to_owned(),
            id: ApiKeyId::random()?,
            secret: random::<SECRET_LEN>()?,
        })
    }

    /// Parses a presented key, checking its length first, then its shape,
    /// prefix, characters, the size of the encoded numbers and the checksum.
    /// Every failure is `INVALID_API_KEY` with a message that says which part
    /// is wrong and never contains the key. Nothing is looked up or hashed.
    pub fn parse(text: &[u8]) -> Result<Self> {
        if text.len() > MAX_KEY_LEN {
            return Err(malformed(&format!("longer than {MAX_KEY_LEN} characters")));
        }
        if text.len() < MIN_KEY_LEN {
            return Err(malformed(&format!("shorter than {MIN_KEY_LEN} characters")));
        }
        if !text.iter().all(|&c| c == b'_' || c.is_ascii_alphanumeric()) {
            return Err(malformed("a character outside [0-9A-Za-z_]"));
        }
        let mut parts = text.split(|&c| c == b'_');
        let (Some(prefix), Some(id), Some(tail), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not <prefix>_<id>_<secret>"));
        };
        if !is_valid_prefix(prefix) {
            return Err(malformed(
                "the prefix is not 2 to 16 characters of [a-z0-9] starting with a letter",
            ));
        }
        let mut id_bytes = [0u8; ID_LEN];
        if id.len() != ID_CHARS || !base62_decode(id, &mut id_bytes) {
            return Err(malformed(&format!(
                "the id is not {ID_CHARS} base62 characters"
            )));
        }
        if tail.len() != TAIL_CHARS {
            return Err(malformed(&format!(
                "the secret is not {TAIL_CHARS} base62 characters"
            )));
        }
        let (secret_text, check) = tail.split_at(SECRET_CHARS);
        let body = &text[..text.len() - CHECKSUM_CHARS];
        if checksum(body).as_bytes() != check {
            return Err(malformed(
                "the checksum does not match (a typo, or not a key issued here)",
            ));
        }
        let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
        if !base62_decode(secret_text, &mut secret[..]) {
            return Err(malformed("the secret is out of range"));
        }
        Ok(Self {
            // Checked above: ASCII.
            prefix: String::from_utf8_lossy(prefix).into_owned(),
            id: ApiKeyId(id_bytes),
            secret,
        })
    }

    /// [`parse`](Self::parse), and the prefix must be `prefix`.
    pub fn parse_with_prefix(text: &[u8], prefix: &str) -> Result<Self> {
        let key = Self::parse(text)?;
        if key.prefix == prefix {
            Ok(key)
        } else {
            Err(malformed("the prefix is not the expected one"))
        }
    }

    /// The prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The public id.
    #[must_use]
    pub fn id(&self) -> ApiKeyId {
        self.id
    }

    /// The key as text, to hand to its owner once (zeroized on drop).
    #[must_use]
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(MAX_KEY_LEN));
        s.push_str(&self.prefix);
        s.push('_');
        base62_encode(&self.id.0, ID_CHARS, &mut s);
        s.push('_');
        base62_encode(&self.secret[..], SECRET_CHARS, &mut s);
        let check = checksum(s.as_bytes());
        s.push_str(&check);
        s
    }

    /// The bytes the digest authenticates: `prefix ‖ 0x00 ‖ id ‖ secret`.
    fn mac_input(&self) -> Zeroizing<Vec<u8>> {
        let mut m = Zeroizing::new(Vec::with_capacity(
            self.prefix.len() + 1 + ID_LEN + SECRET_LEN,
        ));
        m.extend_from_slice(self.prefix.as_bytes());
        m.push(0);
        m.extend_from_slice(&self.id.0);
        m.extend_from_slice(&self.secret[..]);
        m
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("prefix", &self.prefix)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

// ---- digests -------------------------------------------------------------------

/// What is stored instead of a key: the HMAC-SHA256 tag and the version of
/// the pepper that made it. Text form `v<version>$<tag, base64url>`, e.g.
/// `v1$3q2-...` (at most 55 characters).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyDigest {
    version: u32,
    mac: [u8; MAC_LEN],
}

const MAC_B64_CHARS: usize = 43;
const MAX_DIGEST_TEXT: usize = 1 + 10 + 1 + MAC_B64_CHARS;

impl ApiKeyDigest {
    /// A digest from its parts.
    #[must_use]
    pub const fn new(version: u32, mac: [u8; MAC_LEN]) -> Self {
        Self { version, mac }
    }

    /// The pepper version.
    #[must_use]
    pub const fn version(&self) -> u32 {
        self.version
    }

    /// The HMAC-SHA256 tag.
    #[must_use]
    pub const fn mac(&self) -> &[u8; MAC_LEN] {
        &self.mac
    }

    /// Parses the text form strictly (`INVALID_HASH` otherwise): `v`, the
    /// version in decimal without leading zeros, `$`, 43 characters of
    /// unpadded base64url.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            err!(
                InvalidHash,
                "malformed API key digest: expected v<version>$<43 base64url characters>"
            )
        };
        if text.len() > MAX_DIGEST_TEXT {
            return Err(bad());
        }
        let rest = text.strip_prefix('v').ok_or_else(bad)?;
        let (version, mac) = rest.split_once('$').ok_or_else(bad)?;
        if version.is_empty()
            || !version.bytes().all(|c| c.is_ascii_digit())
            || (version.len() > 1 && version.starts_with('0'))
        {
            return Err(bad());
        }
        let version: u32 = version.parse().map_err(|_| bad())?;
        if mac.len() != MAC_B64_CHARS {
            return Err(bad());
        }
        let mac: [u8; MAC_LEN] = b64::decode(mac.as_bytes())
            .and_then(|m| m.try_into().ok())
            .ok_or_else(bad)?;
        Ok(Self { version, mac })
    }
}

impl fmt::Display for ApiKeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}${}", self.version, b64::encode(&self.mac))
    }
}

impl fmt::Debug for ApiKeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyDigest")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

// ---- the hasher ----------------------------------------------------------------

struct Pepper {
    version: u32,
    key: hmac::Key,
}

impl Pepper {
    fn new(version: u32, pepper: &[u8]) -> Result<Self> {
        validate_secret(pepper, SecretPurpose::ApiKeyPepper)?;
        Ok(Self {
            version,
            key: hmac::Key::new(hmac::HMAC_SHA256, pepper),
        })
    }
}

/// Makes and checks API key digests with a server-side pepper, made once and
/// shared. It holds the current pepper (new digests) and any older ones
/// (digests made before a rotation still verify). Every pepper must pass
/// [`validate_secret`] as [`SecretPurpose::ApiKeyPepper`] (at least 32
/// random-looking bytes). Peppers never appear in `Debug` output.
pub struct ApiKeyHasher {
    current: Pepper,
    previous: Vec<Pepper>,
}

/// A key just made by [`ApiKeyHasher::generate`]: the key (to show its owner
/// once) and the digest to store. `Debug` shows neither the key nor the digest.
pub struct IssuedApiKey {
    key: ApiKey,
    digest: ApiKeyDigest,
}

impl IssuedApiKey {
    /// The key as text, for its owner (shown once, never stored).
    #[must_use]
    pub fn key_text(&self) -> Zeroizing<String> {
        self.key.to_text()
    }

    /// The key.
    #[must_use]
    pub fn key(&self) -> &ApiKey {
        &self.key
    }

    /// The public id.
    #[must_use]
    pub fn id(&self) -> ApiKeyId {
        self.key.id
    }

    /// The prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.key.prefix
    }

    /// The digest to store.
    #[must_use]
    pub fn digest(&self) -> &ApiKeyDigest {
        &self.digest
    }

    /// A record for this key (see [`ApiKeyRecord::new`]).
    pub fn to_record(&self, owner: &str, name: &str, created_at: u64) -> Result<ApiKeyRecord> {
        ApiKeyRecord::new(
            self.id(),
            self.prefix(),
            self.digest.clone(),
            owner,
            name,
            created_at,
        )
    }
}

impl fmt::Debug for IssuedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedApiKey")
            .field("prefix", &self.key.prefix)
            .field("id", &self.key.id)
            .finish_non_exhaustive()
    }
}

impl ApiKeyHasher {
    /// A hasher whose current pepper is `pepper`, version 1.
    pub fn new(pepper: &[u8]) -> Result<Self> {
        Self::with_version(1, pepper)
    }

    /// A hasher whose current pepper is `pepper`, recorded in digests as `version`.
    pub fn with_version(version: u32, pepper: &[u8]) -> Result<Self> {
        Ok(Self {
            current: Pepper::new(version, pepper)?,
            previous: Vec::new(),
        })
    }

    /// Adds an older pepper: digests tagged with `version` verify with it,
    /// and [`needs_rehash`](Self::needs_rehash) reports them. A version
    /// already held is an `INVALID_ARGUMENT` error.
    pub fn with_previous(mut self, version: u32, pepper: &[u8]) -> Result<Self> {
        if version == self.current.version || self.previous.iter().any(|p| p.version == version) {
            return Err(err!(
                InvalidArgument,
                "pepper version {version} is given twice"
            ));
        }
        self.previous.push(Pepper::new(version, pepper)?);
        Ok(self)
    }

    /// The version of the current pepper.
    #[must_use]
    pub fn version(&self) -> u32 {
        self.current.version
    }

    /// The versions of the older peppers, in the order they were added.
    #[must_use]
    pub fn previous_versions(&self) -> Vec<u32> {
        self.previous.iter().map(|p| p.version).collect()
    }

    /// A new key (random id and secret) with `prefix`, and its digest.
    pub fn generate(&self, prefix: &str) -> Result<IssuedApiKey> {
        let key = ApiKey::generate(prefix)?;
        let digest = self.digest(&key);
        Ok(IssuedApiKey { key, digest })
    }

    /// The digest of `key` with the current pepper.
    #[must_use]
    pub fn digest(&self, key: &ApiKey) -> ApiKeyDigest {
        let tag = hmac::sign(&self.current.key, &key.mac_input());
        let mut mac = [0u8; MAC_LEN];
        mac.copy_from_slice(tag.as_ref());
        ApiKeyDigest::new(self.current.version, mac)
    }

    /// True when `digest` is the digest of `key` under the pepper its version
    /// names, compared in constant time. A digest whose pepper version this
    /// hasher does not hold is an `INVALID_HASH` error (a pepper was retired
    /// while digests still used it), never a silent `false`.
    pub fn verify(&self, key: &ApiKey, digest: &ApiKeyDigest) -> Result<bool> {
        let pepper = self.pepper(digest.version)?;
        Ok(hmac::verify(&pepper.key, &key.mac_input(), &digest.mac).is_ok())
    }

    /// [`verify`](Self::verify) from text: the presented key (parsed with
    /// [`ApiKey::parse`], `INVALID_API_KEY` when malformed) and the stored
    /// digest (`INVALID_HASH` when malformed).
    pub fn verify_text(&self, key: &[u8], digest: &str) -> Result<bool> {
        let key = ApiKey::parse(key)?;
        let digest = ApiKeyDigest::parse(digest)?;
        self.verify(&key, &digest)
    }

    /// True when `digest` was made with another pepper than the current one:
    /// after a successful verify, store [`digest`](Self::digest) of the key
    /// instead.
    #[must_use]
    pub fn needs_rehash(&self, digest: &ApiKeyDigest) -> bool {
        digest.version != self.current.version
    }

    fn pepper(&self, version: u32) -> Result<&Pepper> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|p| p.version == version)
            .ok_or_else(|| {
                err!(
                    InvalidHash,
                    "the API key digest uses pepper version {version}, which this hasher \
                     does not hold (add it as a previous pepper)"
                )
            })
    }
}

impl fmt::Debug for ApiKeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyHasher")
            .field("version", &self.current.version)
            .field("previous_versions", &self.previous_versions())
            .finish_non_exhaustive()
    }
}

// ---- records -------------------------------------------------------------------

/// A per-key rate limit for the rate limiter: `requests` per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    requests: u32,
    window_secs: u32,
}

impl RateLimit {
    /// `requests` per `window_secs` seconds, both at least 1 (`INVALID_ARGUMENT`).
    pub fn new(requests: u32, window_secs: u32) -> Result<Self> {
        if requests == 0 || window_secs == 0 {
            return Err(err!(
                InvalidArgument,
                "a rate limit needs at least 1 request per at least 1 second"
            ));
        }
        Ok(Self {
            requests,
            window_secs,
        })
    }

    /// Requests allowed per window.
    #[must_use]
    pub const fn requests(self) -> u32 {
        self.requests
    }

    /// The window in seconds.
    #[must_use]
    pub const fn window_secs(self) -> u32 {
        self.window_secs
    }
}

/// Longest owner or name, in bytes.
pub const MAX_METADATA_LEN: usize = 1024;

/// The record of one key, as a store keeps it: its id, prefix and digest
/// (never the key), who owns it, a name, an optional rate limit, when it was
/// made, when it expires and when it was revoked (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    id: ApiKeyId,
    prefix: String,
    digest: ApiKeyDigest,
    owner: String,
    name: String,
    rate_limit: Option<RateLimit>,
    created_at: u64,
    expires_at: Option<u64>,
    revoked_at: Option<u64>,
}

fn check_metadata(what: &str, value: &str, allow_empty: bool) -> Result<()> {
    if value.len() > MAX_METADATA_LEN {
        return Err(err!(
            InvalidArgument,
            "the API key {what} is longer than {MAX_METADATA_LEN} bytes"
        ));
    }
    if !allow_empty && value.is_empty() {
        return Err(err!(InvalidArgument, "the API key {what} is empty"));
    }
    if value.chars().any(char::is_control) {
        return Err(err!(
            InvalidArgument,
            "the API key {what} contains a control character"
        ));
    }
    Ok(())
}

const RECORD_FORMAT: u8 = 1;
const FLAG_EXPIRES: u8 = 1;
const FLAG_REVOKED: u8 = 2;
const FLAG_RATE: u8 = 4;
/// Largest serialized record, in bytes.
pub const MAX_RECORD_LEN: usize =
    2 + ID_LEN + 1 + 16 + 4 + MAC_LEN + 8 * 3 + 8 + 2 * (2 + MAX_METADATA_LEN);

impl ApiKeyRecord {
    /// A record for a key that is neither expiring, rate-limited nor revoked.
    /// `owner` (1 to 1024 bytes) and `name` (up to 1024 bytes) must not
    /// contain control characters; `prefix` must pass [`check_prefix`].
    pub fn new(
        id: ApiKeyId,
        prefix: &str,
        digest: ApiKeyDigest,
        owner: &str,
        name: &str,
        created_at: u64,
    ) -> Result<Self> {
        check_prefix(prefix)?;
        check_metadata("owner", owner, false)?;
        check_metadata("name", name, true)?;
        Ok(Self {
            id,
            prefix: prefix.to_owned(),
            digest,
            owner: owner.to_owned(),
            name: name.to_owned(),
            rate_limit: None,
            created_at,
            expires_at: None,
            revoked_at: None,
        })
    }

    /// The record, expiring at `expires_at` (after `created_at`, else `INVALID_ARGUMENT`).
    pub fn with_expiry(mut self, expires_at: u64) -> Result<Self> {
        if expires_at <= self.created_at {
            return Err(err!(
                InvalidArgument,
                "an API key must expire after it is created"
            ));
        }
        self.expires_at = Some(expires_at);
        Ok(self)
    }

    /// The record, with a rate limit for the rate limiter.
    #[must_use]
    pub fn with_rate_limit(mut self, rate_limit: RateLimit) -> Self {
        self.rate_limit = Some(rate_limit);
        self
    }

    /// Marks the key revoked at `at`. Revoking again keeps the first time.
    pub fn revoke(&mut self, at: u64) {
        self.revoked_at.get_or_insert(at);
    }

    /// Replaces the digest (after a pepper rotation: see
    /// [`ApiKeyHasher::needs_rehash`]).
    pub fn set_digest(&mut self, digest: ApiKeyDigest) {
        self.digest = digest;
    }

    /// The public id.
    #[must_use]
    pub fn id(&self) -> ApiKeyId {
        self.id
    }

    /// The prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The stored digest.
    #[must_use]
    pub fn digest(&self) -> &ApiKeyDigest {
        &self.digest
    }

    /// Who owns the key (a user or service id).
    #[must_use]
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// A human-readable name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The per-key rate limit, if any.
    #[must_use]
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// When the key was made.
    #[must_use]
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// When the key expires, if ever.
    #[must_use]
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }

    /// When the key was revoked, if it was.
    #[must_use]
    pub fn revoked_at(&self) -> Option<u64> {
        self.revoked_at
    }

    /// True once revoked.
    #[must_use]
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// Errors unless the key may be used at `now` (seconds since the epoch):
    /// `API_KEY_REVOKED` once revoked (checked first), `API_KEY_EXPIRED` from
    /// `expires_at` on. Each carries the instant concerned ([`Error::at`]).
    pub fn check(&self, now: f64) -> Result<()> {
        if let Some(at) = self.revoked_at {
            return Err(err!(ApiKeyRevoked, "the API key has been revoked")
                .with_detail(Detail::At(at as f64)));
        }
        if let Some(at) = self.expires_at {
            if now >= at as f64 {
                return Err(err!(ApiKeyExpired, "the API key has expired")
                    .with_detail(Detail::At(at as f64)));
            }
        }
        Ok(())
    }

    /// [`check`](Self::check) at the clock's current time.
    pub fn check_at(&self, clock: &dyn Clock) -> Result<()> {
        self.check(clock.now_secs())
    }

    /// The compact byte form, version 1 (big-endian integers):
    ///
    /// ```text
    /// format = 1 | flags (1 expires, 2 revoked, 4 rate limit) | id (12)
    /// | prefix length (1) | prefix | pepper version (4) | tag (32) | created_at (8)
    /// | [expires_at (8)] | [revoked_at (8)] | [requests (4) | window_secs (4)]
    /// | owner length (2) | owner | name length (2) | name
    /// ```
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + self.owner.len() + self.name.len());
        let flags = (if self.expires_at.is_some() {
            FLAG_EXPIRES
        } else {
            0
        }) | (if self.revoked_at.is_some() {
            FLAG_REVOKED
        } else {
            0
        }) | (if self.rate_limit.is_some() {
            FLAG_RATE
        } else {
            0
        });
        out.push(RECORD_FORMAT);
        out.push(flags);
        out.extend_from_slice(&self.id.0);
        // Lengths fit: the prefix is at most 16 bytes, owner and name at most 1024.
        out.push(self.prefix.len() as u8);
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(&self.digest.version.to_be_bytes());
        out.extend_from_slice(&self.digest.mac);
        out.extend_from_slice(&self.created_at.to_be_bytes());
        if let Some(t) = self.expires_at {
            out.extend_from_slice(&t.to_be_bytes());
        }
        if let Some(t) = self.revoked_at {
            out.extend_from_slice(&t.to_be_bytes());
        }
        if let Some(r) = self.rate_limit {
            out.extend_from_slice(&r.requests.to_be_bytes());
            out.extend_from_slice(&r.window_secs.to_be_bytes());
        }
        for text in [&self.owner, &self.name] {
            out.extend_from_slice(&(text.len() as u16).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        out
    }

    /// Reads [`to_bytes`](Self::to_bytes) output strictly: the format
    /// version, known flags only, every field valid as [`new`](Self::new)
    /// requires, nothing left over. Anything else is `INVALID_HASH`.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |what: &str| err!(InvalidHash, "malformed API key record: {what}");
        if bytes.len() > MAX_RECORD_LEN {
            return Err(bad("too long"));
        }
        let mut r = Reader(bytes);
        let format = r.u8().ok_or_else(|| bad("empty"))?;
        if format != RECORD_FORMAT {
            return Err(bad("unknown format version"));
        }
        let truncated = || bad("truncated");
        let flags = r.u8().ok_or_else(truncated)?;
        if flags & !(FLAG_EXPIRES | FLAG_REVOKED | FLAG_RATE) != 0 {
            return Err(bad("unknown flags"));
        }
        let id = ApiKeyId(r.array().ok_or_else(truncated)?);
        let prefix_len = r.u8().ok_or_else(truncated)?;
        let prefix = r.take(usize::from(prefix_len)).ok_or_else(truncated)?;
        if !is_valid_prefix(prefix) {
            return Err(bad("invalid prefix"));
        }
        let version = u32::from_be_bytes(r.array().ok_or_else(truncated)?);
        let mac = r.array().ok_or_else(truncated)?;
        let created_at = u64::from_be_bytes(r.array().ok_or_else(truncated)?);
        let mut time = |flag: u8| -> Result<Option<u64>> {
            if flags & flag == 0 {
                return Ok(None);
            }
            Ok(Some(u64::from_be_bytes(r.array().ok_or_else(truncated)?)))
        };
        let expires_at = time(FLAG_EXPIRES)?;
        let revoked_at = time(FLAG_REVOKED)?;
        let rate_limit = if flags & FLAG_RATE == 0 {
            None
        } else {
            let requests = u32::from_be_bytes(r.array().ok_or_else(truncated)?);
            let window = u32::from_be_bytes(r.array().ok_or_else(truncated)?);
            Some(RateLimit::new(requests, window).map_err(|_| bad("invalid rate limit"))?)
        };
        let mut text = |what: &str| -> Result<String> {
            let len = u16::from_be_bytes(r.array().ok_or_else(truncated)?);
            let raw = r.take(usize::from(len)).ok_or_else(truncated)?;
            String::from_utf8(raw.to_vec()).map_err(|_| bad(&format!("{what} is not UTF-8")))
        };
        let owner = text("owner")?;
        let name = text("name")?;
        if !r.0.is_empty() {
            return Err(bad("trailing bytes"));
        }
        let prefix = String::from_utf8_lossy(prefix);
        let mut record = Self::new(
            id,
            &prefix,
            ApiKeyDigest::new(version, mac),
            &owner,
            &name,
            created_at,
        )
        .map_err(|e| bad(e.message()))?;
        if let Some(t) = expires_at {
            record = record.with_expiry(t).map_err(|e| bad(e.message()))?;
        }
        record.revoked_at = revoked_at;
        record.rate_limit = rate_limit;
        Ok(record)
    }
}

/// A cursor over bytes being read.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N).and_then(|b| b.try_into().ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn base62_widths_hold_every_value() {
        let mut s = String::new();
        base62_encode(&[0xFF; ID_LEN], ID_CHARS, &mut s);
        base62_encode(&[0xFF; SECRET_LEN], SECRET_CHARS, &mut s);
        base62_encode(&[0xFF; 4], CHECKSUM_CHARS, &mut s);
        assert_eq!(s.len(), ID_CHARS + SECRET_CHARS + CHECKSUM_CHARS);
        let mut zero = String::new();
        base62_encode(&[0; ID_LEN], ID_CHARS, &mut zero);
        assert_eq!(zero, "0".repeat(ID_CHARS));
    }

    #[test]
    fn base62_round_trip_and_overflow() {
        for bytes in [[0u8; SECRET_LEN], [0xFF; SECRET_LEN], [0x5A; SECRET_LEN]] {
            let mut s = String::new();
            base62_encode(&bytes, SECRET_CHARS, &mut s);
            let mut back = [0u8; SECRET_LEN];
            assert!(base62_decode(s.as_bytes(), &mut back));
            assert_eq!(back, bytes);
        }
        // 43 base62 digits reach past 2^256: the largest spelling overflows.
        let mut out = [0u8; SECRET_LEN];
        assert!(!base62_decode(&[b'z'; SECRET_CHARS], &mut out));
        assert!(!base62_decode(b"0+", &mut out));
    }
}
