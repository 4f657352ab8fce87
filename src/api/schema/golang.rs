//! Go-compatible renderings and string formats.
//!
//! Kubernetes error messages embed values printed by Go's `fmt` (`%q`, `%v`) and
//! `encoding/json`, and the `format` keyword is checked by kube-openapi's `strfmt`
//! registry. Clients match on these texts, so they are reproduced here.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Values nested deeper than this are not walked (rendering stops, comparisons fail).
/// Request bodies parsed by serde_json are limited to 128 levels anyway.
pub(crate) const DATA_DEPTH_LIMIT: usize = 512;

/// Go's `strconv.Quote` (what `%q` prints for a string).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let n = c as u32;
                if n <= 0xffff {
                    let _ = write!(out, "\\u{n:04x}");
                } else {
                    let _ = write!(out, "\\U{n:08x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%v` for a `float64` (`strconv.FormatFloat(f, 'g', -1, 64)`): shortest
/// representation, exponent form when the decimal exponent is below -4 or at least 6
/// (e.g. `5`, `0.5`, `123456`, `1e+06`, `1e-05`).
pub(crate) fn float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        format!("{f}")
    }
}

/// A JSON number as Go's decoder for unstructured objects sees it: an `int64` when it
/// fits, a `float64` otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

pub(crate) fn num(n: &serde_json::Number) -> Num {
    match n.as_i64() {
        Some(i) => Num::Int(i),
        None => Num::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}

impl Num {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
    /// `%v`.
    pub(crate) fn render(self) -> String {
        match self {
            Num::Int(i) => i.to_string(),
            Num::Float(f) => float(f),
        }
    }
}

/// swag's `IsFloat64AJSONInteger`: an integral float within ±2^53.
pub(crate) fn is_json_integer(f: f64) -> bool {
    const LIMIT: f64 = 9_007_199_254_740_992.0;
    f.is_finite() && (-LIMIT..=LIMIT).contains(&f) && f.trunc() == f
}

/// The Go dynamic type a JSON value decodes to in kube's unstructured objects (`int64`
/// for integers that fit, `float64` otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GoType {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

pub(crate) fn go_type(v: &Value) -> GoType {
    match v {
        Value::Null => GoType::Nil,
        Value::Bool(_) => GoType::Bool,
        Value::Number(n) => match num(n) {
            Num::Int(_) => GoType::Int,
            Num::Float(_) => GoType::Float,
        },
        Value::String(_) => GoType::String,
        Value::Array(_) => GoType::Slice,
        Value::Object(_) => GoType::Map,
    }
}

/// `map[string]interface {}`, a decoded JSON object's type as `%T` prints it.
pub(crate) const MAP_TYPE: &str = "map[string]interface {}";
/// `[]interface {}`, a decoded JSON array's type.
pub(crate) const SLICE_TYPE: &str = "[]interface {}";

/// `%T` of a decoded value.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match go_type(v) {
        GoType::Nil => "<nil>",
        GoType::Bool => "bool",
        GoType::Int => "int64",
        GoType::Float => "float64",
        GoType::String => "string",
        GoType::Slice => SLICE_TYPE,
        GoType::Map => MAP_TYPE,
    }
}

/// Go's `%v` of a decoded JSON value: `map[k:v ...]` with sorted keys, `[a b]`, strings
/// unquoted, `<nil>`.
pub(crate) fn value(v: &Value) -> String {
    let mut out = String::new();
    value_into(v, &mut out, 0);
    out
}

/// Go's `%v` of a decoded JSON array.
pub(crate) fn values(items: &[Value]) -> String {
    let mut out = String::new();
    items_into(items, &mut out, 0);
    out
}

fn value_into(v: &Value, out: &mut String, depth: usize) {
    if depth > DATA_DEPTH_LIMIT {
        out.push_str("...");
        return;
    }
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&num(n).render()),
        Value::String(s) => out.push_str(s),
        Value::Array(items) => items_into(items, out, depth),
        Value::Object(map) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                if let Some(x) = map.get(k) {
                    value_into(x, out, depth + 1);
                }
            }
            out.push(']');
        }
    }
}

fn items_into(items: &[Value], out: &mut String, depth: usize) {
    out.push('[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        value_into(x, out, depth + 1);
    }
    out.push(']');
}

/// How `field.Error` prints a bad value: numbers and booleans with `%v`, strings with
/// `%q`, anything else as JSON (`null`, `{"k":"v"}`).
pub(crate) fn bad_value(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Number(n) => num(n).render(),
        Value::Bool(b) => b.to_string(),
        _ => json(v),
    }
}

