//! Idempotency keys and request fingerprints: canonical form and SHA-256.
//!
//! The canonical string of a JSON object is `k1=v1&k2=v2…` with keys sorted
//! by byte order, string values raw, numbers and booleans as their JSON text,
//! and null as the empty string (SPEC section 4).  Nested arrays and objects
//! appear as their compact JSON text.

use crate::domain::error::LoyaltyError;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// A UUID's text as PostgreSQL prints it (lower-case hex, 8-4-4-4-12): the
/// form keys and fingerprints name a player by, without the formatting
/// machinery (a batch formats one per player).
pub fn uuid_text(bytes: &[u8; 16]) -> String {
    let mut out = [0u8; 36];
    let mut at = 0;
    for (i, group) in [0..4, 4..6, 6..8, 8..10, 10..16].into_iter().enumerate() {
        if i > 0 {
            out[at] = b'-';
            at += 1;
        }
        let len = group.len() * 2;
        // Cannot fail: the slice is exactly twice the group's length.
        let _ = hex::encode_to_slice(&bytes[group], &mut out[at..at + len]);
        at += len;
    }
    out.iter().map(|&b| b as char).collect()
}

/// The canonical `k=v&…` string of a JSON object's members.
pub fn canonical_form(components: &Map<String, Value>) -> String {
    let mut members: Vec<(&String, &Value)> = components.iter().collect();
    members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    for (i, (key, value)) in members.into_iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(key);
        out.push('=');
        match value {
            Value::Null => {}
            Value::String(s) => out.push_str(s),
            // Numbers keep their JSON text (serde_json's arbitrary_precision
            // feature preserves it), booleans print as true/false.
            other => out.push_str(&other.to_string()),
        }
    }
    out
}

/// Lowercase hex SHA-256 of a string.
pub fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// `loyalty.idempotency_key(components)`: SHA-256 of the canonical form.
pub fn idempotency_key(components: &Map<String, Value>) -> String {
    sha256_hex(&canonical_form(components))
}

fn key_of(pairs: &[(&str, Value)]) -> String {
    let map: Map<String, Value> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect();
    idempotency_key(&map)
}

/// The key a change with a derived key moves to when a row of another type
/// holds its key (squatted, by a caller who chose that key for a redemption
/// or an adjustment to block the change): derived from the squatted key and
/// the squatting row, so a replay moves the same way and finds the change.
pub fn displaced_key(squatted: &str, squatting_ledger_id: i64) -> String {
    key_of(&[
        ("type", Value::from("displaced")),
        ("key", Value::from(squatted)),
        ("heldBy", Value::from(squatting_ledger_id)),
    ])
}

/// Gameplay accrual: one key per rating slip.
pub fn gameplay_key(rating_slip_id: &str) -> String {
    key_of(&[
        ("type", Value::from("gameplay")),
        ("ratingSlipId", Value::from(rating_slip_id)),
    ])
}

/// Promotion: type, player and the external reward id, so a second delivery
/// of the same reward is a replay.
pub fn promotion_key(player_id: &str, reward_id: &str) -> String {
    key_of(&[
        ("type", Value::from("external_reward")),
        ("playerId", Value::from(player_id)),
        ("rewardId", Value::from(reward_id)),
    ])
}

/// The n-th credit of a campaign to a player: the first is the promotion
/// key (as 0.1.0 derived it), later ones add the sequence.
pub fn campaign_credit_key(player_id: &str, reward_id: &str, sequence: i32) -> String {
    if sequence == 1 {
        return promotion_key(player_id, reward_id);
    }
    key_of(&[
        ("type", Value::from("external_reward")),
        ("playerId", Value::from(player_id)),
        ("rewardId", Value::from(reward_id)),
        ("sequence", Value::from(sequence)),
    ])
}

/// Manual reward: type, player, staff, points, reason, gaming day
/// (`YYYY-MM-DD`) and sequence.  The same reward twice in one gaming day is
/// a replay; the next gaming day, or another sequence number, is new.
pub fn manual_reward_key(
    player_id: &str,
    staff_id: &str,
    points: i32,
    reason: &str,
    gaming_day: &str,
    sequence: i32,
) -> String {
    key_of(&[
        ("type", Value::from("manual_reward")),
        ("playerId", Value::from(player_id)),
        ("staffId", Value::from(staff_id)),
        ("points", Value::from(points)),
        ("reason", Value::from(reason)),
        ("date", Value::from(gaming_day)),
        ("sequence", Value::from(sequence)),
    ])
}

/// The sequence of a manual reward: 1 or more (the same reward given twice
/// on purpose in one gaming day takes sequence 2).
pub fn check_sequence(sequence: Option<i32>) -> Result<i32, LoyaltyError> {
    match sequence {
        Some(s) if s >= 1 => Ok(s),
        other => Err(LoyaltyError::invalid_with(
            "p_sequence must be 1 or more",
            vec![(
                "sequence",
                other.map_or_else(|| "NULL".to_string(), |s| s.to_string()),
            )],
        )),
    }
}

