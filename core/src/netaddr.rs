//! Client IP resolution behind trusted proxies.
//!
//! [`client_ip`] returns the address of the client that made a request, given
//! the TCP peer address (`REMOTE_ADDR`, `req.socket.remoteAddress`), the request
//! headers and a [`ClientIpOptions`]. [`client_key`] returns the same address as
//! a rate-limit key, optionally grouping IPv6 clients by a prefix such as /64.
//!
//! Guarantees:
//! - Forwarding headers are read **only** when the peer is a trusted proxy.
//!   With no trust configured ([`TrustedProxies::None`], the default) the peer
//!   is the client, whatever the headers say.
//! - The forwarded chain is walked from the **right** (the entry the nearest
//!   proxy wrote) to the left, over every line of the header in order, and the
//!   first address that is not a trusted proxy is returned. A client can prepend
//!   whatever it likes to the chain; it cannot change what trusted proxies
//!   appended, so spoofed left-most entries are never reached while a trusted
//!   proxy stands to their right.
//! - With a hop count `n` ([`TrustedProxies::Hops`]), exactly `n` hops are
//!   trusted, the peer being the first of them.
//! - If every address in the chain is trusted, the left-most one is returned.
//! - **A malformed entry stops the walk** and the last good hop (the trusted
//!   proxy that forwarded it) is returned. Skipping malformed entries would let a
//!   client reach past them into the part of the chain it controls; stopping
//!   keys all such requests on the proxy, which cannot be rotated by the client.
//!   Empty list elements (`a,,b`, a trailing comma) carry nothing and are
//!   ignored. `unknown` and obfuscated identifiers (`_hidden`) are not
//!   addresses, so they stop the walk too.
//! - Addresses are normalised: ports are stripped (`1.2.3.4:5678`,
//!   `[2001:db8::1]:443`), IPv6 zones are dropped (`fe80::1%eth0`), and
//!   IPv4-mapped IPv6 (`::ffff:1.2.3.4`) becomes IPv4.
//! - The work is bounded under hostile input: at most [`MAX_ENTRIES`] entries
//!   are examined, of the last [`MAX_LINES`] header lines, and an entry longer
//!   than [`MAX_ENTRY_LEN`] bytes is malformed. Scanning is linear in the size
//!   of the lines examined.
//!
//! Only one forwarding header is read ([`ForwardedHeader`], X-Forwarded-For by
//! default): the one your proxy writes. Reading two would let a client forge the
//! one the proxy does not overwrite.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use crate::error::{err, Result};

/// At most this many forwarded entries are examined per request.
pub const MAX_ENTRIES: usize = 64;
/// Only the last this many lines of the forwarding header are read.
pub const MAX_LINES: usize = 64;
/// A forwarded entry longer than this (after trimming) is malformed.
pub const MAX_ENTRY_LEN: usize = 256;

/// An IP network: an address and a prefix length, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `"10.0.0.0/8"`, `"2001:db8::/32"`, or a single address
    /// (`"127.0.0.1"`, `"::1"`, meaning /32 or /128). Strict: no ports, no
    /// zones, no host bits set beyond the prefix, a decimal prefix within the
    /// family's width. An IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) is
    /// stored as its IPv4 network. Errors are `INVALID_ARGUMENT`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| err!(InvalidArgument, "invalid trusted proxy {text:?}: {why}");
        if text.is_empty() || text.len() > 64 {
            return Err(bad(
                "expected an IP address or a CIDR range such as \"10.0.0.0/8\"",
            ));
        }
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| bad("expected an IP address or a CIDR range such as \"10.0.0.0/8\""))?;
        let width = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        let prefix = match prefix_text {
            None => width,
            Some(p) => {
                if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("the prefix length must be a decimal number"));
                }
                let n: u8 = p.parse().map_err(|_| bad("prefix length out of range"))?;
                if n > width {
                    return Err(bad("prefix length out of range"));
                }
                n
            }
        };
        if prefix == 0 {
            return Err(bad(
                "a /0 range trusts every address, which lets any client choose its own IP",
            ));
        }
        if mask(addr, prefix) != addr {
            return Err(bad("host bits are set beyond the prefix length"));
        }
        // An IPv4-mapped network is the IPv4 network it maps.
        if let IpAddr::V6(v6) = addr {
            if let Some(v4) = v6.to_ipv4_mapped() {
                if prefix >= 96 {
                    return Self {
                        addr: IpAddr::V4(v4),
                        prefix: prefix - 96,
                    }
                    .nonzero(text);
                }
            }
        }
        Ok(Self { addr, prefix })
    }

    fn nonzero(self, text: &str) -> Result<Self> {
        if self.prefix == 0 {
            return Err(err!(
                InvalidArgument,
                "invalid trusted proxy {text:?}: the range trusts every IPv4 address"
            ));
        }
        Ok(self)
    }

    /// The network address.
    #[must_use]
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    #[must_use]
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether `ip` (already normalised, see [`parse_address`]) lies in this network.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        matches!(
            (self.addr, ip),
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_))
        ) && mask(ip, self.prefix) == self.addr
    }
}

