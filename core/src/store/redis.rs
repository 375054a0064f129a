//! The shared store: Redis or Redis Cluster.
//!
//! Guarantees:
//! - **One connection, pipelined.** A store holds one multiplexed connection
//!   (standalone) or one cluster connection (one multiplexed connection per
//!   node). Concurrent callers, sync from any thread and async from any event
//!   loop, share it; their commands are pipelined automatically.
//! - **A bounded operation.** Every call finishes within
//!   [`RedisOptions::timeout`] (default 50 ms), reconnection included: a call
//!   that cannot get an answer in time fails with `STORE_UNAVAILABLE` and the
//!   component applies its outage policy.
//! - **Reconnects by itself.** A broken connection is dropped and a new one is
//!   made in the background, with backoff (50 ms doubling to 2 s), while calls
//!   fail fast; three timeouts in a row count as a broken connection (a server
//!   that stopped answering). A forked child makes its own connection.
//! - **One round trip per decision:** `EVALSHA`, and `EVAL` with the full
//!   source when the server answers `NOSCRIPT` (after a restart or on a new
//!   cluster node). All keys of a decision share one hash tag, so a cluster
//!   routes the call to one node.
//! - **Redis time.** Scripts read `TIME` unless the store was given an
//!   explicit clock (tests drive a `ManualClock` through `ARGV[1]`).
//! - Every key is prefixed with [`RedisOptions::prefix`] (default `bastion:`).

use super::broadcast::{Handler, Hub, Subscription};
use super::{Decision, Reply};
use crate::clock::SharedClock;
use crate::error::{err, Error, Result};
use parking_lot::Mutex;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Options of a [`RedisStore`].
#[derive(Clone)]
pub struct RedisOptions {
    /// The bound on one operation, waiting for a connection included
    /// (default 50 ms).
    pub timeout: Duration,
    /// The bound on making a connection, in the background (default 2 s).
    pub connect_timeout: Duration,
    /// Prepended to every key (default `"bastion:"`).
    pub prefix: String,
    /// `None` (the default): decisions use Redis `TIME`. `Some(clock)`: they
    /// use this clock instead (tests with a `ManualClock`).
    pub clock: Option<SharedClock>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(50),
            connect_timeout: Duration::from_secs(2),
            prefix: "bastion:".to_owned(),
            clock: None,
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("prefix", &self.prefix)
            .field("clock", &self.clock.as_ref().map(|_| "explicit"))
            .finish()
    }
}

enum Target {
    Single(redis::Client),
    Cluster(Box<redis::cluster::ClusterClient>),
}

#[derive(Clone)]
enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Sends `cmd`; a server error reply becomes an `Err` (its code kept).
    async fn query(&mut self, cmd: &redis::Cmd) -> redis::RedisResult<redis::Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd).await,
            Self::Cluster(c) => c.req_packed_command(cmd).await,
        }
        .and_then(redis::Value::extract_error)
    }
}

enum State {
    /// No connection; the next attempt may start at `retry_at`.
    Down {
        retry_at: Instant,
        backoff: Duration,
    },
    /// A connection attempt is under way.
    Connecting,
    /// Connected under runtime generation `generation`.
    Up {
        conn: Conn,
        generation: u64,
        id: u64,
        timeouts: u32,
    },
}

const BACKOFF_MIN: Duration = Duration::from_millis(50);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Timeouts in a row after which a connection is considered broken.
const MAX_TIMEOUTS: u32 = 3;

struct Shared {
    target: Target,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    next_id: std::sync::atomic::AtomicU64,
}

/// A store on Redis or Redis Cluster. See the module docs for its guarantees.
pub struct RedisStore {
    shared: Arc<Shared>,
    hub: Arc<Hub>,
    options: RedisOptions,
    cluster: bool,
    /// The URL with any password removed, for Debug and errors.
    display: String,
    /// Round trips answered and failed (`bastion_store_operations_total`).
    ops: [crate::metrics::Counter; 2],
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.display)
            .field("options", &self.options)
            .finish()
    }
}

/// The URL without credentials.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

fn bad_url(display: &str, e: &redis::RedisError) -> Error {
    let detail = e.detail().unwrap_or_else(|| e.category()).to_owned();
    err!(InvalidArgument, "invalid Redis URL {display:?}: {detail}")
}

