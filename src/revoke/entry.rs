//! One deny entry, as a line of the revocation file or the body of
//! `POST /revocations`: `{"jti": ...}`, `{"origin_jti": ...}` or
//! `{"sub": ..., "before": <unix seconds>}`. Anything else is refused, never guessed at.

use serde::{Deserialize, Serialize};

/// Longest id or `sub` accepted in an entry (Cognito's are 36-character UUIDs).
const MAX_ID_BYTES: usize = 1024;

/// One thing to refuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Entry {
    /// One token, by its `jti`.
    Jti {
        /// The token's `jti`.
        jti: String,
    },
    /// Every token descending from one sign-in, by their shared `origin_jti`.
    OriginJti {
        /// The sign-in's `origin_jti`.
        origin_jti: String,
    },
    /// Every token of `sub` issued (`iat`) before `before`: what `GlobalSignOut` means.
    SubBefore {
        /// The user.
        sub: String,
        /// Unix seconds.
        before: u64,
    },
}

/// The one shape every entry is read through: each key optional, none other allowed.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    jti: Option<String>,
    origin_jti: Option<String>,
    sub: Option<String>,
    before: Option<u64>,
}

/// Why a line is not an entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    /// Not a JSON object of the accepted keys and types.
    #[error("not a JSON object with jti, origin_jti, or sub and before: {0}")]
    Json(String),
    /// Keys of different kinds together, or `sub` without `before` (or the reverse).
    #[error("expected exactly one of {{\"jti\"}}, {{\"origin_jti\"}}, {{\"sub\", \"before\"}}")]
    Shape,
    /// An empty or over-long id.
    #[error("an id must be 1 to {MAX_ID_BYTES} bytes")]
    Length,
}

impl Entry {
    /// Parses one JSON object.
    ///
    /// # Errors
    ///
    /// [`EntryError`] saying what is wrong with it.
    pub fn parse(text: &str) -> Result<Entry, EntryError> {
        let raw: RawEntry =
            serde_json::from_str(text).map_err(|e| EntryError::Json(e.to_string()))?;
        let entry = match raw {
            RawEntry {
                jti: Some(jti),
                origin_jti: None,
                sub: None,
                before: None,
            } => Entry::Jti { jti },
            RawEntry {
                jti: None,
                origin_jti: Some(origin_jti),
                sub: None,
                before: None,
            } => Entry::OriginJti { origin_jti },
            RawEntry {
                jti: None,
                origin_jti: None,
                sub: Some(sub),
                before: Some(before),
            } => Entry::SubBefore { sub, before },
            _ => return Err(EntryError::Shape),
        };
        let id = match &entry {
            Entry::Jti { jti: id } | Entry::OriginJti { origin_jti: id } => id,
            Entry::SubBefore { sub, .. } => sub,
        };
        if id.is_empty() || id.len() > MAX_ID_BYTES {
            return Err(EntryError::Length);
        }
        Ok(entry)
    }

    /// The `kind` label: `jti`, `origin_jti` or `sub`.
    pub fn kind(&self) -> &'static str {
        match self {
            Entry::Jti { .. } => "jti",
            Entry::OriginJti { .. } => "origin_jti",
            Entry::SubBefore { .. } => "sub",
        }
    }
}

/// A revocation file, read: its entries, and each line that is not one.
#[derive(Debug, Default)]
pub struct ParsedFile {
    /// The valid entries, in file order.
    pub entries: Vec<Entry>,
    /// `(line number from 1, why)` of every invalid line (skipped).
    pub problems: Vec<(usize, EntryError)>,
}

/// Reads a revocation file: one JSON object a line; blank lines are skipped; an invalid
/// line is reported with its number and skipped, the rest kept.
pub fn parse_file(text: &str) -> ParsedFile {
    let mut parsed = ParsedFile::default();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match Entry::parse(line) {
            Ok(entry) => parsed.entries.push(entry),
            Err(e) => parsed.problems.push((i + 1, e)),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shape_parses_and_anything_else_is_refused() {
        assert_eq!(
            Entry::parse(r#"{"jti":"a"}"#),
            Ok(Entry::Jti { jti: "a".into() })
        );
        assert_eq!(
            Entry::parse(r#"{"origin_jti":"o"}"#),
            Ok(Entry::OriginJti {
                origin_jti: "o".into()
            })
        );
        assert_eq!(
            Entry::parse(r#"{"sub":"u","before":5}"#),
            Ok(Entry::SubBefore {
                sub: "u".into(),
                before: 5
            })
        );
        for bad in [
            r#"{"sub":"u"}"#,
            r#"{"before":5}"#,
            r#"{"jti":"a","sub":"u","before":1}"#,
            r#"{}"#,
        ] {
            assert_eq!(Entry::parse(bad), Err(EntryError::Shape), "{bad}");
        }
        for bad in [
            r#"{"jti":1}"#,
            r#"{"jti":"a","extra":1}"#,
            r#"{"sub":"u","before":"soon"}"#,
            "jti=a",
        ] {
            assert!(
                matches!(Entry::parse(bad), Err(EntryError::Json(_))),
                "{bad}"
            );
        }
        assert_eq!(Entry::parse(r#"{"jti":""}"#), Err(EntryError::Length));
    }

    #[test]
    fn invalid_lines_are_named_by_number_and_the_rest_kept() {
        let text = "{\"jti\":\"a\"}\n\nnot json\n{\"sub\":\"u\",\"before\":9}\n{\"sub\":\"u\"}\n";
        let parsed = parse_file(text);
        assert_eq!(parsed.entries.len(), 2);
        let lines: Vec<usize> = parsed.problems.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [3, 5]);
    }

    #[test]
    fn an_entry_serializes_to_the_line_it_came_from() {
        for line in [
            r#"{"jti":"a"}"#,
            r#"{"origin_jti":"o"}"#,
            r#"{"sub":"u","before":5}"#,
        ] {
            let entry = Entry::parse(line).unwrap();
            assert_eq!(serde_json::to_string(&entry).unwrap(), line);
        }
    }
}
