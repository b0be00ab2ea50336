//! The container's promises, kept without Docker (a test must not need an engine):
//! `docker/Dockerfile` runs the binary as uid 65532 (distroless `nonroot`), the
//! manifests and `compose.yaml` give it a read-only root filesystem with the config
//! mounted read-only, and the image checks its health with `cognigate health`.
//!
//! Here the binary runs in a private mount namespace (`unshare`) where `/` is remounted
//! read-only and `/tmp` is a fresh tmpfs, the only writable place left; as uid 65532
//! (`setpriv`) when the test runs as root, else as the user's own uid (in a user
//! namespace, where only that uid is mapped). It must start, verify tokens, reload its
//! config, answer its health check and stop cleanly, and leave `/tmp` empty.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use support::tokens::{self, CLIENT, ISSUER, bearer, sign};
use support::{echo, http, jwks_server, proxy};

const NONROOT: u32 = 65532;

/// Mounts the sandbox, then execs the rest of its arguments.
const SANDBOX: &str =
    "mount -t tmpfs -o size=8m,mode=1777 tmpfs /tmp && mount -o remount,bind,ro / && exec \"$@\"";

fn is_root() -> bool {
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

/// `BIN args...` inside the sandbox.
fn sandboxed(bin: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("unshare");
    if !is_root() {
        cmd.args(["--user", "--map-root-user"]);
    }
    cmd.args([
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-euc",
        SANDBOX,
        "sh",
    ]);
    if is_root() {
        let (uid, gid) = (format!("--reuid={NONROOT}"), format!("--regid={NONROOT}"));
        cmd.args([
            "setpriv",
            &uid,
            &gid,
            "--clear-groups",
            "--no-new-privs",
            "--",
        ]);
    }
    cmd.arg(bin).args(args);
    cmd.env_remove("HOME").current_dir("/");
    cmd
}

/// Fails with one line when this machine cannot build the sandbox at all.
fn sandbox_works(bin: &Path) {
    let out = sandboxed(bin, &["--version"])
        .output()
        .unwrap_or_else(|e| panic!("the container test needs unshare (util-linux): {e}"));
    assert!(
        out.status.success(),
        "the container test needs root, or unprivileged user namespaces, for unshare: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// A directory only root may write (mode 0555) with the config (0444) and a copy of the
/// binary. Outside `/tmp`, which the sandbox replaces: a checkout (and so the target
/// directory) may well be under `/tmp`.
fn read_only_config(body: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let base = match Path::new("/var/tmp").is_dir() {
        true => PathBuf::from("/var/tmp"),
        false => PathBuf::from(env!("CARGO_TARGET_TMPDIR")),
    };
    let dir = tempfile::tempdir_in(base).unwrap();
    let bin = dir.path().join("cognigate");
    if std::fs::hard_link(proxy::binary_path(), &bin).is_err() {
        std::fs::copy(proxy::binary_path(), &bin).unwrap();
    }
    let path = dir.path().join("cognigate.toml");
    std::fs::write(
        &path,
        format!("listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{body}"),
    )
    .unwrap();
    std::fs::set_permissions(&path, PermissionsExt::from_mode(0o444)).unwrap();
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o555)).unwrap();
    (dir, path, bin)
}

/// `cognigate health --url URL` in the sandbox, as the image's HEALTHCHECK runs it.
fn health(bin: &Path, url: &str) -> (Option<i32>, String) {
    let out = sandboxed(bin, &["health", "--url", url]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr)
}

/// Field `name` of `/proc/PID/status` (its first value).
fn proc_status(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(name)).unwrap();
    line.split_whitespace().nth(1).unwrap().to_owned()
}

/// The mount options of `/` as process `pid` sees it.
fn root_mount_options(pid: u32) -> String {
    let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    // The last mount on `/` is the one in effect.
    let root = info
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .rfind(|f| f.get(4) == Some(&"/"))
        .unwrap();
    root[5].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_as_nonroot_on_a_read_only_filesystem_with_its_health_check() {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let app = echo::start().await;
    let (dir, config, exe) = read_only_config(&format!(
        "[upstream]\nurl = \"{}\"\n\n[[issuers]]\nname = \"main\"\nissuer = \"{ISSUER}\"\n\
         client_ids = [\"{CLIENT}\"]\njwks_uri = \"{}\"\n\n[[routes]]\npath = \"/**\"\n",
        app.url(),
        jwks.uri()
    ));
    let works = exe.clone();
    tokio::task::spawn_blocking(move || sandbox_works(&works))
        .await
        .unwrap();
    let mut bin = proxy::spawn_command(sandboxed(
        &exe,
        &["run", "--config", config.to_str().unwrap()],
    ));
    let pid = bin.child.id();

    let expected_uid = if is_root() {
        NONROOT
    } else {
        std::fs::metadata("/proc/self").unwrap().uid()
    };
    assert_eq!(proc_status(pid, "Uid:"), expected_uid.to_string());
    if is_root() {
        assert_eq!(proc_status(pid, "NoNewPrivs:"), "1");
    }
    let root = root_mount_options(pid);
    assert!(root.split(',').any(|o| o == "ro"), "/ is mounted {root}");

    // The image's health check: fails until every key set has loaded, then passes.
    let readyz = format!("http://{}/readyz", bin.admin);
    let started = Instant::now();
    loop {
        let (code, stderr) = tokio::task::block_in_place(|| health(&exe, &readyz));
        if code == Some(0) {
            break;
        }
        assert_eq!(code, Some(1), "{stderr}");
        assert!(started.elapsed() < Duration::from_secs(15), "{stderr}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing = format!("http://{}/nope", bin.admin);
    let (code, stderr) = tokio::task::block_in_place(|| health(&exe, &missing));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("404"), "{stderr}");

    let token = bearer(&sign(&key, &tokens::access("u", &[])));
    let reply = http::get(&bin.url("/x"), &[("authorization", &token)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.last().header("x-auth-sub"), ["u"]);

    bin.signal("HUP");
    bin.log_line(&["config reloaded"]).await;

    let tmp: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/root/tmp"))
        .unwrap()
        .collect();
    assert!(tmp.is_empty(), "cognigate wrote to /tmp: {tmp:?}");

    bin.signal("TERM");
    let code = tokio::task::block_in_place(|| bin.wait_exit(Duration::from_secs(10)));
    assert_eq!(code, Some(0), "{}", bin.logs().join("\n"));
    // Writable again, so that the directory can be removed.
    std::fs::set_permissions(dir.path(), PermissionsExt::from_mode(0o755)).unwrap();
}
