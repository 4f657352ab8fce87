//! How kube-apiserver words a request body it cannot decode: Go's `encoding/json` syntax
//! errors and type errors, wrapped as the API machinery wraps them, with its summary of
//! the body (`summarizeData`). Only the words are emulated; the body is parsed by
//! serde_json.

use serde_json::Value;

/// The message of a body that is not a JSON object of `kind`, as kube's decoder gives
/// it; `None` when the body is a JSON object (or `null`, which decodes as an empty one).
pub fn unrecognized(kind: &str, body: &[u8]) -> Option<String> {
    let error = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(_) | Value::Null) => return None,
        Ok(other) => format!(
            "json: cannot unmarshal {} into Go value of type struct {{ APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }}",
            match other {
                Value::Array(_) => "array",
                Value::String(_) => "string",
                Value::Number(_) => "number",
                _ => "bool",
            }
        ),
        Err(_) => syntax_error(body),
    };
    Some(unrecognized_because(
        kind,
        &format!("couldn't get version/kind; json parse error: {error}"),
        body,
    ))
}

/// A body that is not an object of `kind` in kube's words around `error` (the decoder's
/// own words) and a summary of the body.
pub fn unrecognized_because(kind: &str, error: &str, body: &[u8]) -> String {
    format!(
        "the object provided is unrecognized (must be of type {kind}): {error} ({})",
        summarize(body, 30)
    )
}

/// apimachinery's `summarizeData`: JSON-looking bodies as text, others in hex.
fn summarize(data: &[u8], max: usize) -> String {
    if data.is_empty() {
        return "<empty>".into();
    }
    let cut = data.len().min(max);
    let more = if data.len() > max { " ..." } else { "" };
    if data[0] == b'{' {
        format!("{}{more}", String::from_utf8_lossy(&data[..cut]))
    } else {
        let hex: String = data[..cut].iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex}{more}")
    }
}

/// Go's `quoteChar`.
fn quote(c: u8) -> String {
    match c {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        0x07 => "'\\a'".into(),
        0x08 => "'\\b'".into(),
        0x0c => "'\\f'".into(),
        b'\n' => "'\\n'".into(),
        b'\r' => "'\\r'".into(),
        b'\t' => "'\\t'".into(),
        0x0b => "'\\v'".into(),
        b'\\' => "'\\\\'".into(),
        0x20..=0x7e => format!("'{}'", c as char),
        0x80.. => format!("'\\u{c:04x}'"),
        _ => format!("'\\x{c:02x}'"),
    }
}

/// How deep the scanners below follow nested arrays and objects. They recurse, so this
/// bounds their stack (Go stops at 10,000 with "exceeded max depth"; a body nested deeper
/// than this is refused with those words).
const MAX_DEPTH: usize = 512;

