//! Browser sign-in behind a real nginx, set up as `docker/k8s/ingress-nginx.yaml` sets up
//! ingress-nginx: pages behind `auth_request` with `auth-signin` (a 401 becomes a 302
//! to cognigate's `start_path`), the API behind `auth_request` without it (its 401 stays
//! a 401), and `/oauth2/` routed to cognigate itself. The managed-login stand-in plays
//! Cognito; the client is a cookie-keeping "browser" that follows each redirect itself.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use cognigate::standin::{DemoUser, StandIn, StandInConfig};
use std::time::Duration;
use support::jar::{Browser, location};
use support::{echo, http, nginx, proxy, tokens};

const ISSUER: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Nginx1";
const CLIENT: &str = "nginxclient";
const SECRET: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// The identity headers copied from cognigate's 200 onto the request to the app
/// (`auth-response-headers` of the manifest, in part).
const COPIED: [&str; 3] = ["X-Auth-Sub", "X-Auth-Username", "X-Auth-Email"];

/// One nginx `server` as ingress-nginx renders the example's three Ingresses: `/` with
/// `auth-url` + `auth-signin`, `/api` with `auth-url` only, `/oauth2` to cognigate.
/// (ingress-nginx escapes the return path with `set_escape_uri`, a module Debian's
/// nginx lacks: the test's paths need no escaping.)
fn server(port: u16, cognigate: &str) -> String {
    // A session's Set-Cookie lines (two cookies, 5 KB) pass nginx's default 4 KB buffer
    // for an upstream's response head: it would answer 502. The manifest raises it.
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docker/k8s/ingress-nginx.yaml"
    ))
    .unwrap();
    let buffer = manifest
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("nginx.ingress.kubernetes.io/proxy-buffer-size:")
        })
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("the manifest sets proxy-buffer-size");
    let buffers = format!("proxy_buffer_size {buffer}; proxy_buffers 4 {buffer};");
    let mut copy = String::new();
    for (i, name) in COPIED.iter().enumerate() {
        let var = name.to_ascii_lowercase().replace('-', "_");
        copy.push_str(&format!(
            "auth_request_set $authHeader{i} $upstream_http_{var};\n\
             proxy_set_header '{name}' $authHeader{i};\n"
        ));
    }
    let auth = format!(
        r#"auth_request /_external-auth;
        auth_request_set $auth_cookie $upstream_http_set_cookie;
        add_header Set-Cookie $auth_cookie;
        {copy}
        proxy_set_header Host $host;
        proxy_http_version 1.1;
        proxy_pass http://app;"#
    );
    // ingress-nginx renders an Ingress's proxy-buffer-size into each of its locations,
    // the auth subrequest's included.
    format!(
        r#"server {{
    listen 127.0.0.1:{port};
    location = /_external-auth {{
        internal;
        {buffers}
        proxy_pass_request_body off;
        proxy_set_header Content-Length "";
        proxy_set_header Host 127.0.0.1;
        proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        proxy_set_header X-Original-Method $request_method;
        proxy_set_header X-Forwarded-Method "";
        proxy_set_header X-Forwarded-Uri "";
        proxy_set_header X-Forwarded-Host "";
        proxy_http_version 1.1;
        proxy_pass_request_headers on;
        proxy_pass http://{cognigate}/;
    }}
    location /oauth2/ {{
        {buffers}
        proxy_set_header Host $http_host;
        proxy_http_version 1.1;
        proxy_pass http://{cognigate};
    }}
    location /api/ {{
        {buffers}
        {auth}
    }}
    location / {{
        {buffers}
        {auth}
        error_page 401 = @auth_signin;
    }}
    location @auth_signin {{
        internal;
        add_header Set-Cookie $auth_cookie;
        return 302 http://$http_host/oauth2/start?rd=$request_uri;
    }}
}}"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_signs_in_through_nginx_auth_signin_and_stays_signed_in() {
    let app = echo::start().await;
    let mut idp_cfg = StandInConfig::new(ISSUER, CLIENT);
    idp_cfg.access_ttl = Duration::from_secs(3);
    idp_cfg.rotate_refresh_tokens = true;
    // Many groups, in the access and the id token: a session of two cookies, as a real
    // Cognito session is (each must reach the browser through nginx).
    let groups: Vec<String> = (0..40)
        .map(|i| format!("department-group-{i:02}"))
        .collect();
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    idp_cfg.users.push(DemoUser::new("carol", &groups));
    let idp = StandIn::start(idp_cfg, tokens::key()).await.unwrap();
    let port = nginx::free_port();
    let cognigate = proxy::start(&format!(
        r#"
mode = "forward_auth"

[token]
leeway = "0s"

[[issuers]]
name = "pool"
issuer = "{ISSUER}"
jwks_uri = "{}"
client_ids = ["{CLIENT}"]

[login]
domain = "{}"
client_id = "{CLIENT}"
cookie_secrets = ["{SECRET}"]
cookie_secure = false
logout_redirect = "http://127.0.0.1:{port}/signed-out"

[[routes]]
path = "/signed-out"
auth = "public"

[[routes]]
path = "/**"
"#,
        idp.jwks_uri(),
        idp.url()
    ))
    .await;
    http::wait_ready(cognigate.admin).await;
    let http_block = format!(
        "upstream app {{ server {}; }}\n{}",
        app.addr,
        server(port, &cognigate.addr.to_string())
    );
    let _nginx = tokio::task::spawn_blocking(move || nginx::start(&http_block, &[port]))
        .await
        .unwrap();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let mut browser = Browser::default();

    // A page: cognigate's 401 becomes nginx's redirect to start_path.
    let page = browser.navigate(&url("/app/dash")).await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(location(&page), url("/oauth2/start?rd=/app/dash"));
    // A script's call to the API keeps its 401.
    let api = browser.fetch(&url("/api/orders")).await;
    assert_eq!(api.status, 401, "{}", api.body);

    // start_path (through nginx to cognigate) -> the sign-in page -> the callback.
    let start = browser.navigate(&location(&page)).await;
    assert_eq!(start.status, 302, "{}", start.body);
    let authorize = location(&start);
    assert!(
        authorize.starts_with(&format!("{}/oauth2/authorize?", idp.url())),
        "{authorize}"
    );
    let back = browser.sign_in_at(&authorize, "carol").await;
    assert_eq!(
        back.status, 302,
        "the callback through nginx: {}",
        back.body
    );
    assert_eq!(location(&back), "/app/dash");
    assert_eq!(
        browser.session_cookies().len(),
        2,
        "carol's groups make a Cognito-sized session: two cookies"
    );

    // Signed in: nginx's auth check passes the session cookie, the app gets the identity.
    let page = browser.navigate(&url("/app/dash")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let seen = app.last();
    assert_eq!(seen.header("x-auth-username"), ["carol"]);
    assert_eq!(seen.header("x-auth-email"), ["carol@example.com"]);
    let api = browser.fetch(&url("/api/orders")).await;
    assert_eq!(api.status, 200, "{}", api.body);

    // The access token expires. nginx copies only the first Set-Cookie of an auth
    // check, so the check does not refresh a session (of two cookies) itself: its 401
    // sends the browser through start_path, which refreshes and sends it straight back.
    let before = browser.cookies.clone();
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let page = browser.navigate(&url("/app/dash")).await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(location(&page), url("/oauth2/start?rd=/app/dash"));
    let start = browser.navigate(&location(&page)).await;
    assert_eq!(start.status, 302, "{}", start.body);
    assert_eq!(
        location(&start),
        "/app/dash",
        "refreshed at start_path, no sign-in page"
    );
    assert_ne!(
        browser.cookies, before,
        "the refreshed session reached the browser"
    );
    assert_eq!(browser.session_cookies().len(), 2);
    let page = browser.navigate(&url("/app/dash")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    // A script's request on a page path when the next refresh is due: nginx sends it
    // through start_path too, which refreshes it (rotation: with the new refresh token).
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let call = browser.fetch(&url("/app/data.json")).await;
    assert_eq!(call.status, 302, "{}", call.body);
    let start = browser.fetch(&location(&call)).await;
    assert_eq!(start.status, 302, "{}", start.body);
    assert_eq!(location(&start), "/app/data.json");
    let call = browser.fetch(&url("/app/data.json")).await;
    assert_eq!(call.status, 200, "{}", call.body);
    assert_eq!(app.last().header("x-auth-username"), ["carol"]);
    // Without a session, start_path answers a script 401: never a sign-in page.
    let start = Browser::default()
        .fetch(&url("/oauth2/start?rd=/app/data.json"))
        .await;
    assert_eq!(start.status, 401, "{}", start.body);

    // Logout through nginx: cookies cleared, then Cognito's /logout back to the app.
    let out = browser.navigate(&url("/oauth2/logout")).await;
    assert_eq!(out.status, 302, "{}", out.body);
    assert!(location(&out).starts_with(&format!("{}/logout?", idp.url())));
    assert!(browser.session_cookies().is_empty());
    let page = browser.navigate(&url("/app/dash")).await;
    assert_eq!(page.status, 302, "signed out: {}", page.body);
}
