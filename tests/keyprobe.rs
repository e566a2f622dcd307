//! The idempotency-key lookup probes the ledger's unique index directly
//! (src/probe.rs).  It must search with the index's own collation: in a
//! database whose collation does not order bytes, a probe with the wrong one
//! walks the btree the wrong way and misses keys.  Thousands of keys (a
//! multi-level index) that sort differently under ICU and byte order are all
//! found again as replays, a changed request under each is a conflict, and a
//! key written earlier in the same transaction is found.

mod common;

use common::*;

const DB: &str = "loyalty_it_keyprobe_icu";

/// Key n: case, accents and digits that ICU and byte order sort apart.
const KEY_SQL: &str =
    "(ARRAY['a', 'B', 'é', 'Z', 'ß', 'Ä'])[g % 6 + 1] || g || (ARRAY['x', 'Y', 'ö'])[g % 3 + 1]";

fn player_sql() -> &'static str {
    "('00000000-0000-4000-8000-' || lpad((g % 50)::text, 12, '0'))::uuid"
}

#[test]
fn every_key_is_found_under_an_icu_collation() {
    let mut admin = connect("postgres");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        .expect("drop database");
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {DB} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        ))
        .expect("create an ICU database");
    let mut c = connect(DB);
    c.batch_execute("CREATE EXTENSION loyalty_ext")
        .expect("create extension");

    // The ledger's key index really is in a non-byte order here.
    let icu: bool = c
        .query_one("SELECT 'a' < 'B' AND 'B' < 'é' AND 'é' < 'Z'", &[])
        .expect("collation check")
        .get(0);
    assert!(icu, "the test database must not order by bytes");

    const N: i64 = 6000;
    let write = format!(
        "SELECT count(*) FILTER (WHERE NOT idempotent_replay), count(*) FILTER (WHERE idempotent_replay)
           FROM generate_series(1, {N}) g,
                LATERAL loyalty.increment_player_loyalty({}, 1, 'PROMOTION', {KEY_SQL})",
        player_sql()
    );
    let first = c.query_one(&write, &[]).expect("first pass");
    assert_eq!(
        (first.get::<_, i64>(0), first.get::<_, i64>(1)),
        (N, 0),
        "first pass: every key is new"
    );
    // Enough keys for many leaf pages under an internal root: a probe that
    // compares in the wrong order descends into the wrong leaf.
    let pages = scalar_i64(
        &mut c,
        "SELECT pg_relation_size('loyalty.loyalty_ledger_idempotency_key_key') / 8192",
    );
    assert!(pages > 10, "the key index has only {pages} pages");
    let again = c.query_one(&write, &[]).expect("second pass");
    assert_eq!(
        (again.get::<_, i64>(0), again.get::<_, i64>(1)),
        (0, N),
        "second pass: every key is found and answered as a replay"
    );
    assert_eq!(
        scalar_i64(&mut c, "SELECT count(*) FROM loyalty.loyalty_ledger"),
        N
    );

    // A different request under an existing key is a conflict, for keys
    // spread over the whole index.
    for g in [1_i64, 997, 2024, 3999, 5998] {
        let key: String = c
            .query_one(
                &format!("SELECT {KEY_SQL} FROM (SELECT $1::bigint AS g) s"),
                &[&g],
            )
            .expect("key")
            .get(0);
        let other_player = "00000000-0000-4000-8000-000000009999";
        let err = increment(&mut c, &Call::promotion(other_player, 1, &key))
            .expect_err("a reused key with another request must fail");
        assert_eq!(sqlstate(&err), "23505", "key {key}");
    }

    // A key written earlier in the same transaction is found.
    let mut tx = c.transaction().expect("begin");
    let player = "00000000-0000-4000-8000-000000008888";
    let new = increment(&mut tx, &Call::promotion(player, 5, "Ärger-in-one-tx")).expect("new");
    let replay =
        increment(&mut tx, &Call::promotion(player, 5, "Ärger-in-one-tx")).expect("replay");
    assert!(!new.get::<_, bool>(5) && replay.get::<_, bool>(5));
    assert_eq!(new.get::<_, i64>(4), replay.get::<_, i64>(4));
    tx.commit().expect("commit");

    assert_invariants(&mut c);
}
