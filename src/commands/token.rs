//! `cognigate token`: mint a Cognito-shaped token signed by a local dev key, or generate
//! such a key and the JWKS that publishes its public half (for a `file://` `jwks_uri`).

use super::Report;
use crate::config::TokenUse;
use crate::mint::{self, DevKey, TokenSpec};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The issuer minted tokens carry unless told otherwise (`config/local-dev.toml` trusts it).
pub const DEFAULT_ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_LocalDev1";
/// The app client id minted tokens carry unless told otherwise.
pub const DEFAULT_CLIENT_ID: &str = "localdevclient";

/// What to put in a token; `cognigate token`'s flags.
#[derive(Debug, Clone)]
pub struct MintOptions {
    /// `sub`.
    pub sub: String,
    /// `cognito:groups`.
    pub groups: Vec<String>,
    /// `scope` (access tokens).
    pub scope: Option<String>,
    /// Lifetime from now.
    pub ttl: Duration,
    /// Access or id token.
    pub token_use: TokenUse,
    /// `client_id` (access) or `aud` (id).
    pub client_id: String,
    /// `iss`.
    pub issuer: String,
    /// `username` / `cognito:username` (default: `sub`).
    pub username: Option<String>,
    /// `email` (id tokens).
    pub email: Option<String>,
    /// `--claim K=JSON`: further claims, set last.
    pub claims: Vec<(String, serde_json::Value)>,
}

impl MintOptions {
    /// The spec of a token issued at `now` (unix seconds).
    pub fn spec(&self, now: u64) -> TokenSpec {
        TokenSpec {
            sub: self.sub.clone(),
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            token_use: self.token_use,
            groups: self.groups.clone(),
            scope: self.scope.clone(),
            username: self.username.clone(),
            email: self.email.clone(),
            ttl: self.ttl,
            now,
            claims: self.claims.clone(),
        }
    }
}

/// `K=JSON`, as `--claim` takes it: a claim name, `=`, and its value in JSON
/// (`custom:tenant_id="acme"`, `custom:level=3`, `roles=["a","b"]`).
///
/// # Errors
///
/// What is wrong with the argument, for the usage message.
pub fn parse_claim(arg: &str) -> Result<(String, serde_json::Value), String> {
    let (name, json) = arg
        .split_once('=')
        .ok_or("expected NAME=JSON, e.g. custom:tenant_id='\"acme\"'")?;
    if name.is_empty() {
        return Err("the claim name before '=' is empty".to_owned());
    }
    let value = serde_json::from_str(json).map_err(|e| {
        format!("{json:?} is not JSON ({e}); a string is quoted: {name}='\"{json}\"'")
    })?;
    Ok((name.to_owned(), value))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Mints a token with the PEM key at `key`; stdout is the token alone.
///
/// # Errors
///
/// One line naming the key file and what is wrong with it.
pub fn mint_token(key: &Path, options: &MintOptions) -> Result<Report, String> {
    let pem = std::fs::read_to_string(key)
        .map_err(|e| format!("{}: cannot read the key: {e}", key.display()))?;
    let dev_key = DevKey::from_pem(&pem).map_err(|e| format!("{}: {e}", key.display()))?;
    let token = mint::mint(&dev_key, &options.spec(unix_now())).map_err(|e| e.to_string())?;
    Ok(Report {
        stdout: vec![token],
        stderr: Vec::new(),
        ok: true,
    })
}

/// Writes a new RSA key to `key` (mode 0600, never over an existing file) and its JWKS
/// to `jwks` (replaced atomically, so a proxy watching it never reads half a file), or
/// to stdout when `jwks` is `None`.
///
/// # Errors
///
/// One line naming the file that could not be written.
pub fn generate_key(key: &Path, jwks: Option<&Path>) -> Result<Report, String> {
    let dev_key = mint::generate_rsa_key().map_err(|e| e.to_string())?;
    write_private(key, &dev_key.private_pem)?;
    let mut report = Report {
        ok: true,
        ..Report::default()
    };
    match jwks {
        Some(path) => {
            write_atomically(path, &dev_key.jwks_json)?;
            report.stderr.push(format!(
                "wrote {} (kid {}) and its JWKS {}",
                key.display(),
                dev_key.kid,
                path.display()
            ));
        }
        None => report.stdout.push(dev_key.jwks_json),
    }
    Ok(report)
}

fn write_private(path: &Path, pem: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: cannot write the key: {e}", path.display());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            format!(
                "{}: already exists; remove it or choose another path (a key is never overwritten)",
                path.display()
            )
        } else {
            fail(e)
        }
    })?;
    file.write_all(pem.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// Writes `text` next to `path`, then renames it over `path`.
fn write_atomically(path: &Path, text: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: cannot write the JWKS: {e}", path.display());
    let mut tmp: PathBuf = path.to_owned();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tmp.set_file_name(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, format!("{text}\n")).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

#[cfg(test)]
mod tests {
    use super::parse_claim;
    use serde_json::json;

    #[test]
    fn a_claim_argument_is_a_name_and_json() {
        let ok = |arg| parse_claim(arg).unwrap();
        assert_eq!(
            ok("custom:tenant_id=\"acme\""),
            ("custom:tenant_id".into(), json!("acme"))
        );
        assert_eq!(ok("n=42"), ("n".into(), json!(42)));
        assert_eq!(ok("r=[\"a=b\"]"), ("r".into(), json!(["a=b"])));
        let err = |arg| parse_claim(arg).unwrap_err();
        assert!(err("custom:tenant_id").contains("NAME=JSON"));
        assert!(err("=\"x\"").contains("empty"));
        assert!(err("t=acme").contains("t='\"acme\"'"), "{}", err("t=acme"));
    }
}
