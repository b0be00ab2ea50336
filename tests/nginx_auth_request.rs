//! Forward-auth behind a real nginx, configured as ingress-nginx's template renders an
//! Ingress carrying the annotations of `docker/k8s/ingress-nginx.yaml` (read from that
//! file): the auth subrequest carries `X-Original-URL` and `X-Original-Method`, each
//! name of `auth-response-headers` is copied from cognigate's 200 onto the request to
//! the app with `auth_request_set` (and removed when the answer lacks it), and nginx
//! passes on only 2xx, 401 and 403 from an auth service (anything else becomes 500).
//!
//! The app is the echo upstream, so each test sees what the app received: the path
//! nginx forwards (not always the one it asked cognigate about) and every header.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use cognigate::mint::DevKey;
use support::tokens::{self, CLIENT, ISSUER, bearer, sign};
use support::{echo, http, jwks_server, nginx, proxy};

/// The claim header of the test config: the manifest says to add each one to
/// `auth-response-headers`.
const CLAIM_HEADER: &str = "X-Auth-Tenant";

/// cognigate, the app, and nginx with two servers in front of them: `manifest` renders
/// the Ingress of `docker/k8s/ingress-nginx.yaml`, `bare` the same without its
/// `auth-proxy-set-headers` (ingress-nginx's defaults alone).
struct Stack {
    key: DevKey,
    _jwks: jwks_server::JwksServer,
    cognigate: proxy::TestProxy,
    app: echo::Echo,
    nginx: nginx::Nginx,
    manifest: u16,
    bare: u16,
}

async fn stack() -> Stack {
    let key = tokens::key();
    let jwks = jwks_server::start(&key.jwks_json).await;
    let cognigate = proxy::start(&format!(
        r#"
mode = "forward_auth"

[[issuers]]
name = "main"
issuer = "{ISSUER}"
jwks_uri = "{}"
client_ids = ["{CLIENT}"]

[identity.claim_headers]
"custom:tenant" = "{CLAIM_HEADER}"

[[routes]]
path = "/public/**"
auth = "public"

[[routes]]
path = "/admin/**"
groups_any = ["admin"]

[[routes]]
path = "/api/**"
"#,
        jwks.uri()
    ))
    .await;
    http::wait_ready(cognigate.admin).await;
    let app = echo::start().await;
    let (manifest, bare) = (nginx::free_port(), nginx::free_port());
    let ingress = Ingress::from_manifest();
    let auth_url = format!("http://{}/", cognigate.addr);
    let http_block = format!(
        "upstream app {{ server {}; }}\n{}\n{}",
        app.addr,
        ingress.server(manifest, &auth_url, true),
        ingress.server(bare, &auth_url, false),
    );
    let nginx = tokio::task::spawn_blocking(move || nginx::start(&http_block, &[manifest, bare]))
        .await
        .unwrap();
    Stack {
        key,
        _jwks: jwks,
        cognigate,
        app,
        nginx,
        manifest,
        bare,
    }
}

/// The annotations of the Ingress in `docker/k8s/ingress-nginx.yaml` that shape nginx.
struct Ingress {
    /// `auth-response-headers`, plus the test's claim header.
    response_headers: Vec<String>,
    /// The ConfigMap `auth-proxy-set-headers` names: set on the auth subrequest.
    auth_request_headers: Vec<(String, String)>,
}

impl Ingress {
    fn from_manifest() -> Ingress {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docker/k8s/ingress-nginx.yaml");
        let yaml = std::fs::read_to_string(path).unwrap();
        let annotation = yaml
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("nginx.ingress.kubernetes.io/auth-response-headers:")
            })
            .expect("auth-response-headers annotation");
        let mut response_headers: Vec<String> = annotation
            .trim()
            .trim_matches('"')
            .split(',')
            .map(|h| h.trim().to_owned())
            .collect();
        response_headers.push(CLAIM_HEADER.to_owned());
        // The ConfigMap's data: `  Name: "value"` lines after its `data:`.
        let configmap = &yaml[yaml.find("name: cognigate-auth-request-headers").unwrap()..];
        let data = &configmap[configmap.find("data:").unwrap() + "data:".len()..];
        let auth_request_headers = data
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with("  "))
            .filter_map(|l| l.trim().split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect();
        Ingress {
            response_headers,
            auth_request_headers,
        }
    }

    /// One nginx `server`, as ingress-nginx's `nginx.tmpl` renders an Ingress with
    /// `auth-url` (its `location = /_external-auth-...` and the protected location).
    fn server(&self, port: u16, auth_url: &str, with_auth_proxy_set_headers: bool) -> String {
        let mut auth_set = String::new();
        if with_auth_proxy_set_headers {
            for (name, value) in &self.auth_request_headers {
                auth_set.push_str(&format!("proxy_set_header {name} \"{value}\";\n"));
            }
        }
        // ingress-nginx's buildAuthResponseHeaders: one variable per listed name.
        let mut copy = String::new();
        for (i, name) in self.response_headers.iter().enumerate() {
            let var = name.to_ascii_lowercase().replace('-', "_");
            copy.push_str(&format!(
                "auth_request_set $authHeader{i} $upstream_http_{var};\n\
                 proxy_set_header '{name}' $authHeader{i};\n"
            ));
        }
        format!(
            r#"server {{
    listen 127.0.0.1:{port};
    location = /_external-auth {{
        internal;
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header Host 127.0.0.1;
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        proxy_set_header X-Original-Method $request_method;
        proxy_set_header X-Sent-From "nginx-ingress-controller";
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Auth-Request-Redirect $request_uri;
        {auth_set}
        proxy_http_version 1.1;
        proxy_pass_request_headers on;
        proxy_pass {auth_url};
    }}
    location / {{
        auth_request /_external-auth;
        auth_request_set $auth_cookie $upstream_http_set_cookie;
        add_header Set-Cookie $auth_cookie;
        {copy}
        proxy_set_header Host $host;
        proxy_http_version 1.1;
        proxy_pass http://app;
    }}
}}"#
        )
    }
}

