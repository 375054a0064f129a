//! The state layer: every stateful component keeps its state here.
//!
//! A [`Store`] is either a [`MemoryStore`] (the embedded default: one process,
//! nothing to run) or a [`RedisStore`] (standalone Redis or Redis Cluster: many
//! processes, languages and machines sharing one state). Components never read
//! and write keys one by one; each of their decisions is a [`Decision`]:
//!
//! - on Redis, one Lua script call (`EVALSHA`, `EVAL` on `NOSCRIPT`): one round
//!   trip, atomic, reading Redis's own `TIME` so app hosts with skewed clocks
//!   agree, with every write setting its TTL in the same script;
//! - in memory, one critical section over one shard, timed by the store's
//!   injected [`Clock`](crate::clock::Clock).
//!
//! All keys of one decision share a `{hash tag}` ([`tagged_key`]), which makes
//! them land in one Redis Cluster slot and in one memory shard.
//!
//! The same test suite runs every decision on memory, standalone Redis and
//! Redis Cluster: two implementations, one semantics.
//!
//! When Redis cannot be reached, a call fails with
//! [`ErrorKind::StoreUnavailable`](crate::ErrorKind::StoreUnavailable) within
//! the store's operation timeout; what a component makes of that is its
//! [`OutagePolicy`].

pub mod broadcast;
mod memory;
mod redis;

pub use self::broadcast::{Notice, Subscription};
pub use self::memory::{MemoryOptions, MemoryStore, ScoreSet, Txn, Value};
pub use self::redis::{RedisOptions, RedisStore};

use crate::error::{err, Result};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// What a component does when its store cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutagePolicy {
    /// Refuse: the check fails (a revocation check reports the token revoked,
    /// a rate limit denies). The default for security decisions.
    FailClosed,
    /// Allow: the check passes as if the state were empty.
    FailOpen,
    /// Decide from this process's own memory store until Redis is back.
    Local,
}

impl OutagePolicy {
    /// Parses `"fail_closed"`, `"fail_open"` or `"local"` (also with dashes).
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().replace('-', "_").as_str() {
            "fail_closed" | "closed" => Ok(Self::FailClosed),
            "fail_open" | "open" => Ok(Self::FailOpen),
            "local" | "fallback" => Ok(Self::Local),
            _ => Err(err!(
                InvalidArgument,
                "unknown outage policy {name:?}: expected \"fail_closed\", \"fail_open\" or \"local\""
            )),
        }
    }

    /// The canonical name (`"fail_closed"`, `"fail_open"`, `"local"`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::FailClosed => "fail_closed",
            Self::FailOpen => "fail_open",
            Self::Local => "local",
        }
    }
}

/// A Lua script run by [`RedisStore`], with its SHA-1 computed once.
///
/// Every script starts with the shared prelude (`scripts/prelude.lua`), whose
/// `bastion_now()` returns the decision's time in microseconds: Redis `TIME`,
/// unless the store was given an explicit clock (tests), which is then passed
/// as `ARGV[1]`. Decision arguments follow from `ARGV[2]`.
pub struct Script {
    name: &'static str,
    source: &'static str,
    sha: OnceLock<String>,
}

impl Script {
    /// A script from its full source (prelude included; see [`script!`](crate::store::script)).
    #[must_use]
    pub const fn new(name: &'static str, source: &'static str) -> Self {
        Self {
            name,
            source,
            sha: OnceLock::new(),
        }
    }

    /// The script's name, for errors and metrics.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The full Lua source.
    #[must_use]
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The lowercase hex SHA-1 Redis knows the script by.
    pub fn sha1(&self) -> &str {
        self.sha.get_or_init(|| {
            let d = aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                self.source.as_bytes(),
            );
            d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
        })
    }
}

impl fmt::Debug for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Script").field("name", &self.name).finish()
    }
}