impl RedisStore {
    /// Opens a store (no I/O yet: the first call connects). See
    /// [`Store::redis`](super::Store::redis) for the URL forms.
    pub fn open(url: &str, options: RedisOptions) -> Result<Self> {
        if options.timeout.is_zero() || options.connect_timeout.is_zero() {
            return Err(err!(InvalidArgument, "Redis timeouts must be positive"));
        }
        let display = redact(url);
        let mut subscribers = Vec::new();
        let (target, cluster) = if let Some(rest) = url.strip_prefix("redis+cluster://") {
            let (auth, hosts) = match rest.rfind('@') {
                Some(at) => (&rest[..=at], &rest[at + 1..]),
                None => ("", rest),
            };
            let (hosts, _path) = hosts.split_once('/').unwrap_or((hosts, ""));
            let nodes: Vec<String> = hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .map(|h| format!("redis://{auth}{h}"))
                .collect();
            if nodes.is_empty() {
                return Err(err!(
                    InvalidArgument,
                    "invalid Redis URL {display:?}: no cluster node given"
                ));
            }
            for node in &nodes {
                subscribers
                    .push(redis::Client::open(node.as_str()).map_err(|e| bad_url(&display, &e))?);
            }
            let client = redis::cluster::ClusterClientBuilder::new(nodes)
                .connection_timeout(options.connect_timeout)
                .response_timeout(options.connect_timeout)
                .retries(2)
                .min_retry_wait(5)
                .max_retry_wait(50)
                .build()
                .map_err(|e| bad_url(&display, &e))?;
            (Target::Cluster(Box::new(client)), true)
        } else if url.starts_with("redis://")
            || url.starts_with("redis+unix://")
            || url.starts_with("unix://")
        {
            let client = redis::Client::open(url).map_err(|e| bad_url(&display, &e))?;
            subscribers.push(client.clone());
            (Target::Single(client), false)
        } else if url.starts_with("rediss://") {
            return Err(err!(
                InvalidArgument,
                "TLS Redis URLs (rediss://) are not supported by this build: {display:?}"
            ));
        } else {
            return Err(err!(
                InvalidArgument,
                "invalid Redis URL {display:?}: expected redis://, redis+cluster:// or unix://"
            ));
        };
        let (changed, _) = watch::channel(0);
        let kind = if cluster { "redis-cluster" } else { "redis" };
        let ops = [
            crate::metrics::STORE_OPERATIONS.counter(&[kind, "ok"]),
            crate::metrics::STORE_OPERATIONS.counter(&[kind, "error"]),
        ];
        Ok(Self {
            shared: Arc::new(Shared {
                target,
                state: Mutex::new(State::Down {
                    retry_at: Instant::now(),
                    backoff: BACKOFF_MIN,
                }),
                changed,
                next_id: std::sync::atomic::AtomicU64::new(1),
            }),
            hub: Arc::new(Hub::new(subscribers, options.connect_timeout)),
            options,
            cluster,
            display,
            ops,
        })
    }

    /// The URL without credentials (`redis://***@host:6379/0`).
    #[must_use]
    pub fn display(&self) -> &str {
        &self.display
    }

    /// Calls `handler` with every message published on `channel` (the key
    /// prefix is prepended) by any process sharing this store, and with
    /// [`Notice::Resync`](super::Notice::Resync) whenever the subscriber (re)connects. See
    /// [`broadcast`](super::broadcast) for the guarantees.
    pub fn subscribe(&self, channel: &str, handler: Handler) -> Subscription {
        self.hub
            .subscribe(format!("{}{channel}", self.options.prefix), handler)
    }

    /// The explicit clock decisions use instead of Redis `TIME`, if any.
    #[must_use]
    pub fn clock(&self) -> Option<&SharedClock> {
        self.options.clock.as_ref()
    }

