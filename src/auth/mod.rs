//! Who is calling, and what they may do.
//!
//! * `role`: the five client roles.
//! * `token`: bearer tokens (`kk_<id>_<secret>`), stored as SHA-256 of the secret,
//!   compared in constant time.
//! * `caller`: the authenticated caller of a request, and how a token becomes one.
//! * `access`: the access rules, all in one place (see docs/access.md).
//! * `rate`: the per-client token-bucket rate limiter.

pub mod access;
pub mod caller;
pub mod rate;
pub mod role;
pub mod token;

pub use caller::{Authenticated, Authenticator, Caller};
pub use role::Role;
