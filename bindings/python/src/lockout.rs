//! `Lockout` and `LockoutState`: account lockout after failed logins (core:
//! `bastion_core::lockout`). Every rule (keys, cool-offs, normalisation,
//! outage policy, the uniform login flow) is the core's; no password appears
//! in `repr`, in errors or in events.

use crate::aio;
use crate::clock::{self, ManualClock};
use crate::errors::InvalidArgumentError as PyValueError;
use crate::errors::{self, IntoPyResult};
use crate::password::{password_bytes, PasswordHasher};
use crate::store::{blocking, Store};
use bastion_core::lockout::{
    Attempt, LockedEntry, Lockout as CoreLockout, LockoutOptions, LockoutState as CoreState, Param,
    Progressive,
};
use bastion_core::password::{HasherOptions, PasswordHasher as CoreHasher};
use bastion_core::store::{MemoryOptions, OutagePolicy, Store as CoreStore};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use std::sync::Arc;
use zeroize::Zeroizing;

/// A lockout's state for one attempt: the worst of its keys. ``repr`` shows
/// counts and times only.
#[pyclass(frozen, module = "bastion._native")]
pub struct LockoutState {
    inner: CoreState,
}

impl From<CoreState> for LockoutState {
    fn from(inner: CoreState) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl LockoutState {
    /// True while a key of the attempt is locked.
    #[getter]
    fn locked(&self) -> bool {
        self.inner.locked
    }

    /// Whole seconds until the lock ends, rounded up (0 when not locked): the
    /// ``Retry-After`` value.
    #[getter]
    fn retry_after(&self) -> u64 {
        self.inner.retry_after
    }

    /// When the lock ends (seconds since the epoch), or None.
    #[getter]
    fn locked_until(&self) -> Option<f64> {
        self.inner.locked_until
    }

    /// Failures counted on the worst key.
    #[getter]
    fn failures(&self) -> u32 {
        self.inner.failures
    }

    /// Failures the worst key may still take before it locks (0 when locked).
    #[getter]
    fn remaining(&self) -> u32 {
        self.inner.remaining
    }

    /// The parameter group of the worst key (``["username"]``,
    /// ``["username", "ip_address"]``...); empty when the attempt carried none
    /// of the configured parameters.
    #[getter]
    fn parameters(&self) -> Vec<&'static str> {
        self.inner.parameters.iter().map(|p| p.name()).collect()
    }

    /// Raises :class:`~bastion.exceptions.AccountLockedError` (with
    /// ``retry_after``) when locked; the message is the same for every
    /// username.
    fn raise_if_locked(&self) -> PyResult<()> {
        match self.inner.error() {
            Some(e) => Err(errors::to_py(e)),
            None => Ok(()),
        }
    }

    fn __repr__(&self) -> String {
        let s = &self.inner;
        let params: Vec<String> = self.parameters().iter().map(|p| format!("'{p}'")).collect();
        format!(
            "LockoutState(locked={}, retry_after={}, failures={}, remaining={}, parameters=[{}])",
            if s.locked { "True" } else { "False" },
            s.retry_after,
            s.failures,
            s.remaining,
            params.join(", ")
        )
    }
}

/// axes' ``AXES_LOCKOUT_PARAMETERS``: each entry a name or a list of names.
fn parameters_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<Param>>> {
    if obj.is_instance_of::<PyString>() {
        return Err(errors::type_error(
            "parameters",
            "a list of names or of lists of names",
            obj,
        ));
    }
    let mut groups = Vec::new();
    for item in obj.try_iter()? {
        let item = item?;
        let names: Vec<String> = if let Ok(s) = item.cast::<PyString>() {
            vec![crate::json::py_str(s)?.to_owned()]
        } else {
            item.extract().map_err(|_| {
                errors::type_error("a parameter group", "a name or a list of names", &item)
            })?
        };
        groups.push(
            names
                .iter()
                .map(|n| Param::parse(n))
                .collect::<bastion_core::Result<Vec<_>>>()
                .py_err()?,
        );
    }
    Ok(groups)
}

/// ``None``/``False``: off; ``True``: the defaults; a mapping with
/// ``factor``, ``max_cooloff`` and ``memory``.
fn progressive_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Progressive>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    if let Ok(on) = obj.extract::<bool>() {
        return Ok(on.then(Progressive::default));
    }
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| errors::type_error("progressive", "True or a dict", obj))?;
    let mut p = Progressive::default();
    for (k, v) in d.iter() {
        let key: String = k.extract()?;
        match key.as_str() {
            "factor" => p.factor = v.extract()?,
            "max_cooloff" => p.max_cooloff = crate::timespan::span(&v, "max_cooloff")?,
            "memory" => p.memory = crate::timespan::span(&v, "memory")?,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown progressive setting {other:?}: expected factor, max_cooloff, memory"
                )))
            }
        }
    }
    Ok(Some(p))
}

