//! Typed configuration: the Nickel contract in `config/schema.ncl`, applied to any input.
//!
//! The contract is embedded in the binary. A user file (`.ncl` with imports, `.json`,
//! `.yaml`/`.yml`) is imported by a small generated Nickel program that applies
//! `Config` to it, so every error is a Nickel diagnostic naming the file, the line and the
//! field at fault. The fully evaluated value is then exported to JSON and deserialised into
//! [`Config`], a plain mirror of the contract: defaults live in the contract only.
//!
//! This module does not know about command-line flags; `cli` applies those on top.

mod types;

pub use types::*;

use std::path::{Path, PathBuf};

use nickel_lang_core::error::Error as NickelError;
use nickel_lang_core::error::report::{ColorOpt, report_as_str};
use nickel_lang_core::eval::cache::CacheImpl;
use nickel_lang_core::program::{Program, ProgramBuilder};
use nickel_lang_core::serialize::{ExportFormat, to_string};

/// The contract, as shipped in `config/schema.ncl`.
pub const SCHEMA: &str = include_str!("../../config/schema.ncl");

/// Name under which the embedded contract appears in diagnostics.
const SCHEMA_SOURCE_NAME: &str = "<embedded>/schema.ncl";

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file does not exist or cannot be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file's extension names no format we read.
    #[error("config file {path}: unknown format (expected a .ncl, .json, .yaml or .yml extension)")]
    UnknownFormat { path: PathBuf },
    /// The path cannot be written into a Nickel import.
    #[error("config file {path}: path contains characters that cannot be imported")]
    UnsupportedPath { path: PathBuf },
    /// Nickel rejected the input: a syntax error, a contract violation, an unknown field.
    /// The message is the full diagnostic with file, line and column.
    #[error("{diagnostic}")]
    Invalid { diagnostic: String },
    /// The evaluated value does not fit the typed mirror of the contract. This is a bug:
    /// the contract and `types.rs` disagree.
    #[error("internal error: evaluated config does not match the typed config: {0}")]
    Mirror(#[source] serde_json::Error),
}

/// Evaluates `path` (or, with `None`, an empty configuration) against the contract and
/// returns the complete configuration as JSON text, every default filled in.
pub fn export_json(path: Option<&Path>) -> Result<String, ConfigError> {
    let program_text = match path {
        Some(path) => {
            let path = resolve_input(path)?;
            wrapper_program(&format!("import {}", nickel_string(&path)?))
        }
        None => wrapper_program("{}"),
    };
    evaluate(program_text)
}

/// The contract's defaults, exported once (`config export > config/defaults.json`) so that
/// starting without a config file does not pay for a Nickel evaluation.
/// `tests::committed_defaults_match_the_contract` fails if the two ever differ.
const DEFAULTS_JSON: &str = include_str!("../../config/defaults.json");

/// Loads and validates a configuration file, or the defaults with `None`.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    let json = match path {
        Some(_) => export_json(path)?,
        None => DEFAULTS_JSON.to_string(),
    };
    let mut config: Config = serde_json::from_str(&json).map_err(ConfigError::Mirror)?;
    config.resolve_relative_paths();
    Ok(config)
}

/// Checks that the file exists and has a format we read; returns its absolute path.
fn resolve_input(path: &Path) -> Result<PathBuf, ConfigError> {
    let absolute = std::fs::canonicalize(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Reading it here turns a directory or an unreadable file into a plain I/O error
    // instead of a Nickel import error.
    std::fs::read(&absolute).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match absolute.extension().and_then(|e| e.to_str()) {
        Some("ncl" | "json" | "yaml" | "yml") => Ok(absolute),
        _ => Err(ConfigError::UnknownFormat {
            path: path.to_path_buf(),
        }),
    }
}

/// The generated program: the contract bound to `schema`, then `Config` applied to the
/// input. The contract's first line stays line 1, so positions inside the contract are
/// reported at their real line numbers.
fn wrapper_program(input: &str) -> String {
    format!("let schema = ({SCHEMA}\n) in ({input}) | schema.Config\n")
}

/// Renders a path as a Nickel string literal.
fn nickel_string(path: &Path) -> Result<String, ConfigError> {
    let text = path.to_str().ok_or_else(|| ConfigError::UnsupportedPath {
        path: path.to_path_buf(),
    })?;
    if text.chars().any(|c| c.is_control()) {
        return Err(ConfigError::UnsupportedPath {
            path: path.to_path_buf(),
        });
    }
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "\\%");
    Ok(format!("\"{escaped}\""))
}

fn evaluate(program_text: String) -> Result<String, ConfigError> {
    let mut program: Program<CacheImpl> = ProgramBuilder::new()
        .add_source_string(program_text, SCHEMA_SOURCE_NAME)
        .build()
        .map_err(|e| ConfigError::Invalid {
            diagnostic: e.to_string(),
        })?;
    let value = match program.eval_full_for_export() {
        Ok(value) => value,
        Err(error) => return Err(diagnostic(&mut program, error)),
    };
    to_string(ExportFormat::Json, &value).map_err(|data| {
        let error = NickelError::export_error(program.pos_table().clone(), data);
        diagnostic(&mut program, error)
    })
}

fn diagnostic(program: &mut Program<CacheImpl>, error: NickelError) -> ConfigError {
    let mut files = program.files();
    let mut text = report_as_str(&mut files, error, ColorOpt::Never);
    text.push_str(&locate_extra_fields(&text));
    ConfigError::Invalid { diagnostic: text }
}

