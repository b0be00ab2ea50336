//! cognigate: an authenticating reverse proxy for Amazon Cognito (and OIDC) JWTs.
//!
//! Dependencies point down only: `app -> server -> proxy -> {verify, policy, identity,
//! revoke}`; `verify -> jwks`. `config`, `policy`, `verify` and `identity` are plain functions over
//! data; only `app` and `server` spawn tasks.

pub mod app;
pub mod commands;
pub mod config;
pub mod connect_error;
pub mod identity;
pub mod jwks;
pub mod login;
pub mod mint;
pub mod outbound;
pub mod policy;
pub mod proxy;
pub mod resource;
pub mod revoke;
pub mod server;
pub mod standin;
pub mod telemetry;
pub mod verify;
