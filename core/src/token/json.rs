//! The one strict JSON parser used for every JOSE header and claims set.
//!
//! Guarantees:
//! - RFC 8259 grammar only: no comments, no trailing commas, no `NaN`/`Infinity`,
//!   no leading zeros, no raw control characters, no lone surrogates, valid UTF-8;
//! - duplicate member names are rejected at every depth (parser-differential
//!   attacks such as `{"alg":"HS256","alg":"none"}` cannot arise);
//! - nesting is bounded by [`MAX_DEPTH`], so hostile input cannot exhaust the stack;
//! - object members keep their order; numbers keep their exact text, so integers of
//!   any size survive a round trip into Python.

use std::collections::HashSet;
use std::fmt::Write as _;

/// Maximum nesting of arrays and objects.
pub const MAX_DEPTH: usize = 64;

/// A JSON number, kept as its literal text.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    raw: Box<str>,
    is_integer: bool,
}

impl Number {
    /// The literal text, exactly as it appeared.
    #[must_use]
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// True when the literal has no fraction and no exponent.
    #[must_use]
    pub fn is_integer(&self) -> bool {
        self.is_integer
    }

    /// The value as an `i64`, when it is an integer literal that fits.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        if self.is_integer {
            self.raw.parse().ok()
        } else {
            None
        }
    }

    /// The value as a (finite) `f64`.
    #[must_use]
    pub fn as_f64(&self) -> f64 {
        self.raw.parse().unwrap_or(f64::NAN)
    }

    /// A number from an `f64`; `None` for NaN and infinities.
    #[must_use]
    pub fn from_f64(v: f64) -> Option<Self> {
        if !v.is_finite() {
            return None;
        }
        if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
            return Some(Self::from_i64(v as i64));
        }
        Some(Self {
            raw: format!("{v}").into_boxed_str(),
            is_integer: false,
        })
    }

    /// A number from an `i64`.
    #[must_use]
    pub fn from_i64(v: i64) -> Self {
        Self {
            raw: v.to_string().into_boxed_str(),
            is_integer: true,
        }
    }
}

/// A parsed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A number, kept exact.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, members in document order, names unique.
    Object(Object),
}

/// A JSON object: members in order, names unique.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    members: Vec<(String, Value)>,
}

impl Object {
    /// An empty object.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The member called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.members
            .iter()
            .find_map(|(k, v)| (k == name).then_some(v))
    }

    /// True when a member called `name` exists.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets `name` to `value`, replacing an existing member in place.
    pub fn insert(&mut self, name: impl Into<String>, value: Value) {
        let name = name.into();
        if let Some(slot) = self.members.iter_mut().find(|(k, _)| *k == name) {
            slot.1 = value;
        } else {
            self.members.push((name, value));
        }
    }

    /// Removes and returns the member called `name`.
    pub fn remove(&mut self, name: &str) -> Option<Value> {
        let i = self.members.iter().position(|(k, _)| k == name)?;
        Some(self.members.remove(i).1)
    }

    /// The members, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.members.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of members.
    #[must_use]
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when there are no members.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Sorts members by name (byte order).
    pub fn sort(&mut self) {
        self.members.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

impl Value {
    /// The string, if this is a string.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is a number.
    #[must_use]
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Self::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The object, if this is an object.
    #[must_use]
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The name of this value's JSON type, for error messages.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::Bool(_) => "boolean",
            Self::Number(_) => "number",
            Self::String(_) => "string",
            Self::Array(_) => "array",
            Self::Object(_) => "object",
        }
    }

    /// Compact JSON text of this value.
    #[must_use]
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        write_value(self, &mut out);
        out
    }
}

/// Why a document was rejected (no input text is echoed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not UTF-8.
    Utf8,
    /// Grammar violation at this byte offset.
    Syntax(usize),
    /// A member name appears twice in one object.
    DuplicateKey,
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A number overflows to infinity.
    NumberOutOfRange,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Utf8 => f.write_str("invalid UTF-8"),
            Self::Syntax(at) => write!(f, "invalid JSON at byte {at}"),
            Self::DuplicateKey => f.write_str("duplicate member name"),
            Self::TooDeep => write!(f, "nesting deeper than {MAX_DEPTH}"),
            Self::NumberOutOfRange => f.write_str("number out of range"),
        }
    }
}

