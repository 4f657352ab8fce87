//! YAML documents read into JSON values: request bodies (`application/yaml`), kubeconfigs.
//!
//! `serde-saphyr` (what kube's client reads kubeconfigs with) does the parsing, set up to
//! read a document as `serde_yaml` 0.9 did before it: the YAML 1.2 core schema (`yes`,
//! `on`, `0755`, `1_000` stay strings), `<<` an ordinary key, a repeated key keeping its
//! last value, `.inf`/`.nan` read as `null` (JSON has neither), unknown tags refused,
//! nesting up to 128 levels (serde_json's limit too) and no node or event budget a 3 MiB
//! body could exceed. Anchors and aliases are limited to 262,144 recorded or replayed
//! events (so alias bombs are refused cheaply; `serde_yaml` counted alias jumps instead).
//! A stream of several documents is refused. The reader runs on a thread of its own with
//! a stack deep enough for 128 levels in any build, and a panic in it is an error.
//!
//! Not for writing YAML: kubeconfigs are written by `pki::kubeconfig_yaml`.

use serde_json::Value;

/// Why a text is not a YAML document (the message names line and column).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct YamlError(String);

/// The reader recurses per nesting level: about 3 KiB a level in release builds and
/// 22 KiB in debug builds, so 128 levels overflow a 2 MiB worker stack in a debug build.
/// It runs on its own thread with room for both.
const READER_STACK: usize = 16 << 20;

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = 128;
    budget.max_nodes = 16 << 20;
    budget.max_events = 16 << 20;
    // Anchors and aliases, which Kubernetes objects do not use, get a quarter of the
    // library's default: an alias bomb costs a quarter of the time to refuse.
    budget.max_recorded_anchor_events = 1 << 18;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = 1 << 18;
    options.strict_booleans = true;
    options.leading_zero_numbers_as_strings = true;
    options.underscored_numbers_as_strings = true;
    options.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::PassThrough;
    options.merge_keys = serde_saphyr::MergeKeyPolicy::AsOrdinary;
    options.non_finite_float_policy = serde_saphyr::NonFiniteFloatPolicy::PassThrough;
    options.reject_unsupported_tags = true;
    options.ignore_binary_tag_for_string = true;
    // One line, for API error messages and logs.
    options.with_snippet = false;
    options
}

impl YamlError {
    /// The error as kube's YAML reader (go-yaml, a port of libyaml) words the common
    /// syntax errors, with the line it reports (`yaml: line 4: did not find expected ','
    /// or ']'`); others keep this reader's words at its line. `text` is the document.
    pub fn go_yaml(&self, text: &[u8]) -> String {
        let (message, line) = match self.0.rsplit_once(" at line ") {
            Some((message, at)) => {
                let line = at
                    .split(',')
                    .next()
                    .and_then(|l| l.trim().parse::<usize>().ok());
                (message, line)
            }
            None => (self.0.as_str(), None),
        };
        let line = line.unwrap_or(1);
        // go-yaml counts scanner errors' lines from 1 and parser errors' from 0; errors
        // found at the end of the stream are reported there.
        let end = text.iter().filter(|b| **b == b'\n').count();
        let tab_line = || {
            text.split(|b| *b == b'\n')
                .position(|l| {
                    l.iter()
                        .take_while(|b| b.is_ascii_whitespace())
                        .any(|b| *b == b'\t')
                })
                .map_or(line, |i| i + 1)
        };
        let (words, line) = if message.contains("unclosed bracket '['") {
            ("did not find expected ',' or ']'", end)
        } else if message.contains("unclosed bracket '{'") {
            ("did not find expected ',' or '}'", end)
        } else if message.contains("unclosed quote") {
            ("found unexpected end of stream", end + 1)
        } else if message.contains("found a tab") {
            (
                "found a tab character that violates indentation",
                tab_line(),
            )
        } else if message.contains("did not find expected key") {
            ("did not find expected key", line.saturating_sub(1))
        } else {
            // libyaml's problem without the context this reader puts first.
            let problem = message.rsplit_once(", ").map_or(message, |(_, p)| p);
            (problem, line)
        };
        format!("yaml: line {line}: {words}")
    }
}

/// Reads one YAML document (an empty text is `null`).
pub fn from_str(text: &str) -> Result<Value, YamlError> {
    from_slice(text.as_bytes())
}

