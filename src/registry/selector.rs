//! Label and field selectors, parsed from their query-string form and evaluated on JSON
//! objects.
//!
//! Label selectors follow kube's grammar: `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
//! `k notin (a,b)`, `k` (exists) and `!k` (does not exist), comma-separated (AND). The
//! object form (`metav1.LabelSelector`: `matchLabels` and `matchExpressions`, as in
//! `aggregationRule.clusterRoleSelectors`) reads into the same type.
//! Field selectors support `metadata.name` and `metadata.namespace` with `=`, `==`, `!=`
//! on every kind; anything else is refused with kube's message.

use std::collections::BTreeMap;

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
    /// `k gt 3`, `k lt 3` (integers; the label must parse as one).
    GreaterThan(String, i64),
    LessThan(String, i64),
}

/// A parsed label selector (empty: matches everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(Vec<LabelReq>);

/// A parsed field selector (empty: matches everything).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

/// Splits on commas that are not inside parentheses.
fn split_top(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn valid_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'))
    });
    name_ok && prefix_ok
}

fn valid_value(value: &str) -> bool {
    value.is_empty()
        || (value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

impl LabelSelector {
    /// Parses the text form with kube's lexer and parser (`labels.Parse`), so a bad
    /// selector gets kube's message, e.g. `unable to parse requirement: found '',
    /// expected: ',' or ')'`.
    pub fn parse(text: &str) -> Result<LabelSelector, String> {
        let mut parser = Parser {
            tokens: lex(text),
            position: 0,
        };
        parser.parse().map(LabelSelector)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A `metav1.LabelSelector` object, as kube's `LabelSelectorAsSelector` reads it:
    /// `matchLabels` and `matchExpressions` ANDed, keys and values checked like the text
    /// form's, `In`/`NotIn` with values and `Exists`/`DoesNotExist` without. An empty
    /// object, and JSON `null` (what a Go zero value decodes from), select everything;
    /// where kube's field is a pointer and nil selects nothing, the caller decides
    /// before calling.
    pub fn from_object(selector: &Value) -> Result<LabelSelector, String> {
        let object = match selector {
            Value::Null => return Ok(LabelSelector::default()),
            Value::Object(o) => o,
            other => return Err(format!("a label selector is an object, not {other}")),
        };
        let mut reqs = Vec::new();
        match object.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                for (key, value) in labels {
                    let value = value
                        .as_str()
                        .ok_or_else(|| format!("matchLabels[{key:?}] is not a string"))?;
                    reqs.push(LabelReq::Equals(key.clone(), value.to_string()));
                }
            }
            Some(_) => return Err("matchLabels is not an object".into()),
        }
        match object.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(expressions)) => {
                for e in expressions {
                    reqs.push(requirement(e)?);
                }
            }
            Some(_) => return Err("matchExpressions is not a list".into()),
        }
        for req in &reqs {
            check(req)?;
        }
        Ok(LabelSelector(reqs))
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels = object.pointer("/metadata/labels");
        self.matches_with(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str))
    }

    /// Whether a label set (an object's labels, already read) is selected.
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches_with(|k| labels.get(k).map(String::as_str))
    }

    fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|req| match req {
            LabelReq::Equals(k, v) => get(k) == Some(v.as_str()),
            LabelReq::NotEquals(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => get(k).is_none_or(|x| vs.iter().all(|v| v != x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
            LabelReq::GreaterThan(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            LabelReq::LessThan(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        })
    }
}

/// The key and values of a requirement are well-formed.
fn check(req: &LabelReq) -> Result<(), String> {
    let (key, values): (&str, Vec<&str>) = match req {
        LabelReq::Equals(k, v) | LabelReq::NotEquals(k, v) => (k, vec![v.as_str()]),
        LabelReq::In(k, vs) | LabelReq::NotIn(k, vs) => {
            (k, vs.iter().map(String::as_str).collect())
        }
        LabelReq::Exists(k)
        | LabelReq::NotExists(k)
        | LabelReq::GreaterThan(k, _)
        | LabelReq::LessThan(k, _) => (k, vec![]),
    };
    if !valid_key(key) {
        return Err(format!("invalid label key {key:?}"));
    }
    if let Some(bad) = values.iter().find(|v| !valid_value(v)) {
        return Err(format!("invalid label value {bad:?}"));
    }
    Ok(())
}

/// One `metav1.LabelSelectorRequirement` (`key`, `operator`, `values`).
fn requirement(expression: &Value) -> Result<LabelReq, String> {
    let key = expression
        .get("key")
        .and_then(Value::as_str)
        .ok_or("a matchExpressions entry has no key")?
        .to_string();
    let values: Vec<String> = match expression.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or_else(|| format!("values of {key:?} are not all strings"))?,
        Some(_) => return Err(format!("values of {key:?} are not a list")),
    };
    let operator = expression
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let needs_values = matches!(operator, "In" | "NotIn");
    if matches!(operator, "In" | "NotIn" | "Exists" | "DoesNotExist")
        && needs_values == values.is_empty()
    {
        return Err(if needs_values {
            format!("{key}: for 'in', 'notin' operators, values set can't be empty")
        } else {
            format!("{key}: values set must be empty for exists and does not exist")
        });
    }
    Ok(match operator {
        "In" => LabelReq::In(key, values),
        "NotIn" => LabelReq::NotIn(key, values),
        "Exists" => LabelReq::Exists(key),
        "DoesNotExist" => LabelReq::NotExists(key),
        other => return Err(format!("{other:?} is not a valid label selector operator")),
    })
}

/// A token of kube's label selector lexer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn keyword(text: &str) -> Option<Token> {
    Some(match text {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

/// kube's `Lexer`: every token up to and including the end of the string.
fn lex(text: &str) -> Vec<(Token, String)> {
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < chars.len() && matches!(chars[i], ' ' | '\t' | '\r' | '\n') {
            i += 1;
        }
        if i >= chars.len() {
            out.push((Token::End, String::new()));
            return out;
        }
        if special(chars[i]) {
            // The longest run of symbols that is a token.
            let mut buffer = String::new();
            let mut last: Option<(Token, String)> = None;
            while i < chars.len() && special(chars[i]) {
                buffer.push(chars[i]);
                if let Some(t) = keyword(&buffer) {
                    last = Some((t, buffer.clone()));
                    i += 1;
                } else if last.is_some() {
                    break;
                } else {
                    i += 1;
                }
            }
            match last {
                Some(t) => out.push(t),
                None => out.push((
                    Token::Error,
                    format!("error expected: keyword found '{buffer}'"),
                )),
            }
        } else {
            let start = i;
            while i < chars.len()
                && !special(chars[i])
                && !matches!(chars[i], ' ' | '\t' | '\r' | '\n')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let token = match keyword(&word) {
                Some(t @ (Token::In | Token::NotIn)) => t,
                _ => Token::Identifier,
            };
            out.push((token, word));
        }
    }
}

/// kube's label selector `Parser`: in a value position `in` and `notin` are identifiers.
struct Parser {
    tokens: Vec<(Token, String)>,
    position: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    KeyAndOperator,
    Values,
}

impl Parser {
    fn at(&self, position: usize, context: Context) -> (Token, String) {
        let (token, literal) = self
            .tokens
            .get(position)
            .cloned()
            .unwrap_or((Token::End, String::new()));
        match token {
            Token::In | Token::NotIn if context == Context::Values => (Token::Identifier, literal),
            _ => (token, literal),
        }
    }

    fn lookahead(&self, context: Context) -> (Token, String) {
        self.at(self.position, context)
    }

    fn consume(&mut self, context: Context) -> (Token, String) {
        let item = self.at(self.position, context);
        self.position += 1;
        item
    }

    fn parse(&mut self) -> Result<Vec<LabelReq>, String> {
        let mut requirements = Vec::new();
        loop {
            let (token, literal) = self.lookahead(Context::Values);
            match token {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    requirements.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::End => return Ok(requirements),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!("found '{l}', expected: ',' or 'end of string'"));
                        }
                    }
                }
                Token::End => return Ok(requirements),
                _ => {
                    return Err(format!(
                        "found '{literal}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<LabelReq, String> {
        let (mut token, mut key) = self.consume(Context::Values);
        let negated = token == Token::DoesNotExist;
        if negated {
            (token, key) = self.consume(Context::Values);
        }
        if token != Token::Identifier {
            return Err(format!("found '{key}', expected: identifier"));
        }
        if !valid_key(&key) {
            return Err(format!(
                "<nil>: Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
            ));
        }
        let (next, _) = self.lookahead(Context::Values);
        if negated || next == Token::End || next == Token::Comma {
            // `!k` with more after it is an error kube reports at the next token.
            return Ok(if negated {
                LabelReq::NotExists(key)
            } else {
                LabelReq::Exists(key)
            });
        }
        let (op, literal) = self.consume(Context::KeyAndOperator);
        let req = match op {
            Token::In | Token::NotIn => {
                let values = self.values()?;
                if op == Token::In {
                    LabelReq::In(key, values)
                } else {
                    LabelReq::NotIn(key, values)
                }
            }
            Token::Equals | Token::DoubleEquals => LabelReq::Equals(key, self.exact_value()?),
            Token::NotEquals => LabelReq::NotEquals(key, self.exact_value()?),
            Token::GreaterThan | Token::LessThan => {
                let value = self.exact_value()?;
                let n: i64 = value.parse().map_err(|_| {
                    format!(
                        "values[0]: Invalid value: \"{value}\": for 'Gt', 'Lt' operators, the value must be an integer"
                    )
                })?;
                if op == Token::GreaterThan {
                    LabelReq::GreaterThan(key, n)
                } else {
                    LabelReq::LessThan(key, n)
                }
            }
            _ => {
                return Err(format!(
                    "found '{literal}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        };
        let values: Vec<&String> = match &req {
            LabelReq::In(_, vs) | LabelReq::NotIn(_, vs) => vs.iter().collect(),
            LabelReq::Equals(_, v) | LabelReq::NotEquals(_, v) => vec![v],
            _ => vec![],
        };
        for (i, v) in values.iter().enumerate() {
            if !valid_value(v) {
                return Err(format!(
                    "values[{i}][{}]: Invalid value: \"{v}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                    req_key(&req)
                ));
            }
        }
        Ok(req)
    }

    /// `(a, b)`: a sorted set; `()` is the set of the empty string.
    fn values(&mut self) -> Result<Vec<String>, String> {
        let (token, literal) = self.consume(Context::Values);
        if token != Token::OpenPar {
            return Err(format!("found '{literal}' expected: '('"));
        }
        let (token, literal) = self.lookahead(Context::Values);
        let mut set = std::collections::BTreeSet::new();
        match token {
            Token::Identifier | Token::Comma => {
                self.identifiers(&mut set)?;
                let (t, _) = self.consume(Context::Values);
                if t != Token::ClosedPar {
                    return Err(format!("found '{literal}', expected: ')'"));
                }
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                set.insert(String::new());
            }
            _ => {
                return Err(format!(
                    "found '{literal}', expected: ',', ')' or identifier"
                ));
            }
        }
        Ok(set.into_iter().collect())
    }

    fn identifiers(&mut self, set: &mut std::collections::BTreeSet<String>) -> Result<(), String> {
        loop {
            let (token, literal) = self.consume(Context::Values);
            match token {
                Token::Identifier => {
                    set.insert(literal);
                    let (t2, l2) = self.lookahead(Context::Values);
                    match t2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(()),
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    let (t2, _) = self.lookahead(Context::Values);
                    if t2 == Token::ClosedPar {
                        set.insert(String::new());
                        return Ok(());
                    }
                    if t2 == Token::Comma {
                        self.consume(Context::Values);
                        set.insert(String::new());
                    }
                }
                _ => return Err(format!("found '{literal}', expected: ',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Result<String, String> {
        let (token, _) = self.lookahead(Context::Values);
        if token == Token::End || token == Token::Comma {
            return Ok(String::new());
        }
        let (token, literal) = self.consume(Context::Values);
        if token == Token::Identifier {
            Ok(literal)
        } else {
            Err(format!("found '{literal}', expected: identifier"))
        }
    }
}

fn req_key(req: &LabelReq) -> &str {
    match req {
        LabelReq::Equals(k, _)
        | LabelReq::NotEquals(k, _)
        | LabelReq::In(k, _)
        | LabelReq::NotIn(k, _)
        | LabelReq::Exists(k)
        | LabelReq::NotExists(k)
        | LabelReq::GreaterThan(k, _)
        | LabelReq::LessThan(k, _) => k,
    }
}

impl FieldSelector {
    /// Parses `text` for objects of `kind`: `metadata.name`, `metadata.namespace` and the
    /// kind's own selectable fields (`Kind::field_path`).
    pub fn parse_for(text: &str, kind: &crate::api::Kind) -> Result<FieldSelector, String> {
        // Built-in kinds without field labels of their own answer with the generic
        // selector's words; the others (and custom resources) with their converter's.
        let own_labels = kind.custom
            || matches!(
                (kind.group.as_str(), kind.kind.as_str()),
                ("", "Secret" | "Namespace" | "Event")
                    | ("events.k8s.io", _)
                    | ("certificates.k8s.io", _)
            );
        let mut selector = FieldSelector::parse(text, |f| kind.field_path(f)).map_err(|e| {
            match e.strip_prefix("field label not supported: ") {
                Some(field) if !own_labels => format!(
                    "\"{field}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                ),
                _ => e,
            }
        })?;
        selector.0.sort();
        Ok(selector)
    }

    /// Parses `text`; `path` maps a selectable field to its path in the object.
    pub fn parse(
        text: &str,
        path: impl Fn(&str) -> Option<String>,
    ) -> Result<FieldSelector, String> {
        let mut reqs = Vec::new();
        for part in split_top(text) {
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            let field = field.trim();
            let path = match field {
                "metadata.name" | "metadata.namespace" => field.to_string(),
                other => {
                    path(other).ok_or_else(|| format!("field label not supported: {field}"))?
                }
            };
            reqs.push((path, equal, value.trim().to_string()));
        }
        Ok(FieldSelector(reqs))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, equal, value)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = match object.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let o =
            json!({"metadata": {"labels": {"env": "dev", "tier": "web", "example.com/x": "1"}}});
        for (sel, want) in [
            ("env=dev", true),
            ("env==dev,tier=web", true),
            ("env!=dev", false),
            ("env in (prod, dev)", true),
            ("env notin (prod,dev)", false),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("example.com/x=1", true),
            ("env=dev,missing", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(sel).expect(sel).matches(&o),
                want,
                "{sel}"
            );
        }
        assert!(LabelSelector::parse("bad key=1").is_err());
        assert!(LabelSelector::parse("k in a,b").is_err());
    }

    /// The object form reads into the same requirements as the text form, and is
    /// refused where kube's `LabelSelectorAsSelector` fails.
    #[test]
    fn label_selector_objects() {
        let object = json!({
            "matchLabels": {"env": "dev"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["a", "b"]},
                {"key": "zone", "operator": "NotIn", "values": ["x"]},
                {"key": "team", "operator": "Exists"},
                {"key": "skip", "operator": "DoesNotExist", "values": null}]});
        assert_eq!(
            LabelSelector::from_object(&object),
            LabelSelector::parse("env=dev,tier in (a,b),zone notin (x),team,!skip")
        );
        let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let selector = LabelSelector::from_object(&object).expect("valid");
        assert!(selector.matches_labels(&labels(&[("env", "dev"), ("tier", "a"), ("team", "t")])));
        assert!(!selector.matches_labels(&labels(&[("env", "dev"), ("tier", "c"), ("team", "t")])));
        assert!(!selector.matches_labels(&labels(&[("env", "dev"), ("tier", "a")])));
        // Empty and null select everything.
        for everything in [
            json!({}),
            json!(null),
            json!({"matchLabels": null, "matchExpressions": []}),
        ] {
            let s = LabelSelector::from_object(&everything).expect("valid");
            assert!(
                s.is_empty() && s.matches_labels(&BTreeMap::new()),
                "{everything}"
            );
        }
        for invalid in [
            json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": []}]}),
            json!({"matchExpressions": [{"key": "tier", "operator": "In"}]}),
            json!({"matchExpressions": [{"key": "tier", "operator": "Exists", "values": ["a"]}]}),
            json!({"matchExpressions": [{"key": "tier", "operator": "Gt", "values": ["1"]}]}),
            json!({"matchExpressions": [{"operator": "Exists"}]}),
            json!({"matchExpressions": [{"key": "tier", "operator": "In", "values": [1]}]}),
            json!({"matchExpressions": {"key": "tier"}}),
            json!({"matchLabels": {"bad key": "x"}}),
            json!({"matchLabels": {"k": "bad value"}}),
            json!({"matchLabels": {"k": 1}}),
            json!({"matchLabels": ["k"]}),
            json!("env=dev"),
        ] {
            assert!(LabelSelector::from_object(&invalid).is_err(), "{invalid}");
        }
    }

    #[test]
    fn field_selectors() {
        let o = json!({"metadata": {"name": "a", "namespace": "ns"}});
        assert!(
            FieldSelector::parse("metadata.name=a", |_| None)
                .expect("p")
                .matches(&o)
        );
        assert!(
            !FieldSelector::parse("metadata.name!=a", |_| None)
                .expect("p")
                .matches(&o)
        );
        assert!(
            FieldSelector::parse("metadata.namespace==ns,metadata.name=a", |_| None)
                .expect("p")
                .matches(&o)
        );
        assert_eq!(
            FieldSelector::parse("spec.x=1", |_| None).expect_err("unsupported"),
            "field label not supported: spec.x"
        );
    }
}
