//! Attacks on the 0.2.0 trust boundary itself, found by a cold-read review
//! before its release (issue 13).  Like `attacks.rs`, each is an insider's
//! attempt with only the README's application grants, against the real
//! server, and asserts that it now fails and writes nothing.  Each of them
//! succeeded against the reviewed code (commit 2c3379e); 0.1.0 had neither
//! the features nor these holes, so `scripts/test.sh` does not run this file
//! against it.

mod common;

use common::*;
use postgres::Client;
use std::time::Duration;

const DB: &str = "loyalty_it_attacks_review";
const HOST: &str = "a8000000-0000-0000-0000-0000000000a1";
const CASHIER: &str = "a8000000-0000-0000-0000-0000000000c1";
const RECOVERER: &str = "a8000000-0000-0000-0000-0000000000e1";
/// Rewards only in the early-transaction test, so that no other test's
/// rewards count in its short window.
const EARLY_HOST: &str = "a8000000-0000-0000-0000-0000000000a2";

/// The README's application role and a login role in it; returns
/// (admin connection, group, login).
fn setup() -> (Client, String, String) {
    let db = shared_db(DB);
    let mut c = connect(&db);
    grant_staff(&mut c, HOST, &["loyalty:award", "loyalty:adjust"]);
    grant_staff(&mut c, CASHIER, &["loyalty:redeem"]);
    grant_staff(&mut c, RECOVERER, &["loyalty:recover"]);
    grant_staff(&mut c, EARLY_HOST, &["loyalty:award"]);
    static ROLES: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (group, login) = ROLES
        .get_or_init(|| {
            let group = format!("review_app_{}", std::process::id());
            let login = format!("{group}_login");
            readme_application_grants(&mut c, &group);
            c.batch_execute(&format!("CREATE ROLE {login} LOGIN IN ROLE {group}"))
                .unwrap();
            (group, login)
        })
        .clone();
    (c, group, login)
}

fn app(login: &str) -> Client {
    connect_as(DB, login)
}

fn reward_sql(player: &str, staff: &str, sequence: i32) -> String {
    format!(
        "SELECT 1 FROM loyalty.manual_reward('{player}', '{staff}', 10, 'courtesy for the table', p_sequence => {sequence})"
    )
}

#[test]
fn opening_a_transaction_early_to_beat_the_rate_limit() {
    let (mut admin, group, _) = setup();
    // A login role of its own with a short window: 3 rewards per 2 s.
    let login = format!("{group}_early");
    admin
        .batch_execute(&format!(
            "CREATE ROLE {login} LOGIN IN ROLE {group};
             ALTER ROLE {login} IN DATABASE {DB} SET loyalty.manual_reward_rate_limit = 3;
             ALTER ROLE {login} IN DATABASE {DB} SET loyalty.manual_reward_rate_window = 2;"
        ))
        .unwrap();
    let player = "a8000000-0000-0000-0001-000000000001";
    // A transaction opened now and used once the window has passed: its
    // rewards must count from when they are made, not from its start.
    let mut early = app(&login);
    early.batch_execute("BEGIN; SELECT 1").unwrap();
    std::thread::sleep(Duration::from_millis(2300));
    for sequence in 1..=3 {
        early
            .batch_execute(&reward_sql(player, EARLY_HOST, sequence))
            .unwrap();
    }
    early.batch_execute("COMMIT").unwrap();
    let mut next = app(&login);
    let r = next.batch_execute(&reward_sql(player, EARLY_HOST, 4));
    assert_eq!(
        state_of(r),
        "53400",
        "a fourth reward within 2 s of three others"
    );
    assert_eq!(ledger_rows(&mut admin, player), 3);
    drop((early, next));
    admin
        .batch_execute(&format!(
            "ALTER ROLE {login} IN DATABASE {DB} RESET ALL; DROP ROLE {login}"
        ))
        .unwrap();
    assert_invariants(&mut admin);
}