fn entry_dict<'py>(py: Python<'py>, e: &LockedEntry) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let names: Vec<&str> = e.parameters.iter().map(|p| p.name()).collect();
    d.set_item("parameters", names)?;
    for (p, v) in e.parameters.iter().zip(&e.values) {
        d.set_item(p.name(), v)?;
    }
    d.set_item("locked_until", e.locked_until)?;
    d.set_item("retry_after", e.retry_after)?;
    Ok(d)
}

fn entries<'py>(py: Python<'py>, v: &[LockedEntry]) -> PyResult<Bound<'py, PyAny>> {
    let list = PyList::empty(py);
    for e in v {
        list.append(entry_dict(py, e)?)?;
    }
    Ok(list.into_any())
}

/// The hasher whose dummy hash stands in for an unknown user's: None (the
/// default Argon2id), an algorithm name (``"pbkdf2_sha256"``: that format's
/// defaults, Django's for Django's algorithms), a native ``PasswordHasher``, or
/// ``bastion.PasswordHasher`` (argon2-cffi's API, which wraps one).
fn hasher_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<CoreHasher> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(CoreHasher::default());
    };
    if let Ok(s) = obj.cast::<PyString>() {
        let options = HasherOptions {
            algorithm: Some(crate::json::py_str(s)?.to_owned()),
            ..HasherOptions::default()
        };
        return CoreHasher::from_options(&options).py_err();
    }
    if let Ok(h) = obj.cast::<PasswordHasher>() {
        return Ok(h.get().inner.clone());
    }
    if let Ok(inner) = obj.getattr("_hasher") {
        if let Ok(h) = inner.cast::<PasswordHasher>() {
            return Ok(h.get().inner.clone());
        }
    }
    Err(errors::type_error(
        "hasher",
        "a PasswordHasher or an algorithm name",
        obj,
    ))
}

