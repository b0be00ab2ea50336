use super::*;
use std::sync::Arc;

fn config(text: &str) -> Config {
    let raw = ::config::Config::builder()
        .add_source(::config::File::from_str(text, ::config::FileFormat::Toml))
        .build()
        .unwrap()
        .try_deserialize()
        .unwrap();
    crate::config::validate(raw).unwrap().config
}

const BASE: &str = "[upstream]\nurl = \"http://127.0.0.1:3\"\n[[issuers]]\nname = \"a\"\n\
    issuer = \"https://idp.example/pool\"\nclient_ids = [\"c\"]\n\
    [[routes]]\npath = \"/mcp/admin\"\nscopes_all = [\"mcp/admin\"]\nscopes_any = [\"mcp/read\", \"mcp/admin\"]\n\
    [[routes]]\npath = \"/**\"\n";

fn docs(resource: &str) -> (Config, ResourceDocs) {
    let config = config(&format!("{BASE}[resource]\n{resource}"));
    let docs = ResourceDocs::new(&config, config.resource.as_ref().unwrap(), None);
    (config, docs)
}

fn json(answer: Option<Answer>) -> serde_json::Value {
    match answer {
        Some(Answer::ProtectedResource(body)) => serde_json::from_slice(&body).unwrap(),
        other => panic!("not the protected resource metadata: {other:?}"),
    }
}

#[test]
fn metadata_is_served_at_both_paths_with_every_route_scope() {
    let (_, docs) = docs("url = \"https://api.example/mcp\"\nname = \"Orders\"\n");
    let doc = json(docs.lookup("/.well-known/oauth-protected-resource/mcp"));
    assert_eq!(
        doc,
        json(docs.lookup("/.well-known/oauth-protected-resource"))
    );
    assert_eq!(doc["resource"], "https://api.example/mcp");
    assert_eq!(
        doc["authorization_servers"],
        serde_json::json!(["https://idp.example/pool"])
    );
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["mcp/admin", "mcp/read"])
    );
    assert_eq!(
        doc["bearer_methods_supported"],
        serde_json::json!(["header"])
    );
    assert_eq!(doc["resource_name"], "Orders");
    assert!(doc.get("resource_documentation").is_none());
    assert!(
        docs.lookup("/.well-known/oauth-protected-resource/other")
            .is_none()
    );
    assert!(
        docs.lookup("/.well-known/oauth-authorization-server")
            .is_none()
    );
    assert_eq!(
        docs.metadata_url(),
        "https://api.example/.well-known/oauth-protected-resource/mcp"
    );
    assert_eq!(docs.route_scope(0), Some("mcp/admin mcp/read"));
    assert_eq!(docs.route_scope(1), None);
    assert_eq!(docs.audience(), None);
}

#[test]
fn as_metadata_defaults_the_server_to_this_origin_and_survives_a_reload() {
    let (config, first) =
        docs("url = \"https://api.example/mcp\"\nas_metadata = true\naudience = true\n");
    assert_eq!(first.audience(), Some("https://api.example/mcp"));
    let doc = json(first.lookup("/.well-known/oauth-protected-resource"));
    assert_eq!(
        doc["authorization_servers"],
        serde_json::json!(["https://api.example"])
    );
    let held = first.as_document().unwrap();
    assert_eq!(
        held.source.url,
        "https://idp.example/pool/.well-known/openid-configuration"
    );
    assert_eq!(held.source.served_as, "https://api.example");
    assert!(matches!(
        first.lookup("/.well-known/oauth-authorization-server"),
        Some(Answer::AuthorizationServer(None))
    ));
    held.doc.store(Some(Arc::new(Bytes::from_static(b"{}"))));
    let again = ResourceDocs::new(&config, config.resource.as_ref().unwrap(), Some(&first));
    assert!(Arc::ptr_eq(held, again.as_document().unwrap()));
    assert!(matches!(
        again.lookup("/.well-known/oauth-authorization-server"),
        Some(Answer::AuthorizationServer(Some(_)))
    ));
    let (moved, _) = docs(
        "url = \"https://api.example/mcp\"\nas_metadata = true\nauthorization_servers = [\"https://other.example\"]\n",
    );
    let other = ResourceDocs::new(&moved, moved.resource.as_ref().unwrap(), Some(&first));
    assert!(!Arc::ptr_eq(held, other.as_document().unwrap()));
}
