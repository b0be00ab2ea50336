//! The stand-in's HTML: the page to pick a demo user (in place of managed login's
//! sign-in form) and the error page shown when it must not redirect.

use super::DemoUser;
use super::form::html_escape;

/// The picker: one form per user, each posting the authorize parameters (`fields`) and
/// `username` to `/login`.
pub(crate) fn picker(users: &[DemoUser], fields: &[(&str, &str)]) -> String {
    let hidden: String = fields
        .iter()
        .map(|(n, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                html_escape(n),
                html_escape(v)
            )
        })
        .collect();
    let mut forms = String::new();
    for user in users {
        let groups = if user.groups.is_empty() {
            "no groups".to_owned()
        } else {
            format!("groups: {}", user.groups.join(", "))
        };
        forms.push_str(&format!(
            "<form method=\"post\" action=\"/login\">{hidden}\
             <input type=\"hidden\" name=\"username\" value=\"{name}\">\
             <button type=\"submit\">Sign in as <b>{name}</b></button> \
             <small>{email}; {groups}</small></form>\n",
            name = html_escape(&user.username),
            email = html_escape(&user.email),
            groups = html_escape(&groups),
        ));
    }
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Sign in (cognigate \
         stand-in)</title>\n<style>body{{font-family:sans-serif;max-width:36em;margin:3em \
         auto}}form{{margin:.8em 0}}button{{font-size:1em;padding:.3em .8em}}</style>\
         </head>\n<body><h1>Sign in</h1>\n<p>A local stand-in for Amazon Cognito \
         managed login: pick a demo user, no password.</p>\n{forms}</body></html>\n"
    )
}

/// An error page (managed login's `/error`): `code` and a sentence.
pub(crate) fn error(code: &str, message: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Error</title></head>\n\
         <body><h1>An error was encountered with the requested page.</h1>\n\
         <p><code>{}</code>: {}</p></body></html>\n",
        html_escape(code),
        html_escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picker_escapes_what_it_echoes() {
        let users = vec![DemoUser::new("alice", &["admin"])];
        let html = picker(&users, &[("state", "\"><script>")]);
        assert!(
            html.contains("value=\"&quot;&gt;&lt;script&gt;\""),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        assert!(html.contains("name=\"username\" value=\"alice\""));
        assert!(html.contains("groups: admin"));
        assert!(error("x<", "y>").contains("x&lt;"));
    }
}
