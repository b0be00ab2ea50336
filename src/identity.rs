//! Identity headers: strip every client-sent spelling, then set the verified ones.
//!
//! Threat: a client forging identity (`X-Auth-Sub: admin`) in any spelling a backend
//! might fold into the real header: other case, `_` or `.` for `-` (many frameworks,
//! CGI and WSGI among them, map `X_Auth_Sub` onto `X-Auth-Sub`). Names are therefore
//! compared in one folded form, and `Connection: X-Auth-Sub` (which would make a
//! well-meaning hop drop the header we set) is refused.

mod values;

use crate::config::IdentitySettings;
use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};

use values::claim_text;
pub use values::{IdentitySource, IdentityValue};

/// A header name in the form names are compared in: lower-case, `_` and `.` as `-`.
pub fn fold_name(name: &str) -> String {
    name.bytes().map(|b| char::from(fold_byte(b))).collect()
}

fn fold_byte(b: u8) -> u8 {
    match b {
        b'_' | b'.' => b'-',
        _ => b.to_ascii_lowercase(),
    }
}

/// Whether `name` folds to something starting with `folded_prefix` (already folded).
fn folded_starts_with(name: &[u8], folded_prefix: &[u8]) -> bool {
    name.len() >= folded_prefix.len()
        && name
            .iter()
            .zip(folded_prefix)
            .all(|(&a, &b)| fold_byte(a) == b)
}

fn folded_eq(name: &[u8], folded: &[u8]) -> bool {
    name.len() == folded.len() && folded_starts_with(name, folded)
}

/// The answer header naming request headers Envoy's ext_authz removes before it
/// forwards an allowed request (Envoy's `x-envoy-auth-headers-to-remove`).
pub const ENVOY_HEADERS_TO_REMOVE: HeaderName =
    HeaderName::from_static("x-envoy-auth-headers-to-remove");

/// A request that tries to have an identity header removed by the next hop.
#[derive(Debug, thiserror::Error)]
#[error("the Connection header names an identity header")]
pub struct ConnectionNamesIdentity;

/// The identity header plan, computed once per config.
#[derive(Debug)]
pub struct IdentityHeaders {
    prefix: String,
    claims_header: bool,
    claim_headers: Vec<(String, HeaderName, String)>,
    names: Names,
    /// `X-Auth-Issuer` per configured issuer, in config order (`None`: the name cannot
    /// be a header value), made once rather than per request.
    issuers: Vec<Option<HeaderValue>>,
}

/// The `X-Auth-*` names, built from the configured prefix.
#[derive(Debug)]
struct Names {
    sub: HeaderName,
    username: HeaderName,
    email: HeaderName,
    groups: HeaderName,
    scopes: HeaderName,
    client_id: HeaderName,
    token_use: HeaderName,
    issuer: HeaderName,
    claims: HeaderName,
}

impl Names {
    fn new(prefix: &str) -> Self {
        let name = |suffix: &str| {
            HeaderName::from_bytes(format!("{prefix}{suffix}").as_bytes())
                .unwrap_or(HeaderName::from_static("x-auth-invalid"))
        };
        Names {
            sub: name("sub"),
            username: name("username"),
            email: name("email"),
            groups: name("groups"),
            scopes: name("scopes"),
            client_id: name("client-id"),
            token_use: name("token-use"),
            issuer: name("issuer"),
            claims: name("claims"),
        }
    }
}

