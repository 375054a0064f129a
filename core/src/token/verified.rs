//! A bounded cache of tokens whose signature has already been verified.
//!
//! API clients present the same bearer token on every request until it
//! expires, and an RSA or ECDSA verification costs 15–60 µs where everything
//! else costs 2–3 µs. The cache remembers, for the SHA-256 of the exact token
//! bytes and the identity of the key material, that the signature verified and
//! what the header and claims parsed to. Only what cannot change between two
//! calls with the same bytes and key is skipped (base64 and JSON decoding and
//! the signature); every rule that depends on the caller's configuration or the
//! time runs again on every hit: the accepted algorithms, key family and HMAC
//! strength, `crit`, `typ`, the size bound and all claim checks.
//!
//! Bounds: at most [`VerifiedCache::DEFAULT_CAPACITY`] entries (configurable,
//! 0 disables), only tokens up to [`VerifiedCache::MAX_TOKEN_LEN`] bytes, only
//! tokens that verified (a forged token is never stored), sharded locks, and
//! entries evicted when full (expired ones first). Nothing secret is stored:
//! the token itself is not kept, only its hash and its public contents.

use super::jwt::{self, Token, Validation};
use super::key::Key;
use crate::clock::Clock;
use crate::error::Result;
use aws_lc_rs::digest;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

const SHARDS: usize = 16;

struct Entry {
    material_id: u64,
    token: Arc<Token>,
    /// `exp`, when present: past it (plus an hour of slack for leeway) the
    /// entry is the first to go.
    exp: Option<f64>,
}

/// Tokens whose signatures verified, keyed by SHA-256 of their bytes.
pub struct VerifiedCache {
    shards: Vec<Mutex<HashMap<[u8; 32], Entry>>>,
    capacity: AtomicUsize,
}

impl Default for VerifiedCache {
    fn default() -> Self {
        Self::new(Self::DEFAULT_CAPACITY)
    }
}

impl VerifiedCache {
    /// Default number of entries.
    pub const DEFAULT_CAPACITY: usize = 4096;
    /// Longer tokens are verified every time and never stored.
    pub const MAX_TOKEN_LEN: usize = 4096;

    /// A cache holding at most `capacity` entries (0: caching off).
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            capacity: AtomicUsize::new(capacity),
        }
    }

    /// The process-wide cache used by the compatibility entry points.
    pub fn global() -> &'static VerifiedCache {
        static CACHE: OnceLock<VerifiedCache> = OnceLock::new();
        CACHE.get_or_init(VerifiedCache::default)
    }

    /// Changes the capacity; 0 turns caching off and empties the cache.
    pub fn set_capacity(&self, capacity: usize) {
        self.capacity.store(capacity, Ordering::Relaxed);
        if capacity == 0 {
            self.clear();
        }
    }

    /// The configured capacity.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity.load(Ordering::Relaxed)
    }

    /// Number of cached tokens.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// True when nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry.
    pub fn clear(&self) {
        for s in &self.shards {
            s.lock().clear();
        }
    }

    /// [`jwt::decode`] with the cache: same result, same errors, for every
    /// input; a token seen before with the same key skips decoding and the
    /// signature check.
    pub fn decode(
        &self,
        token: &[u8],
        key: &Key,
        validation: &Validation,
        clock: &dyn Clock,
    ) -> Result<Token> {
        let capacity = self.capacity();
        if capacity == 0 || token.len() > Self::MAX_TOKEN_LEN {
            return jwt::decode(token, key, validation, clock);
        }
        validation.validate()?;
        jwt::check_shape(token, validation.max_token_size)?;
        let hash: [u8; 32] = digest::digest(&digest::SHA256, token)
            .as_ref()
            .try_into()
            .map_err(|_| crate::error::err!(Internal, "unexpected digest length"))?;
        let shard = &self.shards[usize::from(hash[0]) % SHARDS];
        let hit = shard
            .lock()
            .get(&hash)
            .filter(|e| e.material_id == key.material_id())
            .map(|e| Arc::clone(&e.token));
        if let Some(cached) = hit {
            jwt::check_header(&cached.header, key, validation)?;
            jwt::validate_claims(&cached.claims, validation, clock.now_secs())?;
            return Ok((*cached).clone());
        }
        let t = jwt::verify_token(token, key, validation)?;
        // Cache what verified, before the time-dependent claim checks: an
        // immature token that verified stays valid to remember.
        let exp = t
            .claims
            .get("exp")
            .and_then(super::json::Value::as_number)
            .map(super::json::Number::as_f64);
        let shared = Arc::new(t);
        {
            let mut map = shard.lock();
            let per_shard = capacity.div_ceil(SHARDS);
            if map.len() >= per_shard {
                let now = clock.now_secs();
                map.retain(|_, e| e.exp.is_none_or(|exp| exp + 3600.0 > now));
                if map.len() >= per_shard {
                    if let Some(victim) = map.keys().next().copied() {
                        map.remove(&victim);
                    }
                }
            }
            map.insert(
                hash,
                Entry {
                    material_id: key.material_id(),
                    token: Arc::clone(&shared),
                    exp,
                },
            );
        }
        jwt::validate_claims(&shared.claims, validation, clock.now_secs())?;
        Ok((*shared).clone())
    }
}
