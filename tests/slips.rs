//! The rating-slip saga over real connections (issue 4): SPEC scenarios 1,
//! 2, 6 and 7, concurrent recovery of 1,000 pending slips, a crash between
//! recording and accrual, and recovery by pg_cron.  The tests that look at
//! every pending accrual (recover_pending, pending_accruals) each have a
//! database of their own, so no test depends on which ran before it.

mod common;

use common::*;
use std::collections::HashSet;
use std::thread;
use std::time::{Duration, Instant};

const DB: &str = "loyalty_it_slips";

fn setup() -> String {
    shared_db(DB)
}

fn ensure_player(c: &mut postgres::Client, player: &str) {
    c.query_one(
        "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 10, 'PROMOTION', 'seed-' || $1, 'seed balance')",
        &[&player],
    )
    .unwrap();
}

/// Moves every failed accrual's next attempt to now, as if its backoff had
/// passed (recover_pending takes only the due ones).
fn make_due(c: &mut postgres::Client) {
    c.execute(
        "UPDATE loyalty.rating_slip_accrual SET next_attempt_at = now() WHERE status = 'FAILED'",
        &[],
    )
    .unwrap();
}

/// Leaves a committed PARTIAL_COMPLETION for `slip`: the player's row is
/// locked elsewhere past loyalty.lock_timeout while the slip closes.
fn partial_completion(db: &str, slip: &str, player: &str, corr: &str) -> postgres::Row {
    let mut c = connect(db);
    ensure_player(&mut c, player);
    let blocker = Blocker::lock_players(db, &[player.to_string()]);
    let mut tx = c.transaction().unwrap();
    tx.batch_execute("SET LOCAL loyalty.lock_timeout = 100")
        .unwrap();
    let row = complete_slip(&mut tx, slip, player, "25", 3600, Some(corr)).unwrap();
    tx.commit().unwrap();
    blocker.release();
    row
}

#[test]
fn scenarios_1_and_2_one_gameplay_row_once() {
    let db = setup();
    let mut c = connect(&db);
    let (slip, player) = (
        "51000000-0000-0000-0001-000000000001",
        "f1000000-0000-0000-0001-000000000001",
    );
    let first = complete_slip(&mut c, slip, player, "25", 3600, Some("sc1")).unwrap();
    assert_eq!(first.get::<_, String>(0), "COMPLETED");
    let points: i32 = first.get(1);
    assert_eq!(points, 300);
    let row = c
        .query_one(
            "SELECT balance_before, balance_after, transaction_type, correlation_id FROM loyalty.loyalty_ledger WHERE id = $1",
            &[&first.get::<_, i64>(2)],
        )
        .unwrap();
    assert_eq!(row.get::<_, i64>(0), 0);
    assert_eq!(row.get::<_, i64>(1), points as i64);
    assert_eq!(row.get::<_, String>(2), "GAMEPLAY");
    assert_eq!(row.get::<_, String>(3), "sc1");
    let again = complete_slip(&mut c, slip, player, "25", 3600, Some("sc2-retry")).unwrap();
    assert_eq!(again.get::<_, String>(0), "ALREADY_COMPLETED");
    assert_eq!(again.get::<_, i64>(3), points as i64, "balance unchanged");
    assert_eq!(ledger_rows(&mut c, player), 1);
    assert_invariants(&mut c);
}

#[test]
fn scenario_6_partial_completion_then_recovery() {
    let db = setup();
    let (slip, player) = (
        "51000000-0000-0000-0006-000000000001",
        "f1000000-0000-0000-0006-000000000001",
    );
    let partial = partial_completion(&db, slip, player, "slip-6-close");
    assert_eq!(partial.get::<_, String>(0), "PARTIAL_COMPLETION");
    assert_eq!(partial.get::<_, String>(4), "slip-6-close");
    assert!(
        partial.get::<_, String>(5).starts_with("55P03"),
        "{:?}",
        partial.get::<_, String>(5)
    );

    let mut c = connect(&db);
    let pending = c
        .query_one(
            "SELECT status, attempts, last_sqlstate, correlation_id FROM loyalty.pending_accruals WHERE rating_slip_id = $1::text::uuid",
            &[&slip],
        )
        .unwrap();
    assert_eq!(pending.get::<_, String>(0), "FAILED");
    assert_eq!(pending.get::<_, String>(2), "55P03");
    assert_eq!(
        pending.get::<_, String>(3),
        "slip-6-close",
        "correlation id stored"
    );

    let recovered = c
        .query_one("SELECT status, points, correlation_id FROM loyalty.recover_rating_slip($1::text::uuid)", &[&slip])
        .unwrap();
    assert_eq!(recovered.get::<_, String>(0), "COMPLETED");
    assert_eq!(recovered.get::<_, String>(2), "slip-6-close");
    let again = c
        .query_one(
            "SELECT status, points FROM loyalty.recover_rating_slip($1::text::uuid)",
            &[&slip],
        )
        .unwrap();
    assert_eq!(again.get::<_, String>(0), "ALREADY_COMPLETED");
    assert_eq!(again.get::<_, i32>(1), recovered.get::<_, i32>(1));
    let rows = c
        .query(
            "SELECT correlation_id FROM loyalty.loyalty_ledger WHERE rating_slip_id = $1::text::uuid",
            &[&slip],
        )
        .unwrap();
    assert_eq!(rows.len(), 1, "one ledger row after two recoveries");
    assert_eq!(rows[0].get::<_, String>(0), "slip-6-close");
    assert_invariants(&mut c);
}