/// What a client got from nginx, and what the app received for it (if anything).
struct Outcome {
    status: u16,
    raw: String,
    forwarded: Option<echo::Seen>,
}

impl Stack {
    fn token(&self, sub: &str, groups: &[&str]) -> String {
        bearer(&sign(&self.key, &tokens::access(sub, groups)))
    }

    /// Sends `GET path` byte for byte (no client normalizes it) to nginx on `port`.
    async fn get(&self, port: u16, path: &str, headers: &[(&str, &str)]) -> Outcome {
        let before = self.app.requests().len();
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: app.example.com\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("Connection: close\r\n\r\n");
        let raw = http::raw(([127, 0, 0, 1], port).into(), head.as_bytes()).await;
        let status = http::status_of(&raw).unwrap_or_else(|| panic!("no response: {raw:?}"));
        let mut seen = self.app.requests().split_off(before);
        assert!(
            seen.len() <= 1,
            "{path}: the app got {} requests",
            seen.len()
        );
        Outcome {
            status,
            raw,
            forwarded: seen.pop(),
        }
    }

    /// cognigate's own answer for an original request, asked directly (the request
    /// itself, as Envoy sends it): the decision the path must get wherever it goes.
    async fn decision(&self, path: &str, token: Option<&str>) -> http::Reply {
        let headers: Vec<(&str, &str)> = token.iter().map(|t| ("authorization", *t)).collect();
        http::get(&format!("http://{}{path}", self.cognigate.addr), &headers).await
    }
}

fn header<'r>(raw: &'r str, name: &str) -> Option<&'r str> {
    let head = raw.split("\r\n\r\n").next()?;
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn valid_token_no_token_and_wrong_group() {
    let s = stack().await;
    let user = s.token("u", &["dev"]);
    let admin = s.token("boss", &["admin"]);

    let o = s
        .get(s.manifest, "/api/x?q=1", &[("Authorization", &user)])
        .await;
    assert_eq!(o.status, 200, "{}", o.raw);
    let seen = o.forwarded.unwrap();
    assert_eq!(seen.target, "/api/x?q=1");
    assert_eq!(seen.header("x-auth-sub"), ["u"]);
    assert_eq!(seen.header("x-auth-groups"), ["dev"]);

    let o = s.get(s.manifest, "/api/x", &[]).await;
    assert_eq!(o.status, 401, "{}", o.raw);
    assert_eq!(
        header(&o.raw, "www-authenticate"),
        Some("Bearer realm=\"cognigate\""),
        "nginx passes the 401's challenge on: {}",
        o.raw
    );
    assert!(o.forwarded.is_none());

    let o = s
        .get(s.manifest, "/admin/x", &[("Authorization", &user)])
        .await;
    assert_eq!(o.status, 403, "{}", o.raw);
    assert!(o.forwarded.is_none());

    let o = s
        .get(s.manifest, "/admin/x", &[("Authorization", &admin)])
        .await;
    assert_eq!(o.status, 200, "{}", o.raw);
    assert_eq!(o.forwarded.unwrap().header("x-auth-groups"), ["admin"]);
}