/// Reads one YAML document from UTF-8 bytes.
pub fn from_slice(bytes: &[u8]) -> Result<Value, YamlError> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("yaml".into())
            .stack_size(READER_STACK)
            .spawn_scoped(scope, || {
                serde_saphyr::from_slice_with_options(bytes, options())
                    .map_err(|e| YamlError(e.to_string()))
            })
            .map_err(|e| YamlError(format!("cannot start the YAML reader: {e}")))?
            .join()
            .map_err(|_| YamlError("the YAML reader failed on this document".into()))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Documents read as `serde_yaml` 0.9 read them (recorded from it: the commit that
    /// brought this module in compared the two): YAML 1.2 scalars, keys, tags, anchors,
    /// block styles, and the errors. `null`: refused.
    #[test]
    fn documents_read_as_before() {
        let cases: &[(&str, &str)] = &[
            ("", "null"),
            ("---", "null"),
            ("# only a comment", "null"),
            ("a: yes", r#"{"a": "yes"}"#),
            ("a: no", r#"{"a": "no"}"#),
            ("a: on", r#"{"a": "on"}"#),
            ("a: y", r#"{"a": "y"}"#),
            ("a: tRue", r#"{"a": "tRue"}"#),
            ("a: True", r#"{"a": true}"#),
            ("a: FALSE", r#"{"a": false}"#),
            ("a: 0755", r#"{"a": "0755"}"#),
            ("a: 09", r#"{"a": "09"}"#),
            ("a: -0755", r#"{"a": "-0755"}"#),
            ("a: 1_000", r#"{"a": "1_000"}"#),
            ("a: 0x_1F", r#"{"a": "0x_1F"}"#),
            ("a: 0o17", r#"{"a": 15}"#),
            ("a: 0x1F", r#"{"a": 31}"#),
            ("a: 0b101", r#"{"a": 5}"#),
            ("a: +1", r#"{"a": 1}"#),
            ("a: -0", r#"{"a": 0}"#),
            ("a: 0755.5", r#"{"a": 755.5}"#),
            ("a: 1e3", r#"{"a": 1000.0}"#),
            ("a: .5", r#"{"a": 0.5}"#),
            ("a: 1.", r#"{"a": 1.0}"#),
            ("a: 18446744073709551615", r#"{"a": 18446744073709551615}"#),
            ("a: -9223372036854775808", r#"{"a": -9223372036854775808}"#),
            ("a: .inf", r#"{"a": null}"#),
            ("a: -.Inf", r#"{"a": null}"#),
            ("a: .NaN", r#"{"a": null}"#),
            ("a: ~", r#"{"a": null}"#),
            ("a: Null", r#"{"a": null}"#),
            ("a:", r#"{"a": null}"#),
            ("a: 12e", r#"{"a": "12e"}"#),
            ("a: 0x", r#"{"a": "0x"}"#),
            ("a: 1:20", r#"{"a": "1:20"}"#),
            (
                "a: 2001-12-14t21:59:43.10-05:00",
                r#"{"a": "2001-12-14t21:59:43.10-05:00"}"#,
            ),
            ("a: '1'", r#"{"a": "1"}"#),
            ("a: 'it''s'", r#"{"a": "it's"}"#),
            ("a: \"\\u263A\"", r#"{"a": "\u263a"}"#),
            ("a: |\n  one\n  two\n", r#"{"a": "one\ntwo\n"}"#),
            ("a: >\n  one\n  two\n", r#"{"a": "one two\n"}"#),
            ("a: b\n  c", r#"{"a": "b c"}"#),
            ("1: a", r#"{"1": "a"}"#),
            ("true: a", r#"{"true": "a"}"#),
            ("1.5: a", r#"{"1.5": "a"}"#),
            ("0755: a", r#"{"0755": "a"}"#),
            ("? a\n: 1", r#"{"a": 1}"#),
            ("a: 1\na: 2", r#"{"a": 2}"#),
            ("<<: {x: 1}\ny: 2", r#"{"<<": {"x": 1}, "y": 2}"#),
            ("b: &b {x: 1}\nd: *b", r#"{"b": {"x": 1}, "d": {"x": 1}}"#),
            ("a: !!str 12", r#"{"a": "12"}"#),
            ("a: !!int \"12\"", r#"{"a": 12}"#),
            ("a: !!float 1", r#"{"a": 1.0}"#),
            ("a: !!binary aGVsbG8=", r#"{"a": "aGVsbG8="}"#),
            ("a: !!str", r#"{"a": ""}"#),
            ("a: [1, 2,]", r#"{"a": [1, 2]}"#),
            ("a: {b: 1, }", r#"{"a": {"b": 1}}"#),
            ("- 1\n- x", r#"[1, "x"]"#),
            ("just text", r#""just text""#),
            ("123", "123"),
            ("\u{feff}a: 1", r#"{"a": 1}"#),
            ("a: 1\r\nb: 2\r\n", r#"{"a": 1, "b": 2}"#),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  k: \"1\"\n",
                r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": "1"}}"#,
            ),
            ("a: !foo bar", "null"),
            ("a: !local {b: 1}", "null"),
            ("---\na: 1\n---\nb: 2", "null"),
            ("a: 1\n---\n", "null"),
            ("a: b: c", "null"),
            ("metadata: [name: a\n  - x", "null"),
            ("a: -", "null"),
            ("a: *nowhere", "null"),
            ("a: &a [*a]", "null"),
            ("? [1, 2]\n: a", "null"),
            ("{a: 1}: b", "null"),
        ];
        for (text, expected) in cases {
            let expected: Value = serde_json::from_str(expected).expect(expected);
            let read = from_str(text).unwrap_or(Value::Null);
            assert_eq!(read, expected, "{text:?}");
            assert_eq!(from_slice(text.as_bytes()).unwrap_or(Value::Null), read);
        }
    }

    /// Where `serde-saphyr` reads differently from `serde_yaml` 0.9, in corners no
    /// Kubernetes object reaches.
    #[test]
    fn differences_from_before() {
        for (text, now) in [
            // serde_yaml: "out of range"; now the nearest float (as Go's YAML reader does).
            (
                "a: 123456789012345678901234567890",
                Some(json!({"a": 1.2345678901234568e29})),
            ),
            // serde_yaml: the string "1e400"; now an infinity, so null.
            ("a: 1e400", Some(json!({"a": null}))),
            // serde_yaml: a key "null"; now refused.
            ("null: x", None),
            // serde_yaml refused a tab before the first key and a surrogate-pair escape.
            ("\t a: 1", Some(json!({"a": 1}))),
            ("a: \"\\ud83d\\ude00\"", Some(json!({"a": "\u{1f600}"}))),
            // serde_yaml took a byte-order mark followed by more than one line for a
            // stream of several documents.
            ("\u{feff}a: 1\nb: 2\n", Some(json!({"a": 1, "b": 2}))),
        ] {
            assert_eq!(from_str(text).ok(), now, "{text:?}");
        }
    }

    /// Limits: deep nesting and alias bombs are refused, a large flat body is not.
    #[test]
    fn go_yaml_words_for_common_syntax_errors() {
        let cases = [
            (
                "a: v1\nb: [x\n",
                "yaml: line 2: did not find expected ',' or ']'",
            ),
            (
                "a: {b: c\n",
                "yaml: line 1: did not find expected ',' or '}'",
            ),
            (
                "a: b: c\n",
                "yaml: line 1: mapping values are not allowed in this context",
            ),
            (
                "a: v1\n\tb: c\n",
                "yaml: line 2: found a tab character that violates indentation",
            ),
            (
                "a: \"x\nb: c\n",
                "yaml: line 3: found unexpected end of stream",
            ),
            (
                "a: v1\nb: c\n- item\n",
                "yaml: line 2: did not find expected key",
            ),
        ];
        for (text, words) in cases {
            let error = from_str(text).expect_err(text);
            assert_eq!(error.go_yaml(text.as_bytes()), words, "{text:?}: {error}");
        }
    }

    #[test]
    fn limits() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(from_str(&deep(128)).is_ok());
        assert!(from_str(&deep(129)).is_err());
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        assert!(from_str(&bomb).is_err());
        let flat = format!("a: [{}1]", "1,".repeat(1 << 18));
        assert_eq!(
            from_str(&flat)
                .map(|v| v["a"].as_array().map(Vec::len))
                .ok(),
            Some(Some((1 << 18) + 1))
        );
    }
}
