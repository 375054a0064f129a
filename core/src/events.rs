//! Security events.
//!
//! Components report what happened (a refresh token reused, a revocation, a
//! store outage answered by policy) as [`Event`]s to the [`Listeners`] they
//! were given. Events carry identifiers (subject, family id, jti) and never
//! secret material or whole tokens. A listener that panics is isolated: the
//! panic is caught and the decision that emitted the event is unaffected.
//!
//! Besides its own listeners, every event also goes to the process-wide
//! listeners ([`add_global`]): the Python `logging` bridge and the Node
//! `EventEmitter` hang there. Events that happen on every request (an
//! authentication, a rate-limit denial) go to the process-wide listeners
//! only, and are only built when one wants them ([`emit_global_with`]): with
//! no listener they cost one atomic load.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;

/// Log category of an event, as the reference deployments prefix their logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// `[AUTH]`: authentication and token issuance.
    Auth,
    /// `[SECURITY]`: attacks and revocations.
    Security,
    /// `[STORE]`: the state store.
    Store,
    /// `[LOCKOUT]`: account lockouts and unlocks.
    Lockout,
    /// `[CIRCUIT]`: circuit breaker transitions.
    Circuit,
    /// `[LOCK]`: leases and single-flight.
    Lock,
    /// `[RATELIMIT]`: rate-limit denials.
    RateLimit,
}

impl Category {
    /// The log prefix, e.g. `"[SECURITY]"`.
    #[must_use]
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Auth => "[AUTH]",
            Self::Security => "[SECURITY]",
            Self::Store => "[STORE]",
            Self::Lockout => "[LOCKOUT]",
            Self::Circuit => "[CIRCUIT]",
            Self::Lock => "[LOCK]",
            Self::RateLimit => "[RATELIMIT]",
        }
    }

    /// The name in lower case (`"security"`), as loggers are named.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Security => "security",
            Self::Store => "store",
            Self::Lockout => "lockout",
            Self::Circuit => "circuit",
            Self::Lock => "lock",
            Self::RateLimit => "ratelimit",
        }
    }
}

/// How much an event matters, as log levels put it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Normal operation worth a record (an authentication, an unlock).
    Info = 1,
    /// Something refused or degraded (a failed authentication, a denial, a
    /// lockout, a breaker opening, a lost lease).
    Warning = 2,
    /// An attack detected or the store down (token reuse, an outage
    /// answered by policy).
    Error = 3,
}

impl Severity {
    /// `"info"`, `"warning"` or `"error"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }

    /// Parses `"info"`, `"warning"` or `"error"`.
    pub fn parse(name: &str) -> crate::Result<Self> {
        match name {
            "info" => Ok(Self::Info),
            "warning" => Ok(Self::Warning),
            "error" => Ok(Self::Error),
            _ => Err(crate::error::Error::new(
                crate::ErrorKind::InvalidArgument,
                "a severity is \"info\", \"warning\" or \"error\"",
            )),
        }
    }
}

/// Something a component reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A refresh token that had already been rotated was presented again; its
    /// whole family was revoked.
    TokenReuse {
        /// The token's subject.
        subject: String,
        /// The revoked family.
        family: String,
    },
    /// Tokens were revoked.
    TokenRevoked {
        /// The subject whose tokens were revoked.
        subject: String,
        /// `"token"`, `"family"` or `"subject"` (everything the subject held).
        scope: &'static str,
    },
    /// The store could not answer; the component's outage policy decided.
    StoreUnavailable {
        /// The component (`"revocation"`, ...).
        component: &'static str,
        /// The policy applied (`"fail_closed"`, `"fail_open"`, `"local"`).
        policy: &'static str,
    },
    /// Failed attempts locked a key of a lockout (identifiers only: never a
    /// password).
    LockedOut {
        /// The lockout's name (`"login"`).
        lockout: String,
        /// The parameter group of the key that locked (`"username"`,
        /// `"username+ip_address"`).
        parameters: String,
        /// The attempt's normalised username, when it had one.
        username: Option<String>,
        /// The attempt's IP address, when it had one.
        ip_address: Option<String>,
        /// Whole seconds until the lock ends.
        retry_after: u64,
    },
    /// An admin unlock removed keys of a lockout.
    Unlocked {
        /// The lockout's name.
        lockout: String,
        /// The username unlocked, when given.
        username: Option<String>,
        /// The IP address unlocked, when given.
        ip_address: Option<String>,
        /// How many keys held failures or a lock.
        removed: usize,
    },
    /// A circuit breaker changed state.
    CircuitStateChanged {
        /// The breaker's name.
        breaker: String,
        /// The state it left (`"closed"`, `"open"`, `"half-open"`).
        from: &'static str,
        /// The state it entered.
        to: &'static str,
        /// On opening: whole seconds (rounded up) until it lets a probe
        /// through.
        retry_after: Option<u64>,
    },
    /// A lease holder found its lease gone while working (it expired or was
    /// taken over): its fenced writes are refused from now on.
    LeaseLost {
        /// The component holding it (`"lease"`, `"singleflight"`).
        component: &'static str,
    },
    /// A token or API key was verified (signature, claims, revocation).
    AuthSucceeded {
        /// `"access"`, `"refresh"` or `"api_key"`.
        kind: &'static str,
        /// The token's subject, or the API key's public id.
        subject: String,
    },
    /// A token or API key was refused. Nothing of what was presented is
    /// kept: only why it failed.
    AuthFailed {
        /// `"access"`, `"refresh"` or `"api_key"`.
        kind: &'static str,
        /// The error code (`"EXPIRED_SIGNATURE"`, `"TOKEN_REVOKED"`, ...).
        reason: &'static str,
    },
    /// A rate limiter denied a hit.
    RateLimited {
        /// The limiter's name.
        limiter: String,
        /// The key the application limited by (its own identifier: a user
        /// id, a client IP).
        key: String,
        /// The rate that denied (`"5/min"`).
        rate: String,
        /// Whole seconds (rounded up) until a retry can succeed.
        retry_after: u64,
    },
}

