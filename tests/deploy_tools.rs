//! The deployment files, checked by the tools made for them (from the test tools' venv,
//! `tests/support/tools.rs`): every Kubernetes manifest against the API's schemas
//! (kubernetes-validate, offline: the schemas ship in its package), and the Dockerfile
//! with hadolint. `tests/deploy_configs.rs` runs `cognigate check` on the configs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Kinds whose schema is a CRD that kubernetes-validate does not ship: Traefik's.
/// Their objects are reported as a warning, not validated; any other warning fails.
const UNVALIDATED_CRDS: [&str; 2] = [
    "Couldn't find schema for kind Middleware with api version traefik.io/v1alpha1",
    "Couldn't find schema for kind IngressRoute with api version traefik.io/v1alpha1",
];

#[test]
fn every_kubernetes_manifest_passes_kubernetes_validate() {
    let mut manifests: Vec<PathBuf> = std::fs::read_dir(repo("docker/k8s"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    manifests.sort();
    assert!(manifests.len() >= 4, "{manifests:?}");
    let validate = support::tools::bin("kubernetes-validate");
    for manifest in manifests {
        let out = Command::new(&validate)
            .arg("--strict")
            .arg(&manifest)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        let name = manifest.display();
        assert!(out.status.success(), "{name}:\n{report}");
        for line in report.lines().filter(|l| !l.starts_with("INFO ")) {
            assert!(
                UNVALIDATED_CRDS.iter().any(|crd| line.contains(crd)),
                "{name}: {line}"
            );
        }
        assert!(report.contains("passed for resource"), "{name}:\n{report}");
    }
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let out = Command::new(support::tools::bin("hadolint"))
        .args(["--no-color", "--failure-threshold", "info"])
        .arg(repo("docker/Dockerfile"))
        .output()
        .unwrap();
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && report.trim().is_empty(), "{report}");
}
