//! Reading a config file (TOML, YAML or JSON by extension) with `COGNIGATE_...`
//! environment overrides layered on top.

use super::raw::RawConfig;
use super::validate::{Problem, Validated, validate};
use config::{Environment, File, FileFormat};
use std::fmt;
use std::path::{Path, PathBuf};

/// Environment variables that configure the process, not the config file: never read as keys.
const NOT_CONFIG_KEYS: &[&str] = &["COGNIGATE_LOG_FORMAT"];

/// An environment variable: name, value.
type EnvVar = (String, String);

/// Why a config could not be loaded: every problem, each with the file and key path.
#[derive(Debug, thiserror::Error)]
pub struct LoadError {
    /// The config file.
    pub file: PathBuf,
    /// Every problem found, in file order.
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
    let (overrides, in_arrays): (Vec<EnvVar>, Vec<EnvVar>) = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("COGNIGATE_") && !NOT_CONFIG_KEYS.contains(&k.as_str()))
        .partition(|(k, _)| array_key(k).is_none());
    let mut builder = config::Config::builder()
        .add_source(File::from(path).format(format).required(true))
        .add_source(
            Environment::with_prefix("COGNIGATE")
                .prefix_separator("_")
                .separator("__")
                .source(Some(overrides.into_iter().collect())),
        );
    let gaps = array_gaps(path, format, &in_arrays);
    if !gaps.is_empty() {
        return Err(LoadError {
            file: path.to_owned(),
            problems: gaps,
        });
    }
    // The environment source would replace a whole array with a map; an entry's key is
    // set in place instead (`COGNIGATE_ISSUERS__0__USER_POOL_ID`: issuers[0].user_pool_id).
    for (var, value) in in_arrays {
        let key = array_key(&var).unwrap_or_default();
        builder = builder
            .set_override(&key, value)
            .map_err(|e| fail(&key, format!("{var}: {e}")))?;
    }
    let built = builder
        .build()
        .map_err(|e| fail("(file)", one_line(&e.to_string())))?;
    let mut unknown = Vec::new();
    let raw: RawConfig = serde_ignored::deserialize(built, |key| {
        unknown.push(Problem {
            path: key_path(&key),
            message: "unknown key".to_owned(),
        })
    })
    .map_err(|e| serde_problem(path, &e))?;
    unknown.sort_by(|a, b| a.path.cmp(&b.path));
    match validate(raw) {
        Ok(validated) if unknown.is_empty() => Ok(validated),
        Ok(_) => Err(unknown),
        Err(problems) => Err(unknown.into_iter().chain(problems).collect()),
    }
    .map_err(|problems| LoadError {
        file: path.to_owned(),
        problems,
    })
}

/// The key path of an environment variable that names an array entry
/// (`COGNIGATE_ROUTES__2__AUTH`: `routes[2].auth`); `None` for any other.
fn array_key(var: &str) -> Option<String> {
    let rest = var.strip_prefix("COGNIGATE_")?;
    let mut key = String::new();
    let mut indexed = false;
    for part in rest.split("__") {
        if !key.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) {
            key.push_str(&format!("[{part}]"));
            indexed = true;
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(&part.to_ascii_lowercase());
        }
    }
    indexed.then_some(key)
}

/// An override may set an entry the file has, or add the next one; a higher index would
/// leave empty entries before it, which the config crate reports only as "invalid type:
/// unit value" at the first of them. Names the variable and the file's entries
/// instead. (A file that does not parse is left to the build that follows to report.)
fn array_gaps(path: &Path, format: FileFormat, in_arrays: &[EnvVar]) -> Vec<Problem> {
    let Ok(file) = config::Config::builder()
        .add_source(File::from(path).format(format).required(true))
        .build()
    else {
        return Vec::new();
    };
    // Every (array, index) an override names, e.g. ("routes", 2) and
    // ("routes[2].groups_any", 1) for `routes[2].groups_any[1]`.
    let named: Vec<(String, usize, &str)> = in_arrays
        .iter()
        .flat_map(|(var, _)| {
            let key = array_key(var).unwrap_or_default();
            indexed_arrays(&key)
                .into_iter()
                .map(move |(array, index)| (array, index, var.as_str()))
        })
        .collect();
    let mut problems = Vec::new();
    for (array, index, var) in &named {
        let len = file.get_array(array).map(|a| a.len()).unwrap_or(0);
        let filled = |i: usize| named.iter().any(|(a, j, _)| a == array && *j == i);
        let entry = format!("{array}[{index}]");
        if *index > len
            && !(len..*index).all(filled)
            && !problems.iter().any(|p: &Problem| p.path == entry)
        {
            problems.push(Problem {
                path: entry,
                message: format!(
                    "{var} names entry {index}, but the file has {}: an environment \
                     variable can change an existing entry or add {array}[{len}]",
                    match len {
                        0 => "none".to_owned(),
                        1 => "one (0)".to_owned(),
                        n => format!("{n} (0 to {})", n - 1),
                    }
                ),
            });
        }
    }
    problems
}

/// The arrays a key path indexes, with the index: `a[2].b[1]` -> (`a`, 2), (`a[2].b`, 1).
fn indexed_arrays(key: &str) -> Vec<(String, usize)> {
    key.match_indices('[')
        .filter_map(|(open, _)| {
            let close = open + key[open..].find(']')?;
            let index = key[open + 1..close].parse().ok()?;
            Some((key[..open].to_owned(), index))
        })
        .collect()
}

/// `routes[1].grups_any`, as validation writes key paths.
fn key_path(key: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match key {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", key_path(parent)),
        Path::Map { parent, key } => match key_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => key_path(parent),
    }
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
    let text = one_line(&e.to_string());
    // "... for key `a.b`", or "... for key `a.b` in the environment".
    let (message, key) = match text.rsplit_once(" for key `") {
        Some((msg, rest)) => match rest.split_once('`') {
            Some((key, after)) => (format!("{msg}{after}"), key.to_owned()),
            None => (msg.to_owned(), rest.to_owned()),
        },
        None => (text.clone(), "(file)".to_owned()),
    };
    LoadError {
        file: file.to_owned(),
        problems: vec![Problem { path: key, message }],
    }
}

/// A parser's message on one line: TOML's quotes the offending line under a caret
/// (lines holding `|`); its first line gives the position and its last the reason. The
/// config crate's closing "in <file>" goes: every line names the file already.
fn one_line(text: &str) -> String {
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.contains('|') && !l.starts_with("in "))
        .collect();
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::{array_key, indexed_arrays};

    #[test]
    fn environment_keys_of_array_entries_are_indexed_paths() {
        let key = |var| array_key(var);
        assert_eq!(
            key("COGNIGATE_ISSUERS__0__USER_POOL_ID").as_deref(),
            Some("issuers[0].user_pool_id")
        );
        assert_eq!(
            key("COGNIGATE_ROUTES__12__GROUPS_ANY__1").as_deref(),
            Some("routes[12].groups_any[1]")
        );
        assert_eq!(key("COGNIGATE_UPSTREAM__URL"), None);
        assert_eq!(key("COGNIGATE_LIMITS__MAX_CONNECTIONS"), None);
    }

    #[test]
    fn an_override_key_names_each_array_it_indexes() {
        assert_eq!(
            indexed_arrays("routes[12].groups_any[1]"),
            vec![
                ("routes".to_owned(), 12),
                ("routes[12].groups_any".to_owned(), 1)
            ]
        );
        assert_eq!(indexed_arrays("upstream.url"), vec![]);
    }
}