impl Event {
    /// The event's stable name (`"token_reuse"`, ...).
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::TokenReuse { .. } => "token_reuse",
            Self::TokenRevoked { .. } => "token_revoked",
            Self::StoreUnavailable { .. } => "store_unavailable",
            Self::LockedOut { .. } => "locked_out",
            Self::Unlocked { .. } => "unlocked",
            Self::CircuitStateChanged { to, .. } => match *to.as_bytes() {
                [b'o', ..] => "circuit_open",
                [b'h', ..] => "circuit_half_open",
                _ => "circuit_closed",
            },
            Self::LeaseLost { .. } => "lease_lost",
            Self::AuthSucceeded { .. } => "auth_succeeded",
            Self::AuthFailed { .. } => "auth_failed",
            Self::RateLimited { .. } => "rate_limited",
        }
    }

    /// How much the event matters.
    #[must_use]
    pub const fn severity(&self) -> Severity {
        match self {
            Self::TokenReuse { .. } | Self::StoreUnavailable { .. } => Severity::Error,
            Self::AuthSucceeded { .. } | Self::TokenRevoked { .. } | Self::Unlocked { .. } => {
                Severity::Info
            }
            Self::CircuitStateChanged { to, .. } => match *to.as_bytes() {
                [b'o', ..] => Severity::Warning,
                _ => Severity::Info,
            },
            Self::LockedOut { .. }
            | Self::LeaseLost { .. }
            | Self::AuthFailed { .. }
            | Self::RateLimited { .. } => Severity::Warning,
        }
    }

    /// The event's log category.
    #[must_use]
    pub const fn category(&self) -> Category {
        match self {
            Self::TokenReuse { .. } | Self::TokenRevoked { .. } => Category::Security,
            Self::StoreUnavailable { .. } => Category::Store,
            Self::LockedOut { .. } | Self::Unlocked { .. } => Category::Lockout,
            Self::CircuitStateChanged { .. } => Category::Circuit,
            Self::LeaseLost { .. } => Category::Lock,
            Self::AuthSucceeded { .. } | Self::AuthFailed { .. } => Category::Auth,
            Self::RateLimited { .. } => Category::RateLimit,
        }
    }

    /// Its fields as name/value pairs, for bindings and logs.
    #[must_use]
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::TokenReuse { subject, family } => {
                vec![("subject", subject.clone()), ("family", family.clone())]
            }
            Self::TokenRevoked { subject, scope } => {
                vec![("subject", subject.clone()), ("scope", (*scope).to_owned())]
            }
            Self::StoreUnavailable { component, policy } => vec![
                ("component", (*component).to_owned()),
                ("policy", (*policy).to_owned()),
            ],
            Self::LockedOut {
                lockout,
                parameters,
                username,
                ip_address,
                retry_after,
            } => {
                let mut f = vec![
                    ("lockout", lockout.clone()),
                    ("parameters", parameters.clone()),
                ];
                identifiers(&mut f, username.as_ref(), ip_address.as_ref());
                f.push(("retry_after", retry_after.to_string()));
                f
            }
            Self::Unlocked {
                lockout,
                username,
                ip_address,
                removed,
            } => {
                let mut f = vec![("lockout", lockout.clone())];
                identifiers(&mut f, username.as_ref(), ip_address.as_ref());
                f.push(("removed", removed.to_string()));
                f
            }
            Self::CircuitStateChanged {
                breaker,
                from,
                to,
                retry_after,
            } => {
                let mut f = vec![
                    ("breaker", breaker.clone()),
                    ("from", (*from).to_owned()),
                    ("to", (*to).to_owned()),
                ];
                if let Some(r) = retry_after {
                    f.push(("retry_after", r.to_string()));
                }
                f
            }
            Self::LeaseLost { component } => vec![("component", (*component).to_owned())],
            Self::AuthSucceeded { kind, subject } => {
                vec![("kind", (*kind).to_owned()), ("subject", subject.clone())]
            }
            Self::AuthFailed { kind, reason } => {
                vec![
                    ("kind", (*kind).to_owned()),
                    ("reason", (*reason).to_owned()),
                ]
            }
            Self::RateLimited {
                limiter,
                key,
                rate,
                retry_after,
            } => vec![
                ("limiter", limiter.clone()),
                ("key", key.clone()),
                ("rate", rate.clone()),
                ("retry_after", retry_after.to_string()),
            ],
        }
    }
}

