//! Names why an outbound request (a JWKS fetch, `cognigate health`) failed.
//!
//! hyper-util's client reports every connection failure as `client error (Connect)` and
//! keeps the cause a few `source()` links down (its `ConnectError`, then an
//! `io::Error`, which may wrap a rustls error). An operator reading "client error
//! (Connect)" cannot tell a stopped server from a wrong host name or a bad certificate,
//! so the chain is walked and the cause named.

use std::error::Error;
use std::io;

/// The cause of a failed request to `host`, in a few words: "connection refused",
/// "DNS lookup failed for host H: ...", "TLS handshake failed: ...". A chain with no
/// recognisable cause gives every message in it, outermost first, joined with ": ".
pub fn describe(err: &(dyn Error + 'static), host: &str) -> String {
    let mut chain = vec![err];
    let mut next = inner(err);
    while let Some(e) = next {
        chain.push(e);
        next = inner(e);
    }
    // hyper-util's resolver failure is a private type; its message is its identity.
    if chain.iter().any(|e| e.to_string() == "dns error") {
        let detail = chain.last().map(ToString::to_string).unwrap_or_default();
        return format!("DNS lookup failed for host {host}: {detail}");
    }
    for e in &chain {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return format!("TLS handshake failed: {tls}");
        }
        if let Some(cause) = e.downcast_ref::<io::Error>().and_then(io_cause) {
            return cause.to_owned();
        }
    }
    let mut messages: Vec<String> = chain.iter().map(ToString::to_string).collect();
    messages.dedup(); // an io::Error shows the message of the error it wraps
    messages.join(": ")
}

/// The error `e` wraps. `io::Error::source` skips the error an `io::Error` wraps (and
/// hyper-rustls wraps tokio-rustls's `io::Error` around a rustls error in another), so
/// that one is taken by `get_ref`.
fn inner<'e>(e: &'e (dyn Error + 'static)) -> Option<&'e (dyn Error + 'static)> {
    match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
        Some(wrapped) => Some(wrapped),
        None => e.source(),
    }
}

fn io_cause(e: &io::Error) -> Option<&'static str> {
    Some(match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused",
        io::ErrorKind::ConnectionReset => "connection reset by the server",
        io::ErrorKind::ConnectionAborted => "connection aborted",
        io::ErrorKind::TimedOut => "connection timed out",
        io::ErrorKind::HostUnreachable => "host unreachable",
        io::ErrorKind::NetworkUnreachable => "network unreachable",
        io::ErrorKind::AddrNotAvailable => "address not available",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{msg}")]
    struct Wrap {
        msg: &'static str,
        #[source]
        source: Box<dyn Error + Send + Sync>,
    }

    fn wrap(msg: &'static str, source: impl Error + Send + Sync + 'static) -> Wrap {
        Wrap {
            msg,
            source: Box::new(source),
        }
    }

    #[test]
    fn names_a_refused_connection_under_the_client_error() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let err = wrap("client error (Connect)", wrap("tcp connect error", refused));
        assert_eq!(describe(&err, "h"), "connection refused");
    }

    #[test]
    fn names_the_host_of_a_failed_dns_lookup() {
        let gai = io::Error::other("failed to lookup address information");
        let err = wrap("client error (Connect)", wrap("dns error", gai));
        assert_eq!(
            describe(&err, "jwks.invalid"),
            "DNS lookup failed for host jwks.invalid: failed to lookup address information"
        );
    }

    #[test]
    fn finds_a_tls_error_inside_nested_io_errors() {
        let tls = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let err = wrap("client error (Connect)", io::Error::other(tls));
        let text = describe(&err, "h");
        assert!(text.starts_with("TLS handshake failed: "), "{text}");
        assert!(text.contains("UnknownIssuer"), "{text}");
    }

    #[test]
    fn an_unknown_chain_keeps_every_message() {
        let err = wrap("client error (SendRequest)", io::Error::other("odd"));
        assert_eq!(describe(&err, "h"), "client error (SendRequest): odd");
    }
}
