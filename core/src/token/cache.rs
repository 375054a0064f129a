//! A bounded cache of keys made from undeclared material.
//!
//! The PyJWT- and jsonwebtoken-compatible entry points receive keys as strings
//! or bytes on every call. Parsing a PEM or building HMAC contexts each time
//! would cost more than the verification itself, so keys are made once per
//! distinct (material, accepted families) pair and shared. The cache is bounded
//! ([`KeyCache::CAPACITY`] entries); when full, an arbitrary half is dropped,
//! so hostile churn costs at most a re-parse, never unbounded memory. Cached
//! secrets are zeroized when evicted.

use super::algorithm::Family;
use super::key::Key;
use crate::error::Result;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// Key material as a map key: hashed and compared as its bytes (so lookups
/// borrow the caller's slice, no copy), zeroized when dropped.
#[derive(PartialEq, Eq, Hash)]
struct Material(Box<[u8]>);

impl std::borrow::Borrow<[u8]> for Material {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Material {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0[..]);
    }
}

/// Keys made from raw material, shared between calls, per set of families.
#[derive(Default)]
pub struct KeyCache {
    map: RwLock<HashMap<u16, HashMap<Material, Arc<Key>>>>,
}

fn family_bits(families: &[Family]) -> u16 {
    families.iter().fold(0u16, |acc, f| {
        acc | match f {
            Family::Hmac => 1,
            Family::Rsa => 2,
            Family::Ec(c) => 4 << (*c as u16),
            Family::Ed25519 => 128,
        }
    })
}

impl KeyCache {
    /// Maximum number of cached keys.
    pub const CAPACITY: usize = 256;
    /// Largest material accepted at all (a PEM certificate chain fits easily).
    pub const MAX_MATERIAL: usize = 64 * 1024;
    /// Largest material kept in the cache; bigger material is parsed each time.
    pub const MAX_CACHED_MATERIAL: usize = 16 * 1024;

    /// The process-wide cache.
    pub fn global() -> &'static KeyCache {
        static CACHE: OnceLock<KeyCache> = OnceLock::new();
        CACHE.get_or_init(KeyCache::default)
    }

    /// The key for `material` restricted to `families` (see [`Key::from_material`]),
    /// made on first use.
    pub fn get(&self, material: &[u8], families: &[Family]) -> Result<Arc<Key>> {
        if material.len() > Self::MAX_MATERIAL {
            return Err(crate::error::err!(
                InvalidKey,
                "key material larger than {} bytes",
                Self::MAX_MATERIAL
            ));
        }
        if material.len() > Self::MAX_CACHED_MATERIAL {
            return Ok(Arc::new(Key::from_material(material, families)?));
        }
        let bits = family_bits(families);
        if let Some(k) = self.map.read().get(&bits).and_then(|m| m.get(material)) {
            return Ok(Arc::clone(k));
        }
        let key = Arc::new(Key::from_material(material, families)?);
        let mut map = self.map.write();
        if map.values().map(HashMap::len).sum::<usize>() >= Self::CAPACITY {
            // Drop about half, spread over the family sets.
            for inner in map.values_mut() {
                let n = inner.len().div_ceil(2);
                let victims: Vec<Box<[u8]>> = inner.keys().take(n).map(|m| m.0.clone()).collect();
                for v in victims {
                    inner.remove(&v[..]);
                    zeroize::Zeroize::zeroize(&mut v.into_vec()[..]);
                }
            }
        }
        Ok(Arc::clone(
            map.entry(bits)
                .or_default()
                .entry(Material(material.into()))
                .or_insert(key),
        ))
    }

    /// Number of cached keys.
    pub fn len(&self) -> usize {
        self.map.read().values().map(HashMap::len).sum()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every cached key.
    pub fn clear(&self) {
        self.map.write().clear();
    }
}
