//! `oauth2-mock-server` (npm), a second OAuth 2.0 / OIDC server that nobody here wrote,
//! to compare the managed-login stand-in with. It is installed with npm into
//! `target/test-tools/npm` the first time a test asks for it, under an exclusive lock
//! on `target/test-tools/npm.lock` (several test binaries may ask at once), and counts
//! as installed once a stamp holds the pinned version and start script. Without Node,
//! npm, or (on the first run) the npm registry, the test fails naming what to install;
//! it never skips.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The pinned package.
const PACKAGE: &str = "oauth2-mock-server@8.2.3";

/// Starts the server on an ephemeral loopback port: a generated RS256 key, default
/// endpoints (`/authorize`, `/token`, `/revoke`, `/endsession`, `/jwks`).
const SERVE: &str = r#"import { OAuth2Server } from 'oauth2-mock-server';
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
await server.start(0, '127.0.0.1');
console.log(JSON.stringify({ port: server.address().port }));
"#;

/// A running oauth2-mock-server, killed (by its PID) when dropped.
pub(crate) struct MockServer {
    child: Child,
    pub(crate) url: String,
}

impl Drop for MockServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Installs (once) and starts oauth2-mock-server; panics with the reason otherwise.
pub(crate) fn start_mock_server() -> MockServer {
    let dir = match installed() {
        Ok(dir) => dir,
        Err(why) => panic!("{why}"),
    };
    let mut child = Command::new("node")
        .arg(dir.join("serve.mjs"))
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run node: {e}"));
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let port = serde_json::from_str::<serde_json::Value>(&line)
        .ok()
        .and_then(|v| v["port"].as_u64());
    let Some(port) = port else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("oauth2-mock-server did not start (printed {line:?})");
    };
    MockServer {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

fn installed() -> Result<PathBuf, String> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(install).clone()
}

fn install() -> Result<PathBuf, String> {
    let tools = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map_or_else(|| PathBuf::from("target"), Path::to_owned)
        .join("test-tools");
    fs::create_dir_all(&tools).map_err(|e| format!("cannot create {}: {e}", tools.display()))?;
    let lock = File::create(tools.join("npm.lock")).map_err(|e| e.to_string())?;
    lock.lock()
        .map_err(|e| format!("cannot lock {}: {e}", tools.display()))?;
    let dir = tools.join("npm");
    let stamp = dir.join("cognigate-installed.txt");
    let stamp_text = format!("{PACKAGE}\n{SERVE}");
    if fs::read_to_string(&stamp).is_ok_and(|s| s == stamp_text) {
        return Ok(dir);
    }
    eprintln!(
        "test tools: installing {PACKAGE} into {} (once, with npm)",
        dir.display()
    );
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    fs::write(
        dir.join("package.json"),
        "{\"name\":\"cognigate-test-tools\",\"private\":true,\"type\":\"module\"}\n",
    )
    .map_err(|e| e.to_string())?;
    fs::write(dir.join("serve.mjs"), SERVE).map_err(|e| e.to_string())?;
    let out = Command::new("npm")
        .args([
            "install",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            "--save-exact",
            PACKAGE,
        ])
        .current_dir(&dir)
        .output()
        .map_err(|e| {
            format!(
                "the oauth2-mock-server comparison test needs Node.js 20+ and npm, and npm \
                 cannot be run ({e}): install Node.js (https://nodejs.org, or apt-get install \
                 nodejs npm)"
            )
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rfind(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(format!(
            "npm install {PACKAGE} into {} failed (the first run needs the npm registry): {last}",
            dir.display()
        ));
    }
    fs::write(&stamp, stamp_text).map_err(|e| e.to_string())?;
    Ok(dir)
    // `lock` is dropped here: the next process finds the stamp.
}
