//! Host filters for routes.
//!
//! The request's host is compared without its port and without a trailing dot, and
//! case-insensitively (RFC 3986 §3.2.2), so `API.example.com.:443` cannot slip past a
//! filter written as `api.example.com`.

/// A route's `host` key, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostFilter {
    /// `api.example.com`: that name only.
    Exact(Box<str>),
    /// `*.example.com`, stored as `.example.com`: exactly one extra leading label.
    Subdomain(Box<str>),
}

impl HostFilter {
    /// Compiles a config host (the config layer has already validated it).
    pub(crate) fn new(host: &str) -> Self {
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix('.').unwrap_or(&host);
        match host.strip_prefix('*') {
            Some(suffix) => HostFilter::Subdomain(suffix.into()),
            None => HostFilter::Exact(host.into()),
        }
    }

    /// True when a request `Host` (possibly with a port) is accepted.
    pub(crate) fn accepts(&self, host: &str) -> bool {
        let name = host_name(host).as_bytes();
        match self {
            HostFilter::Exact(want) => name.eq_ignore_ascii_case(want.as_bytes()),
            HostFilter::Subdomain(suffix) => {
                let Some(cut) = name.len().checked_sub(suffix.len()) else {
                    return false;
                };
                let (label, tail) = name.split_at(cut);
                !label.is_empty()
                    && !label.contains(&b'.')
                    && tail.eq_ignore_ascii_case(suffix.as_bytes())
            }
        }
    }

    /// True when every host `other` accepts, `self` accepts.
    pub(crate) fn covers(&self, other: &HostFilter) -> bool {
        match other {
            HostFilter::Exact(name) => self.accepts(name),
            HostFilter::Subdomain(_) => self == other,
        }
    }
}

/// The host name without `:port` and without a trailing dot; IPv6 literals keep
/// their brackets (RFC 3986 §3.2.2).
fn host_name(host: &str) -> &str {
    let name = match host.strip_prefix('[') {
        Some(inner) => inner.find(']').map_or(host, |end| &host[..end + 2]),
        None => host.split(':').next().unwrap_or(host),
    };
    name.strip_suffix('.').unwrap_or(name)
}

/// Whether `host` is a valid `Host` value (RFC 9112 §3.2): `uri-host [ ":" port ]`, the
/// host an IP literal in brackets, an IPv4 address or a reg-name (RFC 3986 §3.2.2),
/// the port digits. Anything else (`a:1@b`, `:abc`, `a:80:90`, spaces) would let the
/// route's host filter and the upstream read different hosts.
pub fn is_valid_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(literal) => match literal.split_once(']') {
            Some((inner, rest)) if inner.parse::<std::net::Ipv6Addr>().is_ok() => ("", rest),
            _ => return false,
        },
        None => host.split_at(host.find(':').unwrap_or(host.len())),
    };
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()) && digits.len() <= 5,
        None => port.is_empty(),
    };
    port_ok && name.bytes().all(is_reg_name_byte)
}

/// RFC 3986 §3.2.2 reg-name: unreserved, pct-encoded (`%` and hex digits) or sub-delims.
fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_syntax() {
        for ok in [
            "api.example.com",
            "api.example.com:8443",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:8080",
            "a-b_c~d",
            "example.com:",
            "",
        ] {
            assert!(is_valid_host(ok), "{ok}");
        }
        for bad in [
            "public.example:1@admin.example",
            "a@b",
            ":abc",
            "a:abc",
            "a:80:90",
            "a b",
            "[::1",
            "[zz]:80",
            "[::1]x",
            "a/b",
            "a:123456",
        ] {
            assert!(!is_valid_host(bad), "{bad}");
        }
    }

    #[test]
    fn exact_ignores_case_port_and_trailing_dot() {
        let f = HostFilter::new("api.example.com");
        for host in [
            "api.example.com",
            "API.Example.COM",
            "api.example.com:8443",
            "api.example.com.",
        ] {
            assert!(f.accepts(host), "{host}");
        }
        for host in [
            "example.com",
            "x.api.example.com",
            "api.example.com.evil",
            "",
            ":80",
        ] {
            assert!(!f.accepts(host), "{host}");
        }
    }

    #[test]
    fn wildcard_is_exactly_one_label() {
        let f = HostFilter::new("*.example.com");
        for host in ["a.example.com", "A.EXAMPLE.com:80", "a-b.example.com."] {
            assert!(f.accepts(host), "{host}");
        }
        for host in [
            "example.com",
            ".example.com",
            "a.b.example.com",
            "aexample.com",
            "a.example.org",
        ] {
            assert!(!f.accepts(host), "{host}");
        }
    }

    #[test]
    fn ipv6_literals() {
        let f = HostFilter::new("[::1]");
        assert!(f.accepts("[::1]:8080"));
        assert!(f.accepts("[::1]"));
        assert!(!f.accepts("[::2]"));
    }

    #[test]
    fn covers() {
        let wild = HostFilter::new("*.example.com");
        assert!(wild.covers(&HostFilter::new("a.example.com")));
        assert!(wild.covers(&wild));
        assert!(!wild.covers(&HostFilter::new("example.com")));
        assert!(!HostFilter::new("a.example.com").covers(&wild));
    }
}
