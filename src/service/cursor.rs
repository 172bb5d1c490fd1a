//! Opaque paging cursors: a position wrapped with a name of what it is a position in, so
//! a cursor of one feed is refused by another (`kakari-lab-v1:123`, base64url).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{ErrorCode, Problem};

/// The cursor of position `n` in the feed `kind`.
pub fn encode(kind: &str, n: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{n}"))
}

/// The position a cursor of `kind` names; `parameter` names the query parameter in the
/// refusal.
pub fn decode(kind: &str, cursor: &str, parameter: &str) -> Result<i64, Problem> {
    let bad = || {
        Problem::new(
            ErrorCode::InvalidParameter,
            parameter,
            "not a cursor kakari issued",
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    text.strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_only_good_for_its_own_feed() {
        let c = encode("kakari-findings-v1", 42);
        assert_eq!(decode("kakari-findings-v1", &c, "since"), Ok(42));
        assert!(decode("kakari-lab-v1", &c, "since").is_err());
        assert!(decode("kakari-findings-v1", "garbage!", "since").is_err());
        assert!(
            decode(
                "kakari-findings-v1",
                &encode("kakari-findings-v1", -1),
                "since"
            )
            .is_err()
        );
    }
}
