//! Security events.
//!
//! Components report what happened (a refresh token reused, a revocation, a
//! store outage answered by policy) as [`Event`]s to the [`Listeners`] they
//! were given. Events carry identifiers (subject, family id, jti) and never
//! secret material or whole tokens. A listener that panics is isolated: the
//! panic is caught and the decision that emitted the event is unaffected.

use std::fmt;
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

/// The listeners of one component. Cloning shares them.
#[derive(Clone, Default)]
pub struct Listeners {
    inner: Arc<parking_lot::RwLock<Vec<Listener>>>,
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Listeners({})", self.inner.read().len())
    }
}

impl Listeners {
    /// Adds a listener.
    pub fn add(&self, listener: Listener) {
        self.inner.write().push(listener);
    }

    /// Delivers `event` to every listener; a panicking listener is skipped.
    pub fn emit(&self, event: &Event) {
        let listeners = self.inner.read().clone();
        for l in listeners {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l(event)));
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