impl FromStr for Cidr {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// `ip` with every bit after the first `prefix` bits cleared.
fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            IpAddr::V6(Ipv6Addr::from(bits & m))
        }
    }
}

/// Which proxies are trusted to report the client address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TrustedProxies {
    /// No proxy: the peer is the client and headers are ignored (the default).
    #[default]
    None,
    /// Proxies whose addresses lie in these networks.
    Cidrs(Vec<Cidr>),
    /// Exactly this many hops from the right, the peer being the first.
    /// `Hops(0)` is the same as [`TrustedProxies::None`].
    Hops(u8),
}

impl TrustedProxies {
    /// Parses a list of networks. Each item is an address, a CIDR range, or
    /// one of the named sets `"loopback"` (127.0.0.0/8, ::1), `"private"`
    /// (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7) and `"linklocal"`
    /// (169.254.0.0/16, fe80::/10). An empty list is [`TrustedProxies::None`].
    /// Errors are `INVALID_ARGUMENT` (see [`Cidr::parse`]).
    pub fn cidrs<I, S>(items: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for item in items {
            let item = item.as_ref();
            let named: &[&str] = match item {
                "loopback" => &["127.0.0.0/8", "::1"],
                "private" => &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"],
                "linklocal" => &["169.254.0.0/16", "fe80::/10"],
                _ => &[],
            };
            if named.is_empty() {
                out.push(Cidr::parse(item)?);
            } else {
                for n in named {
                    out.push(Cidr::parse(n)?);
                }
            }
            if out.len() > 1024 {
                return Err(err!(
                    InvalidArgument,
                    "too many trusted proxy ranges (at most 1024)"
                ));
            }
        }
        Ok(if out.is_empty() {
            Self::None
        } else {
            Self::Cidrs(out)
        })
    }

    /// A hop count: `n` proxies in front of the application (0 to 255).
    pub fn hops(n: u64) -> Result<Self> {
        u8::try_from(n)
            .map(Self::Hops)
            .map_err(|_| err!(InvalidArgument, "hop count {n} out of range (0 to 255)"))
    }

    fn trusts(&self, ip: IpAddr, depth: usize) -> bool {
        match self {
            Self::None => false,
            Self::Cidrs(c) => c.iter().any(|c| c.contains(ip)),
            Self::Hops(n) => depth < usize::from(*n),
        }
    }
}

/// The forwarding header to read. Pick the one your nearest proxy writes (and
/// overwrites or appends to); the others are ignored, since a client could
/// forge them freely.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (the default).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client;proto=https, for="[2001:db8::1]:4711"`.
    Forwarded,
    /// `X-Real-IP: client` (nginx `real_ip`); several lines or a list are
    /// walked like X-Forwarded-For.
    XRealIp,
}

impl ForwardedHeader {
    /// Parses a header name, case-insensitively: `"X-Forwarded-For"`,
    /// `"Forwarded"`, `"X-Real-IP"`. Errors are `INVALID_ARGUMENT`.
    pub fn parse(name: &str) -> Result<Self> {
        let n = name.to_ascii_lowercase();
        Ok(match n.as_str() {
            "x-forwarded-for" => Self::XForwardedFor,
            "forwarded" => Self::Forwarded,
            "x-real-ip" => Self::XRealIp,
            _ => {
                return Err(err!(
                    InvalidArgument,
                    "unsupported forwarding header {name:?}: expected X-Forwarded-For, Forwarded or X-Real-IP"
                ))
            }
        })
    }