/// Parses a complete JSON document.
pub fn parse(input: &[u8]) -> Result<Value, ParseError> {
    let text = std::str::from_utf8(input).map_err(|_| ParseError::Utf8)?;
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(ParseError::Syntax(p.i));
    }
    Ok(v)
}

/// Parses a document that must be an object.
pub fn parse_object(input: &[u8]) -> Result<Object, ParseError> {
    match parse(input)? {
        Value::Object(o) => Ok(o),
        _ => Err(ParseError::Syntax(0)),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn err<T>(&self) -> Result<T, ParseError> {
        Err(ParseError::Syntax(self.i))
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        match self.s.get(self.i) {
            Some(b'{') => self.object().map(Value::Object),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Value::String),
            Some(b't') => self.literal(b"true", Value::Bool(true)),
            Some(b'f') => self.literal(b"false", Value::Bool(false)),
            Some(b'n') => self.literal(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.err(),
        }
    }

    fn literal(&mut self, word: &[u8], v: Value) -> Result<Value, ParseError> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err()
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        Ok(())
    }

    fn object(&mut self) -> Result<Object, ParseError> {
        self.enter()?;
        self.i += 1;
        let mut members: Vec<(String, Value)> = Vec::with_capacity(8);
        let mut seen: Option<HashSet<String>> = None;
        self.ws();
        if self.s.get(self.i) == Some(&b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Object { members });
        }
        loop {
            self.ws();
            if self.s.get(self.i) != Some(&b'"') {
                return self.err();
            }
            let key = self.string()?;
            // Linear scan for the usual handful of claims; a set past that, so a
            // hostile object with thousands of members stays linear.
            let dup = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let d = members.iter().any(|(k, _)| *k == key);
                    if members.len() >= 16 {
                        let mut set: HashSet<String> =
                            members.iter().map(|(k, _)| k.clone()).collect();
                        set.insert(key.clone());
                        seen = Some(set);
                    }
                    d
                }
            };
            if dup {
                return Err(ParseError::DuplicateKey);
            }
            self.ws();
            if self.s.get(self.i) != Some(&b':') {
                return self.err();
            }
            self.i += 1;
            self.ws();
            let v = self.value()?;
            members.push((key, v));
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Object { members });
                }
                _ => return self.err(),
            }
        }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        self.enter()?;
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.s.get(self.i) == Some(&b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.ws();
            items.push(self.value()?);
            self.ws();
            match self.s.get(self.i) {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Value::Array(items));
                }
                _ => return self.err(),
            }
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.i;
        let mut is_integer = true;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        match self.s.get(self.i) {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return self.err(),
        }
        if self.s.get(self.i) == Some(&b'.') {
            is_integer = false;
            self.i += 1;
            if !matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
                return self.err();
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.s.get(self.i) {
            is_integer = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if !matches!(self.s.get(self.i), Some(b'0'..=b'9')) {
                return self.err();
            }
            self.digits();
        }
        let raw = &self.text[start..self.i];
        if !is_integer && !raw.parse::<f64>().is_ok_and(f64::is_finite) {
            return Err(ParseError::NumberOutOfRange);
        }
        Ok(Value::Number(Number {
            raw: raw.into(),
            is_integer,
        }))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let h = self
            .s
            .get(self.i..self.i + 4)
            .ok_or(ParseError::Syntax(self.i))?;
        let mut v = 0u32;
        for &c in h {
            let d = (c as char).to_digit(16).ok_or(ParseError::Syntax(self.i))?;
            v = v * 16 + d;
        }
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            let start = self.i;
            // Up to the next quote or backslash (SIMD search); a raw control
            // character before it is an error.
            let rest = &self.s[self.i..];
            let stop = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
            if let Some(ctrl) = rest[..stop].iter().position(|&c| c < 0x20) {
                self.i += ctrl;
                return self.err();
            }
            self.i += stop;
            out.push_str(&self.text[start..self.i]);
            match self.s.get(self.i) {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = *self.s.get(self.i).ok_or(ParseError::Syntax(self.i))?;
                    self.i += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return self.err();
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err();
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else if (0xDC00..0xE000).contains(&hi) {
                                return self.err();
                            } else {
                                hi
                            };
                            out.push(char::from_u32(cp).ok_or(ParseError::Syntax(self.i))?);
                        }
                        _ => return self.err(),
                    }
                }
                _ => return self.err(), // end of input or raw control character
            }
        }
    }
}