/// Nickel reports an unknown field at the start of the record that holds it. This adds a
/// note with the line of the field itself, found in the files the diagnostic names.
fn locate_extra_fields(diagnostic: &str) -> String {
    let fields: Vec<&str> = diagnostic
        .split("extra field `")
        .skip(1)
        .filter_map(|rest| rest.split('`').next())
        .collect();
    let files: Vec<&str> = diagnostic
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("┌─ "))
        .filter_map(|loc| loc.rsplitn(3, ':').nth(2))
        .filter(|path| !path.starts_with('<'))
        .collect();
    let mut notes = String::new();
    for field in fields {
        for path in &files {
            let Ok(text) = std::fs::read_to_string(path) else {
                continue;
            };
            if let Some((line, col)) = find_field(&text, field) {
                notes.push_str(&format!(
                    "note: unknown field `{field}` is at {path}:{line}:{col}\n"
                ));
                break;
            }
        }
    }
    notes
}

/// 1-based line and column of the first definition of `field` (`field:`, `"field":`,
/// `field =`, `field |`), as written in YAML, JSON or Nickel.
fn find_field(text: &str, field: &str) -> Option<(usize, usize)> {
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let rest = trimmed.trim_start_matches("- ");
        let offset = indent + (trimmed.len() - rest.len());
        for name in [field.to_string(), format!("\"{field}\"")] {
            if let Some(after) = rest.strip_prefix(&name) {
                let after = after.trim_start();
                if after.starts_with(':') || after.starts_with('=') || after.starts_with('|') {
                    return Some((n + 1, offset + 1));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).expect("create");
        f.write_all(text.as_bytes()).expect("write");
        path
    }

    #[test]
    fn committed_defaults_match_the_contract() {
        let evaluated: serde_json::Value =
            serde_json::from_str(&export_json(None).expect("export")).expect("json");
        let committed: serde_json::Value = serde_json::from_str(DEFAULTS_JSON).expect("json");
        assert_eq!(
            evaluated, committed,
            "config/defaults.json is stale: regenerate it with `multicluster-controlplane config export > config/defaults.json`"
        );
    }

    #[test]
    fn defaults_are_complete() {
        let config = load(None).expect("defaults");
        assert_eq!(config.apiserver.port, 9443);
        assert_eq!(config.etcd.mode, EtcdMode::Embed);
        assert_eq!(config.etcd.prefix, "/registry");
        assert!(config.storage.sync);
        assert_eq!(config.data_directory, PathBuf::from("/.ocm"));
    }

    #[test]
    fn json_yaml_and_nickel_inputs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let json = write(dir.path(), "c.json", r#"{"apiserver": {"port": 7443}}"#);
        assert_eq!(load(Some(&json)).expect("json").apiserver.port, 7443);
        let yaml = write(
            dir.path(),
            "c.yaml",
            "etcd:\n  mode: external\n  servers: [\"http://127.0.0.1:1\"]\n",
        );
        let config = load(Some(&yaml)).expect("yaml");
        assert_eq!(config.etcd.mode, EtcdMode::External);
        write(dir.path(), "port.ncl", "8443");
        let ncl = write(
            dir.path(),
            "c.ncl",
            "{ apiserver.port = import \"port.ncl\", logging.format = 'json }",
        );
        let config = load(Some(&ncl)).expect("ncl");
        assert_eq!(config.apiserver.port, 8443);
        assert_eq!(config.logging.format, LogFormat::Json);
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let yaml = write(
            dir.path(),
            "bad.yaml",
            "apiserver:\n  port: 9443\n  prot: 1\n",
        );
        let err = load(Some(&yaml)).expect_err("must fail").to_string();
        assert!(err.contains("prot"), "{err}");
        assert!(err.contains("bad.yaml:3"), "{err}");
    }

    #[test]
    fn mistyped_field_is_rejected() {
        let dir = tempfile::tempdir().expect("tempdir");
        let json = write(
            dir.path(),
            "bad.json",
            "{\n  \"apiserver\": {\n    \"port\": \"x\"\n  }\n}\n",
        );
        let err = load(Some(&json)).expect_err("must fail").to_string();
        assert!(err.contains("bad.json:3"), "{err}");
    }

    #[test]
    fn relative_data_directory_is_made_absolute() {
        let dir = tempfile::tempdir().expect("tempdir");
        let json = write(dir.path(), "c.json", r#"{"dataDirectory": "rel/dir"}"#);
        let config = load(Some(&json)).expect("json");
        assert!(config.data_directory.is_absolute());
        assert!(config.data_directory.ends_with("rel/dir"));
    }

    #[test]
    fn fields_are_found_in_every_format() {
        assert_eq!(
            find_field("a:\n  port: 1\n  prot: 2\n", "prot"),
            Some((3, 3))
        );
        assert_eq!(find_field("{\n  \"prot\" : 1\n}", "prot"), Some((2, 3)));
        assert_eq!(
            find_field("{ x = 1,\n  prot | Number = 2 }", "prot"),
            Some((2, 3))
        );
        assert_eq!(find_field("protocol: 1", "prot"), None);
    }

    #[test]
    fn paths_are_escaped() {
        assert_eq!(
            nickel_string(Path::new("/a\"b%{c}")).expect("ok"),
            "\"/a\\\"b\\%{c}\""
        );
        assert!(nickel_string(Path::new("/a\nb")).is_err());
    }
}
