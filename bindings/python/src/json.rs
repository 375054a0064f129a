//! Conversions between Python objects and JSON (mirrors `bastion_core::token::json`).
//!
//! - [`dumps`] writes a Python object tree as compact JSON text, the way
//!   `json.dumps(obj, separators=(",", ":"))` does (ASCII-only output, floats in
//!   `repr` form), directly and without calling Python for the common types:
//!   `dict`, `list`, `tuple`, `str`, `int` of any size, `float`, `bool`, `None`.
//!   NaN and infinities are refused (`ValueError`), nesting is bounded by the
//!   core's [`MAX_DEPTH`] (which also stops reference cycles), and any other
//!   type is a `TypeError`, as with `json.dumps`.
//! - [`to_py`] builds Python objects from a parsed core [`Value`]: members in
//!   document order, integers exact whatever their size.

use crate::errors::{DecodeError, InvalidArgumentError};
use bastion_core::token::json::{Number, Object, Value, MAX_DEPTH};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use std::fmt::Write as _;

static DATETIME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static MAPPING: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static TIMEGM: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static INT_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Registered claims that PyJWT converts from `datetime` to an integer timestamp.
const TIME_CLAIMS: [&str; 3] = ["exp", "iat", "nbf"];

/// How [`dumps`] treats the top-level object.
#[derive(Clone, Copy)]
pub struct DumpOptions {
    /// Convert `datetime` values of the top-level `exp`, `iat` and `nbf` members
    /// to integer timestamps (`calendar.timegm(dt.utctimetuple())`), as PyJWT does.
    pub time_claims: bool,
}

/// The UTF-8 text of a Python `str`; a string with lone surrogates (which has
/// no UTF-8 form) is an `InvalidArgumentError`.
pub fn py_str<'a>(s: &'a Bound<'_, PyString>) -> PyResult<&'a str> {
    s.to_str().map_err(|_| {
        InvalidArgumentError::new_err(
            "strings must be valid Unicode (lone surrogates cannot be encoded)",
        )
    })
}

/// A subject or owner given as ``str`` or ``int`` (a database id); an ``int``
/// becomes its decimal text. `what` names the argument in a `TypeError`.
pub fn subject_text(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(py_str(s)?.to_owned());
    }
    if obj.is_instance_of::<pyo3::types::PyInt>() {
        return Ok(obj.str()?.to_str()?.to_owned());
    }
    Err(crate::errors::type_error(what, "str or int", obj))
}

/// True when `obj` is a `collections.abc.Mapping`.
pub fn is_mapping(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    if obj.is_instance_of::<PyDict>() {
        return Ok(true);
    }
    let mapping = MAPPING.import(obj.py(), "collections.abc", "Mapping")?;
    obj.is_instance(mapping)
}

/// Serialises `obj` (a mapping) as a compact JSON object.
pub fn dumps(obj: &Bound<'_, PyAny>, opts: DumpOptions) -> PyResult<String> {
    let mut out = String::with_capacity(128);
    let copied;
    let top = if let Ok(d) = obj.cast::<PyDict>() {
        d
    } else {
        // Any other Mapping: copy it into a dict first, as `dict(obj)` would.
        copied = obj
            .py()
            .get_type::<PyDict>()
            .call1((obj,))?
            .cast_into::<PyDict>()?;
        &copied
    };
    write_dict(top, &mut out, 1, opts.time_claims)?;
    Ok(out)
}

fn too_deep() -> PyErr {
    InvalidArgumentError::new_err(format!(
        "the value nests deeper than {MAX_DEPTH} levels (or refers to itself)"
    ))
}

fn not_serializable(obj: &Bound<'_, PyAny>) -> PyErr {
    let name = obj
        .get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string());
    PyTypeError::new_err(format!("Object of type {name} is not JSON serializable"))
}

fn write_dict(
    d: &Bound<'_, PyDict>,
    out: &mut String,
    depth: usize,
    time_claims: bool,
) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    out.push('{');
    let mut first = true;
    for (k, v) in d.iter() {
        if !first {
            out.push(',');
        }
        first = false;
        let name = write_key(&k, out)?;
        out.push(':');
        if time_claims && name.is_some_and(|n| TIME_CLAIMS.contains(&n)) && is_datetime(&v)? {
            let ts = timegm(&v)?;
            write_value(&ts, out, depth + 1)?;
        } else {
            write_value(&v, out, depth + 1)?;
        }
    }
    out.push('}');
    Ok(())
}

/// Writes a member name; returns it when it is a `str` (for the time-claim check).
fn write_key<'a>(k: &'a Bound<'_, PyAny>, out: &mut String) -> PyResult<Option<&'a str>> {
    if let Ok(s) = k.cast::<PyString>() {
        let s = py_str(s)?;
        write_str(s, out);
        return Ok(Some(s));
    }
    // json.dumps turns these key types into strings; so do we.
    out.push('"');
    if let Ok(b) = k.cast::<PyBool>() {
        out.push_str(if b.is_true() { "true" } else { "false" });
    } else if k.is_none() {
        out.push_str("null");
    } else if k.is_instance_of::<PyInt>() {
        write_int(k, out)?;
    } else if let Ok(f) = k.cast::<PyFloat>() {
        write_float(f.value(), out)?;
    } else {
        let name = k
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        return Err(PyTypeError::new_err(format!(
            "keys must be str, int, float, bool or None, not {name}"
        )));
    }
    out.push('"');
    Ok(None)
}