/// Appends `s` as a JSON string literal.
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[last..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        last = i + 1;
    }
    out.push_str(&s[last..]);
    out.push('"');
}

/// Appends the compact JSON text of `v`.
pub fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(n.raw()),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(o) => write_object(o, out),
    }
}

/// Appends the compact JSON text of an object.
pub fn write_object(o: &Object, out: &mut String) {
    out.push('{');
    for (i, (k, v)) in o.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(k, out);
        out.push(':');
        write_value(v, out);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_documents() {
        let v = parse(
            br#" {"a": [1, -2.5e3, true, false, null], "b": {"c": "\u00e9\ud83d\ude00\n"}} "#,
        )
        .unwrap();
        let o = v.as_object().unwrap();
        assert_eq!(o.len(), 2);
        assert_eq!(
            o.get("b")
                .unwrap()
                .as_object()
                .unwrap()
                .get("c")
                .unwrap()
                .as_str(),
            Some("é😀\n")
        );
        let big = parse(b"123456789012345678901234567890").unwrap();
        assert_eq!(
            big.as_number().unwrap().raw(),
            "123456789012345678901234567890"
        );
        assert!(big.as_number().unwrap().is_integer());
        assert_eq!(big.as_number().unwrap().as_i64(), None);
    }

    #[test]
    fn rejects_invalid_documents() {
        let bad: &[&[u8]] = &[
            b"",
            b"{",
            b"{\"a\":1,}",
            b"[1,]",
            b"01",
            b"1.",
            b".5",
            b"+1",
            b"NaN",
            b"Infinity",
            b"1e400",
            b"\"\x01\"",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"\\x\"",
            b"{'a':1}",
            b"{\"a\":1} x",
            b"\xef\xbb\xbf{}",
            b"\xff",
            b"// c\n{}",
            b"tru",
        ];
        for b in bad {
            assert!(parse(b).is_err(), "{:?}", String::from_utf8_lossy(b));
        }
    }

    #[test]
    fn rejects_duplicate_keys_everywhere() {
        assert_eq!(parse(br#"{"a":1,"a":2}"#), Err(ParseError::DuplicateKey));
        assert_eq!(
            parse(br#"{"x":{"a":1,"a":1}}"#),
            Err(ParseError::DuplicateKey)
        );
        // Escaped spelling of the same name is the same name.
        assert_eq!(
            parse(br#"{"alg":1,"\u0061lg":2}"#),
            Err(ParseError::DuplicateKey)
        );
        let many: String = (0..200).map(|i| format!("\"k{i}\":{i},")).collect();
        assert!(parse(format!("{{{many}\"k7\":0}}").as_bytes()).is_err());
        assert!(parse(format!("{{{many}\"z\":0}}").as_bytes()).is_ok());
    }

    #[test]
    fn bounded_depth() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(ParseError::TooDeep));
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
        let hostile = "[".repeat(100_000);
        assert_eq!(parse(hostile.as_bytes()), Err(ParseError::TooDeep));
    }

    #[test]
    fn writes_what_it_reads() {
        let src = r#"{"s":"a\"b\\c\n\u0001é","n":[1,2.5,-3e2],"o":{},"t":true,"z":null}"#;
        let v = parse(src.as_bytes()).unwrap();
        let out = v.to_json();
        assert_eq!(parse(out.as_bytes()).unwrap(), v);
    }
}