    /// `"redis"` or `"redis-cluster"`.
    #[must_use]
    pub fn kind(&self) -> &'static str {
        if self.cluster {
            "redis-cluster"
        } else {
            "redis"
        }
    }

    /// The operation timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.options.timeout
    }

    /// The key prefix.
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.options.prefix
    }

    fn unavailable(&self, why: &str) -> Error {
        err!(
            StoreUnavailable,
            "Redis at {} is unavailable: {why}",
            self.display
        )
    }

    /// A connection, waiting for an attempt under way if there is one.
    async fn connection(&self) -> Result<(Conn, u64)> {
        let generation = crate::runtime::generation();
        loop {
            let mut rx = {
                let mut st = self.shared.state.lock();
                match &*st {
                    State::Up {
                        conn,
                        generation: g,
                        id,
                        ..
                    } if *g == generation => return Ok((conn.clone(), *id)),
                    State::Connecting => {}
                    State::Up { .. } => {
                        // Made under a runtime that no longer exists (fork).
                        *st = State::Connecting;
                        self.start_connect(BACKOFF_MIN);
                    }
                    State::Down { retry_at, backoff } => {
                        if Instant::now() < *retry_at {
                            return Err(self.unavailable("reconnecting after a failure"));
                        }
                        let backoff = *backoff;
                        *st = State::Connecting;
                        self.start_connect(backoff);
                    }
                }
                self.shared.changed.subscribe()
            };
            if rx.changed().await.is_err() {
                return Err(self.unavailable("the store was closed"));
            }
            if let State::Down { .. } = &*self.shared.state.lock() {
                return Err(self.unavailable("cannot connect"));
            }
        }
    }

    fn start_connect(&self, backoff: Duration) {
        let shared = Arc::clone(&self.shared);
        let limit = self.options.connect_timeout;
        tokio::spawn(async move {
            let made = tokio::time::timeout(limit, async {
                match &shared.target {
                    Target::Single(client) => {
                        let config = redis::AsyncConnectionConfig::new()
                            .set_connection_timeout(Some(limit))
                            .set_response_timeout(None);
                        client
                            .get_multiplexed_async_connection_with_config(&config)
                            .await
                            .map(Conn::Single)
                    }
                    Target::Cluster(client) => {
                        client.get_async_connection().await.map(Conn::Cluster)
                    }
                }
            })
            .await;
            let next = match made {
                Ok(Ok(conn)) => State::Up {
                    conn,
                    generation: crate::runtime::generation(),
                    id: shared
                        .next_id
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    timeouts: 0,
                },
                _ => State::Down {
                    retry_at: Instant::now() + backoff,
                    backoff: (backoff * 2).min(BACKOFF_MAX),
                },
            };
            *shared.state.lock() = next;
            shared.changed.send_modify(|v| *v += 1);
        });
    }

    /// Records the outcome of a call on connection `id`.
    fn note(&self, id: u64, outcome: Outcome) {
        let mut st = self.shared.state.lock();
        if let State::Up {
            id: current,
            timeouts,
            ..
        } = &mut *st
        {
            if *current != id {
                return;
            }
            match outcome {
                Outcome::Ok => *timeouts = 0,
                Outcome::TimedOut => {
                    *timeouts += 1;
                    if *timeouts >= MAX_TIMEOUTS {
                        *st = State::Down {
                            retry_at: Instant::now(),
                            backoff: BACKOFF_MIN,
                        };
                    }
                }
                Outcome::Broken => {
                    *st = State::Down {
                        retry_at: Instant::now(),
                        backoff: BACKOFF_MIN,
                    };
                }
            }
        }
    }

    async fn bounded<T>(
        &self,
        what: &str,
        call: impl std::future::Future<Output = Result<(T, u64)>>,
    ) -> Result<T> {
        // The id of the connection used is only known inside `call`; a timeout
        // is charged to whatever connection is current.
        let answer = tokio::time::timeout(self.options.timeout, call).await;
        let counter = &self.ops[usize::from(!matches!(answer, Ok(Ok(_))))];
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match answer {
            Ok(Ok((v, id))) => {
                self.note(id, Outcome::Ok);
                Ok(v)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                let id = match &*self.shared.state.lock() {
                    State::Up { id, .. } => Some(*id),
                    _ => None,
                };
                if let Some(id) = id {
                    self.note(id, Outcome::TimedOut);
                }
                Err(self.unavailable(&format!(
                    "{what} got no answer within {} ms",
                    self.options.timeout.as_millis()
                )))
            }
        }
    }

    fn redis_error(&self, id: u64, e: &redis::RedisError) -> Error {
        if e.is_io_error()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || e.is_unrecoverable_error()
        {
            self.note(id, Outcome::Broken);
            return self.unavailable("the connection failed");
        }
        if e.is_timeout() {
            self.note(id, Outcome::TimedOut);
            return self.unavailable("timed out");
        }
        let code = e.code().unwrap_or_else(|| e.category()).to_owned();
        // MOVED and ASK reach here only when the cluster client's redirects
        // ran out while slots change hands (a failover, a resharding): the
        // client refreshes its slot map, so, like CLUSTERDOWN, it is an outage
        // of those keys that ends by itself, answered by the outage policy.
        if matches!(
            code.as_str(),
            "CLUSTERDOWN" | "MASTERDOWN" | "LOADING" | "TRYAGAIN" | "BUSY" | "MOVED" | "ASK"
        ) {
            return self.unavailable(&format!("the server answered {code}"));
        }
        err!(Internal, "Redis refused a store command: {code}")
    }

    /// Runs one decision: one `EVALSHA` (one `EVAL` on `NOSCRIPT`).
    pub(crate) async fn run<D: Decision>(&self, decision: D) -> Result<D::Output> {
        let reply = self
            .eval(decision.script(), &decision.keys(), &decision.args())
            .await?;
        decision.parse(reply)
    }

    /// Runs one script on Redis only (a component whose memory form is not
    /// a store decision, such as a shared circuit breaker): `keys` without
    /// the prefix, `args` after the time argument.
    pub async fn eval(
        &self,
        script: &'static super::Script,
        keys: &[String],
        args: &[Vec<u8>],
    ) -> Result<Reply> {
        let keys: Vec<String> = keys
            .iter()
            .map(|k| format!("{}{k}", self.options.prefix))
            .collect();
        let now = self.options.clock.as_ref().map_or(-1, |c| c.now_micros());
        let reply = self
            .bounded(script.name(), async {
                let (mut conn, id) = self.connection().await?;
                let cmd = eval_cmd("EVALSHA", script.sha1(), &keys, now, args);
                let value = match conn.query(&cmd).await {
                    Err(e) if e.code() == Some("NOSCRIPT") => {
                        let cmd = eval_cmd("EVAL", script.source(), &keys, now, args);
                        conn.query(&cmd).await
                    }
                    other => other,
                }
                .map_err(|e| self.redis_error(id, &e))?;
                Ok((value, id))
            })
            .await?;
        to_reply(reply)
    }

    /// Starts connecting (if not connected) and waits for the attempt,
    /// ignoring the outcome: calls report failures themselves.
    pub(crate) async fn warm_up(&self) {
        let _ = tokio::time::timeout(self.options.connect_timeout, self.connection()).await;
    }

    /// One `PING`: its round-trip time.
    pub(crate) async fn ping(&self) -> Result<Duration> {
        self.bounded("PING", async {
            let (mut conn, id) = self.connection().await?;
            let started = Instant::now();
            conn.query(&redis::cmd("PING"))
                .await
                .map_err(|e| self.redis_error(id, &e))?;
            Ok((started.elapsed(), id))
        })
        .await
    }
}

