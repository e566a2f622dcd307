//! Attacks on holds (issue 15, SPEC section 15), with the README's
//! application grants: capture more than was held, capture another
//! casino's hold, release a captured hold, replay a hold's key with other
//! points, hold without loyalty:redeem, spend held points twice, capture an
//! expired hold.  Each is refused with the SQLSTATE of SPEC section 8 and
//! leaves balance, points held and ledger as they were.

mod common;

use common::*;
use postgres::Client;

const DB: &str = "loyalty_it_attacks_holds";
const CASHIER: &str = "a1000000-0000-0000-0000-0000000000c1";
const HOST: &str = "a1000000-0000-0000-0000-0000000000c2";
const OTHER_CASINO: &str = "a1000000-0000-0000-0000-00000000000b";

fn setup() -> (Client, String) {
    let db = shared_db(DB);
    let mut c = connect(&db);
    static LOGIN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let login = LOGIN
        .get_or_init(|| {
            let group = format!("hold_attack_app_{}", std::process::id());
            readme_application_grants(&mut c, &group);
            grant_staff(&mut c, CASHIER, &["loyalty:redeem"]);
            grant_staff(&mut c, HOST, &["loyalty:award"]);
            c.batch_execute(&format!(
                "CREATE ROLE {group}_login LOGIN IN ROLE {group};
                 INSERT INTO loyalty.casino (casino_id, name) VALUES ('{OTHER_CASINO}', 'hold attacks B');
                 INSERT INTO loyalty.staff_permission (casino_id, staff_id, capabilities)
                 VALUES ('{OTHER_CASINO}', '{CASHIER}', ARRAY['loyalty:redeem']);"
            ))
            .unwrap();
            format!("{group}_login")
        })
        .clone();
    (c, login)
}

/// A player with `points`, and a hold of `held` of them by the cashier.
fn player_with_hold(c: &mut Client, player: &str, points: i32, held: i32, key: &str) -> i64 {
    c.query_one(
        "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, $2, 'PROMOTION', $3 || '-seed')",
        &[&player, &points, &key],
    )
    .unwrap();
    c.query_one(
        "SELECT hold_id FROM loyalty.hold_points($1::text::uuid, $2, $3::text::uuid, 'two tickets for the late show', $4)",
        &[&player, &held, &CASHIER, &key],
    )
    .unwrap()
    .get(0)
}

/// Balance, points held and ledger rows of a player at the default casino.
fn state(c: &mut Client, player: &str) -> (i64, i64, i64) {
    let r = c
        .query_one(
            "SELECT current_balance, held_points,
                    (SELECT count(*) FROM loyalty.loyalty_ledger l WHERE l.player_id = p.player_id)
               FROM loyalty.player_loyalty p
              WHERE casino_id = '00000000-0000-0000-0000-000000000000' AND player_id = $1::text::uuid",
            &[&player],
        )
        .unwrap();
    (r.get(0), r.get(1), r.get(2))
}

#[test]
fn capturing_more_than_was_held() {
    let (mut admin, login) = setup();
    let player = "a1000000-0000-0000-0001-000000000001";
    let hold = player_with_hold(&mut admin, player, 1000, 300, "more-than-held");
    let before = state(&mut admin, player);
    let mut app = connect_as(DB, &login);
    for points in [301, 1000, i32::MAX, 0, -5] {
        let r = app.query_one(
            "SELECT 1 FROM loyalty.capture_hold($1, $2::text::uuid, $3)",
            &[&hold, &CASHIER, &points],
        );
        assert_eq!(
            state_of(r),
            "22023",
            "capture of {points} from a hold of 300"
        );
    }
    assert_eq!(state(&mut admin, player), before);
    assert_invariants(&mut admin);
}

