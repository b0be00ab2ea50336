//! A real nginx, started by the test on loopback with its own prefix directory (config,
//! logs, temp files: nothing outside it is written), in the foreground as one process,
//! killed by PID when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct Nginx {
    child: Child,
    pub(crate) dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The nginx binary: on PATH, or where Debian puts it (`/usr/sbin`, often not on a
/// user's PATH). Panics with one line naming what to install when there is none: the
/// forward-auth tests must fail, never pass unrun, on a machine without it.
pub(crate) fn binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "nginx is not installed: the forward-auth tests run a real nginx with its \
             auth_request module (Debian/Ubuntu: apt-get install nginx; macOS: brew install \
             nginx; .ci/run installs it)"
        )
    })
}

/// A loopback port that was free a moment ago (nginx binds it itself).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts nginx with `http_block` (the body of its `http {}` context) and waits
/// (bounded) until every port in `ports` accepts connections.
pub(crate) fn start(http_block: &str, ports: &[u16]) -> Nginx {
    let nginx = binary();
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().display().to_string();
    for sub in ["conf", "logs", "tmp"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
    }
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {prefix}/nginx.pid;\n\
         error_log {prefix}/logs/error.log info;\nevents {{ worker_connections 64; }}\n\
         http {{\n\
         access_log {prefix}/logs/access.log;\n\
         client_body_temp_path {prefix}/tmp/body;\nproxy_temp_path {prefix}/tmp/proxy;\n\
         fastcgi_temp_path {prefix}/tmp/fastcgi;\nuwsgi_temp_path {prefix}/tmp/uwsgi;\n\
         scgi_temp_path {prefix}/tmp/scgi;\n{http_block}\n}}\n"
    );
    std::fs::write(dir.path().join("conf/nginx.conf"), conf).unwrap();
    let child = Command::new(&nginx)
        .arg("-p")
        .arg(dir.path())
        .args(["-c", "conf/nginx.conf", "-e", "logs/error.log"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", nginx.display()));
    let mut nginx = Nginx { child, dir };
    nginx.wait_listening(ports);
    nginx
}

impl Nginx {
    /// Its error log: why it refused to start, or what it made of a request.
    pub(crate) fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/error.log")).unwrap_or_default()
    }

    fn wait_listening(&mut self, ports: &[u16]) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", self.error_log());
            }
            let up = ports
                .iter()
                .all(|p| std::net::TcpStream::connect(("127.0.0.1", *p)).is_ok());
            if up {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("nginx did not listen on {ports:?}:\n{}", self.error_log());
    }
}