/// Declares a [`Script`] from a file under `core/src/store/scripts/`, with the
/// shared prelude prepended (and, with `with "lib"`, a library file of
/// functions shared by one component's scripts).
macro_rules! script {
    ($name:literal, with $lib:literal) => {
        $crate::store::Script::new(
            $name,
            concat!(
                include_str!("../store/scripts/prelude.lua"),
                include_str!(concat!("../store/scripts/", $lib, ".lua")),
                include_str!(concat!("../store/scripts/", $name, ".lua"))
            ),
        )
    };
    ($name:literal) => {
        $crate::store::Script::new(
            $name,
            concat!(
                include_str!("../store/scripts/prelude.lua"),
                include_str!(concat!("../store/scripts/", $name, ".lua"))
            ),
        )
    };
}
pub(crate) use script;

/// A reply from a script, in the few shapes bastion's scripts return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `nil` / `false`.
    Nil,
    /// An integer.
    Int(i64),
    /// A bulk or status string.
    Bytes(Vec<u8>),
    /// An array.
    Array(Vec<Reply>),
}

impl Reply {
    /// The integer, or an error naming the script's reply shape.
    pub fn int(&self) -> Result<i64> {
        match self {
            Self::Int(i) => Ok(*i),
            Self::Bytes(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| err!(Internal, "a store script returned a non-integer")),
            _ => Err(err!(
                Internal,
                "a store script returned {self:?} for an integer"
            )),
        }
    }

    /// The array's items, or an error.
    pub fn array(self) -> Result<Vec<Reply>> {
        match self {
            Self::Array(a) => Ok(a),
            other => Err(err!(
                Internal,
                "a store script returned {other:?} for an array"
            )),
        }
    }

    /// The bytes (`None` for nil), or an error.
    pub fn bytes(self) -> Result<Option<Vec<u8>>> {
        match self {
            Self::Nil => Ok(None),
            Self::Bytes(b) => Ok(Some(b)),
            Self::Int(i) => Ok(Some(i.to_string().into_bytes())),
            Self::Array(_) => Err(err!(
                Internal,
                "a store script returned an array for a string"
            )),
        }
    }
}

/// One atomic decision over keys that share one hash tag.
///
/// Implementations provide both forms of the same rule: [`Decision::apply`]
/// for memory and a Lua [`Script`] (with [`Decision::parse`] for its reply)
/// for Redis. The store suite checks the two agree.
pub trait Decision: Send + Sync + 'static {
    /// What the decision returns.
    type Output: Send + 'static;

    /// The Lua form of the decision.
    fn script(&self) -> &'static Script;

    /// The keys the decision touches (without the store's prefix), all with the
    /// same `{hash tag}`. They become `KEYS[1..]` in the script.
    fn keys(&self) -> Vec<String>;

    /// The same keys, borrowed, when the decision keeps them as a list: the
    /// memory store then reads them without a copy.
    fn key_slice(&self) -> Option<&[String]> {
        None
    }

    /// The script arguments after the time argument (`ARGV[2..]`).
    fn args(&self) -> Vec<Vec<u8>>;

    /// Interprets the script's reply.
    fn parse(&self, reply: Reply) -> Result<Self::Output>;

    /// The memory form: runs inside the shard's critical section. `txn` sees
    /// the same keys as [`Decision::keys`] (without prefix).
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Self::Output>;
}

/// A key `name` under the hash tag `{tag}`: `"<kind>:{<tag>}:<name>"`.
///
/// The tag is escaped so that no caller-supplied text (a subject, a client
/// key) can end it early or inject another tag: `{`, `}`, `%`, control
/// characters and non-ASCII bytes are percent-encoded, and a tag longer than
/// 128 bytes is replaced by its SHA-256 (hex), keeping keys bounded.
#[must_use]
pub fn tagged_key(kind: &str, tag: &str, name: &str) -> String {
    tagged_key_parts(kind, &[tag], name)
}

/// [`tagged_key`] with the tag given as parts to be joined (`&["login:",
/// ip]`), without building the joined tag first.
#[must_use]
pub fn tagged_key_parts(kind: &str, tag: &[&str], name: &str) -> String {
    let tag_len: usize = tag.iter().map(|p| p.len()).sum();
    let mut out = String::with_capacity(kind.len() + tag_len + name.len() + 8);
    out.push_str(kind);
    out.push_str(":{");
    if tag_len > 128 {
        let mut joined = String::with_capacity(tag_len);
        for p in tag {
            joined.push_str(p);
        }
        let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, joined.as_bytes());
        out.push('#');
        for b in d.as_ref() {
            push_hex(&mut out, *b);
        }
    } else {
        for p in tag {
            push_escaped(&mut out, p);
        }
    }
    out.push('}');
    if !name.is_empty() {
        out.push(':');
        out.push_str(name);
    }
    out
}