fn state_obj(py: Python<'_>, s: CoreState) -> PyResult<Bound<'_, PyAny>> {
    Ok(Bound::new(py, LockoutState::from(s))?.into_any())
}

/// Account lockout after failed logins, with django-axes' settings: a key per
/// parameter group (``parameters``, axes' ``AXES_LOCKOUT_PARAMETERS``;
/// default ``[["username"], ["ip_address"]]``: per username and, apart, per
/// IP address; axes' own default is ``["ip_address"]``), ``failure_limit``
/// failures (default 10) lock a key for ``cooloff`` (seconds, a
/// ``timedelta`` or ``"30m"``; default one hour), and failures expire a
/// cool-off after the last one.
///
/// - :meth:`record_failure` counts a failure against every key of the
///   attempt in one atomic round trip and returns the new
///   :class:`LockoutState`; :meth:`check` only reads.
/// - :meth:`record_success` resets the keys of the groups containing
///   ``username`` (``reset_on_success``); the IP address's count stays.
/// - :meth:`unlock` (a username, an IP address, or both: that user at that
///   address), :meth:`locked` (the locks in force).
/// - :meth:`login` is the whole flow with uniform answers: an unknown user
///   and a wrong password both give ``False`` (and run the same password
///   hash), a lock raises :class:`~bastion.exceptions.AccountLockedError`.
///
/// ``progressive``: ``True`` or ``{"factor": 2, "max_cooloff": "1d",
/// "memory": "1d"}`` makes each lock within ``memory`` of the last one longer.
/// ``max_failures`` caps the counters; ``extend_on_failure`` (axes'
/// ``AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT``) restarts the cool-off
/// on a failure during a lock. ``outage_policy``: ``"local"`` (default,
/// count in this process while Redis is unreachable), ``"fail_closed"`` or
/// ``"fail_open"``. ``on_event`` receives a dict per event (``locked_out``,
/// ``unlocked``, ``store_unavailable``; identifiers only). Every method has
/// an ``a``-prefixed awaitable twin.
#[pyclass(frozen, module = "bastion._native")]
pub struct Lockout {
    inner: Arc<CoreLockout>,
}

type Args = (Option<String>, Option<String>, Option<String>);

fn attempt((u, ip, ua): &Args) -> Attempt {
    Attempt::new(u.as_deref(), ip.as_deref(), ua.as_deref())
}

#[pymethods]
impl Lockout {
    #[new]
    #[pyo3(signature = (store = None, *, failure_limit = 10, cooloff = None, parameters = None, reset_on_success = true, progressive = None, max_failures = 1000, extend_on_failure = true, outage_policy = "local", name = "login", clock = None, on_event = None))]
    #[pyo3(
        text_signature = "(store=None, *, failure_limit=10, cooloff=3600, parameters=None, reset_on_success=True, progressive=None, max_failures=1000, extend_on_failure=True, outage_policy='local', name='login', clock=None, on_event=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        store: Option<&Bound<'_, Store>>,
        failure_limit: u32,
        cooloff: Option<&Bound<'_, PyAny>>,
        parameters: Option<&Bound<'_, PyAny>>,
        reset_on_success: bool,
        progressive: Option<&Bound<'_, PyAny>>,
        max_failures: u32,
        extend_on_failure: bool,
        outage_policy: &str,
        name: &str,
        clock: Option<&Bound<'_, ManualClock>>,
        on_event: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let defaults = LockoutOptions::default();
        let options = LockoutOptions {
            name: name.to_owned(),
            failure_limit,
            cooloff: cooloff
                .filter(|c| !c.is_none())
                .map_or(Ok(defaults.cooloff), |c| {
                    crate::timespan::span(c, "cooloff")
                })?,
            parameters: parameters
                .filter(|p| !p.is_none())
                .map_or(Ok(defaults.parameters), parameters_arg)?,
            reset_on_success,
            progressive: progressive_arg(progressive)?,
            max_failures,
            extend_on_failure,
            outage_policy: OutagePolicy::parse(outage_policy).py_err()?,
            clock: clock::resolve(clock),
        };
        let store = match store {
            Some(s) => s.get().inner.clone(),
            None => CoreStore::memory(MemoryOptions {
                clock: clock::resolve(clock),
                ..MemoryOptions::default()
            }),
        };
        let lockout = CoreLockout::new(store, options).py_err()?;
        crate::events::attach(lockout.listeners(), on_event);
        Ok(Self {
            inner: Arc::new(lockout),
        })
    }

    /// The attempt's state, without counting anything (one read).
    #[pyo3(signature = (username = None, ip_address = None, user_agent = None))]
    fn check(
        &self,
        py: Python<'_>,
        username: Option<String>,
        ip_address: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<LockoutState> {
        let a = attempt(&(username, ip_address, user_agent));
        let l = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), false, move || l.check(&a))
            .map(LockoutState::from)
            .py_err()
    }

    /// Awaitable :meth:`check`.
    #[pyo3(signature = (username = None, ip_address = None, user_agent = None))]
    fn acheck<'py>(
        &self,
        py: Python<'py>,
        username: Option<String>,
        ip_address: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = attempt(&(username, ip_address, user_agent));
        let l = Arc::clone(&self.inner);
        aio::into_awaitable_with(py, async move { l.check_async(&a).await }, state_obj)
    }

    /// Counts one failed attempt against every key of the attempt, atomically,
    /// and returns the new state (locked when this or an earlier failure
    /// locked a key).
    #[pyo3(signature = (username = None, ip_address = None, user_agent = None))]
    fn record_failure(
        &self,
        py: Python<'_>,
        username: Option<String>,
        ip_address: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<LockoutState> {
        let a = attempt(&(username, ip_address, user_agent));
        let l = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), false, move || l.record_failure(&a))
            .map(LockoutState::from)
            .py_err()
    }

    /// Awaitable :meth:`record_failure`.
    #[pyo3(signature = (username = None, ip_address = None, user_agent = None))]
    fn arecord_failure<'py>(
        &self,
        py: Python<'py>,
        username: Option<String>,
        ip_address: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = attempt(&(username, ip_address, user_agent));
        let l = Arc::clone(&self.inner);
        aio::into_awaitable_with(
            py,
            async move { l.record_failure_async(&a).await },
            state_obj,
        )
    }

    /// A successful login: resets the keys of the groups containing
    /// ``username`` (the IP address's count stays).
    #[pyo3(signature = (username = None, ip_address = None, user_agent = None))]
    fn record_success(
        &self,
        py: Python<'_>,
        username: Option<String>,
        ip_address: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<()> {
        let a = attempt(&(username, ip_address, user_agent));
        let l = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), false, move || l.record_success(&a)).py_err()
    }

    /// Awaitable :meth:`record_success`.
    #[pyo3(signature = (username = None, ip_address = None, user_agent = None))]
    fn arecord_success<'py>(
        &self,
        py: Python<'py>,
        username: Option<String>,
        ip_address: Option<String>,
        user_agent: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = attempt(&(username, ip_address, user_agent));
        let l = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move { l.record_success_async(&a).await })
    }

    /// Removes every key that applies to ``username``, to ``ip_address``, or
    /// (both given) to that user at that address, combination keys included.
    /// Returns how many keys held failures or a lock.
    #[pyo3(signature = (username = None, ip_address = None))]
    fn unlock(
        &self,
        py: Python<'_>,
        username: Option<String>,
        ip_address: Option<String>,
    ) -> PyResult<usize> {
        let l = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), false, move || {
            l.unlock(username.as_deref(), ip_address.as_deref())
        })
        .py_err()
    }

    /// Awaitable :meth:`unlock`.
    #[pyo3(signature = (username = None, ip_address = None))]
    fn aunlock<'py>(
        &self,
        py: Python<'py>,
        username: Option<String>,
        ip_address: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let l = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move {
            l.unlock_async(username.as_deref(), ip_address.as_deref())
                .await
        })
    }

    /// The locks in force, soonest to end first, at most ``limit``: dicts with
    /// ``parameters``, the values by parameter name (``username``,
    /// ``ip_address``, ``user_agent``), ``locked_until`` and ``retry_after``.
    #[pyo3(signature = (limit = 1000))]
    fn locked<'py>(&self, py: Python<'py>, limit: usize) -> PyResult<Bound<'py, PyAny>> {
        let l = Arc::clone(&self.inner);
        let v = blocking(py, self.inner.store(), false, move || l.locked(limit)).py_err()?;
        entries(py, &v)
    }

    /// Awaitable :meth:`locked`.
    #[pyo3(signature = (limit = 1000))]
    fn alocked<'py>(&self, py: Python<'py>, limit: usize) -> PyResult<Bound<'py, PyAny>> {
        let l = Arc::clone(&self.inner);
        aio::into_awaitable_with(py, async move { l.locked_async(limit).await }, |py, v| {
            entries(py, &v)
        })
    }

    /// One login with uniform answers: ``True`` when ``password`` matches
    /// ``stored_hash``; ``False`` for a wrong password and for an unknown user
    /// (``stored_hash=None``: a dummy hash of ``hasher`` is verified instead,
    /// the same work); :class:`~bastion.exceptions.AccountLockedError` when
    /// the attempt is locked, before or by this failure. Failures are counted
    /// under the submitted username whether it exists or not. ``hasher``
    /// should be what hashes your users' passwords, so the dummy costs the
    /// same: a ``PasswordHasher`` or an algorithm name (``"pbkdf2_sha256"``
    /// for Django's default; None: Argon2id with argon2-cffi's defaults).
    #[pyo3(signature = (username, password, stored_hash, *, ip_address = None, user_agent = None, hasher = None))]
    #[allow(clippy::too_many_arguments)]
    fn login(
        &self,
        py: Python<'_>,
        username: Option<String>,
        password: &Bound<'_, PyAny>,
        stored_hash: Option<String>,
        ip_address: Option<String>,
        user_agent: Option<String>,
        hasher: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let a = attempt(&(username, ip_address, user_agent));
        let pw = Zeroizing::new(password_bytes(password)?.to_vec());
        let h = hasher_arg(hasher)?;
        let l = Arc::clone(&self.inner);
        blocking(py, self.inner.store(), true, move || {
            l.login(&a, &pw, stored_hash.as_deref(), &h)
        })
        .py_err()
    }

    /// Awaitable :meth:`login` (the hash runs off the event loop).
    #[pyo3(signature = (username, password, stored_hash, *, ip_address = None, user_agent = None, hasher = None))]
    #[allow(clippy::too_many_arguments)]
    fn alogin<'py>(
        &self,
        py: Python<'py>,
        username: Option<String>,
        password: &Bound<'_, PyAny>,
        stored_hash: Option<String>,
        ip_address: Option<String>,
        user_agent: Option<String>,
        hasher: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a = attempt(&(username, ip_address, user_agent));
        let pw = Zeroizing::new(password_bytes(password)?.to_vec());
        let h = hasher_arg(hasher)?;
        let l = Arc::clone(&self.inner);
        aio::into_awaitable(py, async move {
            l.login_async(&a, &pw, stored_hash.as_deref(), &h).await
        })
    }

    /// The lockout's name.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.options().name
    }

    /// Failures that lock a key.
    #[getter]
    fn failure_limit(&self) -> u32 {
        self.inner.options().failure_limit
    }

    /// The cool-off, in seconds.
    #[getter]
    fn cooloff(&self) -> f64 {
        self.inner.options().cooloff.as_secs_f64()
    }

    /// The parameter groups, in canonical order.
    #[getter]
    fn parameters(&self) -> Vec<Vec<&'static str>> {
        self.inner
            .options()
            .parameters
            .iter()
            .map(|g| g.iter().map(|p| p.name()).collect())
            .collect()
    }

    fn __repr__(&self) -> String {
        let o = self.inner.options();
        let groups: Vec<String> = self
            .parameters()
            .iter()
            .map(|g| {
                let names: Vec<String> = g.iter().map(|p| format!("'{p}'")).collect();
                format!("[{}]", names.join(", "))
            })
            .collect();
        format!(
            "Lockout(name='{}', failure_limit={}, cooloff={}, parameters=[{}], store='{}', outage_policy='{}')",
            o.name,
            o.failure_limit,
            o.cooloff.as_secs_f64(),
            groups.join(", "),
            self.inner.store().kind(),
            o.outage_policy.name()
        )
    }
}