enum Outcome {
    Ok,
    TimedOut,
    Broken,
}

fn eval_cmd(verb: &str, body: &str, keys: &[String], now: i64, args: &[Vec<u8>]) -> redis::Cmd {
    let mut cmd = redis::cmd(verb);
    cmd.arg(body).arg(keys.len()).arg(keys).arg(now);
    for a in args {
        cmd.arg(a.as_slice());
    }
    cmd
}

fn to_reply(v: redis::Value) -> Result<Reply> {
    Ok(match v {
        redis::Value::Nil => Reply::Nil,
        redis::Value::Boolean(false) => Reply::Nil,
        redis::Value::Boolean(true) => Reply::Int(1),
        redis::Value::Int(i) => Reply::Int(i),
        redis::Value::BulkString(b) => Reply::Bytes(b),
        redis::Value::SimpleString(s) => Reply::Bytes(s.into_bytes()),
        redis::Value::Okay => Reply::Bytes(b"OK".to_vec()),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            Reply::Array(items.into_iter().map(to_reply).collect::<Result<_>>()?)
        }
        other => {
            return Err(err!(
                Internal,
                "a store script returned an unexpected reply: {other:?}"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_redacted() {
        let s = RedisStore::open(
            "redis://user:hunter2@127.0.0.1:6390/0",
            RedisOptions::default(),
        )
        .unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert_eq!(s.kind(), "redis");
        let c = RedisStore::open(
            "redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001",
            RedisOptions::default(),
        )
        .unwrap();
        assert_eq!(c.kind(), "redis-cluster");
        assert!(!format!("{c:?}").contains("pw"));
        for bad in ["http://x", "redis+cluster://", "rediss://h:1", "nonsense"] {
            let e = RedisStore::open(bad, RedisOptions::default()).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{bad}");
        }
    }
}
