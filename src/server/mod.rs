//! Listeners: the proxy's (`accept`, then `conn` per connection) and the admin
//! endpoints (`admin`).
//!
//! A proxy connection's bytes pass through one layer per file, outermost first:
//! `accept`, `tls` or `preface`, `idle`, `framing` (HTTP/1.1), hyper in `conn`, `park`
//! (HTTP/1.1), `drain`. The stack is drawn, with what each layer enforces, in
//! `docs/architecture.md` ("The connection stack").

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
