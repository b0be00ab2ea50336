//! Test support: fakes we own (echo upstream, JWKS server with a fetch counter), a proxy
//! started in-process on port 0, the real binary, and raw-socket HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub(crate) mod echo;
pub(crate) mod faulty;
pub(crate) mod http;
pub(crate) mod jar;
pub(crate) mod jwks_server;
pub(crate) mod live;
pub(crate) mod mcp_sdk;
pub(crate) mod moto;
pub(crate) mod nginx;
pub(crate) mod npm;
pub(crate) mod procfs;
pub(crate) mod proxy;
pub(crate) mod tokens;
pub(crate) mod tools;
