//! One bad snippet per error site in validation, each loaded as `config::load` loads a
//! file, each expected to give exactly one problem: at this key path, saying this.

use crate::config::{Problem, Validated, load_with_env};

/// `(snippet, key path, message fragment)`: one per `self.error(` call in
/// `validate/` (the count is checked below, so a new error site needs a case here).
/// Each snippet is completed by [`complete`] into an otherwise valid file.
const CASES: &[(&str, &str, &str)] = &[
    // resource.rs
    ("[resource]\naudience = true", "resource.url", "required"),
    (
        "[resource]\nurl = \"https://api.example/mcp?x=1\"",
        "resource.url",
        "without query or fragment",
    ),
    (
        "[resource]\nurl = \"https://api.example/mcp\"\nas_metadata = true\n# no issuers",
        "resource.as_metadata",
        "needs an [[issuers]] entry",
    ),
    // top.rs
    (
        r#"shutdown_delay = "200y""#,
        "shutdown_delay",
        "must be at most 100 years",
    ),
    (
        r#"shutdown_timeout = "soon""#,
        "shutdown_timeout",
        "expected a duration like",
    ),
    (
        "[limits]\nheader_timeout = \"0s\"",
        "limits.header_timeout",
        "must be longer than 0s",
    ),
    (
        r#"listen = "nowhere""#,
        "listen",
        "expected an address like",
    ),
    (
        r#"mode = "gateway""#,
        "mode",
        r#"expected "proxy" or "forward_auth", got "gateway""#,
    ),
    // upstream.rs
    (
        "# no upstream",
        "upstream",
        r#"required when mode = "proxy""#,
    ),
    ("[upstream]\ntimeout = \"5s\"", "upstream.url", "required"),
    (
        "[upstream]\nurl = \"http://127.0.0.1:3000\"\nca_file = \"/nonexistent/ca.pem\"",
        "upstream.ca_file",
        "no such file: /nonexistent/ca.pem",
    ),
    (
        "[upstream]\nurl = \"http://exa mple\"",
        "upstream.url",
        "expected a URL like",
    ),
    (
        "[upstream]\nurl = \"ftp://host\"",
        "upstream.url",
        "an http:// or https:// URL with a host",
    ),
    (
        "[upstream]\nurl = \"http://127.0.0.1:3000/api\"",
        "upstream.url",
        "must not have a path",
    ),
    // limits.rs
    (
        "[limits]\nmax_header_bytes = 100",
        "limits.max_header_bytes",
        "must be at least 8192",
    ),
    (
        "[limits]\nmax_connections = 0",
        "limits.max_connections",
        "must be between 1 and",
    ),
    (
        "[tls]\ncert = \"Cargo.toml\"",
        "tls.key",
        "required when [tls] is set",
    ),
    (
        "[tls]\ncert = \"Cargo.toml\"\nkey = \"/nonexistent/k.pem\"",
        "tls.key",
        "no such file",
    ),
    // revocation.rs
    (
        "[revocation]\nfile = \"\"",
        "revocation.file",
        "empty: name a file",
    ),
    (
        "[[issuers]]\nname = \"m\"\nissuer = \"https://i.example\"\napi_endpoint = \"moto:5000\"",
        "issuers[0].api_endpoint",
        "expected an http:// or https:// URL with a host",
    ),
    (
        "[[routes]]\npath = \"/\"\nauth = \"public\"\nmax_age = \"15m\"",
        "routes[0].max_age",
        "max_age cannot apply",
    ),
    // token.rs
    (
        "[token]\ncookies = [\"a b\"]",
        "token.cookies[0]",
        "not a valid cookie name",
    ),
    (
        "[token]\ncache_size = \"64 megabytes\"",
        "token.cache_size",
        "expected an entry count (100000) or a size like \"64MiB\"",
    ),
    // identity.rs
    (
        "[identity]\nheader_prefix = \"X Auth\"",
        "identity.header_prefix",
        "expected a header name prefix",
    ),
    (
        "[identity.claim_headers]\n\"custom:x\" = \"Authorization\"",
        "identity.claim_headers.\"custom:x\"",
        "is a header cognigate manages itself",
    ),
    (
        "[identity.claim_headers]\n\"custom:x\" = \"bad header\"",
        "identity.claim_headers.\"custom:x\"",
        "not a valid header name",
    ),
    // issuers.rs
    (
        "[[issuers]]\nname = \"a\"\nissuer = \"https://one\"\nclient_ids = [\"c\"]\n\
         [[issuers]]\nname = \"a\"\nissuer = \"https://two\"\nclient_ids = [\"c\"]",
        "issuers[1].name",
        "duplicate issuer name \"a\"",
    ),
    (
        "[[issuers]]\nname = \"a\"\nissuer = \"https://one\"\nclient_ids = [\"c\"]\n\
         [[issuers]]\nname = \"b\"\nissuer = \"https://one/\"\nclient_ids = [\"c\"]",
        "issuers[1].issuer",
        "another issuer already has iss \"https://one\"",
    ),
    (
        "[[issuers]]\nissuer = \"https://one\"\nclient_ids = [\"c\"]",
        "issuers[0].name",
        "required",
    ),
    (
        "[[issuers]]\nname = \"a\"\nissuer = \"https://one\"\njwks_uri = \"ftp://k\"\nclient_ids = [\"c\"]",
        "issuers[0].jwks_uri",
        "expected an http://, https:// or file:// URL",
    ),
    (
        "[[issuers]]\nname = \"a\"\nissuer = \"one.example\"\njwks_uri = \"https://k\"\nclient_ids = [\"c\"]",
        "issuers[0].issuer",
        "expected an https:// URL",
    ),
    (
        "[[issuers]]\nname = \"a\"\njwks_uri = \"https://k\"\nclient_ids = [\"c\"]",
        "issuers[0]",
        "set region and user_pool_id",
    ),
    (
        "[[issuers]]\nname = \"a\"\nregion = \"Us-east-1\"\nuser_pool_id = \"Us-east-1_abc\"\nclient_ids = [\"c\"]",
        "issuers[0].region",
        "expected an AWS region",
    ),
    (
        "[[issuers]]\nname = \"a\"\nregion = \"us-east-1\"\nuser_pool_id = \"eu-west-1_abc\"\nclient_ids = [\"c\"]",
        "issuers[0].user_pool_id",
        "expected \"us-east-1_<id>\"",
    ),
    (
        "[[issuers]]\nname = \"a\"\nregion = \"us-east-1\"\nuser_pool_id = \"us-east-1_abc\"\n\
         issuer_format = \"new\"\njwks_uri = \"https://k\"\nclient_ids = [\"c\"]",
        "issuers[0].issuer_format",
        "expected \"original\" or \"updated\"",
    ),
    (
        "[[issuers]]\nname = \"a\"\nissuer = \"https://one\"\ntoken_use = []\nclient_ids = [\"c\"]",
        "issuers[0].token_use",
        "must name at least one of",
    ),
    (
        "[[issuers]]\nname = \"a\"\nissuer = \"https://one\"\ntoken_use = [\"refresh\"]\nclient_ids = [\"c\"]",
        "issuers[0].token_use[0]",
        "expected \"access\" or \"id\", got \"refresh\"",
    ),
    (
        "[[issuers]]\nname = \"a\"\nissuer = \"https://one\"\nalgorithms = []\nclient_ids = [\"c\"]",
        "issuers[0].algorithms",
        "must name at least one algorithm",
    ),
    (
        "[[issuers]]\nname = \"a\"\nissuer = \"https://one\"\nalgorithms = [\"HS256\"]\nclient_ids = [\"c\"]",
        "issuers[0].algorithms[0]",
        "HS256 is never accepted",
    ),
    (
        "[[issuers]]\nname = \"a\"\nissuer = \"https://one\"\nalgorithms = [\"none\"]\nclient_ids = [\"c\"]",
        "issuers[0].algorithms[0]",
        "expected an asymmetric JWS algorithm",
    ),
    // login.rs
    (
        "[login]\ndomain = \"https://d.example\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]",
        "login.client_id",
        "required",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"other\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]",
        "login.client_id",
        "is not in the client_ids",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\nscopes = [\"email\"]",
        "login.scopes",
        r#"must include "openid""#,
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\nscopes = [\"openid\", \"a b\"]",
        "login.scopes",
        "not a valid scope",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\nstart_path = \"/a/../b\"",
        "login.start_path",
        "expected a normalized absolute path",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\nlogout_path = \"/oauth2/start\"",
        "login",
        "three different paths",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\nredirect_url = \"https://app.example/cb\"",
        "login.redirect_url",
        "its path must be callback_path",
    ),
    (
        "[login]\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]",
        "login.domain",
        "required",
    ),
    (
        "[login]\ndomain = \"https://d.example/x\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]",
        "login.domain",
        "must be an origin",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\ncookie_name = \"a b\"",
        "login.cookie_name",
        "not a valid cookie name",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\ncookie_samesite = \"loose\"",
        "login.cookie_samesite",
        "expected \"lax\"",
    ),
    (
        "listen = \"127.0.0.1:8080\"\n[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\ncookie_samesite = \"none\"\ncookie_secure = false",
        "login.cookie_samesite",
        "requires cookie_secure",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\ncookie_domain = \"example.com:80\"",
        "login.cookie_domain",
        "expected a host name",
    ),
    (
        "listen = \"0.0.0.0:8080\"\n[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\ncookie_secure = false",
        "login.cookie_secure",
        "only when listen is a loopback address",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\n[[issuers]]\nname = \"main\"\nissuer = \"https://i.example\"\nclient_ids = [\"c\"]\ntoken_use = [\"id\"]",
        "login.issuer",
        "does not accept access tokens",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\n[[issuers]]\nname = \"a\"\nissuer = \"https://a.example\"\nclient_ids = [\"c\"]\n[[issuers]]\nname = \"b\"\nissuer = \"https://b.example\"\nclient_ids = [\"c\"]",
        "login.issuer",
        "required when there is more than one",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\nissuer = \"nope\"",
        "login.issuer",
        "no [[issuers]] entry is named",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\nlogout_redirect = \"https://\"",
        "login.logout_redirect",
        "not a valid URL",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]\nlogout_redirect = \"/back\"",
        "login.logout_redirect",
        "expected an absolute URL with a host",
    ),
    (
        "[login]\ndomain = \"http://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\"]",
        "login.domain",
        "must be https://",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"",
        "login.cookie_secrets",
        "required: at least one base64 secret",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"c2hvcnQh\"]",
        "login.cookie_secrets[0]",
        "decodes to 6 bytes",
    ),
    (
        "[login]\ndomain = \"https://d.example\"\nclient_id = \"c\"\ncookie_secrets = [\"!!not base64!!\"]",
        "login.cookie_secrets[0]",
        "not base64",
    ),
    (
        "[[routes]]\npath = \"/x\"\nlogin = true",
        "routes[0].login",
        "needs a [login] section",
    ),
    // routes.rs
    (
        "[[routes]]\nauth = \"public\"",
        "routes[0].path",
        "required",
    ),
    (
        "[[routes]]\npath = \"admin\"",
        "routes[0].path",
        "a pattern must start with '/'",
    ),
    (
        "[[routes]]\npath = \"/\"\nauth = \"maybe\"",
        "routes[0].auth",
        "expected \"required\", \"optional\"",
    ),
    (
        "[[routes]]\npath = \"/\"\nauth = \"deny\"\ngroups_any = [\"a\"]",
        "routes[0].auth",
        "a public or deny route cannot have",
    ),
    (
        "[[routes]]\npath = \"/\"\nissuers = [\"other\"]",
        "routes[0].issuers[0]",
        "no issuer named \"other\"",
    ),
    (
        "[[routes]]\npath = \"/\"\ngroups_any = []",
        "routes[0].groups_any",
        "empty: name at least one",
    ),
    (
        "[[routes]]\npath = \"/\"\nmethods = []",
        "routes[0].methods",
        "the route would match no request",
    ),
    (
        "[[routes]]\npath = \"/\"\nmethods = [\"GE T\"]",
        "routes[0].methods[0]",
        "not an HTTP method",
    ),
    (
        "[[routes]]\npath = \"/\"\nhost = \"bad host\"",
        "routes[0].host",
        "expected a host name",
    ),
    // claims.rs
    (
        "[[routes]]\npath = \"/\"\nclaims = {}",
        "routes[0].claims",
        "empty: name at least one claim",
    ),
    (
        "[[routes]]\npath = \"/\"\nclaims = { \"\" = [\"x\"] }",
        "routes[0].claims.\"\"",
        "empty claim name",
    ),
    (
        "[[routes]]\npath = \"/\"\nclaims = { \"custom:plan\" = [] }",
        "routes[0].claims.\"custom:plan\"",
        "empty: name at least one value",
    ),
    (
        "[[routes]]\npath = \"/\"\nbind = {}",
        "routes[0].bind",
        "empty: bind at least one capture",
    ),
    (
        "[[routes]]\npath = \"/t/**\"\nbind = { tenant = \"x\" }",
        "routes[0].bind.tenant",
        "capture {tenant} does not appear in path \"/t/**\"",
    ),
    (
        "[[routes]]\npath = \"/t/{t}\"\nbind = { t = \"\" }",
        "routes[0].bind.t",
        "empty claim name",
    ),
    (
        "[[routes]]\npath = \"/\"\nauth = \"public\"\nclaims = { \"custom:plan\" = [\"pro\"] }",
        "routes[0].claims",
        "not allowed on a public route",
    ),
    (
        "[[routes]]\npath = \"/\"\nauth = \"deny\"\nclaims = { \"custom:plan\" = [\"pro\"] }",
        "routes[0].claims",
        "not allowed on a deny route",
    ),
    // cross.rs
    (
        "# no issuers\n[[routes]]\npath = \"/\"",
        "issuers",
        "at least one [[issuers]] entry",
    ),
    (
        "listen = \"127.0.0.1:8080\"\nadmin_listen = \"127.0.0.1:8080\"",
        "admin_listen",
        "must differ from listen",
    ),
];

/// `(snippet, key path, message fragment)`: one per `self.warn(` call; the config loads.
const WARNINGS: &[(&str, &str, &str)] = &[
    (
        "[identity]\nheader_prefix = \"X-Auth\"",
        "identity.header_prefix",
        "has no trailing \"-\"",
    ),
    (
        "[[issuers]]\nname = \"a\"\nissuer = \"https://one\"",
        "issuers[0].client_ids",
        "tokens of any app client",
    ),
    (
        "[[routes]]\npath = \"/t/{t}\"\nauth = \"optional\"\nbind = { t = \"custom:tenant\" }",
        "routes[0].bind",
        "passes anonymous",
    ),
    ("", "routes", "no routes: every request is refused with 403"),
    (
        "[token]\ncache_size = \"64KB\"",
        "token.cache_size",
        "\"64KB\" holds fewer than 100 cached tokens",
    ),
    (
        "[[routes]]\npath = \"/api/**\"\n[[routes]]\npath = \"/api/{id}\"\nmethods = [\"GET\"]",
        "routes[1]",
        "never matches: routes[0] (/api/**) matches every request it would",
    ),
];

/// The validation sources whose `self.error(` / `self.warn(` calls the tables cover.
const SOURCES: &[&str] = &[
    include_str!("claims.rs"),
    include_str!("cross.rs"),
    include_str!("identity.rs"),
    include_str!("issuers.rs"),
    include_str!("limits.rs"),
    include_str!("login.rs"),
    include_str!("resource.rs"),
    include_str!("revocation.rs"),
    include_str!("routes.rs"),
    include_str!("token.rs"),
    include_str!("top.rs"),
    include_str!("upstream.rs"),
];

/// `snippet` first (top-level keys must precede tables), then a valid `[upstream]` and
/// `[[issuers]]` unless the snippet has its own (or says `# no upstream` / `# no issuers`).
fn complete(snippet: &str) -> String {
    let mut text = format!("{snippet}\n");
    if !snippet.contains("[upstream]") && !snippet.contains("# no upstream") {
        text.push_str("[upstream]\nurl = \"http://127.0.0.1:3000\"\n");
    }
    if !snippet.contains("[[issuers]]") && !snippet.contains("# no issuers") {
        text.push_str("[[issuers]]\nname = \"main\"\nissuer = \"https://issuer.example\"\n");
        text.push_str("client_ids = [\"c\"]\n");
    }
    text
}

/// Loads the completed snippet from a file, as `config::load` does (no environment).
fn load(snippet: &str) -> Result<Validated, Vec<Problem>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cognigate.toml");
    std::fs::write(&path, complete(snippet)).unwrap();
    load_with_env(&path, Vec::new()).map_err(|e| e.problems)
}

