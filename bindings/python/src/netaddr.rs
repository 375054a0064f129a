//! Client IP resolution behind trusted proxies (mirrors `bastion_core::netaddr`):
//! `client_ip` and `client_key`. Every rule is the core's; this file only
//! turns Python arguments into header pairs and options.

use crate::errors::IntoPyResult;
use bastion_core::netaddr::{self as core, ClientIpOptions, ForwardedHeader, TrustedProxies};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString};

/// A header name or value: `str`, or `bytes` (ASGI raw headers) decoded
/// lossily, so invalid bytes make a malformed entry. `None` for other types.
fn text(obj: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Some(s.to_str()?.to_owned()));
    }
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(Some(String::from_utf8_lossy(b.as_bytes()).into_owned()));
    }
    Ok(None)
}

/// The (name, value) pairs of a mapping (its `.items()`: a dict, Django's
/// `request.META`, Starlette `Headers`) or of an iterable of pairs. Mapping
/// entries whose name or value is not text (`wsgi.input` ...) are skipped.
fn pairs(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let is_mapping = headers.hasattr("items")?;
    let iterable = if is_mapping {
        headers.call_method0("items")?
    } else {
        headers.clone()
    };
    let mut out = Vec::new();
    for item in iterable.try_iter()? {
        let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
        match (text(&name)?, text(&value)?) {
            (Some(n), Some(v)) => out.push((n, v)),
            _ if is_mapping => {}
            _ => return Err(PyTypeError::new_err(
                "headers must be a mapping or an iterable of (name, value) pairs of str or bytes",
            )),
        }
    }
    Ok(out)
}

fn trusted(obj: &Bound<'_, PyAny>) -> PyResult<TrustedProxies> {
    let wrong = || {
        PyTypeError::new_err(
            "trusted_proxies must be a hop count or a sequence of addresses and CIDR ranges",
        )
    };
    if obj.is_instance_of::<PyBool>() {
        return Err(wrong());
    }
    if let Ok(n) = obj.extract::<u64>() {
        return TrustedProxies::hops(n).py_err();
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return TrustedProxies::cidrs([s.to_str()?]).py_err();
    }
    let items: Vec<String> = obj.extract().map_err(|_| wrong())?;
    TrustedProxies::cidrs(items).py_err()
}

fn options(
    trusted_proxies: Option<&Bound<'_, PyAny>>,
    header: &str,
    ipv6_prefix: Option<u32>,
) -> PyResult<ClientIpOptions> {
    Ok(ClientIpOptions {
        trusted: trusted_proxies.map_or(Ok(TrustedProxies::None), trusted)?,
        header: ForwardedHeader::parse(header).py_err()?,
        // Out-of-range prefixes stay out of range for the core to refuse.
        ipv6_prefix: ipv6_prefix.map(|p| u8::try_from(p).unwrap_or(u8::MAX)),
    })
}

/// The client address of a request, as text (IPv6 in its canonical form,
/// IPv4-mapped addresses as IPv4). ``peer`` is the TCP peer (``REMOTE_ADDR``);
/// ``headers`` a mapping (a dict, ``request.META``, Starlette ``Headers``) or
/// an iterable of (name, value) pairs, repeated names allowed. The forwarding
/// ``header`` is read only when the peer is one of ``trusted_proxies``
/// (addresses, CIDR ranges, ``"loopback"``, ``"private"``, ``"linklocal"``,
/// or a hop count), walking from the right and returning the first untrusted
/// address; a malformed entry stops the walk at the proxy that forwarded it.
/// Raises ``InvalidArgumentError`` for a bad peer, range, header name or
/// ``ipv6_prefix``.
#[pyfunction]
#[pyo3(signature = (peer, headers, *, trusted_proxies = None, header = "X-Forwarded-For", ipv6_prefix = None))]
pub fn client_ip(
    peer: &str,
    headers: &Bound<'_, PyAny>,
    trusted_proxies: Option<&Bound<'_, PyAny>>,
    header: &str,
    ipv6_prefix: Option<u32>,
) -> PyResult<String> {
    let opts = options(trusted_proxies, header, ipv6_prefix)?;
    let pairs = pairs(headers)?;
    let ip = core::client_ip(
        peer,
        pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        &opts,
    )
    .py_err()?;
    Ok(ip.to_string())
}

/// :func:`client_ip` as a rate-limit key: the address, or for IPv6 with
/// ``ipv6_prefix`` set (1 to 128) its network, such as ``"2001:db8:1:2::/64"``.
#[pyfunction]
#[pyo3(signature = (peer, headers, *, trusted_proxies = None, header = "X-Forwarded-For", ipv6_prefix = None))]
pub fn client_key(
    peer: &str,
    headers: &Bound<'_, PyAny>,
    trusted_proxies: Option<&Bound<'_, PyAny>>,
    header: &str,
    ipv6_prefix: Option<u32>,
) -> PyResult<String> {
    let opts = options(trusted_proxies, header, ipv6_prefix)?;
    let pairs = pairs(headers)?;
    core::client_key(
        peer,
        pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        &opts,
    )
    .py_err()
}
