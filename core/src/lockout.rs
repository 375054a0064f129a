//! Account lockout: failed logins counted per username, IP address, user agent
//! or a combination of them, with django-axes' settings and semantics, kept in
//! a [`Store`] so every process pointed at one Redis shares the counts.
//!
//! A [`Lockout`] counts failures under one or more *keys* per attempt, one per
//! configured parameter group ([`LockoutOptions::parameters`], axes'
//! `AXES_LOCKOUT_PARAMETERS`: `[["username"], ["ip_address"]]` counts per
//! username and, separately, per IP address; `[["username", "ip_address"]]`
//! per pair). Guarantees:
//!
//! - **One atomic decision per failure.** [`Lockout::record_failure`] updates
//!   every key of the attempt in one Lua script (one round trip) or one memory
//!   critical section and returns the new [`LockoutState`]: of N concurrent
//!   failures exactly `failure_limit` are counted before the lock, with no
//!   lost update. All keys of one lockout share the hash tag `{<name>}`, so a
//!   lockout lives in one Redis Cluster slot (one node serves it).
//! - **axes' cool-off.** A key's failures expire `cooloff` after its last
//!   failure. The failure that brings a key to `failure_limit` locks it until
//!   now + the cool-off (progressive: `cooloff × factor^(strikes-1)`, at most
//!   `max_cooloff`, strikes remembered `memory` after a lock ends). A failure
//!   during a lock restarts the cool-off (`extend_on_failure`, axes'
//!   `AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT`, default true) and is
//!   counted up to `max_failures` (counters never grow past it). When a lock
//!   ends its failures start from 0. No lock is permanent.
//! - **Reads never write.** [`Lockout::check`] only reads.
//! - **Success resets the user, not the network.** [`Lockout::record_success`]
//!   resets the keys of the groups that contain `username` (with
//!   `reset_on_success`, the default): someone who owns one account cannot wipe
//!   the failures counted against their IP address by logging in to it.
//! - **Normalised, bounded input.** Usernames are stripped of surrounding
//!   whitespace and lower-cased (Unicode); an empty value is absent, and a
//!   group with an absent value is skipped for that attempt, so no shared `""`
//!   key can lock everybody. Values are percent-encoded into key names, and a
//!   value longer than 96 encoded bytes is replaced by its SHA-256, so keys
//!   stay bounded whatever a client sends.
//! - **Admin.** [`Lockout::unlock`] removes the keys that apply to a username,
//!   an IP address, or a user at an IP (combination keys included, found
//!   through bounded per-value indexes); [`Lockout::locked`] lists the locks
//!   in force from an index, in pages (never `KEYS` or `SCAN`).
//! - **Events.** A lock emits [`Event::LockedOut`] (identifiers only: the
//!   lockout, the parameters, username and IP address; never a password), an
//!   unlock [`Event::Unlocked`], an outage [`Event::StoreUnavailable`].
//! - **Outages.** When the store cannot answer, [`LockoutOptions::outage_policy`]
//!   decides: `Local` (the default) counts in this process's own memory
//!   until Redis is back, so brute force stays bounded per process and logins
//!   keep working; `FailClosed` refuses with `STORE_UNAVAILABLE`; `FailOpen`
//!   answers "not locked" without counting.
//! - **Uniform answers.** [`Lockout::login`] checks the lock, verifies the
//!   password against the stored hash or, for an unknown user, against a
//!   fixed dummy hash of the same hasher (the same work, so the same time),
//!   counts the failure under the submitted username whether it exists or not,
//!   and gives one failure for an unknown user and a wrong password alike.
//!
//! ## Keys in the store
//!
//! Under the tag `{<name>}` (escaped by [`tagged_key`]):
//! - `lockout:{<name>}:s:<group>|<value>[|<value>...]`: a key's state, a hash
//!   `f` (failures), `lf` (last failure, µs), `lu` (locked until, µs), `n`
//!   (strikes). It lives until its failures expire, its lock ends, or its
//!   strikes are forgotten, whichever is last.
//! - `lockout:{<name>}:locked`: the locks in force, a sorted set of members
//!   (`<group>|<values>`) scored by their end (µs), at most 100,000.
//! - `lockout:{<name>}:u:<username>` and `lockout:{<name>}:i:<ip>`: the
//!   combination keys holding a username or an IP address (groups such as
//!   `username+user_agent`), scored by their end, at most 1,000 per value;
//!   what [`Lockout::unlock`] reads to find them.

use crate::clock::{self, SharedClock};
use crate::error::{err, Detail, Error, ErrorKind, Result};
use crate::events::{Event, Listeners};
use crate::password::{self, Encoding, PasswordHasher, Scheme};
use crate::store::{
    tagged_key, Decision, MemoryOptions, OutagePolicy, Reply, ScoreSet, Script, Store, Txn, Value,
};
use crate::timespan::micros;
use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::Duration;

const KIND: &str = "lockout";
/// The longest encoded value kept in a key name; longer ones are digested.
const MAX_VALUE_LEN: usize = 96;
/// Values longer than this are digested before they are normalised.
const MAX_RAW_LEN: usize = 4096;
/// The most members of the index of locks in force.
const LOCKED_CAP: usize = 100_000;
/// The most combination keys indexed under one username or IP address.
const INDEX_CAP: usize = 1_000;
/// How many locks one listing round trip reads.
const LIST_PAGE: usize = 256;
/// The most strikes remembered (a progressive cool-off reaches its cap long before).
const MAX_STRIKES: i64 = 64;
/// The longest cool-off, lock or strike memory accepted: 366 days.
const MAX_SPAN: Duration = Duration::from_secs(366 * 86_400);
/// The most keys the local outage store holds.
const LOCAL_KEYS: usize = 100_000;

/// `store::script!` for a module at `core/src/` (the macro's paths are
/// relative to the file that uses it): the prelude, the lockout's library and
/// the script.
macro_rules! lockout_script {
    ($name:literal) => {
        Script::new(
            $name,
            concat!(
                include_str!("store/scripts/prelude.lua"),
                include_str!("store/scripts/lockout_lib.lua"),
                include_str!(concat!("store/scripts/", $name, ".lua"))
            ),
        )
    };
}

static FAILURE: Script = lockout_script!("lockout_failure");
static CHECK: Script = lockout_script!("lockout_check");
static RESET: Script = lockout_script!("lockout_reset");
static INDEX: Script = lockout_script!("lockout_index");
static LIST: Script = lockout_script!("lockout_list");

/// What a lockout key is made of: django-axes' lockout parameter names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Param {
    /// The submitted username, normalised (stripped, lower-cased).
    Username,
    /// The client's IP address (resolve it with [`crate::netaddr`]).
    IpAddress,
    /// The client's `User-Agent`.
    UserAgent,
}

impl Param {
    /// Parses `"username"`, `"ip_address"` (or `"ip"`) or `"user_agent"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "username" => Ok(Self::Username),
            "ip_address" | "ip" => Ok(Self::IpAddress),
            "user_agent" => Ok(Self::UserAgent),
            _ => Err(err!(
                InvalidArgument,
                "unknown lockout parameter {name:?}: expected \"username\", \"ip_address\" or \
                 \"user_agent\""
            )),
        }
    }

    /// axes' name: `"username"`, `"ip_address"` or `"user_agent"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::IpAddress => "ip_address",
            Self::UserAgent => "user_agent",
        }
    }
}

