//! Shared test fixture: dev keys (generated once per test binary), an issuer, token
//! specs, and an in-process JWKS server on 127.0.0.1:0 that counts fetches.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::config::{Issuer, TokenSettings, TokenUse};
use crate::jwks::{KeySet, KeyStore};
use crate::mint::{DevKey, TokenSpec, generate_rsa_key};
use crate::verify::Verifier;

pub(crate) const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test";
pub(crate) const CLIENT: &str = "client-1";
pub(crate) const NOW: u64 = 1_700_000_000;
pub(crate) const LEEWAY: u64 = 60;

/// The issuer's signing key.
pub(crate) fn key() -> &'static DevKey {
    static KEY: OnceLock<DevKey> = OnceLock::new();
    KEY.get_or_init(|| generate_rsa_key().unwrap())
}

/// A key the issuer does not publish.
pub(crate) fn other_key() -> &'static DevKey {
    static KEY: OnceLock<DevKey> = OnceLock::new();
    KEY.get_or_init(|| generate_rsa_key().unwrap())
}

pub(crate) fn key_set() -> KeySet {
    KeySet::from_jwks(key().jwks_json.as_bytes(), &[Algorithm::RS256]).unwrap()
}

pub(crate) fn issuer() -> Issuer {
    issuer_at("file:///unused")
}

pub(crate) fn issuer_at(jwks_uri: &str) -> Issuer {
    Issuer {
        name: "main".into(),
        issuer: ISS.into(),
        jwks_uri: jwks_uri.into(),
        client_ids: vec![CLIENT.into()],
        token_use: vec![TokenUse::Access, TokenUse::Id],
        algorithms: vec![Algorithm::RS256],
        cognito: true,
        api_endpoint: None,
    }
}

/// A store with the issuer's key set loaded.
pub(crate) fn store() -> KeyStore {
    let store = KeyStore::new(1, Duration::from_secs(30));
    store.replace(0, key_set());
    store
}

pub(crate) fn verifier_for(issuers: &[Issuer], cache_size: usize) -> Verifier {
    verifier_bound(
        issuers,
        crate::config::CacheSize::Entries(cache_size as u64),
    )
}

/// A verifier whose cache is bound by `cache_size` (entries or bytes).
pub(crate) fn verifier_bound(issuers: &[Issuer], cache_size: crate::config::CacheSize) -> Verifier {
    let settings = TokenSettings {
        cookies: Vec::new(),
        amplify_cookies: false,
        strip_authorization: false,
        leeway: Duration::from_secs(LEEWAY),
        cache_size,
    };
    Verifier::new(issuers, &settings)
}

pub(crate) fn spec(token_use: TokenUse) -> TokenSpec {
    TokenSpec {
        sub: "5e1f-user".into(),
        issuer: ISS.into(),
        client_id: CLIENT.into(),
        token_use,
        groups: vec![],
        scope: None,
        username: None,
        email: None,
        ttl: Duration::from_secs(3600),
        now: NOW,
        claims: Vec::new(),
    }
}

pub(crate) fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

/// What the JWKS server answers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reply {
    Jwks,
    Status(u16),
    Garbage,
    Big { content_length: bool },
    Slow,
    Redirect,
}

/// A one-response-per-connection HTTP/1.1 server serving [`Reply`].
pub(crate) struct JwksServer {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    reply: Arc<Mutex<Reply>>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub(crate) async fn start(reply: Reply) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let reply = Arc::new(Mutex::new(reply));
        let (h, r) = (hits.clone(), reply.clone());
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (h, r) = (h.clone(), r.clone());
                tokio::spawn(serve(conn, h, r));
            }
        });
        JwksServer {
            addr,
            hits,
            reply,
            task,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub(crate) fn set_reply(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut conn: TcpStream, hits: Arc<AtomicUsize>, reply: Arc<Mutex<Reply>>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let reply = *reply.lock().unwrap();
    let _ = respond(&mut conn, reply).await;
}

async fn respond(conn: &mut TcpStream, reply: Reply) -> std::io::Result<()> {
    let ok = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let text = match reply {
        Reply::Jwks => ok(&key().jwks_json),
        Reply::Garbage => ok("<html>not json</html>"),
        Reply::Status(code) => {
            format!("HTTP/1.1 {code} Oops\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        }
        Reply::Redirect => "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
        Reply::Slow => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            ok(&key().jwks_json)
        }
        Reply::Big { content_length } => return big(conn, content_length).await,
    };
    conn.write_all(text.as_bytes()).await
}

/// A 2 MiB body, with or without a content-length announcing it.
async fn big(conn: &mut TcpStream, content_length: bool) -> std::io::Result<()> {
    const SIZE: usize = 2 * 1024 * 1024;
    let length = if content_length {
        format!("content-length: {SIZE}\r\n")
    } else {
        String::new()
    };
    let head = format!("HTTP/1.1 200 OK\r\n{length}connection: close\r\n\r\n");
    conn.write_all(head.as_bytes()).await?;
    let block = vec![b' '; 64 * 1024];
    for _ in 0..SIZE / block.len() {
        conn.write_all(&block).await?;
    }
    Ok(())
}