/// Go's `json.Marshal` of a decoded value: object keys sorted, `<`, `>`, `&`, U+2028 and
/// U+2029 escaped, floats in Go's JSON number style.
pub(crate) fn json(v: &Value) -> String {
    let mut out = String::new();
    json_into(v, &mut out, 0);
    out
}

fn json_into(v: &Value, out: &mut String, depth: usize) {
    if depth > DATA_DEPTH_LIMIT {
        out.push_str("null");
        return;
    }
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match num(n) {
            Num::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Num::Float(f) => out.push_str(&json_float(f)),
        },
        Value::String(s) => json_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_into(item, out, depth + 1);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(k, out);
                out.push(':');
                if let Some(item) = map.get(k) {
                    json_into(item, out, depth + 1);
                }
            }
            out.push('}');
        }
    }
}

/// encoding/json's float format: `%f`-like unless the exponent is < -6 or >= 21.
fn json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let sci = format!("{f:e}");
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.unsigned_abs())
    } else {
        format!("{f}")
    }
}

/// Go's `encoding/json` string encoding (HTML-safe escapes included).
pub(crate) fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `reflect.DeepEqual` on decoded JSON: `int64` and `float64` never equal.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    deep_equal_at(a, b, 0)
}

fn deep_equal_at(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > DATA_DEPTH_LIMIT {
        return false;
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num(x) == num(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| deep_equal_at(p, q, depth + 1))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, p)| y.get(k).is_some_and(|q| deep_equal_at(p, q, depth + 1)))
        }
        _ => a == b,
    }
}