/// A parameter group's name: its parameters joined by `+` (`"username+ip_address"`).
#[must_use]
pub fn group_name(group: &[Param]) -> String {
    let names: Vec<&str> = group.iter().map(|p| p.name()).collect();
    names.join("+")
}

/// A progressive cool-off: each lockout of a key within `memory` of the
/// previous one lasts `factor` times longer, up to `max_cooloff`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progressive {
    /// The growth per strike (1 to 1000; default 2).
    pub factor: f64,
    /// The longest lock (default one day).
    pub max_cooloff: Duration,
    /// How long strikes are remembered after a lock ends (default one day).
    pub memory: Duration,
}

impl Default for Progressive {
    fn default() -> Self {
        Self {
            factor: 2.0,
            max_cooloff: Duration::from_secs(86_400),
            memory: Duration::from_secs(86_400),
        }
    }
}

/// Options of a [`Lockout`]. The defaults lock a username or an IP address
/// for one hour after 10 failures; axes' "5 failures, 30 minutes" is
/// `failure_limit: 5, cooloff: 1800 s`.
#[derive(Clone)]
pub struct LockoutOptions {
    /// The lockout's name, `[A-Za-z0-9_.-]{1,64}` (default `"login"`): its
    /// keys' hash tag. Lockouts with different names count apart.
    pub name: String,
    /// Failures that lock a key (default 10; axes' `AXES_FAILURE_LIMIT`).
    pub failure_limit: u32,
    /// How long failures are remembered after the last one, and how long a
    /// lock lasts (default one hour; axes' `AXES_COOLOFF_TIME`).
    pub cooloff: Duration,
    /// The parameter groups, one key each (axes' `AXES_LOCKOUT_PARAMETERS`;
    /// default `[[Username], [IpAddress]]`).
    pub parameters: Vec<Vec<Param>>,
    /// A success resets the keys of the groups containing `Username` (default
    /// true; axes' `AXES_RESET_ON_SUCCESS`).
    pub reset_on_success: bool,
    /// A progressive cool-off (default none: every lock lasts `cooloff`).
    pub progressive: Option<Progressive>,
    /// Counters stop growing here (default 1000; at least `failure_limit`).
    pub max_failures: u32,
    /// A failure during a lock restarts its cool-off (default true; axes'
    /// `AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT`).
    pub extend_on_failure: bool,
    /// What to do when the store cannot answer (default `Local`).
    pub outage_policy: OutagePolicy,
    /// The clock of the local outage store (default: the system clock). The
    /// lockout's times otherwise come from its store's clock.
    pub clock: SharedClock,
}

impl Default for LockoutOptions {
    fn default() -> Self {
        Self {
            name: "login".to_owned(),
            failure_limit: 10,
            cooloff: Duration::from_secs(3600),
            parameters: vec![vec![Param::Username], vec![Param::IpAddress]],
            reset_on_success: true,
            progressive: None,
            max_failures: 1000,
            extend_on_failure: true,
            outage_policy: OutagePolicy::Local,
            clock: clock::system(),
        }
    }
}

impl fmt::Debug for LockoutOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let groups: Vec<String> = self.parameters.iter().map(|g| group_name(g)).collect();
        f.debug_struct("LockoutOptions")
            .field("name", &self.name)
            .field("failure_limit", &self.failure_limit)
            .field("cooloff", &self.cooloff)
            .field("parameters", &groups)
            .field("reset_on_success", &self.reset_on_success)
            .field("progressive", &self.progressive)
            .field("max_failures", &self.max_failures)
            .field("extend_on_failure", &self.extend_on_failure)
            .field("outage_policy", &self.outage_policy)
            .finish_non_exhaustive()
    }
}

/// One login attempt's identifiers, normalised when made (never a password).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Attempt {
    username: Option<String>,
    ip_address: Option<String>,
    user_agent: Option<String>,
}

impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempt")
            .field("username", &self.username)
            .field("ip_address", &self.ip_address)
            .field("user_agent_len", &self.user_agent.as_ref().map(String::len))
            .finish()
    }
}

/// A normalised value over [`MAX_RAW_LEN`] bytes, replaced by its digest so
/// an attempt holds little whatever a client sent.
fn bounded(value: String) -> String {
    if value.len() > MAX_RAW_LEN {
        format!("#{}", digest_hex(&value))
    } else {
        value
    }
}

fn digest_hex(value: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
    d.as_ref()[..16]
        .iter()
        .fold(String::with_capacity(32), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl Attempt {
    /// An attempt from what the request carried. The username is stripped of
    /// surrounding whitespace and lower-cased; an IP address is written in
    /// its canonical form when it parses as one (IPv4-mapped IPv6 as IPv4);
    /// the user agent is stripped. Empty values are absent.
    #[must_use]
    pub fn new(username: Option<&str>, ip_address: Option<&str>, user_agent: Option<&str>) -> Self {
        let username = username
            .map(|u| bounded(u.trim().to_lowercase()))
            .filter(|u| !u.is_empty());
        let ip_address = ip_address
            .map(|ip| {
                let ip = ip.trim();
                bounded(
                    ip.parse::<std::net::IpAddr>()
                        .map_or_else(|_| ip.to_owned(), |a| a.to_canonical().to_string()),
                )
            })
            .filter(|ip| !ip.is_empty());
        let user_agent = user_agent
            .map(|ua| bounded(ua.trim().to_owned()))
            .filter(|ua| !ua.is_empty());
        Self {
            username,
            ip_address,
            user_agent,
        }
    }

    /// The normalised username.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The IP address.
    #[must_use]
    pub fn ip_address(&self) -> Option<&str> {
        self.ip_address.as_deref()
    }

    /// The user agent.
    #[must_use]
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    fn value(&self, p: Param) -> Option<&str> {
        match p {
            Param::Username => self.username(),
            Param::IpAddress => self.ip_address(),
            Param::UserAgent => self.user_agent(),
        }
    }
}

/// A value as it appears in a key name: percent-encoded (only
/// `A-Za-z0-9-._~@:` kept as is), or `#` and a SHA-256 prefix when longer
/// than 96 bytes encoded.
fn encode_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@:".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
        if out.len() > MAX_VALUE_LEN {
            return format!("#{}", digest_hex(value));
        }
    }
    out
}