/// Reversal of one ledger entry: one key per entry, so reversing it again
/// is a replay.
pub fn reversal_key(ledger_id: i64) -> String {
    key_of(&[
        ("type", Value::from("reversal")),
        ("ledgerId", Value::from(ledger_id)),
    ])
}

/// The REDEMPTION that captures a hold: one key per hold.
pub fn hold_capture_key(hold_id: i64) -> String {
    key_of(&[
        ("type", Value::from("hold_capture")),
        ("holdId", Value::from(hold_id)),
    ])
}

/// A hold request's fingerprint: its redemption request's, and the expiry
/// it asked for (empty when it took the default).
pub fn hold_fingerprint(request_fingerprint: &str, expires_at: Option<i64>) -> String {
    sha256_hex(&format!(
        "{request_fingerprint}&expires={}",
        expires_at.map(|e| e.to_string()).unwrap_or_default()
    ))
}

/// Formats a UUID version 7 (RFC 9562): 48 bits of Unix time in
/// milliseconds, then random bits, with the version and variant set.
/// Ids made later sort later, so an index on them grows at its right edge
/// instead of taking inserts at random pages.
pub fn format_uuid_v7(unix_ms: u64, random: [u8; 10]) -> String {
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
    b[6..].copy_from_slice(&random);
    b[6] = (b[6] & 0x0f) | 0x70;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid_text(&b)
}

