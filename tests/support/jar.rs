//! A cookie-keeping HTTP client that plays a browser step by step (no redirect is
//! followed by itself): the `[login]` tests drive sign-in, refresh and logout with it.

use super::http::{self, Reply};
use std::collections::BTreeMap;

/// The headers of a browser navigation.
pub(crate) const NAVIGATE: [(&str, &str); 2] =
    [("sec-fetch-mode", "navigate"), ("accept", "text/html")];

/// A cookie jar that follows nothing by itself: each step is explicit.
#[derive(Default, Clone)]
pub(crate) struct Browser {
    pub(crate) cookies: BTreeMap<String, String>,
}

impl Browser {
    pub(crate) fn cookie_header(&self) -> String {
        (self.cookies.iter())
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Applies the reply's `Set-Cookie`s (cookies for either host: the jar is shared by
    /// the proxy and the stand-in, whose cookie names differ).
    pub(crate) fn take(&mut self, reply: &Reply) {
        for line in reply.headers.get_all("set-cookie") {
            let line = line.to_str().unwrap();
            let (pair, attrs) = line.split_once(';').unwrap_or((line, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name.trim());
            } else {
                self.cookies.insert(name.trim().into(), value.trim().into());
            }
        }
    }

    pub(crate) async fn send(
        &mut self,
        method: &str,
        url: &str,
        extra: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let cookie = self.cookie_header();
        let mut headers: Vec<(&str, &str)> = extra.to_vec();
        if !cookie.is_empty() {
            headers.push(("cookie", &cookie));
        }
        let reply = http::send(method, url, &headers, body).await;
        self.take(&reply);
        reply
    }

    pub(crate) async fn navigate(&mut self, url: &str) -> Reply {
        self.send("GET", url, &NAVIGATE, None).await
    }

    pub(crate) async fn fetch(&mut self, url: &str) -> Reply {
        self.send(
            "GET",
            url,
            &[("sec-fetch-mode", "cors"), ("accept", "*/*")],
            None,
        )
        .await
    }

    /// Follows a sign-in redirect through the stand-in as `user`: authorize (the
    /// picker), the picker's form, then the proxy's callback. Returns the callback's reply.
    pub(crate) async fn sign_in_at(&mut self, authorize_url: &str, user: &str) -> Reply {
        let picker = self.navigate(authorize_url).await;
        assert_eq!(picker.status, 200, "the picker: {}", picker.body);
        assert!(picker.body.contains(user), "{}", picker.body);
        let back = self.pick(authorize_url, user).await;
        self.navigate(&location(&back)).await
    }

    /// The picker's form, posted as the page would.
    pub(crate) async fn pick(&mut self, authorize_url: &str, user: &str) -> Reply {
        let (origin, query) = authorize_url.split_once("/oauth2/authorize?").unwrap();
        let body = format!("{query}&username={user}");
        let reply = self
            .send(
                "POST",
                &format!("{origin}/login"),
                &[("content-type", "application/x-www-form-urlencoded")],
                Some(&body),
            )
            .await;
        assert_eq!(reply.status, 302, "the picker's form: {}", reply.body);
        reply
    }

    pub(crate) fn session_cookies(&self) -> Vec<&String> {
        (self.cookies.keys())
            .filter(|n| n.starts_with("cognigate_session"))
            .collect()
    }
}

pub(crate) fn location(reply: &Reply) -> String {
    reply
        .header("location")
        .unwrap_or_else(|| panic!("no Location: {} {}", reply.status, reply.body))
        .to_owned()
}

pub(crate) fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}