/// The readable form of an encoded value (a digested one stays `#<hex>`).
fn decode_value(encoded: &str) -> String {
    if encoded.starts_with('#') {
        return encoded.to_owned();
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(b) = encoded
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A key's member: `<group>|<encoded value>|...`, also its state key's name.
fn member_of(group: &[Param], values: &[String]) -> String {
    let mut m = group_name(group);
    for v in values {
        m.push('|');
        m.push_str(v);
    }
    m
}

/// A member read back: its group and encoded values (`None` if malformed).
fn parse_member(member: &str) -> Option<(Vec<Param>, Vec<String>)> {
    let mut parts = member.split('|');
    let group = parts
        .next()?
        .split('+')
        .map(|p| Param::parse(p).ok())
        .collect::<Option<Vec<_>>>()?;
    let values: Vec<String> = parts.map(str::to_owned).collect();
    (values.len() == group.len() && !group.is_empty()).then_some((group, values))
}

/// A lockout's state for one attempt: the worst of its keys.
#[derive(Debug, Clone, PartialEq)]
pub struct LockoutState {
    /// True while a key of the attempt is locked.
    pub locked: bool,
    /// Whole seconds until the lock ends, rounded up (0 when not locked).
    pub retry_after: u64,
    /// When the lock ends, seconds since the epoch (store time).
    pub locked_until: Option<f64>,
    /// Failures counted on the worst key (the locked one that ends last, else
    /// the one with the most failures).
    pub failures: u32,
    /// Failures the worst key may still take before it locks (0 when locked).
    pub remaining: u32,
    /// The parameter group of the worst key (empty when the attempt carried
    /// none of the configured parameters).
    pub parameters: Vec<Param>,
}

impl LockoutState {
    fn open(limit: u32) -> Self {
        Self {
            locked: false,
            retry_after: 0,
            locked_until: None,
            failures: 0,
            remaining: limit,
            parameters: Vec::new(),
        }
    }

    /// The `ACCOUNT_LOCKED` error for a locked state (with its retry-after),
    /// the same whatever the username; `None` when not locked.
    #[must_use]
    pub fn error(&self) -> Option<Error> {
        self.locked.then(|| {
            Error::new(
                ErrorKind::AccountLocked,
                "too many failed attempts: try again later",
            )
            .with_detail(Detail::RetryAfter(self.retry_after as f64))
        })
    }
}

/// A lock in force, as [`Lockout::locked`] lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct LockedEntry {
    /// The key's parameter group.
    pub parameters: Vec<Param>,
    /// Its values, in the group's order (a value over 96 bytes shows as
    /// `#<digest>`).
    pub values: Vec<String>,
    /// When the lock ends, seconds since the epoch (store time).
    pub locked_until: f64,
    /// Whole seconds until then, rounded up.
    pub retry_after: u64,
}

impl LockedEntry {
    /// The value of `param`, when the key has one.
    #[must_use]
    pub fn value(&self, param: Param) -> Option<&str> {
        self.parameters
            .iter()
            .position(|p| *p == param)
            .and_then(|i| self.values.get(i))
            .map(String::as_str)
    }
}

/// The rule's numbers, in microseconds.
#[derive(Debug, Clone, Copy)]
struct Policy {
    limit: i64,
    cooloff: i64,
    max_failures: i64,
    extend: bool,
    factor: f64,
    cap: i64,
    memory: i64,
}

impl Policy {
    fn of(o: &LockoutOptions) -> Self {
        let p = o.progressive.unwrap_or(Progressive {
            factor: 1.0,
            max_cooloff: o.cooloff,
            memory: Duration::ZERO,
        });
        Self {
            limit: i64::from(o.failure_limit),
            cooloff: micros(o.cooloff),
            max_failures: i64::from(o.max_failures),
            extend: o.extend_on_failure,
            factor: p.factor,
            cap: micros(p.max_cooloff),
            memory: if o.progressive.is_some() {
                micros(p.memory)
            } else {
                0
            },
        }
    }

    /// The lock of the `n`-th strike: the same arithmetic as `lockout_duration`
    /// in `lockout_lib.lua`.
    fn duration(&self, n: i64) -> i64 {
        let cap = self.cap as f64;
        let mut d = self.cooloff as f64;
        for _ in 2..=n {
            d *= self.factor;
            if d >= cap {
                return self.cap;
            }
        }
        if d > cap {
            self.cap
        } else {
            d.floor() as i64
        }
    }
}

/// What one key looks like after a decision.
#[derive(Debug, Clone, Copy, Default)]
struct KeyOutcome {
    locked: bool,
    locked_until: i64,
    failures: i64,
    started: bool,
}

/// One key of an attempt.
#[derive(Debug, Clone)]
struct KeyRef {
    group: Vec<Param>,
    member: String,
    state: String,
    by_username: Option<String>,
    by_ip: Option<String>,
}

/// Counts failed logins and locks keys. See the module docs.
pub struct Lockout {
    store: Store,
    /// This process's memory, for the `Local` outage policy on a Redis store.
    local: Option<Store>,
    options: LockoutOptions,
    policy: Policy,
    listeners: Listeners,
}

impl fmt::Debug for Lockout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lockout")
            .field("store", &self.store)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn check_options(o: &mut LockoutOptions) -> Result<()> {
    let name_ok = !o.name.is_empty()
        && o.name.len() <= 64
        && o.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !name_ok {
        return Err(err!(
            InvalidArgument,
            "a lockout name is 1 to 64 characters from A-Z, a-z, 0-9, '_', '.' and '-'"
        ));
    }
    if o.max_failures == 0 || o.max_failures > 1_000_000 {
        return Err(err!(
            InvalidArgument,
            "max_failures must be between 1 and 1000000"
        ));
    }
    if o.failure_limit == 0 || o.failure_limit > o.max_failures {
        return Err(err!(
            InvalidArgument,
            "failure_limit must be between 1 and max_failures ({})",
            o.max_failures
        ));
    }
    if o.cooloff < Duration::from_secs(1) || o.cooloff > MAX_SPAN {
        return Err(err!(
            InvalidArgument,
            "cooloff must be between 1 second and 366 days"
        ));
    }
    if let Some(p) = o.progressive {
        if !(p.factor.is_finite() && (1.0..=1000.0).contains(&p.factor)) {
            return Err(err!(
                InvalidArgument,
                "the progressive factor must be between 1 and 1000"
            ));
        }
        if p.max_cooloff < o.cooloff || p.max_cooloff > MAX_SPAN || p.memory > MAX_SPAN {
            return Err(err!(
                InvalidArgument,
                "the progressive max_cooloff must be between cooloff and 366 days, and its memory \
                 at most 366 days"
            ));
        }
    }
    let mut groups: Vec<Vec<Param>> = Vec::new();
    for g in &o.parameters {
        let set: BTreeSet<Param> = g.iter().copied().collect();
        let g: Vec<Param> = set.into_iter().collect();
        if g.is_empty() {
            return Err(err!(InvalidArgument, "a lockout parameter group is empty"));
        }
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    if groups.is_empty() || groups.len() > 8 {
        return Err(err!(
            InvalidArgument,
            "a lockout needs 1 to 8 parameter groups"
        ));
    }
    o.parameters = groups;
    Ok(())
}

fn round_up_secs(us: i64) -> u64 {
    u64::try_from(us.max(0)).unwrap_or(0).div_ceil(1_000_000)
}

impl Lockout {
    /// A lockout keeping its counts in `store`. `INVALID_ARGUMENT` for options
    /// out of bounds (see [`LockoutOptions`]).
    pub fn new(store: Store, mut options: LockoutOptions) -> Result<Self> {
        check_options(&mut options)?;
        let local = (options.outage_policy == OutagePolicy::Local && store.as_memory().is_none())
            .then(|| {
                Store::fallback_memory(MemoryOptions {
                    max_keys: LOCAL_KEYS,
                    shards: 16,
                    clock: Arc::clone(&options.clock),
                })
            });
        Ok(Self {
            store,
            local,
            policy: Policy::of(&options),
            options,
            listeners: Listeners::default(),
        })
    }

    /// The lockout's options (parameter groups in canonical order).
    #[must_use]
    pub fn options(&self) -> &LockoutOptions {
        &self.options
    }

    /// The store the counts are kept in.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The listeners that receive the lockout's events.
    #[must_use]
    pub fn listeners(&self) -> &Listeners {
        &self.listeners
    }

    fn key(&self, name: &str) -> String {
        tagged_key(KIND, &self.options.name, name)
    }

    fn locked_index(&self) -> String {
        self.key("locked")
    }

    fn username_index(&self, encoded: &str) -> String {
        self.key(&format!("u:{encoded}"))
    }

    fn ip_index(&self, encoded: &str) -> String {
        self.key(&format!("i:{encoded}"))
    }

    fn key_ref(&self, group: &[Param], values: Vec<String>) -> KeyRef {
        let member = member_of(group, &values);
        let combined = group.len() > 1;
        let find = |p: Param| {
            group
                .iter()
                .position(|g| *g == p)
                .filter(|_| combined)
                .map(|i| values[i].clone())
        };
        KeyRef {
            group: group.to_vec(),
            state: self.key(&format!("s:{member}")),
            by_username: find(Param::Username).map(|v| self.username_index(&v)),
            by_ip: find(Param::IpAddress).map(|v| self.ip_index(&v)),
            member,
        }
    }

    /// The keys of `attempt`: one per group whose values it all carries.
    fn keys_of(&self, attempt: &Attempt, only_users: bool) -> Vec<KeyRef> {
        self.options
            .parameters
            .iter()
            .filter(|g| !only_users || g.contains(&Param::Username))
            .filter_map(|g| {
                let values = g
                    .iter()
                    .map(|p| attempt.value(*p).map(encode_value))
                    .collect::<Option<Vec<_>>>()?;
                Some(self.key_ref(g, values))
            })
            .collect()
    }

    fn state_of(&self, keys: &[KeyRef], now: i64, outcomes: &[KeyOutcome]) -> LockoutState {
        // The locked key that ends last, else the one with the most failures;
        // on a tie the first group in the configured order.
        let rank = |o: &KeyOutcome| (o.locked, if o.locked { o.locked_until } else { o.failures });
        let mut worst: Option<(&KeyRef, &KeyOutcome)> = None;
        for (k, o) in keys.iter().zip(outcomes) {
            if worst.is_none_or(|(_, w)| rank(o) > rank(w)) {
                worst = Some((k, o));
            }
        }
        let Some((key, o)) = worst else {
            return LockoutState::open(self.options.failure_limit);
        };
        let failures = u32::try_from(o.failures.max(0)).unwrap_or(u32::MAX);
        LockoutState {
            locked: o.locked,
            retry_after: if o.locked {
                round_up_secs(o.locked_until - now)
            } else {
                0
            },
            locked_until: o.locked.then(|| o.locked_until as f64 / 1_000_000.0),
            failures,
            remaining: if o.locked {
                0
            } else {
                self.options.failure_limit.saturating_sub(failures)
            },
            parameters: key.group.clone(),
        }
    }

    fn outage(&self) {
        self.listeners.emit(&Event::StoreUnavailable {
            component: "lockout",
            policy: self.options.outage_policy.name(),
        });
    }

    /// Applies the outage policy to a decision's outcome: `Ok(Some)` is an
    /// answer, `Ok(None)` means "run it on the local store", `Err` fails.
    fn on_outage<T>(&self, outcome: Result<T>, open: impl FnOnce() -> T) -> Result<Option<T>> {
        match outcome {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == ErrorKind::StoreUnavailable => {
                self.outage();
                match self.options.outage_policy {
                    OutagePolicy::FailOpen => Ok(Some(open())),
                    OutagePolicy::Local if self.local.is_some() => Ok(None),
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn run_local<D: Decision>(&self, d: D) -> Result<D::Output> {
        match &self.local {
            Some(local) => local.run(d),
            None => Err(err!(Internal, "no local store for the outage policy")),
        }
    }

    // ---- check -----------------------------------------------------------------

    fn check_decision(&self, attempt: &Attempt) -> (Vec<KeyRef>, CheckKeys) {
        let keys = self.keys_of(attempt, false);
        let d = CheckKeys {
            keys: keys.iter().map(|k| k.state.clone()).collect(),
            policy: self.policy,
        };
        (keys, d)
    }

    fn finish_check(&self, keys: &[KeyRef], read: Read) -> LockoutState {
        self.state_of(keys, read.now, &read.outcomes)
    }

    /// The attempt's state, without counting anything (one read).
    pub fn check(&self, attempt: &Attempt) -> Result<LockoutState> {
        let (keys, d) = self.check_decision(attempt);
        if keys.is_empty() {
            return Ok(LockoutState::open(self.options.failure_limit));
        }
        let read = match self.on_outage(self.store.run(d.clone()), || Read::open(&keys))? {
            Some(r) => r,
            None => self.run_local(d)?,
        };
        Ok(self.finish_check(&keys, read))
    }

    /// Async [`Lockout::check`].
    pub async fn check_async(&self, attempt: &Attempt) -> Result<LockoutState> {
        let (keys, d) = self.check_decision(attempt);
        if keys.is_empty() {
            return Ok(LockoutState::open(self.options.failure_limit));
        }
        let read =
            match self.on_outage(self.store.run_async(d.clone()).await, || Read::open(&keys))? {
                Some(r) => r,
                None => self.run_local(d)?,
            };
        Ok(self.finish_check(&keys, read))
    }

    // ---- failure ---------------------------------------------------------------

    fn failure_decision(&self, attempt: &Attempt) -> (Vec<KeyRef>, RecordFailure) {
        let keys = self.keys_of(attempt, false);
        let d = RecordFailure {
            layout: Layout::of(&keys, self.locked_index()),
            policy: self.policy,
        };
        (keys, d)
    }

    fn finish_failure(&self, attempt: &Attempt, keys: &[KeyRef], read: &Read) -> LockoutState {
        crate::metrics::LOCKOUT_FAILURES.add(&[&self.options.name], 1);
        for (k, o) in keys.iter().zip(&read.outcomes) {
            if o.started {
                self.listeners.emit(&Event::LockedOut {
                    lockout: self.options.name.clone(),
                    parameters: group_name(&k.group),
                    username: attempt.username().map(display_value),
                    ip_address: attempt.ip_address().map(display_value),
                    retry_after: round_up_secs(o.locked_until - read.now),
                });
            }
        }
        self.state_of(keys, read.now, &read.outcomes)
    }

    /// Counts one failed attempt against every key of `attempt`, atomically
    /// (one round trip), and returns the new state: locked when this or an
    /// earlier failure locked a key. Emits [`Event::LockedOut`] for each key
    /// this failure locked.
    pub fn record_failure(&self, attempt: &Attempt) -> Result<LockoutState> {
        let (keys, d) = self.failure_decision(attempt);
        if keys.is_empty() {
            return Ok(LockoutState::open(self.options.failure_limit));
        }
        let read = match self.on_outage(self.store.run(d.clone()), || Read::open(&keys))? {
            Some(r) => r,
            None => self.run_local(d)?,
        };
        Ok(self.finish_failure(attempt, &keys, &read))
    }

    /// Async [`Lockout::record_failure`].
    pub async fn record_failure_async(&self, attempt: &Attempt) -> Result<LockoutState> {
        let (keys, d) = self.failure_decision(attempt);
        if keys.is_empty() {
            return Ok(LockoutState::open(self.options.failure_limit));
        }
        let read =
            match self.on_outage(self.store.run_async(d.clone()).await, || Read::open(&keys))? {
                Some(r) => r,
                None => self.run_local(d)?,
            };
        Ok(self.finish_failure(attempt, &keys, &read))
    }

    // ---- success ---------------------------------------------------------------

    fn success_decision(&self, attempt: &Attempt) -> Option<Remove> {
        if !self.options.reset_on_success {
            return None;
        }
        let keys = self.keys_of(attempt, true);
        (!keys.is_empty()).then(|| Remove {
            layout: Layout::of(&keys, self.locked_index()),
            cooloff: self.policy.cooloff,
        })
    }

    /// A successful login: resets the failures (and any lock) of the keys of
    /// the groups that contain `username` (with `reset_on_success`); the keys
    /// of other groups, such as the IP address's, keep their failures.
    pub fn record_success(&self, attempt: &Attempt) -> Result<()> {
        let Some(d) = self.success_decision(attempt) else {
            return Ok(());
        };
        if self
            .on_outage(self.store.run(d.clone()), Removed::default)?
            .is_none()
        {
            self.run_local(d)?;
        }
        Ok(())
    }

    /// Async [`Lockout::record_success`].
    pub async fn record_success_async(&self, attempt: &Attempt) -> Result<()> {
        let Some(d) = self.success_decision(attempt) else {
            return Ok(());
        };
        if self
            .on_outage(self.store.run_async(d.clone()).await, Removed::default)?
            .is_none()
        {
            self.run_local(d)?;
        }
        Ok(())
    }

    // ---- unlock ----------------------------------------------------------------

    fn unlock_plan(
        &self,
        username: Option<&str>,
        ip_address: Option<&str>,
    ) -> Result<(Attempt, Option<String>, Option<String>, ReadIndexes)> {
        let attempt = Attempt::new(username, ip_address, None);
        if attempt.username().is_none() && attempt.ip_address().is_none() {
            return Err(err!(
                InvalidArgument,
                "unlock needs a username, an IP address or both"
            ));
        }
        let u = attempt.username().map(encode_value);
        let ip = attempt.ip_address().map(encode_value);
        let mut indexes = Vec::new();
        if let Some(u) = &u {
            indexes.push(self.username_index(u));
        }
        if let Some(ip) = &ip {
            indexes.push(self.ip_index(ip));
        }
        Ok((attempt, u, ip, ReadIndexes { keys: indexes }))
    }

    /// The keys an unlock removes: those whose group holds a given parameter,
    /// every given parameter it holds matching.
    fn unlock_keys(&self, u: Option<&str>, ip: Option<&str>, found: Vec<String>) -> Vec<KeyRef> {
        let matches = |group: &[Param], values: &[String]| {
            let mut any = false;
            for (p, v) in group.iter().zip(values) {
                let want = match p {
                    Param::Username => u,
                    Param::IpAddress => ip,
                    Param::UserAgent => None,
                };
                if let Some(w) = want {
                    if w != v {
                        return false;
                    }
                    any = true;
                }
            }
            any
        };
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let direct = self.options.parameters.iter().filter_map(|g| {
            g.iter()
                .map(|p| match p {
                    Param::Username => u.map(str::to_owned),
                    Param::IpAddress => ip.map(str::to_owned),
                    Param::UserAgent => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(|values| (g.clone(), values))
        });
        let indexed = found.iter().filter_map(|m| parse_member(m));
        for (group, values) in direct.chain(indexed) {
            if matches(&group, &values) {
                let k = self.key_ref(&group, values);
                if seen.insert(k.member.clone()) {
                    out.push(k);
                }
            }
        }
        out
    }

    fn finish_unlock(&self, attempt: &Attempt, removed: &Removed) -> usize {
        let count = removed.live;
        if count > 0 {
            self.listeners.emit(&Event::Unlocked {
                lockout: self.options.name.clone(),
                username: attempt.username().map(display_value),
                ip_address: attempt.ip_address().map(display_value),
                removed: count,
            });
        }
        count
    }

    fn removal(&self, keys: &[KeyRef]) -> Option<Remove> {
        (!keys.is_empty()).then(|| Remove {
            layout: Layout::of(keys, self.locked_index()),
            cooloff: self.policy.cooloff,
        })
    }

    /// Removes every key that applies to `username`, to `ip_address`, or (both
    /// given) to that user at that address: the keys whose group holds a given
    /// parameter and whose values match every given one (combination keys such
    /// as `username+user_agent` included). Returns how many keys held failures
    /// or a lock, and emits [`Event::Unlocked`] when there were any. Needs the
    /// store (two round trips); the local outage store is cleared too.
    pub fn unlock(&self, username: Option<&str>, ip_address: Option<&str>) -> Result<usize> {
        let (attempt, u, ip, read) = self.unlock_plan(username, ip_address)?;
        if let Some(local) = &self.local {
            let found = local.run(read.clone())?;
            let keys = self.unlock_keys(u.as_deref(), ip.as_deref(), found);
            if let Some(d) = self.removal(&keys) {
                local.run(d)?;
            }
        }
        let found = self.store.run(read)?;
        let keys = self.unlock_keys(u.as_deref(), ip.as_deref(), found);
        let removed = match self.removal(&keys) {
            Some(d) => self.store.run(d)?,
            None => Removed::default(),
        };
        Ok(self.finish_unlock(&attempt, &removed))
    }

    /// Async [`Lockout::unlock`].
    pub async fn unlock_async(
        &self,
        username: Option<&str>,
        ip_address: Option<&str>,
    ) -> Result<usize> {
        let (attempt, u, ip, read) = self.unlock_plan(username, ip_address)?;
        if let Some(local) = &self.local {
            let found = local.run(read.clone())?;
            let keys = self.unlock_keys(u.as_deref(), ip.as_deref(), found);
            if let Some(d) = self.removal(&keys) {
                local.run(d)?;
            }
        }
        let found = self.store.run_async(read).await?;
        let keys = self.unlock_keys(u.as_deref(), ip.as_deref(), found);
        let removed = match self.removal(&keys) {
            Some(d) => self.store.run_async(d).await?,
            None => Removed::default(),
        };
        Ok(self.finish_unlock(&attempt, &removed))
    }

    // ---- listing ---------------------------------------------------------------

    fn list_page(&self, offset: usize, limit: usize) -> ListLocked {
        ListLocked {
            index: self.locked_index(),
            offset,
            count: LIST_PAGE.min(limit - offset),
        }
    }

    /// Appends a page; returns whether another page may follow.
    fn listed(page: Listed, out: &mut Vec<LockedEntry>, asked: usize) -> bool {
        let full = page.entries.len() >= asked;
        for (member, until) in page.entries {
            if let Some((parameters, values)) = parse_member(&member) {
                out.push(LockedEntry {
                    parameters,
                    values: values.iter().map(|v| decode_value(v)).collect(),
                    locked_until: until as f64 / 1_000_000.0,
                    retry_after: round_up_secs(until - page.now),
                });
            }
        }
        full
    }

    /// The locks in force, the soonest to end first, at most `limit` (read
    /// from the index of locks in pages of 256, one round trip each).
    pub fn locked(&self, limit: usize) -> Result<Vec<LockedEntry>> {
        let mut out = Vec::new();
        let mut offset = 0;
        while offset < limit {
            let d = self.list_page(offset, limit);
            let asked = d.count;
            if !Self::listed(self.store.run(d)?, &mut out, asked) {
                break;
            }
            offset += asked;
        }
        Ok(out)
    }

    /// Async [`Lockout::locked`].
    pub async fn locked_async(&self, limit: usize) -> Result<Vec<LockedEntry>> {
        let mut out = Vec::new();
        let mut offset = 0;
        while offset < limit {
            let d = self.list_page(offset, limit);
            let asked = d.count;
            if !Self::listed(self.store.run_async(d).await?, &mut out, asked) {
                break;
            }
            offset += asked;
        }
        Ok(out)
    }

    // ---- the login flow --------------------------------------------------------

    /// One login with uniform answers. Checks the lock first: a locked attempt
    /// counts as a failure (restarting the cool-off with `extend_on_failure`)
    /// and fails with `ACCOUNT_LOCKED` without verifying anything. Otherwise
    /// verifies `password` against `stored` (the user's hash, any format of
    /// [`crate::password`]) or, for an unknown user (`None`), against a fixed
    /// dummy hash made once by `hasher` (the same work, so the same time);
    /// then records the success (`Ok(true)`) or the failure (`Ok(false)` for an
    /// unknown user and a wrong password alike, or `ACCOUNT_LOCKED` when this
    /// failure locked a key). `INVALID_HASH` for a malformed stored hash.
    pub fn login(
        &self,
        attempt: &Attempt,
        password: &[u8],
        stored: Option<&str>,
        hasher: &PasswordHasher,
    ) -> Result<bool> {
        if self.check(attempt)?.locked {
            return Err(locked_error(&self.record_failure(attempt)?));
        }
        if verify_or_burn(password, stored, hasher)? {
            self.record_success(attempt)?;
            return Ok(true);
        }
        let state = self.record_failure(attempt)?;
        match state.error() {
            Some(e) => Err(e),
            None => Ok(false),
        }
    }

    /// Async [`Lockout::login`]: the store calls are awaited and the password
    /// hash runs on the I/O runtime's blocking pool.
    pub async fn login_async(
        &self,
        attempt: &Attempt,
        password: &[u8],
        stored: Option<&str>,
        hasher: &PasswordHasher,
    ) -> Result<bool> {
        if self.check_async(attempt).await?.locked {
            return Err(locked_error(&self.record_failure_async(attempt).await?));
        }
        let (pw, stored_owned, h) = (
            zeroize::Zeroizing::new(password.to_vec()),
            stored.map(str::to_owned),
            hasher.clone(),
        );
        let ok = crate::runtime::spawn_blocking(move || {
            verify_or_burn(&pw, stored_owned.as_deref(), &h)
        })
        .await??;
        if ok {
            self.record_success_async(attempt).await?;
            return Ok(true);
        }
        let state = self.record_failure_async(attempt).await?;
        match state.error() {
            Some(e) => Err(e),
            None => Ok(false),
        }
    }
}

fn locked_error(state: &LockoutState) -> Error {
    state.error().unwrap_or_else(|| {
        // Unlocked between the check and the count: still refused this once.
        Error::new(
            ErrorKind::AccountLocked,
            "too many failed attempts: try again later",
        )
        .with_detail(Detail::RetryAfter(1.0))
    })
}

/// An identifier for an event: readable, bounded (digested over 96 bytes).
fn display_value(v: &str) -> String {
    decode_value(&encode_value(v))
}

/// Verifies against `stored`, or burns one verification of the dummy hash of
/// `hasher` and answers false.
fn verify_or_burn(password: &[u8], stored: Option<&str>, hasher: &PasswordHasher) -> Result<bool> {
    match stored {
        Some(h) => password::verify(h, password),
        None => {
            let dummy = dummy_hash(hasher)?;
            let _ = password::verify(&dummy, password);
            Ok(false)
        }
    }
}

/// A fixed hash made once per hasher configuration (of a random password
/// nobody knows), verified in place of a missing user's hash.
pub fn dummy_hash(hasher: &PasswordHasher) -> Result<Arc<str>> {
    static CACHE: parking_lot::Mutex<Vec<(Scheme, Encoding, Arc<str>)>> =
        parking_lot::Mutex::new(Vec::new());
    let (scheme, encoding) = (*hasher.scheme(), hasher.encoding());
    if let Some((_, _, h)) = CACHE
        .lock()
        .iter()
        .find(|(s, e, _)| *s == scheme && *e == encoding)
    {
        return Ok(Arc::clone(h));
    }
    let mut secret = zeroize::Zeroizing::new([0u8; 24]);
    aws_lc_rs::rand::fill(&mut secret[..])
        .map_err(|_| err!(Internal, "the random generator failed"))?;
    let made: Arc<str> = Arc::from(hasher.hash(&secret[..])?);
    let mut cache = CACHE.lock();
    if cache.len() >= 16 {
        cache.remove(0);
    }
    cache.push((scheme, encoding, Arc::clone(&made)));
    Ok(made)
}

// ---- the decisions ---------------------------------------------------------------

/// What a decision over state keys read back.
#[derive(Debug, Clone)]
struct Read {
    now: i64,
    outcomes: Vec<KeyOutcome>,
}

impl Read {
    /// "Nothing counted": the fail-open answer.
    fn open(keys: &[KeyRef]) -> Self {
        Self {
            now: 0,
            outcomes: vec![KeyOutcome::default(); keys.len()],
        }
    }
}

fn parse_read(reply: Reply, per_key: usize, n: usize) -> Result<Read> {
    let items = reply.array()?;
    if items.len() != 1 + per_key * n {
        return Err(err!(
            Internal,
            "a lockout script returned {} items",
            items.len()
        ));
    }
    let now = items[0].int()?;
    let mut outcomes = Vec::with_capacity(n);
    for chunk in items[1..].chunks(per_key) {
        outcomes.push(KeyOutcome {
            locked: chunk[0].int()? == 1,
            locked_until: chunk[1].int()?,
            failures: chunk[2].int()?,
            started: per_key > 3 && chunk[3].int()? == 1,
        });
    }
    Ok(Read { now, outcomes })
}

/// A state key's words: failures, last failure, locked until, strikes.
fn words(txn: &mut Txn<'_>, key: &str) -> [i64; 4] {
    match txn.get(key) {
        Some(Value::Words(w)) => *w,
        _ => [0; 4],
    }
}

fn int_arg(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

/// The KEYS of a decision over state keys: the state keys, the index of
/// locks, then each distinct value index; per state key, the positions
/// (1-based, 0: none) of its two value indexes.
#[derive(Debug, Clone)]
struct Layout {
    states: Vec<String>,
    members: Vec<String>,
    locked: String,
    indexes: Vec<String>,
    positions: Vec<(usize, usize)>,
}

impl Layout {
    fn of(keys: &[KeyRef], locked: String) -> Self {
        let mut indexes: Vec<String> = Vec::new();
        let base = keys.len() + 1;
        let mut pos = |idx: &Option<String>| match idx {
            None => 0,
            Some(k) => {
                let i = indexes.iter().position(|x| x == k).unwrap_or_else(|| {
                    indexes.push(k.clone());
                    indexes.len() - 1
                });
                base + 1 + i
            }
        };
        let positions = keys
            .iter()
            .map(|k| (pos(&k.by_username), pos(&k.by_ip)))
            .collect();
        Self {
            states: keys.iter().map(|k| k.state.clone()).collect(),
            members: keys.iter().map(|k| k.member.clone()).collect(),
            locked,
            indexes,
            positions,
        }
    }

    fn keys(&self) -> Vec<String> {
        let mut k = self.states.clone();
        k.push(self.locked.clone());
        k.extend(self.indexes.iter().cloned());
        k
    }

    /// The KEYS entry at a 1-based position.
    fn at(&self, pos: usize) -> Option<&str> {
        let n = self.states.len();
        match pos {
            0 => None,
            p if p <= n => Some(&self.states[p - 1]),
            p if p == n + 1 => Some(&self.locked),
            p => self.indexes.get(p - n - 2).map(String::as_str),
        }
    }

    fn per_key_args(&self, out: &mut Vec<Vec<u8>>) {
        for (m, (u, i)) in self.members.iter().zip(&self.positions) {
            out.push(m.clone().into_bytes());
            out.push(u.to_string().into_bytes());
            out.push(i.to_string().into_bytes());
        }
    }

    fn index_keys_of(&self, i: usize) -> [Option<&str>; 2] {
        let (u, ip) = self.positions[i];
        [self.at(u), self.at(ip)]
    }
}

/// Adds `member` at `score` to the memory index at `key` (see
/// `lockout_index_add`).
fn index_add(txn: &mut Txn<'_>, key: &str, member: &str, score: i64, cap: usize) -> Result<()> {
    let now = txn.now();
    let until = match txn.get_mut(key) {
        Some(Value::Scores(set)) => {
            set.add(member, score);
            set.remove_up_to(now);
            while set.len() > cap {
                set.pop_min();
            }
            set.max_score()
        }
        _ => {
            let mut set = ScoreSet::default();
            set.add(member, score);
            return txn.put(key, Value::Scores(Box::new(set)), score);
        }
    };
    match until {
        Some(t) => txn.set_expiry(key, t),
        None => txn.remove(key),
    };
    Ok(())
}

fn index_remove(txn: &mut Txn<'_>, key: &str, member: &str) {
    let now = txn.now();
    let until = match txn.get_mut(key) {
        Some(Value::Scores(set)) => {
            set.remove(member);
            set.remove_up_to(now);
            set.max_score()
        }
        _ => return,
    };
    match until {
        Some(t) => txn.set_expiry(key, t),
        None => txn.remove(key),
    };
}

#[derive(Debug, Clone)]
struct CheckKeys {
    keys: Vec<String>,
    policy: Policy,
}

impl Decision for CheckKeys {
    type Output = Read;
    fn script(&self) -> &'static Script {
        &CHECK
    }
    fn keys(&self) -> Vec<String> {
        self.keys.clone()
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![int_arg(self.policy.cooloff)]
    }
    fn parse(&self, reply: Reply) -> Result<Read> {
        parse_read(reply, 3, self.keys.len())
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Read> {
        let now = txn.now();
        let outcomes = self
            .keys
            .iter()
            .map(|k| {
                let [mut f, lf, lu, _] = words(txn, k);
                let locked = lu > now;
                if !locked && (lf + self.policy.cooloff <= now || lf < lu) {
                    f = 0;
                }
                KeyOutcome {
                    locked,
                    locked_until: lu,
                    failures: f,
                    started: false,
                }
            })
            .collect();
        Ok(Read { now, outcomes })
    }
}

#[derive(Debug, Clone)]
struct RecordFailure {
    layout: Layout,
    policy: Policy,
}

impl Decision for RecordFailure {
    type Output = Read;
    fn script(&self) -> &'static Script {
        &FAILURE
    }
    fn keys(&self) -> Vec<String> {
        self.layout.keys()
    }
    fn args(&self) -> Vec<Vec<u8>> {
        let p = &self.policy;
        let mut a = vec![
            self.layout.states.len().to_string().into_bytes(),
            int_arg(p.limit),
            int_arg(p.cooloff),
            int_arg(p.max_failures),
            if p.extend {
                b"1".to_vec()
            } else {
                b"0".to_vec()
            },
            // Rust's shortest round-trip form: Lua reads back the same double.
            format!("{:?}", p.factor).into_bytes(),
            int_arg(p.cap),
            int_arg(p.memory),
            LOCKED_CAP.to_string().into_bytes(),
            INDEX_CAP.to_string().into_bytes(),
        ];
        self.layout.per_key_args(&mut a);
        a
    }
    fn parse(&self, reply: Reply) -> Result<Read> {
        parse_read(reply, 4, self.layout.states.len())
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Read> {
        let now = txn.now();
        let p = self.policy;
        let mut outcomes = Vec::with_capacity(self.layout.states.len());
        for (i, key) in self.layout.states.iter().enumerate() {
            let [mut f, mut lf, mut lu, mut s] = words(txn, key);
            if s > 0 && lu.saturating_add(p.memory) <= now {
                s = 0;
            }
            let (mut started, mut moved) = (false, false);
            if lu > now {
                f = (f + 1).min(p.max_failures);
                lf = now;
                if p.extend {
                    lu = now + p.duration(s.max(1));
                    moved = true;
                }
            } else {
                if lf + p.cooloff <= now || lf < lu {
                    f = 0;
                }
                f = (f + 1).min(p.max_failures);
                lf = now;
                if f >= p.limit {
                    s = (s + 1).min(MAX_STRIKES);
                    lu = now + p.duration(s);
                    started = true;
                    moved = true;
                }
            }
            let mut ends = (lf + p.cooloff).max(lu);
            if s > 0 && lu + p.memory > ends {
                ends = lu + p.memory;
            }
            txn.put(key, Value::Words([f, lf, lu, s]), ends)?;
            let member = &self.layout.members[i];
            if moved {
                index_add(txn, &self.layout.locked, member, lu, LOCKED_CAP)?;
            }
            for idx in self.layout.index_keys_of(i).into_iter().flatten() {
                index_add(txn, idx, member, ends, INDEX_CAP)?;
            }
            outcomes.push(KeyOutcome {
                locked: lu > now,
                locked_until: lu,
                failures: f,
                started,
            });
        }
        Ok(Read { now, outcomes })
    }
}

/// What a removal found: keys that held failures or a lock in force.
#[derive(Debug, Clone, Copy, Default)]
struct Removed {
    live: usize,
}

#[derive(Debug, Clone)]
struct Remove {
    layout: Layout,
    cooloff: i64,
}

impl Decision for Remove {
    type Output = Removed;
    fn script(&self) -> &'static Script {
        &RESET
    }
    fn keys(&self) -> Vec<String> {
        self.layout.keys()
    }
    fn args(&self) -> Vec<Vec<u8>> {
        let mut a = vec![
            self.layout.states.len().to_string().into_bytes(),
            int_arg(self.cooloff),
        ];
        self.layout.per_key_args(&mut a);
        a
    }
    fn parse(&self, reply: Reply) -> Result<Removed> {
        let items = reply.array()?;
        let mut live = 0;
        for chunk in items.get(1..).unwrap_or_default().chunks(2) {
            live += usize::from(chunk.first().map_or(Ok(0), Reply::int)? == 1);
        }
        Ok(Removed { live })
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Removed> {
        let now = txn.now();
        let mut live = 0;
        for (i, key) in self.layout.states.iter().enumerate() {
            let [f, lf, lu, _] = words(txn, key);
            txn.remove(key);
            let member = &self.layout.members[i];
            index_remove(txn, &self.layout.locked, member);
            for idx in self.layout.index_keys_of(i).into_iter().flatten() {
                index_remove(txn, idx, member);
            }
            if lu > now || (f > 0 && lf + self.cooloff > now && lf >= lu) {
                live += 1;
            }
        }
        Ok(Removed { live })
    }
}

#[derive(Debug, Clone)]
struct ReadIndexes {
    keys: Vec<String>,
}

impl Decision for ReadIndexes {
    type Output = Vec<String>;
    fn script(&self) -> &'static Script {
        &INDEX
    }
    fn keys(&self) -> Vec<String> {
        self.keys.clone()
    }
    fn args(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn parse(&self, reply: Reply) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for index in reply.array()? {
            for m in index.array()? {
                let m = m.bytes()?.unwrap_or_default();
                out.push(String::from_utf8_lossy(&m).into_owned());
            }
        }
        Ok(out)
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Vec<String>> {
        let now = txn.now();
        let mut out = Vec::new();
        for key in &self.keys {
            if let Some(Value::Scores(set)) = txn.get(key) {
                out.extend(set.above(now).map(|(m, _)| m.to_owned()));
            }
        }
        Ok(out)
    }
}

/// One page of the index of locks.
struct Listed {
    now: i64,
    entries: Vec<(String, i64)>,
}

struct ListLocked {
    index: String,
    offset: usize,
    count: usize,
}

impl Decision for ListLocked {
    type Output = Listed;
    fn script(&self) -> &'static Script {
        &LIST
    }
    fn keys(&self) -> Vec<String> {
        vec![self.index.clone()]
    }
    fn args(&self) -> Vec<Vec<u8>> {
        vec![
            self.offset.to_string().into_bytes(),
            self.count.to_string().into_bytes(),
        ]
    }
    fn parse(&self, reply: Reply) -> Result<Listed> {
        let mut items = reply.array()?.into_iter();
        let now = items.next().map_or(Ok(0), |r| r.int())?;
        let mut entries = Vec::new();
        while let (Some(m), Some(s)) = (items.next(), items.next()) {
            let m = m.bytes()?.unwrap_or_default();
            entries.push((String::from_utf8_lossy(&m).into_owned(), s.int()?));
        }
        Ok(Listed { now, entries })
    }
    fn apply(&self, txn: &mut Txn<'_>) -> Result<Listed> {
        let now = txn.now();
        let entries = match txn.get(&self.index) {
            Some(Value::Scores(set)) => set
                .above(now)
                .skip(self.offset)
                .take(self.count)
                .map(|(m, s)| (m.to_owned(), s))
                .collect(),
            _ => Vec::new(),
        };
        Ok(Listed { now, entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_encoded_reversibly_and_bounded() {
        assert_eq!(encode_value("alice"), "alice");
        assert_eq!(encode_value("a|b+c d"), "a%7Cb%2Bc%20d");
        assert_eq!(decode_value(&encode_value("a|b+c d#é")), "a|b+c d#é");
        assert_eq!(encode_value("2001:db8::1"), "2001:db8::1");
        let long = encode_value(&"x".repeat(200));
        assert!(long.starts_with('#') && long.len() == 33, "{long}");
        assert_ne!(long, encode_value(&"x".repeat(201)));
        // A literal '#' is encoded, so it never looks like a digest.
        assert_eq!(encode_value("#abc"), "%23abc");
    }

    #[test]
    fn members_round_trip() {
        let g = [Param::Username, Param::UserAgent];
        let m = member_of(&g, &["bob".into(), "curl%2F8".into()]);
        assert_eq!(m, "username+user_agent|bob|curl%2F8");
        assert_eq!(
            parse_member(&m),
            Some((g.to_vec(), vec!["bob".into(), "curl%2F8".into()]))
        );
        assert_eq!(parse_member("username|a|b"), None);
        assert_eq!(parse_member("nonsense|a"), None);
    }

    #[test]
    fn attempts_are_normalised() {
        let a = Attempt::new(Some("  ÄLICE\t"), Some(" ::ffff:10.0.0.1 "), Some(" "));
        assert_eq!(a.username(), Some("älice"));
        assert_eq!(a.ip_address(), Some("10.0.0.1"));
        assert_eq!(a.user_agent(), None);
        assert_eq!(Attempt::new(Some("   "), None, None).username(), None);
        assert_eq!(
            Attempt::new(None, Some("2001:DB8::0001"), None).ip_address(),
            Some("2001:db8::1")
        );
        let huge = "A".repeat(10_000);
        let a = Attempt::new(Some(&huge), None, None);
        assert!(a.username().unwrap().len() < 40);
    }

    #[test]
    fn progressive_durations_grow_and_cap() {
        let o = LockoutOptions {
            cooloff: Duration::from_secs(60),
            progressive: Some(Progressive {
                factor: 3.0,
                max_cooloff: Duration::from_secs(1000),
                memory: Duration::from_secs(3600),
            }),
            ..LockoutOptions::default()
        };
        let p = Policy::of(&o);
        let secs: Vec<i64> = (1..=5).map(|n| p.duration(n) / 1_000_000).collect();
        assert_eq!(secs, [60, 180, 540, 1000, 1000]);
    }
}