#[test]
fn capturing_another_casinos_hold() {
    let (mut admin, login) = setup();
    let player = "a1000000-0000-0000-0001-000000000002";
    admin
        .query_one(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 500, 'PROMOTION', 'b-seed',
                    p_casino_id => $2::text::uuid)",
            &[&player, &OTHER_CASINO],
        )
        .unwrap();
    let hold: i64 = admin
        .query_one(
            "SELECT hold_id FROM loyalty.hold_points($1::text::uuid, 200, $2::text::uuid,
                    'two tickets for the late show', 'b-hold', p_casino_id => $3::text::uuid)",
            &[&player, &CASHIER, &OTHER_CASINO],
        )
        .unwrap()
        .get(0);
    // The application acts for the default casino: B's hold is unknown
    // there, as one never made.
    let mut app = connect_as(DB, &login);
    let r = app.query_one(
        "SELECT 1 FROM loyalty.capture_hold($1, $2::text::uuid)",
        &[&hold, &CASHIER],
    );
    assert_eq!(state_of(r), "P0002");
    let r = app.query_one(
        "SELECT 1 FROM loyalty.release_hold($1, $2::text::uuid, 'not my casino at all')",
        &[&hold, &CASHIER],
    );
    assert_eq!(state_of(r), "P0002");
    let status: String = admin
        .query_one(
            "SELECT status FROM loyalty.point_hold WHERE hold_id = $1",
            &[&hold],
        )
        .unwrap()
        .get(0);
    assert_eq!(status, "ACTIVE");
    assert_invariants(&mut admin);
}

#[test]
fn releasing_a_captured_hold_and_capturing_it_twice() {
    let (mut admin, login) = setup();
    let player = "a1000000-0000-0000-0001-000000000003";
    let hold = player_with_hold(&mut admin, player, 1000, 400, "captured-twice");
    let mut app = connect_as(DB, &login);
    app.query_one(
        "SELECT 1 FROM loyalty.capture_hold($1, $2::text::uuid, 250)",
        &[&hold, &CASHIER],
    )
    .expect("the capture");
    let after = state(&mut admin, player);
    assert_eq!((after.0, after.1), (750, 0), "250 charged, 150 released");
    for sql in [
        "SELECT 1 FROM loyalty.release_hold($1, $2::text::uuid, 'release after the capture')",
        "SELECT 1 FROM loyalty.capture_hold($1, $2::text::uuid)",
        "SELECT 1 FROM loyalty.capture_hold($1, $2::text::uuid, 150)",
    ] {
        assert_eq!(
            state_of(app.query_one(sql, &[&hold, &CASHIER])),
            "55000",
            "{sql}"
        );
    }
    assert_eq!(
        state(&mut admin, player),
        after,
        "nothing charged or freed twice"
    );
    assert_invariants(&mut admin);
}

#[test]
fn replaying_a_holds_key_with_other_points() {
    let (mut admin, login) = setup();
    let player = "a1000000-0000-0000-0001-000000000004";
    player_with_hold(&mut admin, player, 1000, 300, "replayed-key");
    let before = state(&mut admin, player);
    let mut app = connect_as(DB, &login);
    let r = app.query_one(
        "SELECT 1 FROM loyalty.hold_points($1::text::uuid, 301, $2::text::uuid, 'two tickets for the late show', 'replayed-key')",
        &[&player, &CASHIER],
    );
    assert_eq!(state_of(r), "23505");
    // The same request is a replay: the same hold, nothing more held.
    let replay: bool = app
        .query_one(
            "SELECT idempotent_replay FROM loyalty.hold_points($1::text::uuid, 300, $2::text::uuid,
                    'two tickets for the late show', 'replayed-key')",
            &[&player, &CASHIER],
        )
        .unwrap()
        .get(0);
    assert!(replay);
    assert_eq!(state(&mut admin, player), before);
}

