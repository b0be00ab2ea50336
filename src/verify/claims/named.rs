//! Claims looked up by name, for the routes' `claims` and `bind` rules.
//!
//! The verifier is given the names the config's routes use, and reads those claims in
//! the same single pass as the typed ones, so a repeated key is refused for them too
//! and a request never parses the payload again: a cached token keeps its values. A
//! claim is kept only as a string, an array of strings, or "something else" (which
//! never meets a rule); `null` reads as absent, as it does for the typed text claims.

use std::sync::Arc;

use serde::de::{Deserialize, Deserializer};
use serde_json::Value;

use super::{Claims, NumericDate};

/// A claim as the route rules read it, borrowed from the verified claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimRef<'a> {
    /// No such claim, or `null`.
    Absent,
    /// A string.
    Text(&'a str),
    /// An array of strings.
    List(&'a [String]),
    /// A number, boolean, object, or an array holding a non-string.
    Other,
}

/// The values of the claims the routes name, in the order of `names`.
#[derive(Debug, Clone)]
pub(super) struct Named {
    names: Arc<[Box<str>]>,
    values: Box<[NamedValue]>,
}

/// One named claim's value, as read from the payload.
#[derive(Debug, Clone)]
pub(super) enum NamedValue {
    Absent,
    Text(Box<str>),
    List(Box<[String]>),
    Other,
}

impl<'de> Deserialize<'de> for NamedValue {
    /// Read through a JSON value: only named claims come here, once per verified token.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => NamedValue::Absent,
            Value::String(text) => NamedValue::Text(text.into()),
            Value::Array(items) => strings(items).map_or(NamedValue::Other, NamedValue::List),
            Value::Bool(_) | Value::Number(_) | Value::Object(_) => NamedValue::Other,
        })
    }
}

/// The items when every one is a string.
fn strings(items: Vec<Value>) -> Option<Box<[String]>> {
    (items.into_iter())
        .map(|item| match item {
            Value::String(text) => Some(text),
            _ => None,
        })
        .collect()
}

impl Named {
    /// Room for the claims called `names`, all absent until read.
    pub(super) fn new(names: &Arc<[Box<str>]>) -> Named {
        Named {
            names: Arc::clone(names),
            values: names.iter().map(|_| NamedValue::Absent).collect(),
        }
    }

    /// The bytes the values hold besides this struct (the names are shared).
    pub(super) fn memory(&self) -> usize {
        let list = |l: &[String]| {
            l.iter()
                .map(|t| t.len() + std::mem::size_of::<String>())
                .sum()
        };
        (self.values.iter())
            .map(|v| match v {
                NamedValue::Text(text) => text.len(),
                NamedValue::List(items) => list(items),
                NamedValue::Absent | NamedValue::Other => 0,
            })
            .sum::<usize>()
            + self.values.len() * std::mem::size_of::<NamedValue>()
    }

    /// The slot of claim `name`, when it is one of the names.
    pub(super) fn slot(&mut self, name: &str) -> Option<&mut NamedValue> {
        let at = self.names.iter().position(|n| **n == *name)?;
        self.values.get_mut(at)
    }

    fn get(&self, name: &str) -> ClaimRef<'_> {
        let at = self.names.iter().position(|n| **n == *name);
        match at.and_then(|at| self.values.get(at)) {
            None | Some(NamedValue::Absent) => ClaimRef::Absent,
            Some(NamedValue::Text(text)) => ClaimRef::Text(text),
            Some(NamedValue::List(items)) => ClaimRef::List(items),
            Some(NamedValue::Other) => ClaimRef::Other,
        }
    }
}

impl Claims {
    /// Any claim by name, for the route rules: the typed claims as read (`aud` and
    /// `cognito:groups` as arrays, the time claims as numbers), any other claim only when
    /// its name was given to the verifier (a route names it), else absent.
    pub fn by_name(&self, name: &str) -> ClaimRef<'_> {
        match name {
            "sub" => ClaimRef::Text(&self.sub),
            "iss" => ClaimRef::Text(&self.iss),
            "token_use" => text(self.declared_use.map(|u| u.as_str())),
            "client_id" => text(self.client_id.as_deref()),
            "azp" => text(self.azp.as_deref()),
            "username" => text(self.username.as_deref()),
            "cognito:username" => text(self.cognito_username.as_deref()),
            "email" => text(self.email.as_deref()),
            "scope" => text(self.scope.as_deref()),
            "jti" => text(self.jti.as_deref()),
            "origin_jti" => text(self.origin_jti.as_deref()),
            "aud" => list(&self.aud),
            "cognito:groups" => list(&self.groups),
            "exp" => ClaimRef::Other,
            "nbf" => date(self.nbf),
            "iat" => date(self.iat),
            "auth_time" => date(self.auth_time),
            _ => self.named.get(name),
        }
    }
}