impl IdentityHeaders {
    /// Builds the plan for a validated `[identity]` section and the names of the
    /// configured issuers, in config order.
    pub fn new<'a>(
        settings: &IdentitySettings,
        issuer_names: impl IntoIterator<Item = &'a str>,
    ) -> Self {
        let prefix = fold_name(&settings.header_prefix);
        IdentityHeaders {
            issuers: issuer_names
                .into_iter()
                .map(|name| HeaderValue::from_str(name).ok())
                .collect(),
            names: Names::new(&prefix),
            prefix,
            claims_header: settings.claims_header,
            claim_headers: settings
                .claim_headers
                .iter()
                .map(|(claim, name)| (claim.clone(), name.clone(), fold_name(name.as_str())))
                .collect(),
        }
    }

    /// Whether a header name, in any spelling, is one cognigate alone may set.
    pub fn is_protected(&self, name: &str) -> bool {
        let name = name.as_bytes();
        folded_starts_with(name, self.prefix.as_bytes())
            || self
                .claim_headers
                .iter()
                .any(|(_, _, folded)| folded_eq(name, folded.as_bytes()))
    }

    /// Refuses a `Connection` header naming a protected header.
    pub fn check_connection(&self, headers: &HeaderMap) -> Result<(), ConnectionNamesIdentity> {
        let named = headers
            .get_all(http::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| self.is_protected(token.trim()));
        if named {
            Err(ConnectionNamesIdentity)
        } else {
            Ok(())
        }
    }

    /// Removes every protected header, in one pass over the names.
    pub fn strip(&self, headers: &mut HeaderMap) {
        let doomed: Vec<HeaderName> = headers
            .keys()
            .filter(|name| self.is_protected(name.as_str()))
            .cloned()
            .collect();
        for name in doomed {
            headers.remove(&name);
        }
    }

    /// The protected headers `request` carries that `answer` does not set, as the
    /// comma-separated list Envoy's ext_authz HTTP filter reads from an allowing
    /// answer's [`ENVOY_HEADERS_TO_REMOVE`]. Envoy cannot strip by prefix; it only
    /// overwrites the names an answer sets, so any other client-sent `X-Auth-*` (or
    /// claim header) would reach the app. Envoy sets the answer's headers first and
    /// removes these after, so a name the answer sets must not be listed.
    pub fn unanswered(&self, request: &HeaderMap, answer: &HeaderMap) -> Option<HeaderValue> {
        let names: Vec<&str> = request
            .keys()
            .filter(|name| self.is_protected(name.as_str()) && !answer.contains_key(*name))
            .map(HeaderName::as_str)
            .collect();
        if names.is_empty() {
            return None;
        }
        HeaderValue::from_str(&names.join(", ")).ok()
    }

    /// Sets `X-Auth-Email` (a session's, from its id token) unless the token's own
    /// claims set it.
    pub fn set_email(&self, headers: &mut HeaderMap, email: &HeaderValue) {
        if !headers.contains_key(&self.names.email) {
            headers.insert(self.names.email.clone(), email.clone());
        }
    }

    /// Sets the verified identity. Call after [`strip`](Self::strip). Verification has
    /// refused tokens whose standard identity claims cannot be header values; a
    /// `claim_headers` claim that cannot (a control character) leaves its header unset.
    /// `issuer_idx` is the index of the token's issuer in the configured list.
    pub fn set(&self, headers: &mut HeaderMap, claims: &impl IdentitySource, issuer_idx: usize) {
        let n = &self.names;
        let standard = [
            (&n.sub, IdentityValue::Sub),
            (&n.username, IdentityValue::Username),
            (&n.email, IdentityValue::Email),
            (&n.groups, IdentityValue::Groups),
            (&n.scopes, IdentityValue::Scope),
            (&n.client_id, IdentityValue::Client),
        ];
        for (name, which) in standard {
            if let Some(value) = claims.identity_value(which) {
                headers.insert(name.clone(), value);
            }
        }
        let token_use = HeaderValue::from_static(claims.token_use().as_str());
        headers.insert(n.token_use.clone(), token_use);
        if let Some(Some(issuer)) = self.issuers.get(issuer_idx) {
            headers.insert(n.issuer.clone(), issuer.clone());
        }
        // Encoded per request: a cached token keeps its payload once, as JSON (~25 % less
        // than its base64 and what the other claims are read from).
        let encoded = || HeaderValue::try_from(b64url(claims.payload()));
        if let Some(Ok(value)) = self.claims_header.then(encoded) {
            headers.insert(n.claims.clone(), value);
        }
        for (claim, name, _) in &self.claim_headers {
            let text = claim_text(claims.payload(), claim);
            if let Some(Ok(value)) = text.map(HeaderValue::try_from) {
                headers.insert(name.clone(), value);
            }
        }
    }
}

