//! `docs/reference.md` stays complete: every key of `config/cognigate.toml` (set or
//! commented out), every metric family a running proxy serves at `/metrics`, and every
//! command of `cognigate --help` is named in it; every source file the docs point to
//! exists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::Path;
use support::tokens::{self, CLIENT, ISSUER, bearer, sign};
use support::{echo, http, jwks_server, proxy};

fn read(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

fn reference() -> String {
    read("docs/reference.md")
}

/// `[a]` -> `a`, `[[a]]` -> `a` (an array of tables), from a line that opens a table.
fn table_of(line: &str) -> Option<(String, bool)> {
    let array = line.starts_with("[[");
    let name = line.strip_prefix('[')?.trim_start_matches('[');
    let name = &name[..name.find(']')?];
    Some((name.to_owned(), array))
}

/// The bare key a line assigns (`key = ...`), if any.
fn key_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim_end();
    let bare = key.starts_with(|c: char| c.is_ascii_lowercase())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    bare.then_some(key)
}

/// Every key of the annotated config, commented-out ones included, as the reference
/// names them: `listen`, `upstream.url`, `issuers[].name`, `tls`.
fn config_keys() -> Vec<String> {
    let mut keys = Vec::new();
    let mut prefix = String::new();
    for line in read("config/cognigate.toml").lines() {
        let line = line.trim_start_matches(['#', ' ']);
        if let Some((table, array)) = table_of(line) {
            keys.push(table.clone());
            prefix = if array {
                format!("{table}[].")
            } else {
                format!("{table}.")
            };
        } else if let Some(key) = key_of(line) {
            keys.push(format!("{prefix}{key}"));
        }
    }
    keys
}

#[test]
fn every_config_key_is_in_the_reference() {
    let reference = reference();
    let keys = config_keys();
    assert!(keys.len() > 40, "{keys:?}");
    let missing: Vec<&String> = keys
        .iter()
        .filter(|k| {
            ![format!("`{k}`"), format!("`[{k}]`"), format!("`[[{k}]]`")]
                .iter()
                .any(|form| reference.contains(form))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "missing from docs/reference.md: {missing:?}"
    );
}

#[tokio::test]
async fn every_metric_family_is_in_the_reference() {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let app = echo::start().await;
    let p = proxy::start(&format!(
        "[upstream]\nurl = \"{}\"\n[[issuers]]\nname = \"main\"\nissuer = \"{ISSUER}\"\n\
         client_ids = [\"{CLIENT}\"]\njwks_uri = \"{}\"\n[[routes]]\npath = \"/**\"\n",
        app.url(),
        jwks.uri()
    ))
    .await;
    http::wait_ready(p.admin).await;
    // A request, so that every family has a sample (the histogram's appear per route).
    let token = bearer(&sign(&key, &tokens::access("u", &[])));
    assert_eq!(
        http::get(&p.url("/x"), &[("authorization", &token)])
            .await
            .status,
        200
    );
    let scrape = http::get(&p.admin_url("/metrics"), &[]).await.body;
    let families: Vec<String> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| match l.split_once(' ') {
            Some((name, "counter")) => format!("{name}_total"),
            Some((name, _)) => name.to_owned(),
            None => panic!("{l}"),
        })
        .collect();
    assert!(families.len() >= 8, "{scrape}");
    let reference = reference();
    let missing: Vec<&String> = families
        .iter()
        .filter(|f| !reference.contains(&format!("`{f}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "missing from docs/reference.md: {missing:?}"
    );
    p.stop().await;
}

#[test]
fn every_command_is_in_the_reference() {
    let out = std::process::Command::new(proxy::binary_path())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let commands: Vec<&str> = help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 6, "{help}");
    let reference = reference();
    for command in commands {
        assert!(
            reference.contains(&format!("`cognigate {command}")),
            "`cognigate {command}` is missing from docs/reference.md"
        );
    }
}

#[test]
fn every_file_the_docs_point_to_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in ["docs/reference.md", "docs/architecture.md"] {
        let text = read(doc);
        let paths = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || "/._-".contains(c)))
            .filter(|w| (w.starts_with("src/") || w.starts_with("tests/")) && w.ends_with(".rs"));
        for path in paths {
            assert!(
                root.join(path).is_file(),
                "{doc} names {path}, which does not exist"
            );
        }
    }
}