#[tokio::test]
async fn path_tricks_get_the_decision_of_the_path_nginx_forwards() {
    let s = stack().await;
    let user = s.token("u", &["dev"]);
    let admin = s.token("boss", &["admin"]);
    let tricks = [
        "/public/../admin/x",
        "/public/%2e%2e/admin/x",
        "/admin%2Fx",
        "/public/..%2Fadmin/x",
        "//admin/x",
        "/admin/x%00",
        "/admin;x",
    ];
    let mut table = Vec::new();
    for trick in tricks {
        for (who, token) in [
            ("none", None),
            ("user", Some(&user)),
            ("admin", Some(&admin)),
        ] {
            let headers: Vec<(&str, &str)> = token
                .iter()
                .map(|t| ("Authorization", t.as_str()))
                .collect();
            let o = s.get(s.manifest, trick, &headers).await;
            let what = format!("{trick} as {who}");
            assert!(
                matches!(o.status, 200 | 400 | 401 | 403),
                "{what}: nginx answered {}: {}\n{}",
                o.status,
                o.raw,
                s.nginx.error_log()
            );
            let token = token.map(String::as_str);
            match &o.forwarded {
                Some(seen) => {
                    assert_eq!(o.status, 200, "{what}");
                    // The app resolves the path it got: cognigate must allow that path.
                    let direct = s.decision(&seen.target, token).await;
                    assert_eq!(direct.status, 200, "{what}: forwarded as {}", seen.target);
                }
                None => assert_ne!(o.status, 200, "{what}"),
            }
            if matches!(o.status, 401 | 403) {
                // nginx asked about the raw request-target: the same decision.
                let direct = s.decision(trick, token).await;
                assert_eq!(o.status, direct.status, "{what}: {}", direct.body);
            }
            let forwarded = o.forwarded.map_or("-".to_owned(), |seen| seen.target);
            table.push(format!("{what:32} -> {} {forwarded}", o.status));
        }
    }
    // What nginx forwarded, for the reader (`--nocapture`).
    eprintln!("{}", table.join("\n"));
    // Refused paths are a 403, which nginx passes on (a 400 became a 500).
    for refused in ["/admin%2Fx", "/admin;x", "/public/..%2Fadmin/x"] {
        let o = s
            .get(s.manifest, refused, &[("Authorization", &admin)])
            .await;
        assert_eq!(o.status, 403, "{refused}: {}", o.raw);
    }
    let o = s
        .get(
            s.manifest,
            "/public/../admin/x",
            &[("Authorization", &user)],
        )
        .await;
    assert_eq!(o.status, 403, "{}", o.raw);
}

#[tokio::test]
async fn client_identity_headers_never_reach_the_app() {
    let s = stack().await;
    let user = s.token("u", &["dev"]);
    let spoof = [
        ("X-Auth-Sub", "admin"),
        ("X-Auth-Groups", "admin"),
        ("X-Auth-Email", "boss@example.com"),
        ("X-Auth-Tenant", "evil"),
        ("X_Auth_Sub", "admin"),
        ("x-auth-claims", "e30"),
    ];
    for (path, token) in [("/api/x", Some(&user)), ("/public/x", None)] {
        let mut headers = spoof.to_vec();
        headers.extend(token.map(|t| ("Authorization", t.as_str())));
        let o = s.get(s.manifest, path, &headers).await;
        assert_eq!(o.status, 200, "{path}: {}", o.raw);
        let seen = o.forwarded.unwrap();
        let answer = s.decision(path, token.map(String::as_str)).await;
        for (name, value) in &seen.headers {
            let folded = name.replace(['_', '.'], "-");
            if folded.starts_with("x-auth-") {
                assert_eq!(
                    answer.header(name),
                    Some(value.as_str()),
                    "{path}: {name}: {value} reached the app; cognigate answered {:?}",
                    answer.headers
                );
            }
        }
        assert_eq!(
            seen.header("x-auth-sub").first().copied(),
            answer.header("x-auth-sub"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_refused_check_is_403_through_nginx_never_500() {
    let s = stack().await;
    let user = s.token("u", &["dev"]);
    // Without auth-proxy-set-headers a client's X-Forwarded-Uri reaches cognigate next
    // to nginx's X-Original-URL: ambiguous, refused 403 (a 400 became nginx's 500).
    let smuggle = [
        ("Authorization", user.as_str()),
        ("X-Forwarded-Uri", "/public/x"),
    ];
    let o = s.get(s.bare, "/admin/x", &smuggle).await;
    assert_eq!(o.status, 403, "{}\n{}", o.raw, s.nginx.error_log());
    assert!(o.forwarded.is_none());
    // The manifest blanks X-Forwarded-* on the subrequest: /admin/x itself is checked.
    let o = s.get(s.manifest, "/admin/x", &smuggle).await;
    assert_eq!(o.status, 403, "{}", o.raw);
    let admin = s.token("boss", &["admin"]);
    let smuggle = [
        ("Authorization", admin.as_str()),
        ("X-Forwarded-Uri", "/public/x"),
    ];
    let o = s.get(s.manifest, "/admin/x", &smuggle).await;
    assert_eq!(o.status, 200, "{}", o.raw);
    assert_eq!(o.forwarded.unwrap().target, "/admin/x");
}
