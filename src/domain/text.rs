//! Rules for text a caller sends: length bounds, no control characters, a
//! reason with substance, and how caller text is quoted back in a message.

use crate::domain::error::LoyaltyError;

/// Longest accepted idempotency key: keys are indexed, and a client-made key
/// longer than this is a bug, not an identifier.
pub const MAX_KEY_CHARS: usize = 200;
/// Longest accepted reason; long enough for any note a person types.
pub const MAX_REASON_CHARS: usize = 1000;
/// Longest accepted correlation id.
pub const MAX_CORRELATION_CHARS: usize = 200;
/// A reason for a manual change must say something (SPEC section 5).
pub const MIN_REASON_NONBLANK_CHARS: usize = 10;

/// Bounded length, no control characters (they hide text in logs and UIs).
pub fn check_text(name: &str, value: &str, max_chars: usize) -> Result<(), LoyaltyError> {
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(LoyaltyError::invalid_with(
            format!("{name} is too long"),
            vec![
                ("chars", chars.to_string()),
                ("max_chars", max_chars.to_string()),
            ],
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(LoyaltyError::invalid(format!(
            "{name} must not contain control characters"
        )));
    }
    Ok(())
}

/// A manual change must explain itself in at least ten non-blank characters.
pub fn check_reason_substance(reason: Option<&str>) -> Result<(), LoyaltyError> {
    let nonblank = reason
        .map(|r| r.chars().filter(|c| !c.is_whitespace()).count())
        .unwrap_or(0);
    if nonblank < MIN_REASON_NONBLANK_CHARS {
        return Err(LoyaltyError::invalid_with(
            format!("reason must have at least {MIN_REASON_NONBLANK_CHARS} non-blank characters"),
            vec![("nonblank_chars", nonblank.to_string())],
        ));
    }
    Ok(())
}

/// Shortens and escapes user text quoted back in an error message.
pub fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(40).flat_map(char::escape_default).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_bounded_and_visible() {
        assert!(check_text("p", "fine text", 20).is_ok());
        assert!(check_text("p", &"x".repeat(21), 20).is_err());
        assert!(
            check_text("p", &"é".repeat(20), 20).is_ok(),
            "counts characters, not bytes"
        );
        assert!(check_text("p", "line one\u{0}line two", 100).is_err());
        assert!(check_text("p", "tab\there", 100).is_err());
    }

    #[test]
    fn a_reason_needs_ten_nonblank_characters() {
        assert!(check_reason_substance(Some("  a b c d e f g h i  ")).is_err());
        assert!(check_reason_substance(Some("a b c d e f g h i j")).is_ok());
        assert!(check_reason_substance(None).is_err());
    }

    #[test]
    fn printable_escapes_and_shortens() {
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable(&"x".repeat(41)), format!("{}…", "x".repeat(40)));
    }
}
