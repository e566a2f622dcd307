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

/// Characters that change how text around them is shown without being
/// seen themselves: bidirectional controls (which can reorder what a log
/// line or a UI displays) and zero-width characters.
fn is_invisible(c: char) -> bool {
    is_bidi_control(c)
        || matches!(
            c,
            '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
        )
}

/// Bidirectional formatting characters (Unicode's Bidi_Control).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Bounded length, no control or bidirectional formatting characters (they
/// hide or reorder text in logs and UIs).
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
    if value.chars().any(is_bidi_control) {
        return Err(LoyaltyError::invalid(format!(
            "{name} must not contain bidirectional formatting characters"
        )));
    }
    Ok(())
}

/// A manual change must explain itself in at least ten visible, non-blank
/// characters (zero-width and formatting characters do not count).
pub fn check_reason_substance(reason: Option<&str>) -> Result<(), LoyaltyError> {
    let nonblank = reason
        .map(|r| {
            r.chars()
                .filter(|c| !c.is_whitespace() && !is_invisible(*c))
                .count()
        })
        .unwrap_or(0);
    if nonblank < MIN_REASON_NONBLANK_CHARS {
        return Err(LoyaltyError::invalid_with(
            format!("reason must have at least {MIN_REASON_NONBLANK_CHARS} non-blank characters"),
            vec![("nonblank_chars", nonblank.to_string())],
        ));
    }
    Ok(())
}

/// One `key=value` field of a DETAIL line or an event log line.  A value
/// made only of characters that cannot separate fields (letters, digits and
/// `_ . : + - @ / |`) is written as it is; any other value is written in
/// double quotes with `"` and `\` escaped, so that no caller text can end
/// its field and forge another (`, existing_ledger_id=999`, ` event=…`).
pub fn field(key: &str, value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.:+-@/|".contains(c));
    if plain {
        return format!("{key}={value}");
    }
    let mut out = String::with_capacity(key.len() + value.len() + 3);
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parses the text of a jsonb argument.  PostgreSQL has already checked
/// that it is JSON; what can still fail is depth: nesting beyond serde_json's
/// limit (128 levels) is refused here as a bad argument (22023) instead of
/// reaching a Rust error.
pub fn parse_json(name: &str, text: &str) -> Result<serde_json::Value, LoyaltyError> {
    serde_json::from_str(text).map_err(|e| {
        let why = if e.to_string().contains("recursion limit") {
            "is nested more than 128 levels deep"
        } else {
            "is not JSON this function can read"
        };
        LoyaltyError::invalid(format!("{name} {why}"))
    })
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
    fn invisible_characters_are_not_a_reason() {
        let zero_width = "\u{200B}".repeat(20);
        assert!(check_reason_substance(Some(&zero_width)).is_err());
        let padded = format!("abc{}\u{FEFF}\u{2060}", "\u{200D}".repeat(10));
        assert!(check_reason_substance(Some(&padded)).is_err());
        assert!(check_reason_substance(Some("ok reason\u{200B} text")).is_ok());
        assert!(check_text("p_reason", "abc\u{202E}fed", 100).is_err());
        assert!(check_text("p_reason", "abc\u{2067}fed", 100).is_err());
    }

    #[test]
    fn deep_json_is_a_bad_argument() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        let e = parse_json("components", &deep).unwrap_err();
        assert_eq!(e.sqlstate(), "22023");
        assert_eq!(
            e.to_string(),
            "components is nested more than 128 levels deep"
        );
        assert!(parse_json("components", "{\"a\": [[1]]}").is_ok());
    }

    #[test]
    fn fields_cannot_be_forged() {
        assert_eq!(field("ledger_id", "42"), "ledger_id=42");
        assert_eq!(
            field("reset_at", "2026-11-26T02:02:59.764348Z"),
            "reset_at=2026-11-26T02:02:59.764348Z"
        );
        assert_eq!(
            field("idempotency_key", "k, existing_ledger_id=999"),
            "idempotency_key=\"k, existing_ledger_id=999\""
        );
        assert_eq!(
            field("correlation_id", "x\" event=spoofing_attempt"),
            "correlation_id=\"x\\\" event=spoofing_attempt\""
        );
        assert_eq!(field("k", ""), "k=\"\"");
        assert_eq!(field("k", "a\\b"), "k=\"a\\\\b\"");
    }

    #[test]
    fn printable_escapes_and_shortens() {
        assert_eq!(printable("a\nb"), "a\\nb");
        assert_eq!(printable(&"x".repeat(41)), format!("{}…", "x".repeat(40)));
    }
}
