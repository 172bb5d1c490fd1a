//! Bearer tokens: `kk_<client id>_<secret>`.
//!
//! The secret is 32 random bytes (base64url). Only SHA-256 of the secret is stored; a token
//! is checked by loading the client by id and comparing digests in constant time. Tokens
//! are high-entropy, so a slow password hash would add cost without adding safety.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const PREFIX: &str = "kk_";

/// A freshly generated secret and its digest.
pub struct NewSecret {
    pub secret: String,
    pub digest: Vec<u8>,
}

/// Generates a secret from the operating system's random source.
pub fn new_secret() -> Result<NewSecret, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    let digest = digest(&secret);
    Ok(NewSecret { secret, digest })
}

pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The token a client presents.
pub fn format(client_id: i64, secret: &str) -> String {
    format!("{PREFIX}{client_id}_{secret}")
}

/// Splits a presented token into client id and secret.
pub fn parse(token: &str) -> Option<(i64, &str)> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id: i64 = id.parse().ok()?;
    (id > 0 && !secret.is_empty() && secret.len() <= 128).then_some((id, secret))
}

/// Constant-time comparison of a presented secret with a stored digest.
pub fn matches(secret: &str, stored_digest: &[u8]) -> bool {
    let presented = digest(secret);
    presented.len() == stored_digest.len() && bool::from(presented.ct_eq(stored_digest))
}

/// Constant-time comparison of two strings (the bootstrap admin token).
pub fn equal(a: &str, b: &str) -> bool {
    let (da, db) = (digest(a), digest(b));
    bool::from(da.ct_eq(&db))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_verify() {
        let s = new_secret().unwrap();
        let token = format(42, &s.secret);
        let (id, secret) = parse(&token).unwrap();
        assert_eq!(id, 42);
        assert!(matches(secret, &s.digest));
        assert!(!matches("wrong", &s.digest));
        assert_ne!(new_secret().unwrap().secret, s.secret);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for t in [
            "",
            "kk_",
            "kk_x_y",
            "kk_0_abc",
            "kk_5_",
            "Bearer kk_1_a",
            "xx_1_abc",
        ] {
            assert!(parse(t).is_none(), "{t}");
        }
    }
}
