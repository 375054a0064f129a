//! Metrics, the health snapshot and process-wide security events (core
//! `metrics` and `events` modules).

use std::collections::HashMap;
use std::sync::Arc;

use bastion_core::events::{self, Event, Severity};
use bastion_core::metrics::{self as core_metrics, Health as CoreHealth};
use napi::bindgen_prelude::{Function, PromiseRaw, Unknown, ValueType};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;
use napi::Env;
use napi_derive::napi;

use crate::errors::{self, arg, promise, Result};
use crate::events::event_fields;

/// Every metric in the Prometheus text format (version 0.0.4).
#[napi]
pub fn metrics(env: &Env) -> Result<String> {
    errors::guarded(env, core_metrics::render)
}

/// One store in a health snapshot.
#[napi(object)]
pub struct StoreHealth {
    /// `"memory"`, `"redis"` or `"redis-cluster"`.
    pub kind: String,
    /// The store's URL without credentials.
    pub url: String,
    /// Whether it answered a `PING` within its timeout.
    pub reachable: bool,
    /// The round trip in milliseconds, when it answered.
    pub ping_ms: Option<f64>,
    /// The error code when it did not (`"STORE_UNAVAILABLE"`).
    pub error: Option<String>,
}

/// One breaker in a health snapshot.
#[napi(object)]
pub struct BreakerHealth {
    pub name: String,
    /// `"closed"`, `"open"` or `"half-open"`.
    pub state: String,
    /// `"local"`, `"shared"` or `"fallback"`.
    pub mode: String,
}

/// A readiness snapshot.
#[napi(object)]
pub struct Health {
    /// True when every store answered (open breakers do not make a process
    /// unready).
    pub ok: bool,
    pub stores: Vec<StoreHealth>,
    pub breakers: Vec<BreakerHealth>,
}

fn to_js(h: CoreHealth) -> Health {
    Health {
        ok: h.ok,
        stores: h
            .stores
            .into_iter()
            .map(|s| StoreHealth {
                kind: s.kind.into(),
                url: s.url,
                reachable: s.reachable,
                ping_ms: s.ping_ms,
                error: s.error.map(Into::into),
            })
            .collect(),
        breakers: h
            .breakers
            .into_iter()
            .map(|b| BreakerHealth {
                name: b.name,
                state: b.state.into(),
                mode: b.mode.into(),
            })
            .collect(),
    }
}

/// The readiness snapshot: resolves once every live store the application
/// made answered a `PING` (or its timeout passed), with every live breaker's
/// state. The in-process fallback stores of Redis-backed components (outage
/// policy `"local"`) are internal and not listed.
#[napi(ts_return_type = "Promise<Health>")]
pub fn health(env: &Env) -> Result<PromiseRaw<'_, Health>> {
    promise(
        env,
        async { Ok(core_metrics::health_async().await) },
        |_, h| Ok(to_js(h)),
    )
}

/// Calls `listener(event)` for every security event of every component whose
/// severity is at least `minSeverity` (`"info"`, `"warning"` or `"error"`;
/// default `"info"`). The object holds `event`, `category`, `severity`,
/// `message` (the log line) and the event's fields. The listener stays for
/// the process's life, runs on the JavaScript thread after the call that
/// emitted the event, and does not keep the process alive.
#[napi(ts_args_type = "listener: (event: Record<string, string>) => void, minSeverity?: string")]
pub fn add_event_listener(env: &Env, listener: Unknown, min_severity: Unknown) -> Result<()> {
    errors::guard(|| {
        let min = match min_severity.get_type().map_err(errors::from_napi)? {
            ValueType::Undefined | ValueType::Null => Severity::Info,
            _ => {
                let s: String = arg(min_severity, "minSeverity", "a string")?;
                Severity::parse(&s)?
            }
        };
        let f: Function<HashMap<String, String>, ()> = arg(listener, "listener", "a function")?;
        let tsfn = f
            .build_threadsafe_function()
            .weak::<true>()
            .build()
            .map_err(errors::from_napi)?;
        events::add_global(
            min,
            Arc::new(move |e: &Event| {
                let mut fields = event_fields(e);
                fields.insert("severity".into(), e.severity().as_str().into());
                fields.insert("message".into(), e.to_string());
                tsfn.call(fields, ThreadsafeFunctionCallMode::NonBlocking);
            }),
        );
        Ok(())
    })
    .map_err(|e| errors::to_js(env, e))
}
