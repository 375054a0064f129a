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
}

impl Category {
    /// The log prefix, e.g. `"[SECURITY]"`.
    #[must_use]
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Auth => "[AUTH]",
            Self::Security => "[SECURITY]",
            Self::Store => "[STORE]",
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
}

impl Event {
    /// The event's stable name (`"token_reuse"`, ...).
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::TokenReuse { .. } => "token_reuse",
            Self::TokenRevoked { .. } => "token_revoked",
            Self::StoreUnavailable { .. } => "store_unavailable",
        }
    }

    /// The event's log category.
    #[must_use]
    pub const fn category(&self) -> Category {
        match self {
            Self::TokenReuse { .. } | Self::TokenRevoked { .. } => Category::Security,
            Self::StoreUnavailable { .. } => Category::Store,
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
        }
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
