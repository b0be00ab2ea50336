//! The request path's CPU work, piece by piece: verifying one RS256 Cognito access token
//! with a warm key set (cold: cache off, so every call does the RSA verify; cached: the
//! verified-token cache hit), the route decision (normalize + first match; then with the
//! route's rules applied: a group rule, or a `{tenant}` capture bound to a claim plus a
//! claim rule) and building the identity headers. Run: `cargo bench --bench verify`.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![expect(missing_docs, reason = "criterion_main! writes an undocumented `main`")]

use cognigate::config::{
    CacheSize, IdentitySettings, Issuer, RouteConfig, TokenSettings, TokenUse,
};
use cognigate::identity::{IdentityHeaders, fold_name};
use cognigate::jwks::{KeySet, KeyStore};
use cognigate::mint::{self, TokenSpec};
use cognigate::policy::{RouteTable, normalize};
use cognigate::proxy::auth::subject;
use cognigate::verify::Verifier;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Bench";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn issuer() -> Issuer {
    Issuer {
        name: "bench".into(),
        issuer: ISS.into(),
        jwks_uri: "http://127.0.0.1:9/jwks.json".into(),
        client_ids: vec!["benchclient".into()],
        token_use: vec![TokenUse::Access],
        algorithms: vec![Algorithm::RS256],
        cognito: true,
        api_endpoint: None,
    }
}

fn settings(cache_size: usize) -> TokenSettings {
    TokenSettings {
        leeway: Duration::from_secs(60),
        cookies: Vec::new(),
        amplify_cookies: false,
        strip_authorization: false,
        cache_size: CacheSize::Entries(cache_size as u64),
    }
}

fn route(path: &str, groups: &[&str]) -> RouteConfig {
    RouteConfig {
        path: path.into(),
        methods: None,
        host: None,
        auth: cognigate::config::AuthMode::Required,
        groups_any: groups.iter().map(|g| g.to_string()).collect(),
        groups_all: Vec::new(),
        scopes_any: Vec::new(),
        scopes_all: Vec::new(),
        token_use: Vec::new(),
        issuers: Vec::new(),
        claims: Default::default(),
        bind: Default::default(),
        login: false,
        max_age: None,
    }
}

fn benches(c: &mut Criterion) {
    let key = mint::generate_rsa_key().unwrap();
    let keys = KeyStore::new(1, Duration::from_secs(30));
    keys.replace(
        0,
        KeySet::from_jwks(key.jwks_json.as_bytes(), &[Algorithm::RS256]).unwrap(),
    );
    let spec = TokenSpec {
        sub: "5e1f0000-aaaa-bbbb-cccc-123456789abc".into(),
        issuer: ISS.into(),
        client_id: "benchclient".into(),
        token_use: TokenUse::Access,
        groups: vec!["bench-users".into(), "admin".into()],
        scope: Some("openid profile".into()),
        username: Some("bench-user".into()),
        email: None,
        ttl: Duration::from_secs(3600),
        now: now(),
        claims: vec![
            ("custom:tenant_id".into(), "acme".into()),
            ("custom:plan".into(), "pro".into()),
        ],
    };
    let token = mint::mint(&key, &spec).unwrap();

    let cold = Verifier::new(&[issuer()], &settings(0));
    c.bench_function("verify/cold (RS256, warm key set, no cache)", |b| {
        b.iter(|| cold.verify(black_box(&token), &keys, now()).unwrap())
    });
    let cached = Verifier::new(&[issuer()], &settings(1000))
        .with_claims(&["custom:plan", "custom:tenant_id"]);
    cached.verify(&token, &keys, now()).unwrap();
    c.bench_function("verify/cached", |b| {
        b.iter(|| cached.verify(black_box(&token), &keys, now()).unwrap())
    });

    let table = RouteTable::compile(&[
        route("/health", &[]),
        route("/public/**", &[]),
        route("/admin/**", &["admin"]),
        route("/api/v1/orders/*", &[]),
        route("/**", &[]),
    ])
    .unwrap();
    let get = http::Method::GET;
    c.bench_function("route/normalize+find", |b| {
        b.iter(|| {
            let path = normalize(black_box("/api/v1/orders/42")).unwrap();
            table
                .find(&get, Some("api.example.com"), &path)
                .map(|(i, _)| i)
        })
    });

    // The decision with rules: a group rule on today's table, then a tenant route.
    let verified = cached.verify(&token, &keys, now()).unwrap();
    let who = subject(&verified.claims, "bench");
    c.bench_function("route/normalize+find+authorize (groups_any)", |b| {
        b.iter(|| {
            let path = normalize(black_box("/admin/orders/42")).unwrap();
            let (_, route) = table.find(&get, Some("api.example.com"), &path).unwrap();
            route.authorize(&who, &path).unwrap()
        })
    });
    let mut tenant = route("/t/{tenant}/orders/*", &[]);
    tenant
        .bind
        .insert("tenant".into(), "custom:tenant_id".into());
    tenant
        .claims
        .insert("custom:plan".into(), vec!["pro".into(), "team".into()]);
    let tenants = RouteTable::compile(&[
        route("/health", &[]),
        route("/public/**", &[]),
        route("/admin/**", &["admin"]),
        tenant,
        route("/**", &[]),
    ])
    .unwrap();
    c.bench_function("route/normalize+find (capture)", |b| {
        b.iter(|| {
            let path = normalize(black_box("/t/acme/orders/42")).unwrap();
            tenants
                .find(&get, Some("api.example.com"), &path)
                .map(|(i, _)| i)
        })
    });
    c.bench_function(
        "route/normalize+find+authorize (capture, bind, claims)",
        |b| {
            b.iter(|| {
                let path = normalize(black_box("/t/acme/orders/42")).unwrap();
                let (_, route) = tenants.find(&get, Some("api.example.com"), &path).unwrap();
                route.authorize(&who, &path).unwrap()
            })
        },
    );

    let identity = IdentityHeaders::new(
        &IdentitySettings {
            header_prefix: fold_name("X-Auth-"),
            claims_header: true,
            claim_headers: Vec::new(),
        },
        ["bench"],
    );
    let mut base = http::HeaderMap::new();
    base.insert("accept", http::HeaderValue::from_static("*/*"));
    base.insert("user-agent", http::HeaderValue::from_static("bench"));
    base.insert("x-auth-sub", http::HeaderValue::from_static("spoofed"));
    c.bench_function("identity/strip+set", |b| {
        b.iter(|| {
            let mut headers = base.clone();
            identity.strip(&mut headers);
            identity.set(&mut headers, &verified.claims, 0);
            headers
        })
    });
}

criterion_group!(verify, benches);
criterion_main!(verify);
