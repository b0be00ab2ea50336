//! Config parsing from arbitrary TOML text, through the same steps `config::load` takes
//! (the `config` crate's TOML source, serde into `RawConfig`, `validate`).
//!
//! Properties: never panics; a config that validates can be served: its routes compile,
//! its connection limit fits a semaphore, and every duration can be added to "now"
//! (hyper and tokio add them to `Instant`s and panic on overflow).
#![no_main]

use std::time::{Duration, Instant};

use cognigate::config::raw::RawConfig;
use cognigate::config::{Config, validate};
use cognigate::policy::RouteTable;
use cognigate::verify::Verifier;
use config::{File, FileFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(built) = config::Config::builder()
        .add_source(File::from_str(text, FileFormat::Toml))
        .build()
    else {
        return;
    };
    let Ok(raw) = built.try_deserialize::<RawConfig>() else {
        return;
    };
    if let Ok(valid) = validate(raw) {
        check_servable(&valid.config);
    }
});

fn check_servable(c: &Config) {
    assert!(RouteTable::compile(&c.routes).is_ok());
    let _ = Verifier::new(&c.issuers, &c.token);
    assert!(c.limits.max_connections <= tokio::sync::Semaphore::MAX_PERMITS);
    let mut durations = vec![
        c.shutdown_delay,
        c.shutdown_timeout,
        c.limits.header_timeout,
        c.limits.idle_timeout,
        c.jwks.refresh_interval,
        c.jwks.min_refetch_interval,
        c.jwks.fetch_timeout,
        c.token.leeway,
    ];
    if let Some(up) = &c.upstream {
        durations.extend([up.connect_timeout, up.timeout]);
    }
    let now = Instant::now();
    for d in durations {
        assert!(now.checked_add(d).is_some(), "{d:?} overflows an Instant");
    }
    assert!(c.limits.idle_timeout / 2 > Duration::ZERO);
}
