//! A real MCP peer: the MCP TypeScript SDK's client, through cognigate, to the SDK's
//! own MCP server. The client finds its way from the 401 alone (RFC 9728
//! `resource_metadata`, then the authorization-server metadata cognigate rebuilds from
//! the issuer's discovery document), and a token minted by `cognigate token --claim
//! aud=...` for this resource carries an MCP session; one for another resource does not.
//!
//! (The `@modelcontextprotocol/conformance` package would be the other peer; no
//! published version runs on Node 20, and its auth scenarios test clients, so this
//! test drives the SDK client's discovery instead: see `support/mcp_sdk.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::jwks_server::{self, Mode};
use support::{http, mcp_sdk, proxy};

const PEER: &str = include_str!("support/mcp_peer.mjs");
const CLIENT: &str = "testclient123";

/// A child process we started, killed (by its own handle) when the test ends.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the SDK's MCP server and returns it with its port.
fn mcp_server(script: &Path) -> (Peer, u16) {
    let mut child = Command::new("node")
        .arg(script)
        .arg("server")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node must be installed for the MCP tests");
    let stdout = child.stdout.take().unwrap();
    let peer = Peer(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("LISTENING ") {
                let _ = tx.send(port.trim().parse::<u16>().unwrap());
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the MCP server did not start");
    (peer, port)
}

/// `cognigate token` with `args`: the token it prints.
fn mint(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cognigate"))
        .arg("token")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn config(upstream: u16, issuer: &str, jwks: &Path, resource: &str) -> String {
    format!(
        r#"
[upstream]
url = "http://127.0.0.1:{upstream}"
[jwks]
refresh_interval = "1h"
[[issuers]]
name = "pool"
issuer = "{issuer}"
jwks_uri = "file://{jwks}"
client_ids = ["{CLIENT}"]
[[routes]]
path = "/mcp"
scopes_any = ["mcp/tools"]
[[routes]]
path = "/**"
auth = "deny"
[resource]
url = "{resource}"
audience = true
as_metadata = true
name = "Test MCP server"
"#,
        jwks = jwks.display()
    )
}

#[tokio::test]
async fn the_mcp_sdk_client_discovers_cognigate_and_its_tokens_carry_a_session() {
    let script = mcp_sdk::script("mcp_peer.mjs", PEER);
    let keys = tempfile::tempdir().unwrap();
    let (key, jwks) = (keys.path().join("key.pem"), keys.path().join("jwks.json"));
    let (k, j) = (key.to_str().unwrap(), jwks.to_str().unwrap());
    mint(&["--generate-key", k, "--jwks", j]);
    let discovery = jwks_server::start("{}").await;
    let issuer = format!("http://{}", discovery.addr);
    discovery.set(Mode::Serve(
        json!({
            "issuer": issuer,
            "authorization_endpoint": "https://pool.auth.us-east-1.amazoncognito.com/oauth2/authorize",
            "token_endpoint": "https://pool.auth.us-east-1.amazoncognito.com/oauth2/token",
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "response_types_supported": ["code"],
        })
        .to_string(),
    ));
    let (_server, port) = mcp_server(&script);

    // The resource URL names the proxy's own port, known once it listens: start with a
    // placeholder, then rewrite the file (the proxy reloads it).
    let p = proxy::start_watched(&config(port, &issuer, &jwks, "http://127.0.0.1:1/mcp")).await;
    let resource = p.url("/mcp");
    let body = config(port, &issuer, &jwks, &resource);
    let text = format!("listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n{body}");
    std::fs::write(p.dir.path().join("cognigate.toml"), text).unwrap();
    let metadata = p.url("/.well-known/oauth-protected-resource/mcp");
    let mut reloaded = false;
    for _ in 0..200 {
        if http::get(&metadata, &[]).await.json()["resource"] == resource.as_str() {
            reloaded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(reloaded, "the proxy did not reload the resource URL");
    http::wait_for_status(&p.url("/.well-known/oauth-authorization-server"), 200).await;

    let common = ["--key", k, "--sub", "agent-1", "--scope", "mcp/tools"];
    let common = [&common[..], &["--issuer", &issuer, "--client-id", CLIENT]].concat();
    let aud = format!("aud=[\"{resource}\"]");
    let good = mint(&[&common[..], &["--claim", &aud]].concat());
    let other = mint(
        &[
            &common[..],
            &["--claim", "aud=[\"https://elsewhere.example/mcp\"]"],
        ]
        .concat(),
    );

    let client = Command::new("node")
        .arg(&script)
        .args(["client", &resource, &good, &other])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut client = Peer(client);
    // The report is small (a few KiB): the pipes cannot fill before the client exits.
    for _ in 0..600 {
        if client.0.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = client.0.try_wait().unwrap();
    let status = status.expect("the MCP client did not finish in 60 s");
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    std::io::Read::read_to_end(client.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    std::io::Read::read_to_end(client.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let out = std::process::Output {
        status,
        stdout,
        stderr,
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "MCP client failed:\n{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no report ({e}): {}", String::from_utf8_lossy(&out.stdout)));
    eprintln!("MCP SDK client report: {report:#}");

    // The 401, as the SDK parsed it.
    assert_eq!(report["status"], 401);
    assert_eq!(report["resource_metadata"], metadata.as_str());
    assert_eq!(report["scope"], "mcp/tools");
    // Both metadata documents passed the SDK's schemas.
    assert_eq!(report["protected_resource"]["resource"], resource.as_str());
    let origin = p.url("");
    assert_eq!(
        report["protected_resource"]["authorization_servers"],
        json!([origin])
    );
    let as_doc = &report["authorization_server"];
    assert_eq!(as_doc["issuer"], origin.as_str());
    assert_eq!(as_doc["code_challenge_methods_supported"], json!(["S256"]));
    // The SDK's own flow ended at the pool's authorization endpoint, with PKCE S256,
    // the route's scope and this resource (RFC 8707).
    assert!(
        report["anonymous"]
            .as_str()
            .unwrap()
            .starts_with("UnauthorizedError"),
        "{report}"
    );
    let auth_url = url_params(report["authorization_url"].as_str().expect("no redirect"));
    assert_eq!(
        auth_url.0,
        "https://pool.auth.us-east-1.amazoncognito.com/oauth2/authorize"
    );
    assert_eq!(auth_url.1["code_challenge_method"], "S256");
    assert_eq!(auth_url.1["client_id"], CLIENT);
    assert_eq!(auth_url.1["scope"], "mcp/tools");
    assert_eq!(auth_url.1["resource"], resource.as_str());
    // A token for this resource carries an MCP session; one for another does not.
    assert_eq!(report["tools"], json!(["add"]));
    assert_eq!(report["call"], "sum=5");
    let wrong = report["wrong_audience"].as_str().unwrap();
    assert!(
        wrong.contains("token was not issued for this resource"),
        "{wrong}"
    );
    p.stop().await;
}

/// `(base, query parameters)` of a URL, decoded.
fn url_params(url: &str) -> (String, std::collections::HashMap<String, String>) {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let params = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    (base.to_owned(), params)
}