#[test]
fn holding_without_loyalty_redeem() {
    let (mut admin, login) = setup();
    let player = "a1000000-0000-0000-0001-000000000005";
    let hold = player_with_hold(&mut admin, player, 1000, 100, "without-redeem");
    let before = state(&mut admin, player);
    let mut app = connect_as(DB, &login);
    for (sql, staff) in [
        ("SELECT 1 FROM loyalty.hold_points($1::text::uuid, 100, $2::text::uuid, 'a hold by the host', 'host-hold')", HOST),
        ("SELECT 1 FROM loyalty.hold_points($1::text::uuid, 100, $2::text::uuid, 'a hold by nobody', 'nobody-hold')",
         "a1000000-0000-0000-0000-0000000000ff"),
    ] {
        assert_eq!(state_of(app.query_one(sql, &[&player, &staff])), "42501", "{sql}");
    }
    for staff in [HOST, "a1000000-0000-0000-0000-0000000000ff"] {
        let r = app.query_one(
            "SELECT 1 FROM loyalty.capture_hold($1, $2::text::uuid)",
            &[&hold, &staff],
        );
        assert_eq!(state_of(r), "42501");
        let r = app.query_one(
            "SELECT 1 FROM loyalty.release_hold($1, $2::text::uuid, 'released by the host')",
            &[&hold, &staff],
        );
        assert_eq!(state_of(r), "42501");
    }
    assert_eq!(state(&mut admin, player), before);
}

#[test]
fn spending_held_points_twice() {
    let (mut admin, login) = setup();
    let player = "a1000000-0000-0000-0001-000000000006";
    player_with_hold(&mut admin, player, 500, 400, "spent-twice");
    let before = state(&mut admin, player);
    let mut app = connect_as(DB, &login);
    // Every debit path: a redemption, another hold, an adjustment.
    let r = app.query_one(
        "SELECT 1 FROM loyalty.redeem_points($1::text::uuid, 101, $2::text::uuid, 'steakhouse dinner for two', 'spent-twice-r')",
        &[&player, &CASHIER],
    );
    assert_eq!(state_of(r), "23514");
    let r = app.query_one(
        "SELECT 1 FROM loyalty.hold_points($1::text::uuid, 101, $2::text::uuid, 'spa treatment on sunday', 'spent-twice-h')",
        &[&player, &CASHIER],
    );
    assert_eq!(state_of(r), "23514");
    grant_staff(
        &mut admin,
        "a1000000-0000-0000-0000-0000000000ad",
        &["loyalty:adjust"],
    );
    let r = app.query_one(
        "SELECT 1 FROM loyalty.adjust_points($1::text::uuid, 'a1000000-0000-0000-0000-0000000000ad', -101,
                'correction that takes held points', 'spent-twice-a')",
        &[&player],
    );
    assert_eq!(state_of(r), "23514");
    assert_eq!(state(&mut admin, player), before);
    assert_invariants(&mut admin);
}

#[test]
fn capturing_an_expired_hold() {
    let (mut admin, login) = setup();
    let player = "a1000000-0000-0000-0001-000000000007";
    admin
        .query_one(
            "SELECT 1 FROM loyalty.increment_player_loyalty($1::text::uuid, 500, 'PROMOTION', 'expired-seed')",
            &[&player],
        )
        .unwrap();
    let hold: i64 = admin
        .query_one(
            "SELECT hold_id FROM loyalty.hold_points($1::text::uuid, 300, $2::text::uuid,
                    'valet for the matinee', 'expired-hold', clock_timestamp() + interval '300 milliseconds')",
            &[&player, &CASHIER],
        )
        .unwrap()
        .get(0);
    std::thread::sleep(std::time::Duration::from_millis(400));
    let mut app = connect_as(DB, &login);
    let r = app.query_one(
        "SELECT 1 FROM loyalty.capture_hold($1, $2::text::uuid, 1)",
        &[&hold, &CASHIER],
    );
    assert_eq!(state_of(r), "55000", "an expired hold is not captured");
    // Its points are free again at once.
    let available: i64 = app
        .query_one(
            "SELECT balance_after FROM loyalty.redeem_points($1::text::uuid, 500, $2::text::uuid,
                    'steakhouse dinner for two', 'expired-then-redeemed')",
            &[&player, &CASHIER],
        )
        .map(|r| r.get(0))
        .expect("the expired hold's points are available");
    assert_eq!(available, 0);
    assert_invariants(&mut admin);
}
