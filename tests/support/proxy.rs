//! cognigate under test: in-process on port 0, or the real binary as a child process.

use cognigate::app::{self, Running};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A proxy started in-process.
pub(crate) struct TestProxy {
    pub(crate) addr: SocketAddr,
    pub(crate) admin: SocketAddr,
    running: Running,
    pub(crate) dir: tempfile::TempDir,
}

impl TestProxy {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    pub(crate) async fn stop(self) {
        self.running.shutdown();
        self.running.wait().await;
    }
}

/// Writes `body` (a TOML config without `listen`/`admin_listen`) to a file and returns
/// its directory and path; listeners go to port 0 on loopback.
pub(crate) fn write_config(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cognigate.toml");
    let text = format!("listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{body}");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// Loads `body` through the real config loader and starts serving it.
pub(crate) async fn start(body: &str) -> TestProxy {
    let (dir, path) = write_config(body);
    let validated = cognigate::config::load_with_env(&path, Vec::new())
        .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
    let running = app::start(validated.config).await.unwrap();
    TestProxy {
        addr: running.proxy_addr,
        admin: running.admin_addr,
        running,
        dir,
    }
}

/// Like [`start`], on a loopback port picked first, for a config that names the proxy's
/// own URL (`login.logout_redirect` pointing back at it): every `{port}` in `body`
/// becomes that port. Another port is tried when the picked one was taken meanwhile.
pub(crate) async fn start_on_known_port(body: &str) -> TestProxy {
    let mut failures = Vec::new();
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (dir, path) = write_config(&body.replace("{port}", &port.to_string()));
        let env = [("COGNIGATE_LISTEN".to_owned(), format!("127.0.0.1:{port}"))];
        let validated = cognigate::config::load_with_env(&path, env)
            .unwrap_or_else(|e| panic!("test config invalid:\n{e}"));
        match app::start(validated.config).await {
            Ok(running) => {
                return TestProxy {
                    addr: running.proxy_addr,
                    admin: running.admin_addr,
                    running,
                    dir,
                };
            }
            Err(e) => failures.push(format!("port {port}: {e:#}")),
        }
    }
    panic!("the proxy did not start: {failures:?}")
}

/// Like [`start`], through `app::start_from_file`: the config (and TLS files) are
/// reloaded when they change on disk. The config file is `dir/cognigate.toml`.
pub(crate) async fn start_watched(body: &str) -> TestProxy {
    let (dir, path) = write_config(body);
    let running = app::start_from_file(&path)
        .await
        .unwrap_or_else(|e| panic!("test config invalid:\n{e:#}"));
    TestProxy {
        addr: running.proxy_addr,
        admin: running.admin_addr,
        running,
        dir,
    }
}

/// The real binary, with its JSON log lines collected.
pub(crate) struct Binary {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) admin: SocketAddr,
    pub(crate) logs: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Waits (bounded) for a log line containing every one of `needles`; returns it.
    pub(crate) async fn log_line(&self, needles: &[&str]) -> String {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            let logs = self.logs();
            if let Some(line) = logs
                .into_iter()
                .find(|l| needles.iter().all(|n| l.contains(n)))
            {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "no log line with {needles:?}; logs:\n{}",
            self.logs().join("\n")
        );
    }

    /// Sends a signal to the child by its PID (only processes this test started).
    pub(crate) fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for exit (bounded) and returns the exit code.
    pub(crate) fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn binary_path() -> &'static str {
    env!("CARGO_BIN_EXE_cognigate")
}

/// Starts `cognigate run --config PATH` and waits (bounded) for its "listening" line.
pub(crate) fn spawn_binary(config: &Path, env: &[(&str, &str)]) -> Binary {
    let mut cmd = Command::new(binary_path());
    cmd.args(["run", "--config"]).arg(config);
    for (k, v) in env {
        cmd.env(k, v);
    }
    spawn_command(cmd)
}

/// Starts `cmd`, which must end up exec'ing `cognigate run` (under a wrapper, say),
/// with JSON logs (at info unless `cmd` sets `RUST_LOG`), and waits (bounded) for its
/// "listening" line.
pub(crate) fn spawn_command(mut cmd: Command) -> Binary {
    for (name, value) in [("COGNIGATE_LOG_FORMAT", "json"), ("RUST_LOG", "info")] {
        if !cmd.get_envs().any(|(set, _)| set == name) {
            cmd.env(name, value);
        }
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = logs.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let parsed = serde_json::from_str::<serde_json::Value>(&line).ok();
            if let Some(v) = parsed.filter(|v| v["message"] == "listening") {
                let addr = |key: &str| v[key].as_str().unwrap_or("").to_owned();
                let _ = tx.send((addr("proxy"), addr("admin")));
            }
            sink.lock().unwrap().push(line);
        }
    });
    let (proxy, admin) = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| {
            // Never leave the child behind when the test fails here.
            let _ = child.kill();
            let _ = child.wait();
            panic!("cognigate did not start; logs: {:?}", logs.lock().unwrap())
        });
    Binary {
        child,
        addr: proxy.parse().unwrap(),
        admin: admin.parse().unwrap(),
        logs,
    }
}
