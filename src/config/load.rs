//! Reading a config file (TOML, YAML or JSON by extension) with `COGNIGATE_...`
//! environment overrides layered on top.

use super::raw::RawConfig;
use super::validate::{Problem, Validated, validate};
use config::{Environment, File, FileFormat};
use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variables that configure the process, not the config file: never read as keys.
const NOT_CONFIG_KEYS: &[&str] = &["COGNIGATE_LOG_FORMAT"];

/// Why a config could not be loaded: every problem, each with the file and key path.
#[derive(Debug, thiserror::Error)]
pub struct LoadError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {p}", self.file.display())?;
        }
        Ok(())
    }
}

/// Loads and validates `path`, with environment overrides from the process environment.
pub fn load(path: &Path) -> Result<Validated, LoadError> {
    load_with_env(path, std::env::vars())
}

/// Loads and validates `path` with the given environment (tests pass their own).
pub fn load_with_env(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Validated, LoadError> {
    let fail = |path_key: &str, message: String| LoadError {
        file: path.to_owned(),
        problems: vec![Problem {
            path: path_key.to_owned(),
            message,
        }],
    };
    let format = format_of(path).ok_or_else(|| {
        fail(
            "(file)",
            "expected a .toml, .yaml, .yml or .json file".to_owned(),
        )
    })?;
    let overrides: config::Map<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("COGNIGATE_") && !NOT_CONFIG_KEYS.contains(&k.as_str()))
        .collect();
    let built = config::Config::builder()
        .add_source(File::from(path).format(format).required(true))
        .add_source(
            Environment::with_prefix("COGNIGATE")
                .prefix_separator("_")
                .separator("__")
                .source(Some(overrides)),
        )
        .build()
        .map_err(|e| fail("(file)", e.to_string()))?;
    let raw: RawConfig = built
        .try_deserialize()
        .map_err(|e| serde_problem(path, &e))?;
    validate(raw).map_err(|problems| LoadError {
        file: path.to_owned(),
        problems,
    })
}

fn format_of(path: &Path) -> Option<FileFormat> {
    match path.extension()?.to_str()? {
        "toml" => Some(FileFormat::Toml),
        "yaml" | "yml" => Some(FileFormat::Yaml),
        "json" => Some(FileFormat::Json),
        _ => None,
    }
}

/// The config crate reports type errors and unknown keys as text ending in
/// "for key `a.b`"; lift that key out so the message reads like validation's own.
fn serde_problem(file: &Path, e: &config::ConfigError) -> LoadError {
    let text = e.to_string();
    let (message, key) = match text.rsplit_once(" for key `") {
        Some((msg, rest)) => (msg.to_owned(), rest.trim_end_matches('`').to_owned()),
        None => (text.clone(), "(file)".to_owned()),
    };
    LoadError {
        file: file.to_owned(),
        problems: vec![Problem { path: key, message }],
    }
}