enum Fail {
    End,
    At(u8, &'static str),
    Deep,
}

struct Scanner<'a> {
    data: &'a [u8],
    at: usize,
    depth: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.data.get(self.at).copied()
    }

    fn next(&mut self) -> Result<u8, Fail> {
        let c = self.peek().ok_or(Fail::End)?;
        self.at += 1;
        Ok(c)
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self) -> Result<(), Fail> {
        self.space();
        match self.next()? {
            b'{' | b'[' if self.depth >= MAX_DEPTH => Err(Fail::Deep),
            b'{' => {
                self.depth += 1;
                let result = self.object();
                self.depth -= 1;
                result
            }
            b'[' => {
                self.depth += 1;
                let result = self.array();
                self.depth -= 1;
                result
            }
            b'"' => self.string(),
            b't' => self.literal(b"rue", "in literal true (expecting "),
            b'f' => self.literal(b"alse", "in literal false (expecting "),
            b'n' => self.literal(b"ull", "in literal null (expecting "),
            c @ (b'-' | b'0'..=b'9') => self.number(c),
            c => Err(Fail::At(c, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, rest: &[u8], context: &'static str) -> Result<(), Fail> {
        for want in rest {
            let c = self.next()?;
            if c != *want {
                // The expected letter is part of Go's words; leak-free static text below.
                return Err(Fail::At(c, expecting(context, *want)));
            }
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    fn number(&mut self, first: u8) -> Result<(), Fail> {
        let mut first = first;
        if first == b'-' {
            first = self.next()?;
            if !first.is_ascii_digit() {
                return Err(Fail::At(first, "in numeric literal"));
            }
        }
        if first != b'0' {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(Fail::At(c, "after decimal point in numeric literal"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let mut c = self.next()?;
            if c == b'+' || c == b'-' {
                c = self.next()?;
            }
            if !c.is_ascii_digit() {
                return Err(Fail::At(c, "in exponent of numeric literal"));
            }
            self.digits();
        }
        Ok(())
    }

    fn string(&mut self) -> Result<(), Fail> {
        loop {
            match self.next()? {
                b'"' => return Ok(()),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                    b'u' => {
                        for _ in 0..4 {
                            let c = self.next()?;
                            if !c.is_ascii_hexdigit() {
                                return Err(Fail::At(c, "in \\u hexadecimal character escape"));
                            }
                        }
                    }
                    c => return Err(Fail::At(c, "in string escape code")),
                },
                c if c < 0x20 => return Err(Fail::At(c, "in string literal")),
                _ => {}
            }
        }
    }

    fn object(&mut self) -> Result<(), Fail> {
        self.space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.space();
            match self.next()? {
                b'"' => self.string()?,
                c => return Err(Fail::At(c, "looking for beginning of object key string")),
            }
            self.space();
            match self.next()? {
                b':' => {}
                c => return Err(Fail::At(c, "after object key")),
            }
            self.value()?;
            self.space();
            match self.next()? {
                b',' => continue,
                b'}' => return Ok(()),
                c => return Err(Fail::At(c, "after object key:value pair")),
            }
        }
    }

    fn array(&mut self) -> Result<(), Fail> {
        self.space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.space();
            match self.next()? {
                b',' => continue,
                b']' => return Ok(()),
                c => return Err(Fail::At(c, "after array element")),
            }
        }
    }
}

/// `in literal true (expecting 'r')` and the like, as static text.
fn expecting(context: &'static str, want: u8) -> &'static str {
    const TABLE: &[(&str, u8, &str)] = &[
        (
            "in literal true (expecting ",
            b'r',
            "in literal true (expecting 'r')",
        ),
        (
            "in literal true (expecting ",
            b'u',
            "in literal true (expecting 'u')",
        ),
        (
            "in literal true (expecting ",
            b'e',
            "in literal true (expecting 'e')",
        ),
        (
            "in literal false (expecting ",
            b'a',
            "in literal false (expecting 'a')",
        ),
        (
            "in literal false (expecting ",
            b'l',
            "in literal false (expecting 'l')",
        ),
        (
            "in literal false (expecting ",
            b's',
            "in literal false (expecting 's')",
        ),
        (
            "in literal false (expecting ",
            b'e',
            "in literal false (expecting 'e')",
        ),
        (
            "in literal null (expecting ",
            b'u',
            "in literal null (expecting 'u')",
        ),
        (
            "in literal null (expecting ",
            b'l',
            "in literal null (expecting 'l')",
        ),
    ];
    TABLE
        .iter()
        .find(|(c, w, _)| *c == context && *w == want)
        .map_or("in literal", |(_, _, text)| text)
}

/// Go's `json.Unmarshal` syntax error for a body serde_json refused.
fn syntax_error(data: &[u8]) -> String {
    let mut s = Scanner {
        data,
        at: 0,
        depth: 0,
    };
    let result = s.value().and_then(|()| {
        s.space();
        match s.peek() {
            None => Ok(()),
            Some(c) => Err(Fail::At(c, "after top-level value")),
        }
    });
    match result {
        Ok(()) | Err(Fail::End) => "unexpected end of JSON input".into(),
        Err(Fail::At(c, context)) => format!("invalid character {} {context}", quote(c)),
        Err(Fail::Deep) => "exceeded max depth".into(),
    }
}

/// The fields a JSON body sets twice, as Go's strict decoder names them (`spec.color`,
/// `spec.ports[0].name`), in order of appearance.
pub fn duplicate_fields(body: &[u8]) -> Vec<String> {
    /// One value, nested at most [`MAX_DEPTH`] deep (deeper: no answer).
    fn walk(v: &mut Walker<'_>, path: &str) -> Option<()> {
        if v.depth >= MAX_DEPTH {
            return None;
        }
        v.depth += 1;
        let result = walk_value(v, path);
        v.depth -= 1;
        result
    }
    fn walk_value(v: &mut Walker<'_>, path: &str) -> Option<()> {
        v.space();
        match v.peek()? {
            b'{' => {
                v.at += 1;
                let mut seen = std::collections::HashSet::new();
                loop {
                    v.space();
                    match v.peek()? {
                        b'}' => {
                            v.at += 1;
                            return Some(());
                        }
                        b',' => {
                            v.at += 1;
                            continue;
                        }
                        b'"' => {}
                        _ => return None,
                    }
                    let key = v.key()?;
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    if !seen.insert(key) && !v.found.contains(&child) {
                        v.found.push(child.clone());
                    }
                    v.space();
                    if v.peek()? != b':' {
                        return None;
                    }
                    v.at += 1;
                    walk(v, &child)?;
                }
            }
            b'[' => {
                v.at += 1;
                let mut i = 0;
                loop {
                    v.space();
                    match v.peek()? {
                        b']' => {
                            v.at += 1;
                            return Some(());
                        }
                        b',' => {
                            v.at += 1;
                            continue;
                        }
                        _ => {}
                    }
                    walk(v, &format!("{path}[{i}]"))?;
                    i += 1;
                }
            }
            b'"' => v.key().map(|_| ()),
            _ => {
                while let Some(c) = v.peek() {
                    if matches!(c, b',' | b'}' | b']') || c.is_ascii_whitespace() {
                        break;
                    }
                    v.at += 1;
                }
                Some(())
            }
        }
    }
    let mut walker = Walker {
        data: body,
        at: 0,
        depth: 0,
        found: Vec::new(),
    };
    let _ = walk(&mut walker, "");
    walker.found
}

struct Walker<'a> {
    data: &'a [u8],
    at: usize,
    depth: usize,
    found: Vec<String>,
}

impl Walker<'_> {
    fn peek(&self) -> Option<u8> {
        self.data.get(self.at).copied()
    }

    fn space(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// A string at the cursor, unescaped by serde_json.
    fn key(&mut self) -> Option<String> {
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek()? {
                b'\\' => self.at += 2,
                b'"' => {
                    self.at += 1;
                    break;
                }
                _ => self.at += 1,
            }
        }
        serde_json::from_slice(self.data.get(start..self.at)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_bodies_are_refused_without_recursing_further() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let message = unrecognized("ConfigMap", deep.as_bytes()).expect("refused");
        assert!(message.contains("exceeded max depth"), "{message}");
        let deep_object = format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000));
        assert!(duplicate_fields(deep_object.as_bytes()).is_empty());
    }

    #[test]
    fn go_words() {
        assert_eq!(syntax_error(b"{\"a\": "), "unexpected end of JSON input");
        assert_eq!(
            syntax_error(b"not json"),
            "invalid character 'o' in literal null (expecting 'u')"
        );
        assert_eq!(
            syntax_error(b"{\"a\" 1}"),
            "invalid character '1' after object key"
        );
        assert_eq!(
            syntax_error(b"{\"a\":1 x"),
            "invalid character 'x' after object key:value pair"
        );
        assert_eq!(
            syntax_error(b"{} x"),
            "invalid character 'x' after top-level value"
        );
        assert_eq!(summarize(b"", 30), "<empty>");
        assert_eq!(summarize(b"[1, 2]", 30), "5b312c20325d");
        assert_eq!(
            unrecognized("ConfigMap", b"").as_deref(),
            Some(
                "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error: unexpected end of JSON input (<empty>)"
            )
        );
        assert_eq!(unrecognized("ConfigMap", b"null"), None);
        assert_eq!(
            duplicate_fields(br#"{"a":1,"spec":{"c":"x","c":"y","l":[{"n":1,"n":2}]},"a":2}"#),
            ["spec.c", "spec.l[0].n", "a"]
        );
    }
}