    /// The header name as written in HTTP.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::XForwardedFor => "X-Forwarded-For",
            Self::Forwarded => "Forwarded",
            Self::XRealIp => "X-Real-IP",
        }
    }

    /// The WSGI / Django `request.META` key of the header.
    #[must_use]
    pub fn meta_key(self) -> &'static str {
        match self {
            Self::XForwardedFor => "HTTP_X_FORWARDED_FOR",
            Self::Forwarded => "HTTP_FORWARDED",
            Self::XRealIp => "HTTP_X_REAL_IP",
        }
    }

    /// Whether a header called `name` is this header: the HTTP name in any
    /// case, or exactly the `request.META` key (upper case, `HTTP_` prefix).
    #[must_use]
    pub fn matches(self, name: &str) -> bool {
        name.eq_ignore_ascii_case(self.name()) || name == self.meta_key()
    }
}

/// How [`client_ip`] and [`client_key`] resolve the client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientIpOptions {
    /// The trusted proxies (none by default).
    pub trusted: TrustedProxies,
    /// The forwarding header to read (X-Forwarded-For by default).
    pub header: ForwardedHeader,
    /// For [`client_key`]: group IPv6 clients by this prefix length (1 to 128;
    /// 64 keys a client by its /64 subnet). `None` keys by the full address.
    pub ipv6_prefix: Option<u8>,
}

impl ClientIpOptions {
    /// Checks the options: `ipv6_prefix` must lie in 1..=128
    /// (`INVALID_ARGUMENT` otherwise). [`client_ip`] and [`client_key`] call it.
    pub fn validate(&self) -> Result<()> {
        match self.ipv6_prefix {
            Some(p) if p == 0 || p > 128 => Err(err!(
                InvalidArgument,
                "ipv6_prefix {p} out of range (1 to 128)"
            )),
            _ => Ok(()),
        }
    }
}

/// Parses one address as found in a forwarding header or a peer address:
/// IPv4 or IPv6, with an optional port (`1.2.3.4:80`, `[::1]:80`), brackets
/// or an IPv6 zone (`fe80::1%eth0`, dropped). IPv4-mapped IPv6 becomes IPv4.
/// `None` for anything else (`unknown`, `_hidden`, garbage).
#[must_use]
pub fn parse_address(text: &str) -> Option<IpAddr> {
    parse_node(text, false)
}

fn valid_port(p: &str, allow_obfuscated: bool) -> bool {
    if allow_obfuscated && p.starts_with('_') {
        return p.len() > 1
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    }
    !p.is_empty()
        && p.len() <= 5
        && p.bytes().all(|b| b.is_ascii_digit())
        && p.parse::<u32>().is_ok_and(|n| n <= 65535)
}

fn parse_v6_with_zone(text: &str) -> Option<Ipv6Addr> {
    let (addr, zone) = match text.split_once('%') {
        Some((a, z)) => (a, Some(z)),
        None => (text, None),
    };
    if let Some(z) = zone {
        if z.is_empty()
            || z.len() > 32
            || !z
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return None;
        }
    }
    addr.parse().ok()
}

fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

fn parse_node(text: &str, obf_port: bool) -> Option<IpAddr> {
    if text.is_empty() || text.len() > MAX_ENTRY_LEN {
        return None;
    }
    let ip = if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !after.is_empty() {
            let port = after.strip_prefix(':')?;
            if !valid_port(port, obf_port) {
                return None;
            }
        }
        IpAddr::V6(parse_v6_with_zone(inside)?)
    } else if text.bytes().filter(|&b| b == b':').count() > 1 {
        // Unbracketed IPv6: no port possible.
        IpAddr::V6(parse_v6_with_zone(text)?)
    } else {
        let (host, port) = match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        };
        if let Some(p) = port {
            if !valid_port(p, obf_port) {
                return None;
            }
        }
        IpAddr::V4(host.parse().ok()?)
    };
    Some(normalise(ip))
}

