//! Security events (core `events` module) delivered to a JavaScript
//! `onEvent` callback, for every component that reports them.
//!
//! The callback receives a plain object: `event` (the stable name, e.g.
//! `"store_unavailable"`), `category` (the log prefix, e.g. `"[STORE]"`) and
//! the event's fields. It is called on the JavaScript thread after the call
//! that emitted the event, whichever thread emitted it; it never changes that
//! call's outcome, and it does not keep the process alive.

use std::collections::HashMap;
use std::sync::Arc;

use bastion_core::events::{Event, Listeners};
use napi::bindgen_prelude::{Function, Unknown, ValueType};
use napi::threadsafe_function::ThreadsafeFunctionCallMode;

use crate::errors::{self, arg};

/// The object an `onEvent` callback receives.
pub fn event_fields(e: &Event) -> HashMap<String, String> {
    let mut m: HashMap<String, String> = e
        .fields()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    m.insert("event".into(), e.name().into());
    m.insert("category".into(), e.category().prefix().into());
    m
}

/// Delivers the events of `listeners` to `on_event`: a function, or
/// `undefined`/`null` for none; anything else is `INVALID_ARGUMENT`.
pub fn attach(listeners: &Listeners, on_event: Unknown<'_>) -> bastion_core::Result<()> {
    match on_event.get_type().map_err(errors::from_napi)? {
        ValueType::Undefined | ValueType::Null => return Ok(()),
        ValueType::Function => {}
        _ => return Err(errors::invalid_argument("onEvent must be a function")),
    }
    let f: Function<HashMap<String, String>, ()> = arg(on_event, "onEvent", "a function")?;
    let tsfn = f
        .build_threadsafe_function()
        .weak::<true>()
        .build()
        .map_err(errors::from_napi)?;
    listeners.add(Arc::new(move |e: &Event| {
        tsfn.call(event_fields(e), ThreadsafeFunctionCallMode::NonBlocking);
    }));
    Ok(())
}
