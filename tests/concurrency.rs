//! Concurrency of the write path over real connections (issue 2):
//! no lost update, race-free player creation, one row per key.

mod common;

use common::*;

const DB: &str = "loyalty_it_concurrency";

fn setup() -> String {
    shared_db(DB)
}

#[test]
fn sixteen_connections_two_hundred_increments_lose_nothing() {
    let db = setup();
    let player = "c0000000-0000-0000-0000-000000000016";
    let threads = 16;
    let per_thread = 200;
    let mut all: Vec<(i64, i64, i64)> = parallel(threads, |t, barrier| {
        let mut c = connect(&db);
        barrier.wait();
        let mut seen = Vec::with_capacity(per_thread);
        for i in 0..per_thread {
            let key = format!("lost-update-{t}-{i}");
            let delta = ((t * 31 + i) % 9 + 1) as i32;
            let row = increment(&mut c, &Call::promotion(player, delta, &key))
                .unwrap_or_else(|e| panic!("call {key}: {e}"));
            let before: i64 = row.get(1);
            let after: i64 = row.get(2);
            assert_eq!(after, before + delta as i64, "{key}");
            assert!(!row.get::<_, bool>(5), "{key} must not be a replay");
            seen.push((before, after, delta as i64));
        }
        seen
    })
    .into_iter()
    .flatten()
    .collect();

    let expected: i64 = all.iter().map(|s| s.2).sum();
    let mut c = connect(&db);
    let balance = balance_of(&mut c, player);
    let rows = ledger_rows(&mut c, player);
    assert_eq!(
        balance, expected,
        "balance = sum of acknowledged increments"
    );
    assert_eq!(
        rows,
        (threads * per_thread) as i64,
        "one ledger row per call"
    );

    // What the callers were told forms one unbroken chain 0 -> balance.
    all.sort();
    let mut running = 0;
    for (before, after, _) in &all {
        assert_eq!(*before, running, "chain broken at {before}");
        running = *after;
    }
    assert_eq!(running, balance);
    assert_invariants(&mut c);
    println!(
        "16x200: {} increments, balance {balance}, {rows} ledger rows, chain unbroken",
        all.len()
    );
}

#[test]
fn eight_connections_create_the_same_new_player() {
    let db = setup();
    let player = "c0000000-0000-0000-0000-0000000000c8";
    let n = 8;
    parallel(n, |t, barrier| {
        let mut c = connect(&db);
        let mut tx = c.transaction().unwrap();
        barrier.wait();
        let key = format!("create-race-{t}");
        increment(&mut tx, &Call::promotion(player, 10 + t as i32, &key))
            .unwrap_or_else(|e| panic!("creator {t}: {e}"));
        // Hold the new row a moment so the others really collide.
        tx.batch_execute("SELECT pg_sleep(0.05)").unwrap();
        tx.commit().unwrap();
    });
    let mut c = connect(&db);
    let expected: i64 = (0..n as i64).map(|t| 10 + t).sum();
    assert_eq!(
        scalar_i64(
            &mut c,
            &format!("SELECT count(*) FROM loyalty.player_loyalty WHERE player_id = '{player}'")
        ),
        1
    );
    assert_eq!(balance_of(&mut c, player), expected);
    assert_eq!(ledger_rows(&mut c, player), n as i64);
    assert_invariants(&mut c);
    println!("creation race: {n} creators, one player row, balance {expected}");
}

#[test]
fn eight_connections_send_the_same_key_at_once() {
    let db = setup();
    let player = "c0000000-0000-0000-0000-0000000000a8";
    let n = 8;
    let results = parallel(n, |_, barrier| {
        let mut c = connect(&db);
        let mut tx = c.transaction().unwrap();
        barrier.wait();
        let row = increment(&mut tx, &Call::promotion(player, 75, "same-key-at-once"))
            .unwrap_or_else(|e| panic!("same key: {e} ({})", sqlstate(&e)));
        tx.batch_execute("SELECT pg_sleep(0.05)").unwrap();
        tx.commit().unwrap();
        (
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
            row.get::<_, i64>(4),
            row.get::<_, bool>(5),
        )
    });
    let first = results[0];
    for r in &results {
        assert_eq!(
            (r.0, r.1, r.2),
            (first.0, first.1, first.2),
            "every caller sees the same result"
        );
    }
    assert_eq!(
        results.iter().filter(|r| !r.3).count(),
        1,
        "exactly one original, the rest replays"
    );
    let mut c = connect(&db);
    assert_eq!(
        scalar_i64(&mut c, "SELECT count(*) FROM loyalty.loyalty_ledger WHERE idempotency_key = 'same-key-at-once'"),
        1
    );
    assert_eq!(balance_of(&mut c, player), 75);
    assert_invariants(&mut c);
    println!("same key x{n}: one ledger row, {} replays", n - 1);
}

#[test]
fn the_same_key_for_different_players_at_once_is_one_row_and_clean_conflicts() {
    let db = setup();
    let n = 8;
    let results = parallel(n, |t, barrier| {
        let player = format!("c0000000-0000-0000-0001-{t:012}");
        let mut c = connect(&db);
        let mut tx = c.transaction().unwrap();
        barrier.wait();
        match increment(&mut tx, &Call::promotion(&player, 30, "contested-key")) {
            Ok(_) => {
                tx.batch_execute("SELECT pg_sleep(0.05)").unwrap();
                tx.commit().unwrap();
                Ok(())
            }
            Err(e) => Err((
                sqlstate(&e),
                e.as_db_error().map(|d| d.message().to_string()),
            )),
        }
    });
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(r.0, "23505");
        let msg = r.1.clone().unwrap_or_default();
        assert!(
            msg.contains("idempotency key contested-key"),
            "clear message, got {msg}"
        );
    }
    let mut c = connect(&db);
    assert_eq!(
        scalar_i64(
            &mut c,
            "SELECT count(*) FROM loyalty.loyalty_ledger WHERE idempotency_key = 'contested-key'"
        ),
        1
    );
    assert_invariants(&mut c);
}