#[test]
fn a_transaction_opened_before_a_campaign_closed_credits_it_after() {
    let (mut admin, _, login) = setup();
    admin
        .batch_execute(
            "INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to, budget_points)
             VALUES ('review-flash', 50, now() - interval '1 hour', clock_timestamp() + interval '1 second', 1000)",
        )
        .unwrap();
    let player = "a8000000-0000-0000-0001-000000000002";
    let mut c = app(&login);
    c.batch_execute("BEGIN; SELECT 1").unwrap();
    std::thread::sleep(Duration::from_millis(1300));
    let r = c.batch_execute(&format!(
        "SELECT 1 FROM loyalty.apply_promotion('{player}', 'review-flash', 50)"
    ));
    assert_eq!(
        state_of(r),
        "55000",
        "the campaign closed before the credit"
    );
    c.batch_execute("ROLLBACK").unwrap();
    assert_eq!(ledger_rows(&mut admin, player), 0);
    assert_invariants(&mut admin);
}

#[test]
fn crediting_a_recorded_slip_directly() {
    let (mut admin, _, login) = setup();
    let player = "a8000000-0000-0000-0001-000000000003";
    let slip = "a8000000-0000-0000-0002-000000000003";
    admin
        .execute(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 10, 'PROMOTION', 'review-seed-3')",
            &[&player],
        )
        .unwrap();
    // The slip is recorded, its credit fails on a lock (pending recovery).
    let mut c = app(&login);
    let blocker = Blocker::lock_players(DB, &[player.to_string()]);
    let mut tx = c.transaction().unwrap();
    tx.batch_execute("SET LOCAL loyalty.lock_timeout = 50")
        .unwrap();
    let status: String = complete_slip(&mut tx, slip, player, "25", 3600, None)
        .unwrap()
        .get("status");
    tx.commit().unwrap();
    blocker.release();
    assert_eq!(status, "PARTIAL_COMPLETION");
    // The application credits the slip itself, at the most points it may.
    let direct = format!(
        "SELECT 1 FROM loyalty.increment_player_loyalty('{player}', 100000, 'GAMEPLAY',
                loyalty.gameplay_key('{slip}'), p_rating_slip_id => '{slip}')"
    );
    assert_eq!(
        state_of(c.batch_execute(&direct)),
        "55000",
        "a pending slip"
    );
    // A person abandons it; the application credits it anyway.
    admin
        .execute(
            "SELECT 1 FROM loyalty.resolve_accrual($1::text::uuid, $2::text::uuid, 'abandon', 'no play was seen on camera')",
            &[&slip, &RECOVERER],
        )
        .unwrap();
    assert_eq!(
        state_of(c.batch_execute(&direct)),
        "55000",
        "an abandoned slip"
    );
    let gameplay = scalar_i64(
        &mut admin,
        &format!("SELECT count(*) FROM loyalty.loyalty_ledger WHERE rating_slip_id = '{slip}'"),
    );
    assert_eq!(gameplay, 0);
    assert_invariants(&mut admin);
}

#[test]
fn squatting_derived_keys_to_block_a_correction_and_a_slip() {
    let (mut admin, _, login) = setup();
    let player = "a8000000-0000-0000-0001-000000000004";
    let slip = "a8000000-0000-0000-0002-000000000004";
    admin
        .execute(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 100, 'PROMOTION', 'review-seed-4')",
            &[&player],
        )
        .unwrap();
    let mut c = app(&login);
    let granted: i64 = c
        .query_one(
            "SELECT ledger_id FROM loyalty.manual_reward($1::text::uuid, $2::text::uuid, 5000, 'high roller courtesy grant')",
            &[&player, &HOST],
        )
        .unwrap()
        .get(0);
    // The reward's reversal key, and the slip's, taken by 1-point
    // redemptions the cashier makes with caller-chosen keys.
    for (reason, key) in [
        (
            "bottle of water comp",
            format!("loyalty.idempotency_key(jsonb_build_object('type', 'reversal', 'ledgerId', {granted}))"),
        ),
        ("another water comp", format!("loyalty.gameplay_key('{slip}')")),
    ] {
        c.batch_execute(&format!(
            "SELECT 1 FROM loyalty.redeem_points('{player}', 1, '{CASHIER}', '{reason}', {key})"
        ))
        .unwrap();
    }
    // The correction still goes through, once.
    let reverse = format!(
        "SELECT idempotent_replay, balance_before - balance_after FROM loyalty.reverse_entry({granted}, '{HOST}', 'fraudulent courtesy grant')"
    );
    for replay in [false, true] {
        let row = c
            .query_one(&reverse, &[])
            .unwrap_or_else(|e| panic!("the reversal was blocked: {e:?}"));
        assert_eq!(row.get::<_, bool>(0), replay);
        assert_eq!(row.get::<_, i64>(1), 5000);
    }
    // The slip still earns, once.
    let first: String = complete_slip(&mut c, slip, player, "25", 3600, None)
        .unwrap()
        .get("status");
    let again: String = complete_slip(&mut c, slip, player, "25", 3600, None)
        .unwrap()
        .get("status");
    assert_eq!(
        (first.as_str(), again.as_str()),
        ("COMPLETED", "ALREADY_COMPLETED")
    );
    let gameplay = scalar_i64(
        &mut admin,
        &format!("SELECT count(*) FROM loyalty.loyalty_ledger WHERE rating_slip_id = '{slip}' AND transaction_type = 'GAMEPLAY'"),
    );
    assert_eq!(gameplay, 1);
    assert_invariants(&mut admin);
}

