//! JSON Web Key Sets (RFC 7517): immutable per-issuer snapshots of verification keys,
//! how they are fetched, and the store the request path reads them from.
//!
//! `keyset` and `store` are plain data; `fetch` and `refresh` do I/O and are driven by a
//! task the application spawns (this module never spawns).

mod error;
pub mod fetch;
pub mod keyset;
pub mod refresh;
pub mod store;

pub use error::{JwksError, KeySetError};
pub use fetch::{JwksClient, fetch};
pub use keyset::{KeySet, VerifyKey};
pub use refresh::{RefreshTiming, run_refresh};
pub use store::{KeyStore, RefetchTicket, RefreshStats};
