//! `NativeSingleFlight` (core `singleflight` module): the native half of
//! `node/lib/singleflight.js`. The core decides who leads each flight and
//! wakes the followers; the values stay in JavaScript (the leader files its
//! outcome under a slot number, which is what travels through the core).
//! Parts of a flight are held here under a number the JavaScript side keeps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bastion_core::singleflight::{Follower, Joined, Leader, Role, SingleFlight as CoreFlights};
use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::Env;
use napi_derive::napi;

use crate::errors::{self, invalid_argument, text, Result};
use crate::settle;

#[derive(Default)]
struct Parts {
    next: u64,
    leaders: HashMap<u64, Leader<f64>>,
    followers: HashMap<u64, Follower<f64>>,
}

impl Parts {
    fn lead(&mut self, l: Leader<f64>) -> f64 {
        self.next += 1;
        self.leaders.insert(self.next, l);
        self.next as f64
    }
}

/// The table of flights (use `SingleFlight` from the package, which adds
/// `do(key, fn)`).
#[napi(js_name = "NativeSingleFlight")]
pub struct NativeSingleFlight {
    inner: CoreFlights<f64>,
    parts: Arc<Mutex<Parts>>,
}

impl NativeSingleFlight {
    fn parts(&self) -> std::sync::MutexGuard<'_, Parts> {
        self.parts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[napi]
impl NativeSingleFlight {
    #[napi(constructor)]
    pub fn new() -> Self {
        Self {
            inner: CoreFlights::new(),
            parts: Arc::default(),
        }
    }

    /// Joins `key`'s flight: a positive number for its leader, a negative
    /// one for a follower (pass its magnitude to `wait`).
    #[napi(ts_args_type = "key: string")]
    pub fn begin(&self, env: &Env, key: Unknown) -> Result<f64> {
        let key = text(env, key, "key")?;
        errors::guarded(env, || {
            let role = self.inner.begin(&key);
            let mut parts = self.parts();
            match role {
                Role::Leader(l) => parts.lead(l),
                Role::Follower(f) => {
                    parts.next += 1;
                    let id = parts.next;
                    parts.followers.insert(id, f);
                    -(id as f64)
                }
            }
        })
    }

    /// The leader `token` files its outcome under `slot`: every follower
    /// waiting now receives the slot. Returns how many there were.
    #[napi]
    pub fn complete(&self, env: &Env, token: f64, slot: f64) -> Result<u32> {
        let leader = self.parts().leaders.remove(&(token as u64));
        match leader {
            Some(l) => errors::guarded(env, || l.complete(Ok(slot)) as u32),
            None => Err(errors::to_js(
                env,
                invalid_argument("not a leader of a running flight"),
            )),
        }
    }

    /// The leader `token` goes away without an outcome: a waiting follower
    /// is handed the lead.
    #[napi]
    pub fn abandon(&self, env: &Env, token: f64) -> Result<()> {
        // Dropping a leader hands the lead to a waiting follower (core code).
        errors::guarded(env, || drop(self.parts().leaders.remove(&(token as u64))))
    }

    /// Resolves, for follower `token`, to `["value", slot]` or, when the
    /// leader went away, to `["lead", leaderToken]`.
    #[napi(ts_return_type = "Promise<[string, number]>")]
    pub fn wait<'env>(
        &self,
        env: &'env Env,
        token: f64,
    ) -> Result<PromiseRaw<'env, (String, f64)>> {
        let follower = self.parts().followers.remove(&(token as u64));
        let Some(f) = follower else {
            return Err(errors::to_js(
                env,
                invalid_argument("not a follower waiting for a flight"),
            ));
        };
        let parts = Arc::clone(&self.parts);
        settle::spawn(env, f.wait_async(), move |env, joined| match joined {
            Joined::Shared(Ok(slot)) => Ok(("value".to_owned(), slot)),
            // The JavaScript side completes with a slot, never an error.
            Joined::Shared(Err(e)) => Err(errors::to_rejection(env, e)),
            Joined::Lead(l) => {
                let token = parts.lock().unwrap_or_else(|p| p.into_inner()).lead(l);
                Ok(("lead".to_owned(), token))
            }
        })
        .map_err(|e| napi::Error::new(errors::Code::from(e.status), e.reason))
    }

    /// Removes `key`'s flight: its followers still get its outcome; the next
    /// caller starts a new one.
    #[napi(ts_args_type = "key: string")]
    pub fn forget(&self, env: &Env, key: Unknown) -> Result<()> {
        let key = text(env, key, "key")?;
        errors::guarded(env, || self.inner.forget(&key))
    }

    /// How many callers are waiting for `key`'s flight now.
    #[napi(ts_args_type = "key: string")]
    pub fn waiting(&self, env: &Env, key: Unknown) -> Result<u32> {
        let key = text(env, key, "key")?;
        errors::guarded(env, || self.inner.waiting(&key) as u32)
    }

    /// How many flights are running.
    #[napi(getter)]
    pub fn in_flight(&self, env: &Env) -> Result<u32> {
        errors::guarded(env, || self.inner.in_flight() as u32)
    }
}

impl Default for NativeSingleFlight {
    fn default() -> Self {
        Self::new()
    }
}
