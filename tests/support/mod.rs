//! Test support: fakes we own (echo upstream, JWKS server with a fetch counter), a proxy
//! started in-process on port 0, the real binary, and raw-socket HTTP.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod echo;
pub mod faulty;
pub mod http;
pub mod jwks_server;
pub mod live;
pub mod moto;
pub mod nginx;
pub mod procfs;
pub mod proxy;
pub mod tokens;
pub mod tools;
