//! Who is calling, and what they may do.
//!
//! * `role`: the five client roles.
//! * `token`: bearer tokens (`kk_<id>_<secret>`), stored as SHA-256 of the secret,
//!   compared in constant time.
//! * `caller`: the authenticated caller of a request, and how a token becomes one.
//! * `access`: the access rules, all in one place (see docs/access.md).

pub mod access;
pub mod caller;
pub mod role;
pub mod token;

pub use caller::{Authenticator, Caller};
pub use role::Role;
