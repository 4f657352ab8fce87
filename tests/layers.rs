//! The layering rule of ARCHITECTURE.md, checked: a module of `src/` may use modules of
//! lower layers (and its own), never one of a higher or the same layer. Layers, bottom up:
//!
//! | layer | modules |
//! |---|---|
//! | 0 | `config`, `metrics` |
//! | 1 | `storage` |
//! | 2 | `api` (kinds, schemas, `Status`, users, OCM types and names), `pki`, `logging` |
//! | 3 | `registry` |
//! | 4 | `auth` |
//! | 5 | `hub`, `http`, `agent`, `backup` (siblings: none uses another) |
//! | 6 | `hosting` (runs the hub's own agent inside the hosting cluster) |
//! | 7 | `server`, `admin`, `cli`, `main` |
//!
//! The check reads every `crate::<module>` path in the sources (comments included, so a doc
//! link upward is also caught).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const LAYERS: &[(&str, u8)] = &[
    ("config", 0),
    ("metrics", 0),
    ("storage", 1),
    ("api", 2),
    ("pki", 2),
    ("logging", 2),
    ("registry", 3),
    ("auth", 4),
    ("hub", 5),
    ("http", 5),
    ("agent", 5),
    ("backup", 5),
    ("hosting", 6),
    ("server", 7),
    ("admin", 7),
    ("cli", 7),
    ("main", 7),
    ("lib", 7),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to.
fn owner(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("component");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// Every `crate::<name>` in `text`, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let preceded = rest[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if !name.is_empty() && !preceded {
                found.push((n + 1, name));
            }
            rest = after;
        }
    }
    found
}

#[test]
fn no_module_uses_a_layer_above_or_beside_it() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut edges: BTreeMap<(String, String), usize> = BTreeMap::new();
    for file in &files {
        let module = owner(&src, file);
        let Some(own) = layer(&module) else {
            violations.push(format!(
                "{}: module `{module}` has no layer in tests/layers.rs (add it, and to ARCHITECTURE.md)",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read");
        for (line, used) in crate_paths(&text) {
            if used == module {
                continue;
            }
            let Some(theirs) = layer(&used) else {
                continue; // not a top-level module (e.g. a macro or a re-export)
            };
            *edges.entry((module.clone(), used.clone())).or_default() += 1;
            if theirs >= own {
                violations.push(format!(
                    "{}:{line}: `{module}` (layer {own}) uses `crate::{used}` (layer {theirs})",
                    file.display()
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "layering violations:\n{}",
        violations.join("\n")
    );
    // The check sees the imports it is about (a parser that found nothing would pass).
    assert!(edges.contains_key(&("registry".to_string(), "api".to_string())));
    assert!(edges.contains_key(&("hub".to_string(), "registry".to_string())));
}

#[test]
fn the_scanner_finds_paths_and_ignores_lookalikes() {
    let found = crate_paths("use crate::api::x; a::crate::b; // see crate::hub\nmycrate::z");
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["api", "b", "hub"]);
}
