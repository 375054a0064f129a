//! Client IP resolution behind trusted proxies (core `netaddr` module):
//! `clientIp` and `clientKey`. Every rule is the core's; this file only turns
//! `req.headers` and the options object into core arguments.

use std::collections::HashMap;

use bastion_core::netaddr::{self as core, ClientIpOptions, ForwardedHeader, TrustedProxies};
use bastion_core::Result as CoreResult;
use napi::bindgen_prelude::{Either3, Unknown, ValueType};
use napi::{Env, JsValue};
use napi_derive::napi;

use crate::errors::{self, arg, from_napi, invalid_argument, options_arg, Result};

/// How `clientIp` and `clientKey` resolve the client.
#[napi(object, object_to_js = false, js_name = "ClientIpOptions")]
#[derive(Default)]
pub struct JsClientIpOptions {
    /// Trusted proxies: addresses, CIDR ranges (`"10.0.0.0/8"`) and the named
    /// sets `"loopback"`, `"private"`, `"linklocal"`, or a hop count. None by
    /// default: the peer is the client and headers are ignored.
    pub trusted_proxies: Option<Either3<f64, String, Vec<String>>>,
    /// The forwarding header to read: `"X-Forwarded-For"` (default),
    /// `"Forwarded"` (RFC 7239) or `"X-Real-IP"`.
    pub header: Option<String>,
    /// For `clientKey`: group IPv6 clients by this prefix length (1 to 128).
    pub ipv6_prefix: Option<f64>,
}

const HEADERS: &str =
    "an object of header values (strings or arrays of strings) or an array of [name, value] pairs";

/// The header pairs of `req.headers` (values may be arrays, undefined values
/// are skipped) or of an array of `[name, value]` pairs.
fn pairs(headers: Unknown<'_>) -> CoreResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    match headers.get_type().map_err(from_napi)? {
        ValueType::Undefined | ValueType::Null => {}
        _ if headers.is_array().map_err(from_napi)? => {
            let list: Vec<Vec<String>> = arg(headers, "headers", HEADERS)?;
            for pair in list {
                let [name, value]: [String; 2] = pair
                    .try_into()
                    .map_err(|_| invalid_argument(format!("headers must be {HEADERS}")))?;
                out.push((name, value));
            }
        }
        ValueType::Object => {
            let map: HashMap<String, Unknown<'_>> = arg(headers, "headers", HEADERS)?;
            for (name, value) in map {
                match value.get_type().map_err(from_napi)? {
                    ValueType::Undefined | ValueType::Null => {}
                    ValueType::String => out.push((name, arg(value, "headers", HEADERS)?)),
                    _ => {
                        let lines: Vec<String> = arg(value, "headers", HEADERS)?;
                        out.extend(lines.into_iter().map(|v| (name.clone(), v)));
                    }
                }
            }
        }
        _ => return Err(invalid_argument(format!("headers must be {HEADERS}"))),
    }
    Ok(out)
}

fn options(options: Unknown<'_>) -> CoreResult<ClientIpOptions> {
    let o: JsClientIpOptions =
        options_arg(options, "options", "an options object")?.unwrap_or_default();
    let trusted = match o.trusted_proxies {
        None => TrustedProxies::None,
        Some(Either3::A(n)) => {
            TrustedProxies::hops(crate::errors::whole(n, "trustedProxies", 1e15)?)?
        }
        Some(Either3::B(s)) => TrustedProxies::cidrs([s])?,
        Some(Either3::C(list)) => TrustedProxies::cidrs(list)?,
    };
    let header = match o.header {
        Some(h) => ForwardedHeader::parse(&h)?,
        None => ForwardedHeader::default(),
    };
    // Out-of-range prefixes stay out of range for the core to refuse.
    let ipv6_prefix = match o.ipv6_prefix {
        None => None,
        Some(p) => {
            Some(u8::try_from(crate::errors::whole(p, "ipv6Prefix", 1e15)?).unwrap_or(u8::MAX))
        }
    };
    Ok(ClientIpOptions {
        trusted,
        header,
        ipv6_prefix,
    })
}

fn resolve<T>(
    peer: Unknown<'_>,
    headers: Unknown<'_>,
    opts: Unknown<'_>,
    f: impl FnOnce(&str, &[(String, String)], &ClientIpOptions) -> CoreResult<T>,
) -> CoreResult<T> {
    let peer: String = arg(peer, "peer", "a string")?;
    let opts = options(opts)?;
    let pairs = pairs(headers)?;
    f(&peer, &pairs, &opts)
}

/// The client address of a request, as text (IPv6 canonical, IPv4-mapped
/// addresses as IPv4). `peer` is the TCP peer (`req.socket.remoteAddress`);
/// `headers` is `req.headers` (values may be arrays) or `[name, value]` pairs.
/// The forwarding header is read only when the peer is a trusted proxy,
/// walking from the right and returning the first untrusted address; a
/// malformed entry stops the walk at the proxy that forwarded it. Throws
/// `INVALID_ARGUMENT` for a bad peer, range, header name or prefix.
#[napi(
    ts_args_type = "peer: string, headers: Record<string, string | string[] | undefined> | Array<[string, string]>, options?: ClientIpOptions | null"
)]
pub fn client_ip(env: &Env, peer: Unknown, headers: Unknown, options: Unknown) -> Result<String> {
    errors::guard(|| {
        resolve(peer, headers, options, |p, h, o| {
            core::client_ip(p, h.iter().map(|(n, v)| (n.as_str(), v.as_str())), o)
                .map(|ip| ip.to_string())
        })
    })
    .map_err(|e| errors::to_js(env, e))
}

/// `clientIp` as a rate-limit key: the address, or for IPv6 with
/// `ipv6Prefix` set its network, such as `"2001:db8:1:2::/64"`.
#[napi(
    ts_args_type = "peer: string, headers: Record<string, string | string[] | undefined> | Array<[string, string]>, options?: ClientIpOptions | null"
)]
pub fn client_key(env: &Env, peer: Unknown, headers: Unknown, options: Unknown) -> Result<String> {
    errors::guard(|| {
        resolve(peer, headers, options, |p, h, o| {
            core::client_key(p, h.iter().map(|(n, v)| (n.as_str(), v.as_str())), o)
        })
    })
    .map_err(|e| errors::to_js(env, e))
}