/// base64url without padding, as `X-Auth-Claims` carries the payload.
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> IdentityHeaders {
        IdentityHeaders::new(
            &IdentitySettings {
                header_prefix: "X_Auth-".into(),
                claims_header: true,
                claim_headers: vec![(
                    "custom:tenant".into(),
                    HeaderName::from_static("x-tenant-id"),
                )],
            },
            ["main", "bad\nname"],
        )
    }

    #[test]
    fn protected_in_every_spelling() {
        let p = plan();
        for name in [
            "x-auth-sub",
            "X-AUTH-SUB",
            "x_auth_sub",
            "x.auth.sub",
            "X_Auth-Groups",
            "x-tenant-id",
            "X_TENANT_ID",
        ] {
            assert!(p.is_protected(name), "{name}");
        }
        for name in [
            "x-authz",
            "x-auth",
            "x-tenant-idx",
            "authorization",
            "x-forwarded-for",
        ] {
            assert!(!p.is_protected(name), "{name}");
        }
    }

    #[test]
    fn strip_removes_all_spellings_and_keeps_the_rest() {
        let p = plan();
        let mut h = HeaderMap::new();
        h.insert("x-auth-sub", HeaderValue::from_static("admin"));
        h.append("x_auth_groups", HeaderValue::from_static("admin"));
        h.insert("x.tenant.id", HeaderValue::from_static("t1"));
        h.insert("accept", HeaderValue::from_static("*/*"));
        p.strip(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn unanswered_lists_protected_names_the_answer_does_not_set() {
        let p = plan();
        let mut request = HeaderMap::new();
        request.insert("x-auth-sub", HeaderValue::from_static("admin"));
        request.insert("x-auth-tenant", HeaderValue::from_static("t"));
        request.insert("x_tenant_id", HeaderValue::from_static("t"));
        request.insert("accept", HeaderValue::from_static("*/*"));
        let mut answer = HeaderMap::new();
        answer.insert("x-auth-sub", HeaderValue::from_static("real"));
        let listed = p.unanswered(&request, &answer).unwrap();
        let mut names: Vec<&str> = listed.to_str().unwrap().split(", ").collect();
        names.sort_unstable();
        assert_eq!(names, ["x-auth-tenant", "x_tenant_id"]);
        answer.insert("x-auth-tenant", HeaderValue::from_static("t"));
        answer.insert("x_tenant_id", HeaderValue::from_static("t"));
        assert_eq!(p.unanswered(&request, &answer), None);
    }

    /// A verified token as `verify` hands it over.
    struct Token {
        values: [Option<String>; 6],
        payload: String,
    }

    impl IdentitySource for Token {
        fn identity_value(&self, which: IdentityValue) -> Option<HeaderValue> {
            let text = self.values.get(which as usize)?.as_deref()?;
            HeaderValue::from_str(text).ok()
        }
        fn token_use(&self) -> crate::config::TokenUse {
            crate::config::TokenUse::Access
        }
        fn payload(&self) -> &[u8] {
            self.payload.as_bytes()
        }
    }

    fn token(username: Option<&str>, groups: &[&str], payload: &str) -> Token {
        let groups = (!groups.is_empty()).then(|| groups.join(","));
        let values = [
            Some("u-1"),
            username,
            None,
            groups.as_deref(),
            Some("openid"),
        ]
        .map(|v| v.map(str::to_owned));
        let [sub, username, email, groups, scope] = values;
        Token {
            values: [sub, username, email, groups, scope, Some("app".to_owned())],
            payload: payload.to_owned(),
        }
    }

    #[test]
    fn set_writes_the_verified_identity_with_the_issuer_by_index() {
        let p = plan();
        let claims = token(Some("ann"), &["a", "b"], r#"{"custom:tenant":["t1",2]}"#);
        let value = |h: &HeaderMap, name: &str| h.get(name).map(|v| v.to_str().unwrap().to_owned());
        let mut h = HeaderMap::new();
        p.set(&mut h, &claims, 0);
        assert_eq!(value(&h, "x-auth-sub").as_deref(), Some("u-1"));
        assert_eq!(value(&h, "x-auth-username").as_deref(), Some("ann"));
        assert_eq!(value(&h, "x-auth-email"), None);
        assert_eq!(value(&h, "x-auth-groups").as_deref(), Some("a,b"));
        assert_eq!(value(&h, "x-auth-scopes").as_deref(), Some("openid"));
        assert_eq!(value(&h, "x-auth-client-id").as_deref(), Some("app"));
        assert_eq!(value(&h, "x-auth-token-use").as_deref(), Some("access"));
        assert_eq!(value(&h, "x-auth-issuer").as_deref(), Some("main"));
        let payload = b64url(claims.payload.as_bytes());
        assert_eq!(value(&h, "x-auth-claims"), Some(payload));
        assert_eq!(value(&h, "x-tenant-id").as_deref(), Some("t1,2"));

        let claims = token(None, &["solo"], "{}");
        for (idx, issuer) in [(1, None), (7, None), (0, Some("main"))] {
            let mut h = HeaderMap::new();
            p.set(&mut h, &claims, idx);
            assert_eq!(
                value(&h, "x-auth-issuer").as_deref(),
                issuer,
                "issuer {idx}"
            );
            assert_eq!(value(&h, "x-auth-groups").as_deref(), Some("solo"));
            assert_eq!(value(&h, "x-auth-username"), None);
            assert_eq!(value(&h, "x-tenant-id"), None);
        }
    }

    #[test]
    fn claim_text_reads_scalars_and_arrays_of_them() {
        let payload = br#"{"s":"a b","n":4.5,"b":true,"l":["x",1],"o":{"k":1},"m":[{}]}"#;
        let text = |name| claim_text(payload, name);
        assert_eq!(text("s").as_deref(), Some("a b"));
        assert_eq!(text("n").as_deref(), Some("4.5"));
        assert_eq!(text("b").as_deref(), Some("true"));
        assert_eq!(text("l").as_deref(), Some("x,1"));
        assert_eq!((text("o"), text("m"), text("absent")), (None, None, None));
    }

    #[test]
    fn connection_naming_identity_is_refused() {
        let p = plan();
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, X_Auth_Sub"),
        );
        assert!(p.check_connection(&h).is_err());
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, upgrade"),
        );
        assert!(p.check_connection(&h).is_ok());
    }
}