#[test]
fn a_retry_racing_its_original_counts_twice() {
    let (mut admin, _, login) = setup();
    admin
        .batch_execute(
            "INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to, budget_points)
             VALUES ('review-race', 100, now() - interval '1 hour', now() + interval '1 day', 1000)",
        )
        .unwrap();
    let player = "a8000000-0000-0000-0001-000000000005";
    let used = |admin: &mut Client| -> i64 {
        admin
            .query_one(
                "SELECT used FROM loyalty.rate_limit_status($1::text::uuid)",
                &[&HOST],
            )
            .unwrap()
            .get::<_, i32>(0) as i64
    };
    let used_before = used(&mut admin);
    for call in [
        format!("SELECT idempotent_replay FROM loyalty.apply_promotion('{player}', 'review-race', 100)"),
        format!(
            "SELECT idempotent_replay FROM loyalty.manual_reward('{player}', '{HOST}', 10, 'courtesy for the table')"
        ),
    ] {
        // The original holds its locks; its retry waits, then finds it.
        let mut original = app(&login);
        original.batch_execute("BEGIN").unwrap();
        assert!(!original.query_one(&call, &[]).unwrap().get::<_, bool>(0));
        let retry = std::thread::scope(|s| {
            let login = login.clone();
            let call = call.clone();
            let retry = s.spawn(move || {
                let mut c = app(&login);
                c.query_one(&call, &[]).map(|r| r.get::<_, bool>(0))
            });
            until_waiting(&mut admin, DB, 1);
            original.batch_execute("COMMIT").unwrap();
            retry.join().unwrap()
        });
        assert_eq!(retry.ok(), Some(true), "{call}: the retry is a replay");
    }
    let credited = scalar_i64(
        &mut admin,
        "SELECT credited_points FROM loyalty.promotion_campaign WHERE reward_id = 'review-race'",
    );
    assert_eq!(credited, 100, "the campaign counted one credit");
    assert_eq!(
        used(&mut admin),
        used_before + 1,
        "the quota counted one reward"
    );
    assert_invariants(&mut admin);
}

#[test]
fn a_token_kept_from_before_the_audience_was_required() {
    let (mut admin, _, _) = setup();
    admin
        .batch_execute(
            "INSERT INTO loyalty.trusted_key (kid, algorithm, key)
             VALUES ('review-hs', 'HS256', 'review shared secret') ON CONFLICT DO NOTHING",
        )
        .unwrap();
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("review-hs".into());
    let token = jsonwebtoken::encode(
        &header,
        &serde_json::json!({"sub": HOST, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(b"review shared secret"),
    )
    .unwrap();
    let player = "a8000000-0000-0000-0001-000000000006";
    let mut c = connect(DB);
    let reward = |c: &mut Client, sequence: i32| {
        c.batch_execute(&format!(
            "BEGIN; SET LOCAL loyalty.staff_token = '{token}';
             SELECT 1 FROM loyalty.manual_reward('{player}', NULL, 10, 'courtesy for the table', p_sequence => {sequence});
             COMMIT;"
        ))
    };
    // Verified (and kept by the session) while no audience is required ...
    reward(&mut c, 1).unwrap();
    // ... then the casino requires tokens for this database's audience.
    c.batch_execute("SET loyalty.staff_token_audience = 'casino-floor'")
        .unwrap();
    let r = reward(&mut c, 2);
    assert_eq!(state_of(r), "42501", "a token without the audience");
    c.batch_execute("ROLLBACK").unwrap();
    assert_eq!(ledger_rows(&mut admin, player), 1);
    assert_invariants(&mut admin);
}
