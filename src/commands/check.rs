//! `cognigate check --config FILE [--fetch]`: validate, report every problem with its key
//! path, warn about shadowed routes; with `--fetch`, also fetch every issuer's key set.

use super::Report;
use crate::config;
use std::path::Path;

/// Validates the config at `path`.
pub async fn check(path: &Path, fetch: bool) -> Report {
    let mut report = Report::default();
    let validated = match config::load(path) {
        Ok(v) => v,
        Err(e) => {
            report.stderr = e.to_string().lines().map(str::to_owned).collect();
            return report;
        }
    };
    for w in &validated.warnings {
        report
            .stderr
            .push(format!("{}: warning: {w}", path.display()));
    }
    report.ok = true;
    if fetch {
        report.ok = fetch_all(path, &validated.config, &mut report).await;
    }
    if report.ok {
        let c = &validated.config;
        report.stdout.push(format!(
            "{}: ok ({} issuer(s), {} route(s), mode {:?})",
            path.display(),
            c.issuers.len(),
            c.routes.len(),
            c.mode
        ));
    }
    report
}

async fn fetch_all(path: &Path, config: &config::Config, report: &mut Report) -> bool {
    let client = match crate::jwks::JwksClient::new() {
        Ok(c) => c,
        Err(e) => {
            report
                .stderr
                .push(format!("cannot build the JWKS client: {e}"));
            return false;
        }
    };
    let mut ok = true;
    for (i, issuer) in config.issuers.iter().enumerate() {
        match crate::jwks::fetch(
            &client,
            &issuer.jwks_uri,
            config.jwks.fetch_timeout,
            &issuer.algorithms,
        )
        .await
        {
            Ok(set) => {
                let keys: Vec<String> = set
                    .kids()
                    .filter_map(|kid| set.get(kid).map(|k| format!("{kid} ({:?})", k.algorithm)))
                    .collect();
                report.stdout.push(format!(
                    "issuer {:?}: {} reachable, {} key(s): {}",
                    issuer.name,
                    issuer.jwks_uri,
                    set.len(),
                    keys.join(", ")
                ));
            }
            Err(e) => {
                ok = false;
                report.stderr.push(format!(
                    "{}: issuers[{i}].jwks_uri: issuer {:?}: {e}",
                    path.display(),
                    issuer.name,
                ));
            }
        }
    }
    ok
}
