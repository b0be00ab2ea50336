//! Listeners: the proxy's (`accept`, then `conn` per connection) and the admin
//! endpoints (`admin`).
//!
//! A proxy connection's bytes pass through these layers, outermost first; each is a
//! wrapper around the next, and each lives in its own file:
//!
//! ```text
//!  TcpStream              accept.rs    max_connections (503 past it), one task each
//!   └ TLS | h2c preface   tls.rs | preface.rs   within header_timeout (peeked)
//!      └ IdleIo           idle.rs      idle_timeout / header_timeout; marks park-due
//!         └ Sniffed       framing.rs   HTTP/1.1 only: CL+TE smuggling guard
//!            └ hyper      conn.rs      http1 (with upgrades) or http2 Builder
//!               └ Parkable park.rs     HTTP/1.1 only: drops hyper's buffers when idle
//!                  └ drain drain.rs    graceful shutdown on SIGTERM
//!   service: IdleService (idle.rs: requests in flight) → conn.rs's service
//!            (smuggling verdict, upgrade answer) → proxy::Gate
//! ```

mod accept;
pub mod admin;
mod conn;
mod drain;
mod framing;
mod idle;
mod lifecycle;
mod park;
mod preface;
pub mod tls;

pub use accept::accept_loop;
pub use lifecycle::Lifecycle;
