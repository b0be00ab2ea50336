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
use crate::policy::{Claim, ClaimSource, Items};

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

    fn get(&self, name: &str) -> Claim<'_> {
        let at = self.names.iter().position(|n| **n == *name);
        match at.and_then(|at| self.values.get(at)) {
            None | Some(NamedValue::Absent) => Claim::Absent,
            Some(NamedValue::Text(text)) => Claim::Text(text),
            Some(NamedValue::List(items)) => Claim::List(Items::Each(items)),
            Some(NamedValue::Other) => Claim::Other,
        }
    }
}

impl Claims {
    /// Any claim by name, for the route rules: the typed claims as read (`aud` and
    /// `cognito:groups` as arrays, the time claims as numbers), any other claim only when
    /// its name was given to the verifier (a route names it), else absent.
    pub fn by_name(&self, name: &str) -> Claim<'_> {
        match name {
            "sub" => Claim::Text(self.sub()),
            "iss" => Claim::Text(self.iss()),
            "token_use" => text(self.declared_use.map(|u| u.as_str())),
            "client_id" => text(self.client_id()),
            "azp" => text(self.azp()),
            "username" => text(self.text(super::Field::Username)),
            "cognito:username" => text(self.text(super::Field::CognitoUsername)),
            "email" => text(self.email()),
            "scope" => text(self.scope()),
            "jti" => text(self.jti()),
            "origin_jti" => text(self.origin_jti()),
            "aud" => list(self.aud()),
            "cognito:groups" => list(self.groups()),
            "exp" => Claim::Other,
            "nbf" => date(self.nbf()),
            "iat" => date(self.iat()),
            "auth_time" => date(self.auth_time()),
            _ => (self.named.as_ref()).map_or(Claim::Absent, |named| named.get(name)),
        }
    }
}

/// The rules read a verified token's claims by name.
impl ClaimSource for Claims {
    fn claim(&self, name: &str) -> Claim<'_> {
        self.by_name(name)
    }
}

fn text(text: Option<&str>) -> Claim<'_> {
    text.map_or(Claim::Absent, Claim::Text)
}

/// A number: never meets a rule, but is not absent.
fn date(date: Option<NumericDate>) -> Claim<'static> {
    date.map_or(Claim::Absent, |_| Claim::Other)
}

/// An absent array claim reads as empty: tell neither apart from absent.
fn list(items: Items<'_>) -> Claim<'_> {
    if items.is_empty() {
        Claim::Absent
    } else {
        Claim::List(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Arc<[Box<str>]> {
        list.iter().map(|n| Box::from(*n)).collect()
    }

    fn read(extra: &str, wanted: &[&str]) -> Result<Claims, serde_json::Error> {
        let json = format!(r#"{{"sub":"u","iss":"i","token_use":"access","exp":100{extra}}}"#);
        Claims::parse(json.as_bytes(), &names(wanted))
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
        assert_eq!(c.by_name("custom:tenant_id"), Claim::Text("acme"));
        assert_eq!(c.by_name("custom:roles"), Claim::List(Items::Each(&roles)));
        for other in ["n", "b", "o", "mixed"] {
            assert_eq!(c.by_name(other), Claim::Other, "{other}");
        }
        for absent in ["nul", "gone", "other", "custom:Tenant_id"] {
            assert_eq!(c.by_name(absent), Claim::Absent, "{absent}");
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
        assert_eq!(c.by_name("sub"), Claim::Text("u"));
        assert_eq!(c.by_name("email"), Claim::Text("e@x"));
        assert_eq!(c.by_name("token_use"), Claim::Text("access"));
        assert_eq!(c.by_name("client_id"), Claim::Text("c"));
        assert_eq!(
            c.by_name("cognito:groups"),
            Claim::List(Items::Each(&groups))
        );
        assert_eq!(c.by_name("exp"), Claim::Other);
        assert_eq!(c.by_name("iat"), Claim::Other);
        assert_eq!(c.by_name("nbf"), Claim::Absent);
        assert_eq!(c.by_name("aud"), Claim::Absent);
        assert_eq!(c.by_name("scope"), Claim::Absent);
    }

    #[test]
    fn a_named_claim_repeated_is_refused_and_escapes_read_as_their_value() {
        let wanted = ["custom:tenant_id"];
        assert!(read(r#","custom:tenant_id":"a","custom:tenant_id":"b""#, &wanted).is_err());
        let escaped = read(r#","custom\u003atenant_id":"\u0061cme""#, &wanted).unwrap();
        assert_eq!(escaped.by_name("custom:tenant_id"), Claim::Text("acme"));
    }

    #[test]
    fn without_names_nothing_extra_is_kept() {
        let c = read(r#","custom:tenant_id":"acme""#, &[]).unwrap();
        assert_eq!(c.by_name("custom:tenant_id"), Claim::Absent);
        assert!(c.named.is_none());
    }
}