#[test]
fn scenario_7_slip_and_manual_reward_in_parallel() {
    let db = setup();
    let (slip, player) = (
        "51000000-0000-0000-0007-000000000001",
        "f1000000-0000-0000-0007-000000000001",
    );
    let staff = "5aff0000-0000-0000-0007-000000000001";
    grant_staff(&mut connect(&db), staff, &["loyalty:award"]);
    // Thread 0 closes the slip, thread 1 grants the reward, at the same moment.
    let outcomes = parallel(2, |i, barrier| {
        let mut c = connect(&db);
        let mut tx = c.transaction().unwrap();
        barrier.wait();
        let out = if i == 0 {
            let r = complete_slip(&mut tx, slip, player, "25", 3600, None).unwrap();
            Some((r.get::<_, String>(0), r.get::<_, i32>(1)))
        } else {
            manual_reward(&mut tx, player, staff, 50, "comp for a long session").unwrap();
            None
        };
        tx.batch_execute("SELECT pg_sleep(0.05)").unwrap();
        tx.commit().unwrap();
        out
    });
    let (status, points) = outcomes[0].clone().expect("the slip's outcome");
    assert_eq!(status, "COMPLETED");
    let mut c = connect(&db);
    assert_eq!(balance_of(&mut c, player), points as i64 + 50);
    assert_eq!(ledger_rows(&mut c, player), 2);
    assert_invariants(&mut c);
}

#[test]
fn eight_connections_recover_a_thousand_pending_slips_exactly_once() {
    let db = fresh_db("loyalty_it_slips_recover");
    let n = 1000;
    let players: Vec<String> = (0..n)
        .map(|i| format!("f1000000-0000-0000-1000-{i:012}"))
        .collect();
    let mut c = connect(&db);
    c.execute(
        "SELECT count(*) FROM unnest($1::text[]) p,
                LATERAL loyalty.increment_player_loyalty(p::uuid, 10, 'PROMOTION', 'seed-' || p, 'seed balance')",
        &[&players],
    )
    .unwrap();
    let blocker = Blocker::lock_players(&db, &players);
    let partial = c
        .query_one(
            "SELECT count(*) FILTER (WHERE s.status = 'PARTIAL_COMPLETION')
               FROM (SELECT 1) one, LATERAL (SELECT set_config('loyalty.lock_timeout', '1', false)) cfg,
                    unnest($1::text[]) WITH ORDINALITY AS p(player, i),
                    LATERAL loyalty.complete_rating_slip(
                        ('51000000-0000-0000-1000-' || lpad(p.i::text, 12, '0'))::uuid, p.player::uuid,
                        25, 3600, '{\"house_edge\": 2, \"average_rounds_per_hour\": 60}') s",
            &[&players],
        )
        .unwrap()
        .get::<_, i64>(0);
    blocker.release();
    assert_eq!(partial, n as i64, "every slip is pending");
    // The failed attempts' backoff has passed: every slip is due.
    make_due(&mut c);

    let start = Instant::now();
    let all: Vec<(String, String)> = parallel(8, |_, barrier| {
        let mut c = connect(&db);
        barrier.wait();
        let mut mine = Vec::new();
        loop {
            let rows = c
                .query(
                    "SELECT rating_slip_id::text, status FROM loyalty.recover_pending(25)",
                    &[],
                )
                .unwrap();
            if rows.is_empty() {
                break;
            }
            mine.extend(
                rows.iter()
                    .map(|r| (r.get::<_, String>(0), r.get::<_, String>(1))),
            );
        }
        mine
    })
    .into_iter()
    .flatten()
    .collect();
    let distinct: HashSet<&String> = all.iter().map(|(s, _)| s).collect();
    assert_eq!(
        all.len(),
        n,
        "each slip attempted exactly once across the 8 callers"
    );
    assert_eq!(distinct.len(), n);
    assert!(
        all.iter().all(|(_, s)| s == "COMPLETED"),
        "{:?}",
        all.iter().find(|(_, s)| s != "COMPLETED")
    );
    let rows = scalar_i64(
        &mut c,
        "SELECT count(*) FROM loyalty.loyalty_ledger WHERE rating_slip_id::text LIKE '51000000-0000-0000-1000-%'",
    );
    assert_eq!(rows, n as i64, "one GAMEPLAY row per slip");
    assert_eq!(
        scalar_i64(&mut c, "SELECT count(*) FROM loyalty.pending_accruals"),
        0
    );
    assert_invariants(&mut c);
    println!(
        "recover_pending x8: {n} pending slips completed exactly once in {:?}",
        start.elapsed()
    );
}

