//! The one place where failures become JavaScript errors.
//!
//! Every error a binding function throws or a Promise rejects with is an
//! `Error` whose `code` is the core's stable code ([`ErrorKind::code`], e.g.
//! `"TOKEN_EXPIRED"`), whose `message` is the core's message (never secret
//! material), and which carries the core's details when there are any: `at`
//! (seconds since the epoch: when the token expired or becomes valid) and
//! `claim` (the claim concerned).
//!
//! Arguments are converted here too ([`arg`], [`bytes_arg`]), so a value of
//! the wrong type is an `INVALID_ARGUMENT` error like any other.
//!
//! Core calls run inside [`guard`], so a panic can never unwind into
//! JavaScript: it becomes an `INTERNAL` error instead.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bastion_core::{Error as CoreError, ErrorKind};
use napi::bindgen_prelude::{
    BufferSlice, Either, FromNapiValue, JsObjectValue, Object, PromiseRaw, ToNapiValue, Unknown,
    ValueType,
};
use napi::{Env, JsError, JsValue, Status};

use crate::settle;
use zeroize::Zeroizing;

/// The `err.code` of an error: a core code, or napi's pending-exception marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code(&'static str);

/// napi's marker for "a JavaScript exception is already pending": errors built
/// by [`to_js`] are thrown directly, so napi must not throw a second one.
const PENDING: Code = Code("PendingException");

impl AsRef<str> for Code {
    fn as_ref(&self) -> &str {
        self.0
    }
}

impl From<Status> for Code {
    /// napi's own failures (conversions inside a binding function) keep the
    /// core's vocabulary: a value of the wrong type is `INVALID_ARGUMENT`,
    /// anything else `INTERNAL`.
    fn from(status: Status) -> Self {
        match status {
            Status::PendingException => PENDING,
            Status::InvalidArg
            | Status::ObjectExpected
            | Status::StringExpected
            | Status::NameExpected
            | Status::FunctionExpected
            | Status::NumberExpected
            | Status::BooleanExpected
            | Status::ArrayExpected
            | Status::BigintExpected
            | Status::DateExpected
            | Status::ArrayBufferExpected => Code(ErrorKind::InvalidArgument.code()),
            _ => Code(ErrorKind::Internal.code()),
        }
    }
}

/// Result of a binding function: errors carry a [`Code`].
pub type Result<T> = napi::Result<T, Code>;

/// Runs a core call, turning a panic into an `INTERNAL` error.
pub fn guard<T>(f: impl FnOnce() -> bastion_core::Result<T>) -> bastion_core::Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(CoreError::new(
            ErrorKind::Internal,
            "internal error: bastion-core panicked",
        ))
    })
}

/// Runs a core call that cannot fail under [`guard`]: a panic throws an
/// `INTERNAL` error instead of aborting the process.
pub fn guarded<T>(env: &Env, f: impl FnOnce() -> T) -> Result<T> {
    guard(|| Ok(f())).map_err(|e| to_js(env, e))
}

/// Converts a JavaScript argument (`undefined`/`null` give `None` for an
/// `Option`): a value of the wrong type is `INVALID_ARGUMENT`, "`name` must
/// be `expected`".
pub fn arg<T: FromNapiValue>(
    value: Unknown<'_>,
    name: &str,
    expected: &str,
) -> bastion_core::Result<T> {
    T::from_unknown(value).map_err(|_| invalid_argument(format!("{name} must be {expected}")))
}

/// A string argument: anything else is `INVALID_ARGUMENT` naming the
/// parameter (napi's own conversion error quotes the whole value, megabytes
/// or a secret included).
pub fn text(env: &Env, value: Unknown<'_>, name: &str) -> Result<String> {
    arg(value, name, "a string").map_err(|e| to_js(env, e))
}

/// Converts an options-object argument: `undefined`/`null` give `None`, an
/// object is read field by field, anything else is `INVALID_ARGUMENT`.
pub fn options_arg<T: FromNapiValue>(
    value: Unknown<'_>,
    name: &str,
    expected: &str,
) -> bastion_core::Result<Option<T>> {
    match value.get_type().map_err(from_napi)? {
        ValueType::Undefined | ValueType::Null => Ok(None),
        ValueType::Object => arg(value, name, expected).map(Some),
        _ => Err(invalid_argument(format!("{name} must be {expected}"))),
    }
}

/// Text or bytes, as JavaScript passes secrets, keys and passwords.
pub enum Bytes<'a> {
    /// A string (its UTF-8 bytes).
    Text(String),
    /// A Buffer, borrowed.
    Buffer(BufferSlice<'a>),
}

impl Bytes<'_> {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Self::Text(s) => s.as_bytes(),
            Self::Buffer(b) => b,
        }
    }

    /// An owned copy, zeroized when dropped (for worker threads).
    pub fn to_owned_secret(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.as_slice().to_vec())
    }
}

