//! `[login]`'s cookies as a client may send them: the session's chunks and a sign-in's
//! state cookie, opened as the request path opens them.
//!
//! Input: the bytes of a `Cookie` header. Half the runs also carry a valid session
//! sealed by the same `Login` with the input spliced into it (tampering), the other
//! half the input alone.
//!
//! Properties: never panics; a value the `Login` did not seal never opens; the state
//! cookie of an unknown `state` never opens; a session that opens is the one sealed.
#![no_main]

use cognigate::config;
use cognigate::login::session::Session;
use cognigate::login::{Login, SessionCookie};
use http::{HeaderMap, HeaderValue, header::COOKIE};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const CONFIG: &str = r#"
listen = "127.0.0.1:8080"
[upstream]
url = "http://127.0.0.1:3000"
[[issuers]]
name = "pool"
issuer = "https://issuer.example"
client_ids = ["c"]
[login]
domain = "https://d.example"
client_id = "c"
cookie_secrets = ["MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="]
cookie_secure = false
"#;

struct Fixture {
    login: Login,
    /// The `Cookie` header of a genuine session.
    genuine: String,
    session: Session,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let raw: config::raw::RawConfig = ::config::Config::builder()
            .add_source(::config::File::from_str(CONFIG, ::config::FileFormat::Toml))
            .build()
            .and_then(::config::Config::try_deserialize)
            .unwrap();
        let config = config::validate(raw).unwrap().config;
        let login = Login::new(&config).unwrap().unwrap();
        let session = Session {
            access_token: "a".repeat(900),
            id_token: "i".repeat(1100),
            refresh_token: Some("r".repeat(1780)),
            email: Some("x@example.com".into()),
            signed_in_at: 1,
        };
        let genuine = (login.session_cookies(&session, 0, 2).unwrap().iter())
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ");
        Fixture {
            login,
            genuine,
            session,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(input);
    let cookie = match mode % 2 {
        0 => text.into_owned(),
        _ => {
            // Splice the input into the genuine header at a position it chooses.
            let at = (input.first().copied().unwrap_or(0) as usize * 31) % f.genuine.len();
            let at = (0..=at).rev().find(|i| f.genuine.is_char_boundary(*i)).unwrap_or(0);
            format!("{}{}{}", &f.genuine[..at], text, &f.genuine[at..])
        }
    };
    let Ok(value) = HeaderValue::from_str(&cookie) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, value);
    match f.login.read_session(&headers) {
        SessionCookie::Open { session, present } => {
            assert!(present >= 1);
            // Only what was sealed opens: the genuine session, its chunks intact.
            assert!(session == f.session, "a forged session opened");
        }
        SessionCookie::Broken { present } => assert!(present >= 1),
        SessionCookie::Absent => {}
    }
    let (state, _) = f.login.finish(&headers, &String::from_utf8_lossy(input), 100);
    assert!(state.is_none(), "a state cookie opened that was never sealed");
});