/// Parses one RFC 7239 element (`for=...;proto=...;by=...`) and returns its
/// `for` address, or `None` when the element is malformed, has no `for`, or
/// its `for` is not an address (`unknown`, `_hidden`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    let bytes = element.as_bytes();
    let mut i = 0;
    let mut found: Option<Option<IpAddr>> = None;
    let ows = |i: &mut usize| {
        while *i < bytes.len() && matches!(bytes[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    loop {
        ows(&mut i);
        let name_start = i;
        while i < bytes.len() && is_tchar(bytes[i]) {
            i += 1;
        }
        if i == name_start || i >= bytes.len() || bytes[i] != b'=' {
            return None;
        }
        let name = &element[name_start..i];
        i += 1;
        let value = if i < bytes.len() && bytes[i] == b'"' {
            i += 1;
            let mut v = String::new();
            loop {
                match bytes.get(i) {
                    None => return None, // unterminated quoted string
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(b'\\') => {
                        let c = *bytes.get(i + 1)?;
                        v.push(char::from(c));
                        i += 2;
                    }
                    Some(&c) => {
                        if !c.is_ascii() || c.is_ascii_control() {
                            return None;
                        }
                        v.push(char::from(c));
                        i += 1;
                    }
                }
            }
            v
        } else {
            let start = i;
            while i < bytes.len() && is_tchar(bytes[i]) {
                i += 1;
            }
            if i == start {
                return None;
            }
            element[start..i].to_string()
        };
        if name.eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None; // duplicate `for`
            }
            found = Some(parse_node(&value, true));
        }
        ows(&mut i);
        match bytes.get(i) {
            None => break,
            Some(b';') => i += 1,
            Some(_) => return None,
        }
    }
    found.flatten()
}

/// One entry of the chain, read from the right.
enum Entry {
    Addr(IpAddr),
    Malformed,
}

/// The chain entries from right to left, over the last [`MAX_LINES`] lines.
fn entries<'a>(lines: &'a [&'a str], header: ForwardedHeader) -> impl Iterator<Item = Entry> + 'a {
    lines
        .iter()
        .rev()
        .flat_map(|line| line.rsplit(','))
        .map(|e| e.trim_matches(|c| c == ' ' || c == '\t'))
        .filter(|e| !e.is_empty())
        .map(move |e| {
            if e.len() > MAX_ENTRY_LEN {
                return Entry::Malformed;
            }
            let ip = match header {
                ForwardedHeader::Forwarded => forwarded_for(e),
                _ => parse_node(e, false),
            };
            ip.map_or(Entry::Malformed, Entry::Addr)
        })
        .take(MAX_ENTRIES)
}

/// The client address of a request (see the module docs for the rules).
///
/// `peer` is the TCP peer address (a port, brackets and IPv4-mapped forms are
/// accepted); an empty or invalid peer is an `INVALID_ARGUMENT` error.
/// `headers` are the request headers as (name, value) pairs, repeated names
/// allowed, in the order received; names are compared case-insensitively, and
/// Django `request.META` keys (`HTTP_X_FORWARDED_FOR`) are accepted too.
pub fn client_ip<'a, I>(peer: &str, headers: I, options: &ClientIpOptions) -> Result<IpAddr>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    options.validate()?;
    let peer_ip = parse_address(peer.trim()).ok_or_else(|| {
        err!(
            InvalidArgument,
            "the peer address {:?} is not an IP address",
            truncate(peer)
        )
    })?;
    if !options.trusted.trusts(peer_ip, 0) {
        return Ok(peer_ip);
    }
    let mut lines: Vec<&str> = headers
        .into_iter()
        .filter(|(n, _)| options.header.matches(n))
        .map(|(_, v)| v)
        .collect();
    if lines.len() > MAX_LINES {
        lines.drain(..lines.len() - MAX_LINES);
    }
    let mut current = peer_ip;
    let mut depth = 0;
    for entry in entries(&lines, options.header) {
        match entry {
            Entry::Malformed => return Ok(current),
            Entry::Addr(ip) => {
                depth += 1;
                current = ip;
                if !options.trusted.trusts(ip, depth) {
                    return Ok(ip);
                }
            }
        }
    }
    Ok(current)
}

/// The rate-limit key of a client address: the address itself, or for IPv6
/// with `ipv6_prefix` set, its network as `"2001:db8:1:2::/64"` (a prefix of
/// 128 is the address itself). `ipv6_prefix` must lie in 1..=128
/// (`INVALID_ARGUMENT` otherwise).
pub fn key_of(ip: IpAddr, ipv6_prefix: Option<u8>) -> Result<String> {
    match ipv6_prefix {
        Some(p) if p == 0 || p > 128 => Err(err!(
            InvalidArgument,
            "ipv6_prefix {p} out of range (1 to 128)"
        )),
        Some(p) if p < 128 && ip.is_ipv6() => Ok(format!("{}/{p}", mask(ip, p))),
        _ => Ok(ip.to_string()),
    }
}