fn identifiers(
    fields: &mut Vec<(&'static str, String)>,
    username: Option<&String>,
    ip_address: Option<&String>,
) {
    if let Some(u) = username {
        fields.push(("username", u.clone()));
    }
    if let Some(ip) = ip_address {
        fields.push(("ip_address", ip.clone()));
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.category().prefix(), self.name())?;
        for (k, v) in self.fields() {
            write!(f, " {k}={v:?}")?;
        }
        Ok(())
    }
}

/// A callback receiving events.
pub type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

struct Registered {
    list: parking_lot::RwLock<Vec<Listener>>,
    active: AtomicBool,
}

impl Default for Registered {
    fn default() -> Self {
        Self {
            list: parking_lot::RwLock::new(Vec::new()),
            active: AtomicBool::new(false),
        }
    }
}

/// The listeners of one component. Cloning shares them.
#[derive(Clone, Default)]
pub struct Listeners {
    inner: Arc<Registered>,
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Listeners({})", self.inner.list.read().len())
    }
}

fn deliver(list: &parking_lot::RwLock<Vec<Listener>>, event: &Event) {
    let listeners = list.read().clone();
    for l in listeners {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l(event)));
    }
}

/// The process-wide listeners, each with the least severity it wants.
static GLOBAL: parking_lot::RwLock<Vec<(Severity, Listener)>> =
    parking_lot::const_rwlock(Vec::new());
/// The least severity any process-wide listener wants (`u8::MAX`: none).
static GLOBAL_MIN: AtomicU8 = AtomicU8::new(u8::MAX);

/// Adds a process-wide listener: it receives the events of every component
/// whose severity is at least `min`. Listeners stay for the process's life.
pub fn add_global(min: Severity, listener: Listener) {
    let mut global = GLOBAL.write();
    global.push((min, listener));
    GLOBAL_MIN.fetch_min(min as u8, Ordering::Release);
}

fn global_wants(severity: Severity) -> bool {
    severity as u8 >= GLOBAL_MIN.load(Ordering::Acquire)
}

fn deliver_global(event: &Event) {
    let severity = event.severity();
    if !global_wants(severity) {
        return;
    }
    let listeners: Vec<Listener> = GLOBAL
        .read()
        .iter()
        .filter(|(min, _)| severity >= *min)
        .map(|(_, l)| Arc::clone(l))
        .collect();
    let run = move |event: &Event| {
        for l in &listeners {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l(event)));
        }
    };
    // From the I/O thread through the blocking pool: a listener that waits
    // (for Python's GIL, say) never stalls the store's I/O.
    if crate::runtime::on_io_thread() {
        let event = event.clone();
        drop(crate::runtime::spawn_blocking(move || run(&event)));
    } else {
        run(event);
    }
}

/// Builds and delivers an event to the process-wide listeners only (for a
/// component without listeners of its own), when one wants its severity.
pub fn emit_global_with(severity: Severity, make: impl FnOnce() -> Event) {
    if global_wants(severity) {
        let event = make();
        crate::metrics::record_event(&event);
        deliver_global(&event);
    }
}

impl Listeners {
    /// Adds a listener.
    pub fn add(&self, listener: Listener) {
        self.inner.list.write().push(listener);
        self.inner.active.store(true, Ordering::Release);
    }

    /// Whether an event of `severity` would reach anyone (this component's
    /// listeners or a process-wide one).
    #[must_use]
    pub fn wants(&self, severity: Severity) -> bool {
        self.inner.active.load(Ordering::Acquire) || global_wants(severity)
    }

    /// Delivers `event` to every listener, this component's then the
    /// process-wide ones, and counts it in the metrics; a panicking listener
    /// is skipped.
    pub fn emit(&self, event: &Event) {
        crate::metrics::record_event(event);
        if self.inner.active.load(Ordering::Acquire) {
            deliver(&self.inner.list, event);
        }
        deliver_global(event);
    }

    /// Builds the event with `make` and emits it, only when someone listens
    /// to events of `severity` (the per-request events: no allocation when
    /// nobody does). Such events are counted by their own metrics.
    pub fn emit_with(&self, severity: Severity, make: impl FnOnce() -> Event) {
        if self.wants(severity) {
            self.emit(&make());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn listeners_receive_events_and_panics_are_isolated() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let l = Listeners::default();
        l.add(Arc::new(|_| panic!("listener bug")));
        let s = Arc::clone(&seen);
        l.add(Arc::new(move |e| s.lock().unwrap().push(e.to_string())));
        l.emit(&Event::TokenReuse {
            subject: "42".into(),
            family: "f1".into(),
        });
        assert_eq!(
            seen.lock().unwrap().as_slice(),
            ["[SECURITY] token_reuse subject=\"42\" family=\"f1\""]
        );
    }
}