/// The advisory lock a change of a busy player queues on
/// (`crate::ledger`): 64 bits of FNV-1a over the casino's and the player's
/// 16 bytes, as the two 32-bit keys of a PostgreSQL advisory lock tag.  Two
/// players sharing a key merely queue together.
pub fn player_queue_key(casino: &[u8; 16], player: &[u8; 16]) -> (u32, u32) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in casino.iter().chain(player.iter()) {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    ((h >> 32) as u32, h as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text_is_postgres_text_form() {
        let bytes = [
            0xc0, 0xff, 0xee, 0x00, 0x12, 0x34, 0x4a, 0xbc, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef,
            0x00, 0x0f,
        ];
        assert_eq!(uuid_text(&bytes), "c0ffee00-1234-4abc-8001-deadbeef000f");
        assert_eq!(uuid_text(&[0; 16]), "00000000-0000-0000-0000-000000000000");
    }

    #[test]
    fn campaign_credits_have_one_key_each() {
        assert_eq!(campaign_credit_key("p", "r", 1), promotion_key("p", "r"));
        assert_ne!(campaign_credit_key("p", "r", 2), promotion_key("p", "r"));
        assert_ne!(
            campaign_credit_key("p", "r", 2),
            campaign_credit_key("p", "r", 3)
        );
    }

    #[test]
    fn a_displaced_key_depends_on_the_key_and_the_squatter() {
        let k = gameplay_key("slip");
        assert_eq!(displaced_key(&k, 7), displaced_key(&k, 7));
        assert_ne!(displaced_key(&k, 7), displaced_key(&k, 8));
        assert_ne!(
            displaced_key(&k, 7),
            displaced_key(&gameplay_key("other"), 7)
        );
        assert_ne!(displaced_key(&k, 7), k);
    }

    #[test]
    fn a_sequence_starts_at_one() {
        assert_eq!(check_sequence(Some(1)), Ok(1));
        assert_eq!(check_sequence(Some(7)), Ok(7));
        for bad in [Some(0), Some(-1), None] {
            assert_eq!(check_sequence(bad).unwrap_err().sqlstate(), "22023");
        }
    }
    use proptest::prelude::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn spec_vector_manual_reward() {
        let c = obj(
            json!({"playerId":"player-123","staffId":"staff-456","date":"2025-10-13","sequence":1,"type":"manual_reward"}),
        );
        assert_eq!(
            canonical_form(&c),
            "date=2025-10-13&playerId=player-123&sequence=1&staffId=staff-456&type=manual_reward"
        );
        assert_eq!(
            idempotency_key(&c),
            "267b7ad4830e5ee408c386848ddfad12be48d206cc414a6830988b40f45693a9"
        );
    }

    #[test]
    fn spec_vector_external_reward() {
        let c = obj(
            json!({"playerId":"player-123","rewardId":"promo-xyz-2025","type":"external_reward"}),
        );
        assert_eq!(
            idempotency_key(&c),
            "86b69bcdf387baf9badee4eac93c52de74c220e7a5ef3bdffcdda36c8288116b"
        );
        assert_eq!(
            promotion_key("player-123", "promo-xyz-2025"),
            idempotency_key(&c)
        );
    }

    #[test]
    fn null_is_empty_and_booleans_are_json_text() {
        let c = obj(json!({"b": null, "a": true, "c": false}));
        assert_eq!(canonical_form(&c), "a=true&b=&c=false");
    }

    #[test]
    fn numbers_keep_their_json_text() {
        // jsonb hands numbers over as Postgres prints them (1.50 keeps its
        // scale); they must not be reformatted through a float.
        let c: Map<String, Value> =
            serde_json::from_str(r#"{"x": 1.50, "y": -7, "z": 12345678901234567890}"#).unwrap();
        assert_eq!(canonical_form(&c), "x=1.50&y=-7&z=12345678901234567890");
    }

    #[test]
    fn keys_sort_by_bytes_not_locale() {
        // 'Z' (0x5a) sorts before 'a' (0x61); 'é' (0xc3 0xa9) after both.
        let c = obj(json!({"a": "1", "é": "2", "Z": "3"}));
        assert_eq!(canonical_form(&c), "Z=3&a=1&é=2");
    }

    #[test]
    fn manual_reward_key_has_the_spec_shape() {
        // Same shape as the SPEC vector, plus points and reason.
        let c = obj(
            json!({"playerId":"p","staffId":"s","date":"2025-10-13","sequence":1,
                           "type":"manual_reward","points":100,"reason":"good game"}),
        );
        assert_eq!(
            manual_reward_key("p", "s", 100, "good game", "2025-10-13", 1),
            idempotency_key(&c)
        );
    }

    #[test]
    fn manual_reward_key_changes_with_each_component() {
        let base = manual_reward_key("p", "s", 100, "reason text", "2025-10-13", 1);
        assert_ne!(
            base,
            manual_reward_key("q", "s", 100, "reason text", "2025-10-13", 1)
        );
        assert_ne!(
            base,
            manual_reward_key("p", "t", 100, "reason text", "2025-10-13", 1)
        );
        assert_ne!(
            base,
            manual_reward_key("p", "s", 101, "reason text", "2025-10-13", 1)
        );
        assert_ne!(
            base,
            manual_reward_key("p", "s", 100, "reason text!", "2025-10-13", 1)
        );
        assert_ne!(
            base,
            manual_reward_key("p", "s", 100, "reason text", "2025-10-14", 1)
        );
        assert_ne!(
            base,
            manual_reward_key("p", "s", 100, "reason text", "2025-10-13", 2)
        );
        assert_eq!(
            base,
            manual_reward_key("p", "s", 100, "reason text", "2025-10-13", 1)
        );
    }

    #[test]
    fn reversal_keys_are_per_entry() {
        assert_eq!(reversal_key(7), reversal_key(7));
        assert_ne!(reversal_key(7), reversal_key(8));
    }

    #[test]
    fn uuid_v7_layout() {
        // RFC 9562 appendix A.6: 2022-02-22 19:22:22 UTC = 0x017F22E279B0 ms.
        let u = format_uuid_v7(0x017F_22E2_79B0, [0xff; 10]);
        assert_eq!(u, "017f22e2-79b0-7fff-bfff-ffffffffffff");
        let zero = format_uuid_v7(0, [0; 10]);
        assert_eq!(zero, "00000000-0000-7000-8000-000000000000");
    }

    proptest! {
        #[test]
        fn uuid_v7_sorts_by_time(a in 0u64..(1 << 48), b in 0u64..(1 << 48),
                                 ra in any::<[u8; 10]>(), rb in any::<[u8; 10]>()) {
            let (ua, ub) = (format_uuid_v7(a, ra), format_uuid_v7(b, rb));
            prop_assert_eq!(ua.len(), 36);
            prop_assert_eq!(&ua[14..15], "7");
            prop_assert!(matches!(&ua[19..20], "8" | "9" | "a" | "b"));
            if a < b {
                prop_assert!(ua < ub);
            }
        }
    }

    #[test]
    fn gameplay_keys_differ_per_slip() {
        assert_ne!(gameplay_key("a"), gameplay_key("b"));
        assert_eq!(gameplay_key("a"), gameplay_key("a"));
        assert_eq!(gameplay_key("a").len(), 64);
    }

    proptest! {
        #[test]
        fn key_order_never_changes_the_key(
            entries in proptest::collection::btree_map("[a-zA-Z]{1,8}", "[ -~]{0,12}", 0..8),
            seed in any::<u64>(),
        ) {
            let forward: Map<String, Value> =
                entries.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
            // Insert the same members in a shuffled order.
            let mut shuffled: Vec<_> = entries.iter().collect();
            let n = shuffled.len().max(1) as u64;
            shuffled.rotate_left((seed % n) as usize);
            shuffled.reverse();
            let backward: Map<String, Value> =
                shuffled.into_iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
            prop_assert_eq!(idempotency_key(&forward), idempotency_key(&backward));
        }

        #[test]
        fn different_values_give_different_keys(a in "[a-z]{1,10}", b in "[a-z]{1,10}") {
            prop_assume!(a != b);
            prop_assert_ne!(gameplay_key(&a), gameplay_key(&b));
        }
    }

    #[test]
    fn player_queue_keys_differ_by_casino_and_player() {
        let a = [1u8; 16];
        let b = [2u8; 16];
        assert_eq!(player_queue_key(&a, &b), player_queue_key(&a, &b));
        assert_ne!(player_queue_key(&a, &b), player_queue_key(&b, &a));
        assert_ne!(player_queue_key(&a, &a), player_queue_key(&a, &b));
    }
}