#[test]
fn a_crash_between_recording_and_accrual_leaves_a_recoverable_request() {
    let db = fresh_db("loyalty_it_slips_crash");
    // 1. A committed request whose accrual failed, then a crash.
    let (slip, player) = (
        "51000000-0000-0000-00c1-000000000001",
        "f1000000-0000-0000-00c1-000000000001",
    );
    let partial = partial_completion(&db, slip, player, "slip-before-crash");
    assert_eq!(partial.get::<_, String>(0), "PARTIAL_COMPLETION");
    // 2. A slip close in flight (waiting for a player lock) when the server dies.
    let (slip2, player2) = (
        "51000000-0000-0000-00c1-000000000002",
        "f1000000-0000-0000-00c1-000000000002",
    );
    ensure_player(&mut connect(&db), player2);
    let blocker = Blocker::lock_players(&db, &[player2.to_string()]);
    let db2 = db.clone();
    let in_flight = thread::spawn(move || {
        let mut c = connect(&db2);
        let mut tx = c.transaction().unwrap();
        tx.batch_execute("SET LOCAL loyalty.lock_timeout = 0")
            .unwrap();
        complete_slip(&mut tx, slip2, player2, "25", 3600, None).and_then(|_| tx.commit())
    });
    thread::sleep(Duration::from_millis(300));
    crash_and_restart();
    assert!(
        in_flight.join().unwrap().is_err(),
        "the in-flight close died with the server"
    );
    drop(blocker);

    let mut c = connect(&db);
    let pending: Vec<String> = c
        .query(
            "SELECT rating_slip_id::text FROM loyalty.pending_accruals",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        pending,
        vec![slip.to_string()],
        "the committed request survived; the in-flight one left nothing"
    );
    make_due(&mut c);
    let recovered = c
        .query(
            "SELECT rating_slip_id::text, status, correlation_id FROM loyalty.recover_pending()",
            &[],
        )
        .unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].get::<_, String>(1), "COMPLETED");
    assert_eq!(recovered[0].get::<_, String>(2), "slip-before-crash");
    assert_eq!(
        scalar_i64(
            &mut c,
            &format!(
                "SELECT count(*) FROM loyalty.loyalty_ledger WHERE rating_slip_id = '{slip2}'"
            )
        ),
        0
    );
    assert_invariants(&mut c);
    println!(
        "crash: committed pending request recovered after kill -9; in-flight close left no trace"
    );
}

#[test]
fn pg_cron_completes_a_pending_accrual_on_its_own() {
    let db = fresh_db("loyalty_it_slips_cron");
    let (slip, player) = (
        "51000000-0000-0000-00c2-000000000001",
        "f1000000-0000-0000-00c2-000000000001",
    );
    let partial = partial_completion(&db, slip, player, "slip-for-cron");
    assert_eq!(partial.get::<_, String>(0), "PARTIAL_COMPLETION");

    let mut admin = connect("postgres");
    admin
        .batch_execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
        .unwrap();
    let job: i64 = admin
        .query_one(
            "SELECT cron.schedule_in_database('loyalty-recover-it', '* * * * *',
                    'SELECT count(*) FROM loyalty.recover_pending(100)', $1)",
            &[&db],
        )
        .unwrap()
        .get(0);
    let mut c = connect(&db);
    let deadline = Instant::now() + Duration::from_secs(150);
    let mut status = String::new();
    while Instant::now() < deadline {
        status = c
            .query_one(
                "SELECT status FROM loyalty.rating_slip_accrual WHERE rating_slip_id = $1::text::uuid",
                &[&slip],
            )
            .unwrap()
            .get(0);
        if status == "COMPLETED" {
            break;
        }
        thread::sleep(Duration::from_secs(1));
    }
    admin
        .execute("SELECT cron.unschedule($1::bigint)", &[&job])
        .unwrap();
    assert_eq!(status, "COMPLETED", "pg_cron ran loyalty.recover_pending");
    let corr: String = c
        .query_one(
            "SELECT correlation_id FROM loyalty.loyalty_ledger WHERE rating_slip_id = $1::text::uuid",
            &[&slip],
        )
        .unwrap()
        .get(0);
    assert_eq!(corr, "slip-for-cron");
    assert_invariants(&mut c);
    println!("pg_cron: pending accrual completed by the scheduler");
}