/// Translates a Go RE2 pattern into Rust `regex` syntax. The grammars agree except that
/// Go's Perl classes (`\d`, `\w`, `\s`, `\b`) are ASCII-only while Rust's are Unicode.
pub(crate) fn translate_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    let mut class_depth = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let inside = class_depth > 0;
                let replacement = match (next, inside) {
                    ('d', false) => "[0-9]",
                    ('d', true) => "0-9",
                    ('D', _) => "[^0-9]",
                    ('w', false) => "[0-9A-Za-z_]",
                    ('w', true) => "0-9A-Za-z_",
                    ('W', _) => "[^0-9A-Za-z_]",
                    ('s', false) => "[\\t\\n\\f\\r ]",
                    ('s', true) => "\\t\\n\\f\\r ",
                    ('S', _) => "[^\\t\\n\\f\\r ]",
                    ('b', false) => "(?-u:\\b)",
                    ('B', false) => "(?-u:\\B)",
                    _ => {
                        out.push('\\');
                        out.push(next);
                        continue;
                    }
                };
                out.push_str(replacement);
            }
            '[' => {
                class_depth += 1;
                out.push('[');
                // A leading `]` (or `^]`) is a literal in both dialects; copy it through.
                let rest = chars.as_str();
                if let Some(r) = rest.strip_prefix("^]") {
                    out.push_str("^\\]");
                    chars = r.chars();
                } else if let Some(r) = rest.strip_prefix(']') {
                    out.push_str("\\]");
                    chars = r.chars();
                } else if let Some(r) = rest.strip_prefix('^') {
                    out.push('^');
                    chars = r.chars();
                }
                // `[:alpha:]` style classes are copied whole.
                if let Some(end) = chars.as_str().strip_prefix("[:").and_then(|r| r.find(":]")) {
                    let (cls, r) = chars.as_str().split_at(end + 4);
                    out.push_str(cls);
                    chars = r.chars();
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// Formats kube-apiserver recognises for CRDs (apiextensions `formats.go`), after
/// `StripUnsupportedFormats`: names compared with dashes removed.
pub(crate) fn supported_string_format(name: &str) -> bool {
    // Every string of every object asks, most with no format at all.
    if name.is_empty() {
        return false;
    }
    matches!(
        name.replace('-', "").as_str(),
        "bsonobjectid"
            | "uri"
            | "email"
            | "hostname"
            | "ipv4"
            | "ipv6"
            | "cidr"
            | "mac"
            | "uuid"
            | "uuid3"
            | "uuid4"
            | "uuid5"
            | "isbn"
            | "isbn10"
            | "isbn13"
            | "creditcard"
            | "ssn"
            | "hexcolor"
            | "rgbcolor"
            | "byte"
            | "password"
            | "date"
            | "duration"
            | "datetime"
            | "k8sshortname"
            | "k8slongname"
    )
}

fn rx(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

macro_rules! lazy_rx {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Option<Regex>> = LazyLock::new(|| rx($pattern));
    };
}

lazy_rx!(
    HOSTNAME,
    r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9\-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$"
);
lazy_rx!(
    UUID,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$"
);
lazy_rx!(
    UUID3,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$"
);
lazy_rx!(
    UUID4,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"
);
lazy_rx!(
    UUID5,
    r"(?i)^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$"
);
lazy_rx!(
    BASE64,
    r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$"
);
lazy_rx!(HEXCOLOR, r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$");
lazy_rx!(
    RGBCOLOR,
    r"^rgb\(\s*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])\s*,\s*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])\s*,\s*(0|[1-9][0-9]?|1[0-9][0-9]?|2[0-4][0-9]|25[0-5])\s*\)$"
);
lazy_rx!(SSN, r"^[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}$");
lazy_rx!(
    DATETIME_TIME,
    r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$"
);
lazy_rx!(DURATION_WORDS, r"((\d+)\s*([A-Za-zµ]+))");
lazy_rx!(SHORT_NAME, r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
lazy_rx!(
    LONG_NAME,
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
);
lazy_rx!(
    EMAIL,
    r"^(?:[^<>@\s]*<)?[^<>@\s()\[\]\\,;:]+@[^<>@\s()\[\]\\,;:]+>?$"
);

fn matches(re: &LazyLock<Option<Regex>>, s: &str) -> bool {
    re.as_ref().is_some_and(|r| r.is_match(s))
}

/// Whether `s` is valid for the (supported) string format `name`.
pub(crate) fn check_format(name: &str, s: &str) -> bool {
    match name.replace('-', "").as_str() {
        "password" => true,
        "bsonobjectid" => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(s),
        "email" => matches(&EMAIL, s),
        "hostname" => {
            matches(&HOSTNAME, s) && s.len() <= 255 && s.split('.').all(|p| p.len() <= 63)
        }
        "ipv4" => parse_ip(s).is_some() && s.contains('.'),
        "ipv6" => parse_ip(s).is_some() && s.contains(':'),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "uuid" => matches(&UUID, s),
        "uuid3" => matches(&UUID3, s),
        "uuid4" => matches(&UUID4, s),
        "uuid5" => matches(&UUID5, s),
        "isbn" => is_isbn10(s) || is_isbn13(s),
        "isbn10" => is_isbn10(s),
        "isbn13" => is_isbn13(s),
        "creditcard" => is_credit_card(s),
        "ssn" => s.len() == 11 && matches(&SSN, s),
        "hexcolor" => matches(&HEXCOLOR, s),
        "rgbcolor" => matches(&RGBCOLOR, s),
        "byte" => matches(&BASE64, s),
        "date" => is_date(s),
        "datetime" => is_date_time(s),
        "duration" => is_duration(s),
        "k8sshortname" => s.len() <= 63 && matches(&SHORT_NAME, s),
        "k8slongname" => s.len() <= 253 && matches(&LONG_NAME, s),
        _ => true,
    }
}

/// Go's `time.Parse("2006-01-02", s)`.
fn is_date(s: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    s.len() == 10 && time::Date::parse(s, &format).is_ok()
}

/// strfmt's `IsDateTime`: a date, a `t`, then `hh:mm:ss[.frac](z|±hh:mm)`, lower-cased.
fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(clock)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let Some(Some(caps)) = DATETIME_TIME.as_ref().map(|r| r.captures(clock)) else {
        return false;
    };
    let field = |i: usize| caps.get(i).map(|m| m.as_str()).unwrap_or("99");
    field(1) <= "23" && field(2) <= "59" && field(3) <= "59"
}

/// strfmt's `ParseDuration`: Go's `time.ParseDuration`, or any `<digits> <unit word>`.
fn is_duration(s: &str) -> bool {
    if go_parse_duration(s) {
        return true;
    }
    const UNITS: &[&[&str]] = &[
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let Some(re) = DURATION_WORDS.as_ref() else {
        return false;
    };
    re.captures_iter(s).any(|caps| {
        let unit = caps
            .get(3)
            .map(|m| m.as_str().trim().to_lowercase())
            .unwrap_or_default();
        caps.get(2)
            .is_some_and(|d| d.as_str().parse::<i64>().is_ok())
            && UNITS.iter().any(|variants| {
                variants.iter().enumerate().any(|(i, v)| {
                    (i == variants.len() - 1 && unit.starts_with(v)) || unit.eq_ignore_ascii_case(v)
                })
            })
    })
}

/// The grammar of Go's `time.ParseDuration` (`[-+]?(\d*\.?\d*unit)+` or `0`).
fn go_parse_duration(s: &str) -> bool {
    go_duration_nanos(s).is_some()
}

/// Go's `time.ParseDuration`, in nanoseconds (`1h30m`, `1.5s`, `-2m`, `0`); `None` when
/// Go would refuse it.
pub fn go_duration_nanos(s: &str) -> Option<i128> {
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return None;
        }
        let value: f64 = number.parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit: f64 = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * unit;
        rest = &rest[unit_len..];
    }
    let nanos = total.round() as i128;
    Some(if negative { -nanos } else { nanos })
}

/// `netutils.ParseIPSloppy`: Go's `net.ParseIP` allowing leading zeros in IPv4 octets.
fn parse_ip(s: &str) -> Option<()> {
    if s.contains(':') {
        // IPv6, optionally with an embedded dotted quad.
        let (head, tail_v4) = match s.rfind(':') {
            Some(i) if s[i + 1..].contains('.') => (&s[..=i], Some(&s[i + 1..])),
            _ => (s, None),
        };
        if let Some(v4) = tail_v4 {
            parse_v4(v4)?;
        }
        let groups_needed = if tail_v4.is_some() { 6 } else { 8 };
        let head = if tail_v4.is_some() {
            // keep a trailing "::" but drop a single separating ':'
            if head.ends_with("::") {
                head
            } else {
                head.strip_suffix(':')?
            }
        } else {
            head
        };
        let count = |part: &str| -> Option<usize> {
            if part.is_empty() {
                return Some(0);
            }
            part.split(':')
                .map(|g| {
                    (!g.is_empty() && g.len() <= 4 && g.bytes().all(|b| b.is_ascii_hexdigit()))
                        .then_some(())
                })
                .collect::<Option<Vec<_>>>()
                .map(|v| v.len())
        };
        match head.split_once("::") {
            Some((a, b)) => {
                if b.contains("::") {
                    return None;
                }
                let n = count(a)? + count(b)?;
                (n < groups_needed).then_some(())
            }
            None => (count(head)? == groups_needed).then_some(()),
        }
    } else {
        parse_v4(s)
    }
}

fn parse_v4(s: &str) -> Option<()> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    for p in parts {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if p.parse::<u16>().ok()? > 255 {
            return None;
        }
    }
    Some(())
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let max = if ip.contains(':') { 128 } else { 32 };
    parse_ip(ip).is_some()
        && !bits.is_empty()
        && bits.len() <= 3
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.parse::<u32>().is_ok_and(|b| b <= max)
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets separated by `:` or `-`, or dotted 4-digit groups.
fn is_mac(s: &str) -> bool {
    let octets_ok = |sep: char| {
        let parts: Vec<&str> = s.split(sep).collect();
        matches!(parts.len(), 6 | 8 | 20)
            && parts
                .iter()
                .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    if s.contains(':') {
        octets_ok(':')
    } else if s.contains('-') {
        octets_ok('-')
    } else if s.contains('.') {
        let parts: Vec<&str> = s.split('.').collect();
        matches!(parts.len(), 3 | 4 | 10)
            && parts
                .iter()
                .all(|p| p.len() == 4 && p.bytes().all(|b| b.is_ascii_hexdigit()))
    } else {
        false
    }
}

/// govalidator's `IsRequestURI`: Go's `url.ParseRequestURI` succeeds, i.e. an absolute
/// URI (`scheme:...`) or an absolute path, with no spaces or control characters.
fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.chars().any(|c| c.is_control() || c == ' ') {
        return false;
    }
    if s.starts_with('/') {
        return true;
    }
    match s.split_once(':') {
        Some((scheme, _)) => {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn isbn_digits(s: &str) -> String {
    s.chars().filter(|c| *c != ' ' && *c != '-').collect()
}

fn is_isbn10(s: &str) -> bool {
    let d = isbn_digits(s);
    let b = d.as_bytes();
    if b.len() != 10 || !b[..9].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let last = match b[9] {
        b'X' => 10,
        c if c.is_ascii_digit() => u32::from(c - b'0'),
        _ => return false,
    };
    let sum: u32 = b[..9]
        .iter()
        .enumerate()
        .map(|(i, c)| (i as u32 + 1) * u32::from(c - b'0'))
        .sum::<u32>()
        + 10 * last;
    sum.is_multiple_of(11)
}

fn is_isbn13(s: &str) -> bool {
    let d = isbn_digits(s);
    let b = d.as_bytes();
    if b.len() != 13 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = b[..12]
        .iter()
        .enumerate()
        .map(|(i, c)| u32::from(c - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    (10 - sum % 10) % 10 == u32::from(b[12] - b'0')
}

fn is_credit_card(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(12..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                *d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_renderings() {
        assert_eq!(quote("a\"b\n"), r#""a\"b\n""#);
        assert_eq!(float(5.0), "5");
        assert_eq!(float(0.5), "0.5");
        assert_eq!(float(1e21), "1e+21");
        assert_eq!(float(0.00001), "1e-05");
        // checked against Go: fmt.Sprint(123456.0, 1e6, 1234567.0, 0.0001)
        assert_eq!(float(123456.0), "123456");
        assert_eq!(float(1e6), "1e+06");
        assert_eq!(float(1234567.0), "1.234567e+06");
        assert_eq!(float(0.0001), "0.0001");
        // fmt.Sprintf("%v", m) of a decoded {"a":1.0,"b":[1,2.5,"x",null,true],"c":{"z":1,"y":2}}
        let decoded = json!({"a": 1.0, "b": [1, 2.5, "x", null, true], "c": {"z": 1, "y": 2}});
        assert_eq!(
            value(&decoded),
            "map[a:1 b:[1 2.5 x <nil> true] c:map[y:2 z:1]]"
        );
        assert_eq!(values(&[json!("a"), json!(2)]), "[a 2]");
        assert_eq!(type_name(&json!(1)), "int64");
        assert_eq!(type_name(&json!(1.5)), "float64");
        assert_eq!(type_name(&json!({})), MAP_TYPE);
        assert_eq!(bad_value(&json!(null)), "null");
        assert_eq!(
            bad_value(&json!({"b": 1, "a": "<"})),
            r#"{"a":"\u003c","b":1}"#
        );
        assert_eq!(bad_value(&json!(1.5)), "1.5");
        assert!(deep_equal(&json!({"a": [1]}), &json!({"a": [1]})));
        assert!(!deep_equal(&json!(1), &json!(1.0)));
    }

    #[test]
    fn pattern_translation() {
        assert_eq!(translate_pattern(r"^\d+$"), "^[0-9]+$");
        assert_eq!(translate_pattern(r"[\w.]"), "[0-9A-Za-z_.]");
        assert_eq!(translate_pattern(r"[]a]"), r"[\]a]");
        let re = Regex::new(&translate_pattern(r"^\d$")).ok();
        assert!(re.is_some_and(|r| !r.is_match("٣")));
    }

    #[test]
    fn formats() {
        let cases: &[(&str, &str, bool)] = &[
            ("date-time", "2024-01-02T03:04:05Z", true),
            ("date-time", "2024-01-02T03:04:05.123+01:00", true),
            ("date-time", "2024-01-02 03:04:05", false),
            ("date-time", "2024-13-02T03:04:05Z", false),
            ("date", "2024-02-29", true),
            ("date", "2023-02-29", false),
            ("byte", "aGVsbG8=", true),
            ("byte", "not base64!", false),
            ("uuid", "123e4567-e89b-12d3-a456-426614174000", true),
            ("uuid", "xyz", false),
            ("ipv4", "10.0.0.1", true),
            ("ipv4", "010.0.0.1", true),
            ("ipv4", "::1", false),
            ("ipv6", "::1", true),
            ("ipv6", "fe80::1:2:3:4", true),
            ("ipv6", "::ffff:1.2.3.4", true),
            ("ipv6", "1:2", false),
            ("cidr", "10.0.0.0/8", true),
            ("cidr", "10.0.0.0/33", false),
            ("hostname", "example.com", true),
            ("hostname", "-bad-", false),
            ("mac", "00:11:22:33:44:55", true),
            ("mac", "0011.2233.4455", true),
            ("mac", "00:11", false),
            ("duration", "1h30m", true),
            ("duration", "3 days", true),
            ("duration", "soon", false),
            ("uri", "https://example.com/x", true),
            ("uri", "relative/path", false),
            ("email", "a@b.c", true),
            ("email", "nope", false),
            ("k8s-short-name", "abc-1", true),
            ("k8s-short-name", "ABC", false),
            ("k8s-long-name", "a.b-c.d", true),
            ("isbn10", "0321751043", true),
            ("isbn13", "978-0321751041", true),
            ("hexcolor", "#FFF", true),
            ("rgbcolor", "rgb(255, 0, 0)", true),
            ("ssn", "123-45-6789", true),
            ("creditcard", "4111 1111 1111 1111", true),
            ("bsonobjectid", "507f1f77bcf86cd799439011", true),
        ];
        for (format, value, ok) in cases {
            assert!(supported_string_format(format), "{format}");
            assert_eq!(check_format(format, value), *ok, "{format} {value}");
        }
        assert!(!supported_string_format("int-or-string"));
    }
}