/// Converts a string or Buffer argument.
pub fn bytes_arg<'a>(value: Unknown<'a>, name: &str) -> bastion_core::Result<Bytes<'a>> {
    let expected = "a string or a Buffer";
    match value.get_type().map_err(from_napi)? {
        ValueType::String => arg(value, name, expected).map(Bytes::Text),
        _ => arg(value, name, expected).map(Bytes::Buffer),
    }
}

/// A core `INVALID_ARGUMENT` error (for argument conversions in the bindings).
#[cold]
pub fn invalid_argument(message: impl Into<String>) -> CoreError {
    CoreError::new(ErrorKind::InvalidArgument, message)
}

/// A failure of napi itself inside a binding function (a value that could not
/// be converted, a JavaScript callback that threw) as a core error.
#[cold]
pub fn from_napi(err: napi::Error) -> CoreError {
    let kind = if Code::from(err.status) == Code(ErrorKind::InvalidArgument.code()) {
        ErrorKind::InvalidArgument
    } else {
        ErrorKind::Internal
    };
    CoreError::new(kind, err.reason)
}

/// Builds the JavaScript `Error` for `err`: message, `code`, `at`, `claim`,
/// `retryAfter`.
fn js_error<'e>(env: &'e Env, err: &CoreError) -> napi::Result<Object<'e>> {
    let error = napi::Error::new(Code(err.code()), err.message().to_owned());
    let value: Unknown<'e> = JsError::from(error).into_unknown(*env);
    let mut obj = Object::from_raw(env.raw(), value.raw());
    if let Some(at) = err.at() {
        obj.set_named_property("at", at)?;
    }
    if let Some(claim) = err.claim() {
        obj.set_named_property("claim", claim)?;
    }
    if let Some(secs) = err.retry_after() {
        obj.set_named_property("retryAfter", secs)?;
    }
    Ok(obj)
}

/// Converts a core error for a synchronous binding function: the JavaScript
/// error is thrown here, and the returned value tells napi it is pending.
#[cold]
pub fn to_js(env: &Env, err: CoreError) -> napi::Error<Code> {
    match js_error(env, &err).and_then(|obj| env.throw(obj)) {
        Ok(()) => napi::Error::new(PENDING, String::new()),
        Err(_) => napi::Error::new(Code(err.code()), err.message().to_owned()),
    }
}

/// Converts a core error into a Promise rejection (for `AsyncTask::resolve`):
/// the Promise rejects with the same `Error` a synchronous call would throw.
#[cold]
pub fn to_rejection(env: &Env, err: CoreError) -> napi::Error {
    match js_error(env, &err) {
        Ok(obj) => napi::Error::from(obj.to_unknown()),
        Err(e) => e,
    }
}

/// Runs `fut` on the engine's I/O runtime and returns a Promise of its output,
/// converted by `convert` on the JavaScript thread. A core error rejects the
/// Promise with the same `Error` (and `code`) a synchronous call would throw;
/// a panic in the core becomes an `INTERNAL` error. Settling is batched (see
/// [`crate::settle`]).
pub fn promise<'env, T, V, F, C>(env: &'env Env, fut: F, convert: C) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = bastion_core::Result<T>> + Send + 'static,
    C: FnOnce(&'env Env, T) -> napi::Result<V> + Send + 'static,
{
    settle::spawn(env, fut, move |env, result| match result {
        Ok(v) => convert(env, v),
        Err(e) => Err(to_rejection(env, e)),
    })
    .map_err(|e| napi::Error::new(Code::from(e.status), e.reason))
}

/// A number argument that must be a whole number from 0 to `max` (at most
/// 2^53, where JavaScript numbers stop being exact).
pub fn whole(value: f64, name: &str, max: f64) -> bastion_core::Result<u64> {
    if value.fract() == 0.0 && (0.0..=max).contains(&value) {
        Ok(value as u64)
    } else {
        Err(invalid_argument(format!(
            "{name} must be a whole number from 0 to {max}"
        )))
    }
}

/// A subject or owner given as a string or an integer (a database id); an
/// integer becomes its decimal text.
pub fn subject_arg(value: Unknown<'_>, name: &str) -> bastion_core::Result<String> {
    subject_text(arg(value, name, "a string or an integer")?, name)
}

/// [`subject_arg`] for a value napi already converted (an options field).
pub fn subject_text(value: Either<String, f64>, name: &str) -> bastion_core::Result<String> {
    match value {
        Either::A(s) => Ok(s),
        Either::B(n) if n.fract() == 0.0 && n.abs() < 9_007_199_254_740_992.0 => {
            Ok(format!("{}", n as i64))
        }
        Either::B(_) => Err(invalid_argument(format!(
            "{name} must be a string or an integer"
        ))),
    }
}
