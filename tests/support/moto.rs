//! moto's server as the Cognito emulator, from the test tools' venv ([`super::tools`]),
//! on a free loopback port, killed by PID when dropped.

use serde_json::Value;
use std::process::{Child, Command, Stdio};

pub(crate) struct Moto {
    child: Child,
    pub(crate) endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `moto_server`; readiness is waited for by [`Moto::provision`].
pub(crate) fn start() -> Moto {
    let server = super::tools::bin("moto_server");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let child = Command::new(&server)
        .args(["-H", "127.0.0.1", "-p", &port])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
    Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

impl Moto {
    /// Creates a user pool, an app client, group `admin` and two users with
    /// `tests/support/moto_cognito.py`; returns its JSON (ids, issuer, JWKS URI, tokens).
    pub(crate) fn provision(&self) -> Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/moto_cognito.py");
        let out = Command::new(super::tools::bin("python"))
            .args([script, "--endpoint", &self.endpoint, "--wait", "30"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "moto provisioning failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}
