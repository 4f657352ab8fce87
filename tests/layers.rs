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

/// The list and map markers of OpenAPI schemas (`x-kubernetes-list-type` and the like) are
/// read in one place: `api::schema`'s compiler, whose nodes strategic merge patch,
/// server-side apply, pruning and validation consult. Outside tests, the marker names
/// appear only there and where markers are written (`api::list_semantics` for built-in
/// kinds, the `api::ocm` types' schema attributes, and the ObjectMeta schema server-side
/// apply compiles for every resource's `metadata` in `registry::ssa::schema`).
#[test]
fn schema_markers_are_read_in_one_place() {
    const MARKERS: [&str; 5] = [
        "\"x-kubernetes-list-type\"",
        "\"x-kubernetes-list-map-keys\"",
        "\"x-kubernetes-map-type\"",
        "\"x-kubernetes-patch-strategy\"",
        "\"x-kubernetes-patch-merge-key\"",
    ];
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = |rel: &str| {
        rel == "api/schema/compile.rs"
            || rel == "api/list_semantics.rs"
            || rel.starts_with("api/ocm/")
            || rel == "registry/ssa/schema.rs"
    };
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut readers = Vec::new();
    let mut seen_in_compiler = false;
    for file in &files {
        let rel = file
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        if rel.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read");
        // Unit tests sit at the end of a file, behind `#[cfg(test)]`.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") || !MARKERS.iter().any(|m| line.contains(m)) {
                continue;
            }
            if rel == "api/schema/compile.rs" {
                seen_in_compiler = true;
            }
            if !allowed(&rel) {
                readers.push(format!("src/{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        readers.is_empty(),
        "schema markers read outside api::schema's compiler (read the compiled Node instead):\n{}",
        readers.join("\n")
    );
    assert!(seen_in_compiler, "the scan finds the compiler's reads");
}
