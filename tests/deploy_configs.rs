//! Every config file shipped in the repository (examples, compose, Kubernetes) passes
//! `cognigate check`, and each Kubernetes ConfigMap embeds exactly its `configs/` file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn tomls(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn shipped_configs_pass_check() {
    let mut files = tomls("config");
    files.extend(tomls("docker"));
    files.extend(tomls("docker/k8s/configs"));
    assert!(files.len() >= 6, "{files:?}");
    for file in files {
        let mut check = Command::new(support::proxy::binary_path());
        check.arg("check").arg("--config").arg(&file);
        // A [login] config leaves its cookie secret to the environment (a Kubernetes
        // Secret in the examples), as it should be.
        if std::fs::read_to_string(&file)
            .unwrap()
            .contains("\n[login]")
        {
            check.env(
                "COGNIGATE_LOGIN__COOKIE_SECRETS__0",
                "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
            );
        }
        let out = check.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn configmaps_embed_their_config_files() {
    for file in tomls("docker/k8s/configs") {
        let name = file.file_stem().unwrap().to_str().unwrap();
        let manifest = std::fs::read_to_string(repo(&format!("docker/k8s/{name}.yaml"))).unwrap();
        let config = std::fs::read_to_string(&file).unwrap();
        // The ConfigMap holds the file as a YAML block scalar, indented.
        let indent = manifest
            .lines()
            .find_map(|l| {
                l.trim_start()
                    .starts_with("cognigate.toml: |")
                    .then(|| l.len() - l.trim_start().len() + 2)
            })
            .unwrap_or_else(|| panic!("{name}.yaml has no cognigate.toml ConfigMap entry"));
        let embedded: String = config
            .lines()
            .map(|l| {
                if l.is_empty() {
                    "\n".to_owned()
                } else {
                    format!("{}{l}\n", " ".repeat(indent))
                }
            })
            .collect();
        let blank_tolerant = |s: &str| s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
        assert!(
            blank_tolerant(&manifest).contains(&blank_tolerant(&embedded)),
            "{name}.yaml's ConfigMap differs from configs/{name}.toml"
        );
    }
}