/// `None` when `found` is exactly one problem at `path` whose message holds `fragment`.
fn mismatch(found: &[Problem], path: &str, fragment: &str) -> Option<String> {
    match found {
        [p] if p.path == path && p.message.contains(fragment) => None,
        _ => Some(format!(
            "expected only {path}: ..{fragment}.., got {found:?}"
        )),
    }
}

#[test]
fn every_error_site_reports_its_key_path() {
    let failures: Vec<String> = (CASES.iter())
        .filter_map(|(snippet, path, fragment)| {
            let found = load(snippet).err().unwrap_or_default();
            mismatch(&found, path, fragment).map(|why| format!("{snippet:?}: {why}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_warning_site_reports_its_key_path() {
    let failures: Vec<String> = (WARNINGS.iter())
        .filter_map(|(snippet, path, fragment)| match load(snippet) {
            Err(problems) => Some(format!("{snippet:?}: refused: {problems:?}")),
            Ok(v)
                if v.warnings
                    .iter()
                    .any(|w| w.path == *path && w.message.contains(fragment)) =>
            {
                None
            }
            Ok(v) => Some(format!(
                "{snippet:?}: no {path}: ..{fragment}.. in {:?}",
                v.warnings
            )),
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_tables_have_one_case_per_site() {
    let count = |call: &str| {
        SOURCES
            .iter()
            .map(|s| s.matches(call).count())
            .sum::<usize>()
    };
    assert_eq!(CASES.len(), count("self.error("), "error sites");
    assert_eq!(WARNINGS.len(), count("self.warn("), "warning sites");
}

#[test]
fn cache_size_is_a_count_or_a_size_in_the_file_or_the_environment() {
    use crate::config::CacheSize;
    let size = |snippet: &str, env: &[(&str, &str)]| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cognigate.toml");
        std::fs::write(&path, complete(snippet)).unwrap();
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        load_with_env(&path, env).unwrap().config.token.cache_size
    };
    assert_eq!(size("", &[]), CacheSize::Bytes(64 << 20), "the default");
    assert_eq!(
        size("[token]\ncache_size = 5000", &[]),
        CacheSize::Entries(5000)
    );
    assert_eq!(
        size("[token]\ncache_size = \"16MiB\"", &[]),
        CacheSize::Bytes(16 << 20)
    );
    assert_eq!(size("[token]\ncache_size = 0", &[]), CacheSize::Entries(0));
    let env = |value| [("COGNIGATE_TOKEN__CACHE_SIZE", value)];
    assert_eq!(size("", &env("2GiB")), CacheSize::Bytes(2 << 30));
    assert_eq!(size("", &env("100000")), CacheSize::Entries(100_000));
}

#[test]
fn only_a_byte_bound_under_64_kib_is_a_warning() {
    for fine in ["64KiB", "64MiB", "0B", "64"] {
        let snippet = format!("[token]\ncache_size = \"{fine}\"");
        let warnings = load(&snippet).unwrap().warnings;
        let about_size = warnings.iter().any(|w| w.path == "token.cache_size");
        assert!(!about_size, "{fine}: {warnings:?}");
    }
}