fn write_value(v: &Bound<'_, PyAny>, out: &mut String, depth: usize) -> PyResult<()> {
    if let Ok(s) = v.cast::<PyString>() {
        write_str(py_str(s)?, out);
    } else if let Ok(b) = v.cast::<PyBool>() {
        out.push_str(if b.is_true() { "true" } else { "false" });
    } else if v.is_instance_of::<PyInt>() {
        write_int(v, out)?;
    } else if let Ok(f) = v.cast::<PyFloat>() {
        write_float(f.value(), out)?;
    } else if v.is_none() {
        out.push_str("null");
    } else if let Ok(d) = v.cast::<PyDict>() {
        write_dict(d, out, depth, false)?;
    } else if let Ok(l) = v.cast::<PyList>() {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        out.push('[');
        // Index access copes with a list that changes size under us.
        let mut i = 0;
        while let Ok(item) = l.get_item(i) {
            if i > 0 {
                out.push(',');
            }
            write_value(&item, out, depth + 1)?;
            i += 1;
        }
        out.push(']');
    } else if let Ok(t) = v.cast::<PyTuple>() {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        out.push('[');
        for (i, item) in t.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_value(&item, out, depth + 1)?;
        }
        out.push(']');
    } else {
        return Err(not_serializable(v));
    }
    Ok(())
}

fn write_int(v: &Bound<'_, PyAny>, out: &mut String) -> PyResult<()> {
    if let Ok(i) = v.extract::<i64>() {
        let _ = write!(out, "{i}");
        return Ok(());
    }
    // Arbitrary size (and int subclasses such as IntEnum): int.__repr__, as json does.
    let int_type = INT_TYPE.import(v.py(), "builtins", "int")?;
    let text = int_type
        .call_method1("__repr__", (v,))
        .map_err(|e| InvalidArgumentError::new_err(format!("cannot write the integer: {e}")))?;
    out.push_str(text.cast::<PyString>()?.to_str()?);
    Ok(())
}

/// Writes `v` as Python's `repr(float)` does (shortest round-trip digits,
/// exponent form below 1e-4 and from 1e16), refusing NaN and infinities.
pub fn write_float(v: f64, out: &mut String) -> PyResult<()> {
    if !v.is_finite() {
        return Err(InvalidArgumentError::new_err(format!(
            "Out of range float values are not JSON compliant: {v}"
        )));
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if neg {
        out.push('-');
    }
    let decpt = exp + 1;
    if -4 < decpt && decpt <= 16 {
        if decpt <= 0 {
            out.push_str("0.");
            for _ in 0..(-decpt) {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let d = usize::try_from(decpt).unwrap_or(0);
            if d >= digits.len() {
                out.push_str(&digits);
                for _ in digits.len()..d {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(&digits[..d]);
                out.push('.');
                out.push_str(&digits[d..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
    Ok(())
}

/// Appends `s` as a JSON string literal with only ASCII characters, as
/// `json.dumps` does by default (`ensure_ascii=True`).
pub fn write_str(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<&str> = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            ' '..='~' => continue,
            _ => None,
        };
        out.push_str(&s[start..i]);
        start = i + c.len_utf8();
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A copy of `payload` (a mapping) as a dict whose `datetime` values of
/// `exp`, `iat` and `nbf` are integer timestamps (for `json.dumps` with a
/// custom encoder).
pub fn with_time_claims<'py>(payload: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let copy = payload
        .py()
        .get_type::<PyDict>()
        .call1((payload,))?
        .cast_into::<PyDict>()?;
    for name in TIME_CLAIMS {
        if let Some(v) = copy.get_item(name)? {
            if is_datetime(&v)? {
                copy.set_item(name, timegm(&v)?)?;
            }
        }
    }
    Ok(copy)
}

fn is_datetime(v: &Bound<'_, PyAny>) -> PyResult<bool> {
    let dt = DATETIME.import(v.py(), "datetime", "datetime")?;
    v.is_instance(dt)
}

fn timegm<'py>(v: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let py = v.py();
    let timegm = TIMEGM.get_or_try_init(py, || -> PyResult<_> {
        Ok(py.import("calendar")?.getattr("timegm")?.unbind())
    })?;
    timegm
        .call1(py, (v.call_method0("utctimetuple")?,))
        .map(|t| t.into_bound(py))
}

// ---- JSON -> Python -------------------------------------------------------------

/// A Python object for a parsed JSON value.
pub fn to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => number_to_py(py, n)?,
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(o) => object_to_py(py, o)?.into_any(),
    })
}

/// A `dict` for a parsed JSON object, members in document order.
pub fn object_to_py<'py>(py: Python<'py>, o: &Object) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in o.iter() {
        d.set_item(k, to_py(py, v)?)?;
    }
    Ok(d)
}

fn number_to_py<'py>(py: Python<'py>, n: &Number) -> PyResult<Bound<'py, PyAny>> {
    if n.is_integer() {
        if let Some(i) = n.as_i64() {
            return Ok(i.into_pyobject(py)?.into_any());
        }
        let int_type = INT_TYPE.import(py, "builtins", "int")?;
        return int_type
            .call1((n.raw(),))
            .map(Bound::into_any)
            .map_err(|e| DecodeError::new_err(format!("Invalid payload string: {e}")));
    }
    Ok(PyFloat::new(py, n.as_f64()).into_any())
}
