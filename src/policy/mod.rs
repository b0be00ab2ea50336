//! Route policy: request path normalization, route patterns, the route table compiled
//! from `[[routes]]`, and the per-route authorization rules (claim rules and tenant
//! bindings among them).
//!
//! Everything here is a plain function over data: no I/O, no tasks, no globals.

pub mod claims;
mod host;
pub mod path;
pub mod pattern;
pub mod rule;
pub(crate) mod shadow;
pub mod table;

pub use claims::{Check, Claim, ClaimRules, ClaimSource, Items};
pub(crate) use host::HostFilter;
pub use host::is_valid_host;
pub use path::{PathError, normalize};
pub use pattern::{Pattern, PatternError, UnknownCapture};
pub use rule::{Forbidden, Subject};
pub use table::{Mismatch, Route, RouteError, RouteTable};