/// [`client_ip`] followed by [`key_of`] with `options.ipv6_prefix`: the key
/// under which to count this client's requests.
pub fn client_key<'a, I>(peer: &str, headers: I, options: &ClientIpOptions) -> Result<String>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    key_of(client_ip(peer, headers, options)?, options.ipv6_prefix)
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(64) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(trusted: &[&str]) -> ClientIpOptions {
        ClientIpOptions {
            trusted: TrustedProxies::cidrs(trusted).unwrap(),
            ..ClientIpOptions::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parsing_is_strict() {
        assert_eq!(Cidr::parse("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(Cidr::parse("::1").unwrap().to_string(), "::1/128");
        assert_eq!(
            Cidr::parse("::ffff:10.0.0.0/104").unwrap().to_string(),
            "10.0.0.0/8"
        );
        for bad in [
            "",
            "10.0.0.1/8",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/08x",
            "0.0.0.0/0",
            "::/0",
            "10.0.0",
            "010.0.0.0/8",
            "1.2.3.4:80",
            "fe80::1%eth0",
            "10.0.0.0/8/8",
            " 10.0.0.0/8",
            "::ffff:0.0.0.0/96",
            "loopbacks",
        ] {
            let e = Cidr::parse(bad).unwrap_err();
            assert_eq!(e.code(), "INVALID_ARGUMENT", "{bad}");
        }
        assert!(Cidr::parse("10.0.0.0/8")
            .unwrap()
            .contains(ip("10.255.0.1")));
        assert!(!Cidr::parse("10.0.0.0/8").unwrap().contains(ip("11.0.0.1")));
        assert!(!Cidr::parse("::/1").unwrap().contains(ip("10.0.0.1")));
    }

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(parse_address("1.2.3.4:5678"), Some(ip("1.2.3.4")));
        assert_eq!(parse_address("[2001:db8::1]:443"), Some(ip("2001:db8::1")));
        assert_eq!(parse_address("[2001:db8::1]"), Some(ip("2001:db8::1")));
        assert_eq!(parse_address("2001:DB8:0::1"), Some(ip("2001:db8::1")));
        assert_eq!(parse_address("::ffff:1.2.3.4"), Some(ip("1.2.3.4")));
        assert_eq!(parse_address("[::ffff:102:304]:1"), Some(ip("1.2.3.4")));
        assert_eq!(parse_address("fe80::1%eth0"), Some(ip("fe80::1")));
        for bad in [
            "unknown",
            "_hidden",
            "1.2.3.4:",
            "1.2.3.4:65536",
            "1.2.3.4:x",
            "[1.2.3.4]",
            "2001:db8::1:443x",
            "[2001:db8::1",
            "fe80::1%",
            "01.2.3.4",
            "1.2.3.4 5",
        ] {
            assert_eq!(parse_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn headers_ignored_unless_peer_trusted() {
        let h = [("X-Forwarded-For", "9.9.9.9")];
        assert_eq!(
            client_ip("8.8.8.8", h, &opts(&["10.0.0.0/8"])).unwrap(),
            ip("8.8.8.8")
        );
        assert_eq!(
            client_ip("10.0.0.1", h, &ClientIpOptions::default()).unwrap(),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_ip("10.0.0.1", h, &opts(&["10.0.0.0/8"])).unwrap(),
            ip("9.9.9.9")
        );
    }

    #[test]
    fn walk_from_the_right_over_all_lines() {
        let o = opts(&["10.0.0.0/8"]);
        let h = [
            ("x-forwarded-for", "6.6.6.6, 1.1.1.1"),
            ("X-FORWARDED-FOR", "2.2.2.2, 10.0.0.2"),
        ];
        assert_eq!(client_ip("10.0.0.1", h, &o).unwrap(), ip("2.2.2.2"));
        let all_trusted = [("X-Forwarded-For", "10.1.1.1, 10.2.2.2")];
        assert_eq!(
            client_ip("10.0.0.1", all_trusted, &o).unwrap(),
            ip("10.1.1.1")
        );
    }

    #[test]
    fn malformed_entries_stop_the_walk() {
        let o = opts(&["10.0.0.0/8"]);
        let h = [("X-Forwarded-For", "1.1.1.1, unknown, 10.0.0.2")];
        assert_eq!(client_ip("10.0.0.1", h, &o).unwrap(), ip("10.0.0.2"));
        let h = [("X-Forwarded-For", " , ,1.1.1.1,, ")];
        assert_eq!(client_ip("10.0.0.1", h, &o).unwrap(), ip("1.1.1.1"));
    }

    #[test]
    fn hop_counts() {
        let h = [("X-Forwarded-For", "1.1.1.1, 2.2.2.2, 3.3.3.3")];
        let hops = |n| ClientIpOptions {
            trusted: TrustedProxies::hops(n).unwrap(),
            ..ClientIpOptions::default()
        };
        assert_eq!(client_ip("4.4.4.4", h, &hops(0)).unwrap(), ip("4.4.4.4"));
        assert_eq!(client_ip("4.4.4.4", h, &hops(1)).unwrap(), ip("3.3.3.3"));
        assert_eq!(client_ip("4.4.4.4", h, &hops(2)).unwrap(), ip("2.2.2.2"));
        assert_eq!(client_ip("4.4.4.4", h, &hops(9)).unwrap(), ip("1.1.1.1"));
        assert_eq!(
            TrustedProxies::hops(256).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
    }

    #[test]
    fn forwarded_header() {
        let o = ClientIpOptions {
            header: ForwardedHeader::Forwarded,
            ..opts(&["10.0.0.0/8"])
        };
        let h = [(
            "Forwarded",
            "for=6.6.6.6, for=\"[2001:db8::1]:4711\";proto=https, For=10.0.0.9;by=_proxy",
        )];
        assert_eq!(client_ip("10.0.0.1", h, &o).unwrap(), ip("2001:db8::1"));
        let h = [("Forwarded", "for=1.1.1.1, for=_hidden")];
        assert_eq!(client_ip("10.0.0.1", h, &o).unwrap(), ip("10.0.0.1"));
        let h = [("Forwarded", "by=\"; for=1.1.1.1 ;\"")];
        assert_eq!(client_ip("10.0.0.1", h, &o).unwrap(), ip("10.0.0.1"));
        let h = [("Forwarded", "for=1.1.1.1;for=2.2.2.2")];
        assert_eq!(client_ip("10.0.0.1", h, &o).unwrap(), ip("10.0.0.1"));
        assert_eq!(forwarded_for("for=\"1.2.3.4:_p\""), Some(ip("1.2.3.4")));
        // X-Forwarded-For is not read when Forwarded is configured.
        let h = [("X-Forwarded-For", "1.1.1.1")];
        assert_eq!(client_ip("10.0.0.1", h, &o).unwrap(), ip("10.0.0.1"));
    }

    #[test]
    fn meta_keys() {
        let o = opts(&["127.0.0.1"]);
        let h = [("HTTP_X_FORWARDED_FOR", "1.1.1.1")];
        assert_eq!(client_ip("127.0.0.1", h, &o).unwrap(), ip("1.1.1.1"));
        let h = [
            ("http_x_forwarded_for", "1.1.1.1"),
            ("X_Forwarded_For", "1.1.1.1"),
        ];
        assert_eq!(client_ip("127.0.0.1", h, &o).unwrap(), ip("127.0.0.1"));
    }

    #[test]
    fn bounded_under_hostile_input() {
        let o = opts(&["10.0.0.0/8"]);
        let many = "1.1.1.1,".to_string() + &"10.0.0.5,".repeat(100_000);
        // 1.1.1.1 is far left of the entry cap: the walk ends on a trusted hop.
        assert_eq!(
            client_ip("10.0.0.1", [("X-Forwarded-For", many.as_str())], &o).unwrap(),
            ip("10.0.0.5")
        );
        let long = "1".repeat(1_000_000);
        assert_eq!(
            client_ip("10.0.0.1", [("X-Forwarded-For", long.as_str())], &o).unwrap(),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn keys() {
        let o = ClientIpOptions {
            ipv6_prefix: Some(64),
            ..ClientIpOptions::default()
        };
        assert_eq!(
            client_key("2001:db8:1:2:3:4:5:6", [], &o).unwrap(),
            "2001:db8:1:2::/64"
        );
        assert_eq!(client_key("1.2.3.4", [], &o).unwrap(), "1.2.3.4");
        assert_eq!(client_key("::ffff:1.2.3.4", [], &o).unwrap(), "1.2.3.4");
        let bad = ClientIpOptions {
            ipv6_prefix: Some(0),
            ..ClientIpOptions::default()
        };
        assert_eq!(
            client_key("1.2.3.4", [], &bad).unwrap_err().code(),
            "INVALID_ARGUMENT"
        );
        assert_eq!(
            client_ip("", [], &ClientIpOptions::default())
                .unwrap_err()
                .code(),
            "INVALID_ARGUMENT"
        );
    }
}
