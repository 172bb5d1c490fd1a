//! The content digest of a FHIR Bundle: what tells a re-sent Bundle from another one that
//! reuses its `Bundle.identifier`.
//!
//! JSON spelling does not count (key order, whitespace, `1.0` vs `1.0` stays literal), and
//! neither do `Bundle.meta` and `Bundle.timestamp`, which a sender may re-stamp when it
//! retries; every other element does.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// SHA-256 over the Bundle's canonical form (keys sorted), `meta` and `timestamp` left out.
pub fn bundle_content_digest(bundle: &Value) -> [u8; 32] {
    let mut hasher = Sha256::new();
    match bundle {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            for key in keys {
                if key == "meta" || key == "timestamp" {
                    continue;
                }
                feed_str(&mut hasher, key);
                feed(&mut hasher, &map[key]);
            }
            hasher.update(b"}");
        }
        other => feed(&mut hasher, other),
    }
    hasher.finalize().into()
}

fn feed_str(hasher: &mut Sha256, s: &str) {
    hasher.update((s.len() as u64).to_le_bytes());
    hasher.update(s.as_bytes());
}

/// Feeds a value in a canonical, unambiguous form (length-prefixed strings, sorted keys).
fn feed(hasher: &mut Sha256, value: &Value) {
    match value {
        Value::Null => hasher.update(b"n"),
        Value::Bool(b) => hasher.update(if *b { b"t" } else { b"f" }),
        Value::Number(n) => {
            hasher.update(b"#");
            feed_str(hasher, &n.to_string());
        }
        Value::String(s) => {
            hasher.update(b"s");
            feed_str(hasher, s);
        }
        Value::Array(items) => {
            hasher.update(b"[");
            hasher.update((items.len() as u64).to_le_bytes());
            for item in items {
                feed(hasher, item);
            }
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            hasher.update(b"{");
            hasher.update((keys.len() as u64).to_le_bytes());
            for key in keys {
                feed_str(hasher, key);
                feed(hasher, &map[key]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(text: &str) -> [u8; 32] {
        bundle_content_digest(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn spelling_meta_and_timestamp_do_not_count() {
        let a = r#"{"resourceType":"Bundle","type":"batch","identifier":{"value":"1"},"entry":[{"resource":{"a":1.50,"b":"x"}}]}"#;
        let b = r#"{ "type":"batch", "resourceType":"Bundle", "timestamp":"2024-01-01T00:00:00Z",
            "meta":{"lastUpdated":"2024-01-01T00:00:00Z"}, "identifier":{"value":"1"},
            "entry":[{"resource":{"b":"x","a":1.50}}]}"#;
        assert_eq!(digest(a), digest(b));
    }

    #[test]
    fn content_counts_including_number_literals() {
        let a = r#"{"resourceType":"Bundle","entry":[{"resource":{"a":1.50}}]}"#;
        assert_ne!(digest(a), digest(&a.replace("1.50", "1.5")));
        assert_ne!(digest(a), digest(&a.replace("\"a\"", "\"c\"")));
    }
}