fn push_hex(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 15)] as char);
}

fn needs_escape(b: u8) -> bool {
    b == b'{' || b == b'}' || b == b'%' || b == b'#' || !(0x21..0x7f).contains(&b)
}

/// Appends `part` to a hash tag being built, escaped as [`tagged_key`] does.
pub(crate) fn push_escaped(out: &mut String, part: &str) {
    if !part.bytes().any(needs_escape) {
        out.push_str(part);
        return;
    }
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in part.as_bytes() {
        if needs_escape(b) {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        } else {
            out.push(b as char);
        }
    }
}

/// The hash tag of a key by Redis Cluster's rule: the text between the first
/// `{` and the next `}` when non-empty, else the whole key.
#[must_use]
pub fn hash_tag(key: &str) -> &str {
    let bytes = key.as_bytes();
    if let Some(open) = bytes.iter().position(|&b| b == b'{') {
        if let Some(len) = bytes[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// Where a store keeps its state.
#[derive(Clone)]
pub enum Store {
    /// This process's memory.
    Memory(Arc<MemoryStore>),
    /// Redis or Redis Cluster.
    Redis(Arc<RedisStore>),
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory(m) => m.fmt(f),
            Self::Redis(r) => r.fmt(f),
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::memory(MemoryOptions::default())
    }
}

impl Store {
    /// A memory store.
    #[must_use]
    pub fn memory(options: MemoryOptions) -> Self {
        let store = Arc::new(MemoryStore::new(options));
        crate::metrics::register(Arc::downgrade(&store) as _);
        Self::Memory(store)
    }

    /// The in-process memory store a shared (Redis) component keeps for its
    /// outage policy `local`. It is internal: the health snapshot leaves it
    /// out (it lists the stores the user configured), and metrics count its
    /// keys apart (`bastion_fallback_store_keys`).
    #[must_use]
    pub(crate) fn fallback_memory(options: MemoryOptions) -> Self {
        let mut store = MemoryStore::new(options);
        store.fallback = true;
        let store = Arc::new(store);
        crate::metrics::register(Arc::downgrade(&store) as _);
        Self::Memory(store)
    }

    /// A Redis store from a URL: `redis://[user:password@]host:port[/db]` for one
    /// server, `redis+cluster://host:port[,host:port...]` for a cluster (the
    /// nodes given are seeds; the others are discovered).
    ///
    /// Opening does no I/O on the calling thread: the first connection is
    /// started in the background at once, so the first decision usually finds
    /// it ready.
    pub fn redis(url: &str, options: RedisOptions) -> Result<Self> {
        let store = Arc::new(RedisStore::open(url, options)?);
        crate::metrics::register(Arc::downgrade(&store) as _);
        let warm = Arc::clone(&store);
        drop(crate::runtime::spawn(async move { warm.warm_up().await }));
        Ok(Self::Redis(store))
    }

    /// `memory://` (or an empty string) for a memory store with default
    /// options, else [`Store::redis`].
    pub fn from_url(url: &str, options: RedisOptions) -> Result<Self> {
        let trimmed = url.trim();
        if trimmed.is_empty() || trimmed == "memory://" || trimmed == "memory" {
            return Ok(Self::default());
        }
        Self::redis(trimmed, options)
    }

    /// `"memory"`, `"redis"` or `"redis-cluster"`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Memory(_) => "memory",
            Self::Redis(r) => r.kind(),
        }
    }

    /// Runs one decision, blocking the calling thread for Redis (at most the
    /// operation timeout). Never call from an async task: use
    /// [`Store::run_async`].
    pub fn run<D: Decision>(&self, decision: D) -> Result<D::Output> {
        match self {
            Self::Memory(m) => m.run(&decision),
            Self::Redis(r) => {
                let r = Arc::clone(r);
                crate::runtime::block_on(async move { r.run(decision).await })?
            }
        }
    }

    /// Runs one decision from async code; the returned future can be awaited by
    /// any executor.
    pub async fn run_async<D: Decision>(&self, decision: D) -> Result<D::Output> {
        match self {
            Self::Memory(m) => m.run(&decision),
            Self::Redis(r) => {
                let r = Arc::clone(r);
                crate::runtime::run(async move { r.run(decision).await }).await?
            }
        }
    }

    /// One `PING` round trip (zero for memory): how long it took.
    pub fn ping(&self) -> Result<Duration> {
        match self {
            Self::Memory(_) => Ok(Duration::ZERO),
            Self::Redis(r) => {
                let r = Arc::clone(r);
                crate::runtime::block_on(async move { r.ping().await })?
            }
        }
    }

    /// Async [`Store::ping`].
    pub async fn ping_async(&self) -> Result<Duration> {
        match self {
            Self::Memory(_) => Ok(Duration::ZERO),
            Self::Redis(r) => {
                let r = Arc::clone(r);
                crate::runtime::run(async move { r.ping().await }).await?
            }
        }
    }

    /// The bound on one Redis operation (zero for memory).
    #[must_use]
    pub fn timeout(&self) -> Duration {
        match self {
            Self::Memory(_) => Duration::ZERO,
            Self::Redis(r) => r.timeout(),
        }
    }

    /// The clock decisions are timed by: the memory store's, the Redis store's
    /// explicit test clock, else the system clock (Redis itself then uses its
    /// own `TIME`, which this only approximates).
    #[must_use]
    pub fn clock(&self) -> crate::clock::SharedClock {
        match self {
            Self::Memory(m) => Arc::clone(m.clock()),
            Self::Redis(r) => r.clock().cloned().unwrap_or_else(crate::clock::system),
        }
    }

    /// The Redis store, when this is one.
    #[must_use]
    pub fn as_redis(&self) -> Option<&Arc<RedisStore>> {
        match self {
            Self::Memory(_) => None,
            Self::Redis(r) => Some(r),
        }
    }

    /// The memory store, when this is one.
    #[must_use]
    pub fn as_memory(&self) -> Option<&Arc<MemoryStore>> {
        match self {
            Self::Memory(m) => Some(m),
            Self::Redis(_) => None,
        }
    }
}