fn text(text: Option<&str>) -> ClaimRef<'_> {
    text.map_or(ClaimRef::Absent, ClaimRef::Text)
}

/// A number: never meets a rule, but is not absent.
fn date(date: Option<NumericDate>) -> ClaimRef<'static> {
    date.map_or(ClaimRef::Absent, |_| ClaimRef::Other)
}

/// An absent array claim reads as empty: tell neither apart from absent.
fn list(items: &[String]) -> ClaimRef<'_> {
    if items.is_empty() {
        ClaimRef::Absent
    } else {
        ClaimRef::List(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn names(list: &[&str]) -> Arc<[Box<str>]> {
        list.iter().map(|n| Box::from(*n)).collect()
    }

    fn read(extra: &str, wanted: &[&str]) -> Result<Claims, serde_json::Error> {
        let json = format!(r#"{{"sub":"u","iss":"i","token_use":"access","exp":100{extra}}}"#);
        Claims::parse(
            json.as_bytes(),
            HeaderValue::from_static(""),
            &names(wanted),
        )
    }

    #[test]
    fn named_claims_are_read_as_string_array_or_other() {
        let wanted = [
            "custom:tenant_id",
            "custom:roles",
            "n",
            "b",
            "o",
            "mixed",
            "nul",
            "gone",
        ];
        let c = read(
            r#","custom:tenant_id":"acme","custom:roles":["a","b"],"n":42,"b":true,
                "o":{"x":"y"},"mixed":["a",1],"nul":null,"other":"not named""#,
            &wanted,
        )
        .unwrap();
        let roles = ["a".to_owned(), "b".to_owned()];
        assert_eq!(c.by_name("custom:tenant_id"), ClaimRef::Text("acme"));
        assert_eq!(c.by_name("custom:roles"), ClaimRef::List(&roles));
        for other in ["n", "b", "o", "mixed"] {
            assert_eq!(c.by_name(other), ClaimRef::Other, "{other}");
        }
        for absent in ["nul", "gone", "other", "custom:Tenant_id"] {
            assert_eq!(c.by_name(absent), ClaimRef::Absent, "{absent}");
        }
    }

    #[test]
    fn typed_claims_are_found_by_name_without_being_named() {
        let c = read(
            r#","email":"e@x","cognito:groups":["g"],"client_id":"c","iat":1"#,
            &[],
        )
        .unwrap();
        let groups = ["g".to_owned()];
        assert_eq!(c.by_name("sub"), ClaimRef::Text("u"));
        assert_eq!(c.by_name("email"), ClaimRef::Text("e@x"));
        assert_eq!(c.by_name("token_use"), ClaimRef::Text("access"));
        assert_eq!(c.by_name("client_id"), ClaimRef::Text("c"));
        assert_eq!(c.by_name("cognito:groups"), ClaimRef::List(&groups));
        assert_eq!(c.by_name("exp"), ClaimRef::Other);
        assert_eq!(c.by_name("iat"), ClaimRef::Other);
        assert_eq!(c.by_name("nbf"), ClaimRef::Absent);
        assert_eq!(c.by_name("aud"), ClaimRef::Absent);
        assert_eq!(c.by_name("scope"), ClaimRef::Absent);
    }

    #[test]
    fn a_named_claim_repeated_is_refused_and_escapes_read_as_their_value() {
        let wanted = ["custom:tenant_id"];
        assert!(read(r#","custom:tenant_id":"a","custom:tenant_id":"b""#, &wanted).is_err());
        let escaped = read(r#","custom\u003atenant_id":"\u0061cme""#, &wanted).unwrap();
        assert_eq!(escaped.by_name("custom:tenant_id"), ClaimRef::Text("acme"));
    }

    #[test]
    fn without_names_nothing_extra_is_kept() {
        let c = read(r#","custom:tenant_id":"acme""#, &[]).unwrap();
        assert_eq!(c.by_name("custom:tenant_id"), ClaimRef::Absent);
        assert!(c.named.values.is_empty());
    }
}