impl crate::metrics::Observe for MemoryStore {
    fn observe(self: Arc<Self>, out: &mut crate::metrics::Snapshot) {
        if self.fallback {
            out.fallback_stores.push(Store::Memory(self));
            return;
        }
        out.stores.push(Store::Memory(self));
    }
}

impl crate::metrics::Observe for RedisStore {
    fn observe(self: Arc<Self>, out: &mut crate::metrics::Snapshot) {
        out.stores.push(Store::Redis(self));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_escaped_and_bounded() {
        assert_eq!(tagged_key("rev", "alice", "nbf"), "rev:{alice}:nbf");
        assert_eq!(hash_tag("rev:{alice}:nbf"), "alice");
        // A subject cannot end the tag early or smuggle another one.
        let k = tagged_key("rev", "a}b{c", "x");
        assert_eq!(hash_tag(&k), "a%7Db%7Bc");
        let k = tagged_key("rev", "é %", "");
        assert_eq!(k, "rev:{%C3%A9%20%25}");
        let long = "x".repeat(200);
        let k = tagged_key("rev", &long, "n");
        assert!(k.len() < 90, "{k}");
        assert_ne!(
            tagged_key("rev", &long, "n"),
            tagged_key("rev", &"x".repeat(201), "n")
        );
        // Two different subjects never share an escaped form.
        assert_ne!(tagged_key("r", "%7D", ""), tagged_key("r", "}", ""));
        assert_eq!(hash_tag("plain"), "plain");
        assert_eq!(hash_tag("a{}b"), "a{}b");
    }

    #[test]
    fn outage_policy_names() {
        for p in [
            OutagePolicy::FailClosed,
            OutagePolicy::FailOpen,
            OutagePolicy::Local,
        ] {
            assert_eq!(OutagePolicy::parse(p.name()).unwrap(), p);
        }
        assert_eq!(
            OutagePolicy::parse("fail-closed").unwrap(),
            OutagePolicy::FailClosed
        );
        assert!(OutagePolicy::parse("maybe").is_err());
    }
}
