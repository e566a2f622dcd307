//! Manual rewards over real connections (issue 3): the rate limit under
//! concurrency and across a restart, and SPEC scenarios 3, 4 and 8.

mod common;

use common::*;

const DB: &str = "loyalty_it_rewards";

fn setup() -> String {
    shared_db(DB)
}

#[test]
fn twenty_parallel_rewards_by_one_staff_member_yield_exactly_ten() {
    let db = setup();
    let staff = "5aff0000-0000-0000-0000-00000000a020";
    grant_staff(&mut connect(&db), staff, &["loyalty:award"]);
    let n = 20;
    let results = parallel(n, |i, barrier| {
        let mut c = connect(&db);
        let player = format!("e0000000-0000-0000-0000-{i:012}");
        barrier.wait();
        manual_reward(&mut c, &player, staff, 25, "table host goodwill reward")
            .map(|_| player.clone())
            .map_err(|e| {
                let detail = e
                    .as_db_error()
                    .and_then(|d| d.detail().map(str::to_string))
                    .unwrap_or_default();
                (sqlstate(&e), detail)
            })
    });
    let accepted: Vec<String> = results.iter().filter_map(|r| r.clone().ok()).collect();
    let refused: Vec<(String, String)> = results.iter().filter_map(|r| r.clone().err()).collect();
    assert_eq!(
        accepted.len(),
        10,
        "accepted: {accepted:?} refused: {refused:?}"
    );
    assert_eq!(refused.len(), 10);
    for (state, detail) in &refused {
        assert_eq!(state, "53400", "{detail}");
        assert!(detail.contains("remaining=0"), "{detail}");
        assert!(
            detail.contains("reset_at=20"),
            "reset time in DETAIL: {detail}"
        );
        assert!(detail.contains("correlation_id="), "{detail}");
    }
    let mut c = connect(&db);
    let rows = scalar_i64(
        &mut c,
        &format!("SELECT count(*) FROM loyalty.loyalty_ledger WHERE staff_id = '{staff}'"),
    );
    assert_eq!(rows, 10);

    // Replays of accepted rewards are served, never refused, never counted.
    for player in &accepted {
        let row = manual_reward(&mut c, player, staff, 25, "table host goodwill reward")
            .expect("a replay is never refused by the rate limit");
        assert!(row.get::<_, bool>(3), "replay");
    }
    let status = c
        .query_one(
            "SELECT remaining, used FROM loyalty.rate_limit_status($1::text::uuid)",
            &[&staff],
        )
        .unwrap();
    assert_eq!((status.get::<_, i32>(0), status.get::<_, i32>(1)), (0, 10));

    // Still in force after a server restart.
    restart_server();
    let mut c = connect(&db);
    let e = manual_reward(
        &mut c,
        "e0000000-0000-0000-0000-0000000000ff",
        staff,
        25,
        "table host goodwill reward",
    )
    .expect_err("the limit survives a restart");
    assert_eq!(sqlstate(&e), "53400");
    let remaining: i32 = c
        .query_one(
            "SELECT remaining FROM loyalty.rate_limit_status($1::text::uuid)",
            &[&staff],
        )
        .unwrap()
        .get(0);
    assert_eq!(remaining, 0);
    assert_invariants(&mut c);
    println!("rate limit: 20 parallel -> 10 rows, 10 x 53400; replays served; kept across restart");
}

#[test]
fn scenario_3_manual_reward_of_100() {
    let db = setup();
    let mut c = connect(&db);
    let staff = "5aff0000-0000-0000-0000-00000000a003";
    let player = "e0000000-0000-0000-0003-000000000001";
    grant_staff(&mut c, staff, &["loyalty:award"]);
    let before = manual_reward(&mut c, player, staff, 40, "welcome drink voucher")
        .unwrap()
        .get::<_, i64>(1);
    let row = manual_reward(&mut c, player, staff, 100, "birthday dinner for a regular").unwrap();
    assert_eq!(row.get::<_, i64>(0), before);
    assert_eq!(row.get::<_, i64>(1), before + 100);
    let ledger = c
        .query_one(
            "SELECT transaction_type, staff_id::text, points_change FROM loyalty.loyalty_ledger WHERE id = $1",
            &[&row.get::<_, i64>(2)],
        )
        .unwrap();
    assert_eq!(ledger.get::<_, String>(0), "MANUAL_BONUS");
    assert_eq!(ledger.get::<_, String>(1), staff);
    assert_eq!(ledger.get::<_, i32>(2), 100);
    assert_invariants(&mut c);
}

#[test]
fn scenario_4_ten_rewards_in_the_window_then_the_eleventh_is_refused() {
    let db = setup();
    let mut c = connect(&db);
    let staff = "5aff0000-0000-0000-0000-00000000a004";
    grant_staff(&mut c, staff, &["loyalty:award"]);
    for i in 0..10 {
        let player = format!("e0000000-0000-0000-0004-{i:012}");
        manual_reward(&mut c, &player, staff, 10, "regular at the craps table")
            .unwrap_or_else(|e| panic!("reward {i}: {e}"));
    }
    let e = manual_reward(
        &mut c,
        "e0000000-0000-0000-0004-0000000000ff",
        staff,
        10,
        "regular at the craps table",
    )
    .expect_err("eleventh");
    assert_eq!(sqlstate(&e), "53400");
    assert_invariants(&mut c);
}

#[test]
fn scenario_8_same_reward_twice_a_gaming_day_then_next_day() {
    let db = setup();
    let mut c = connect(&db);
    let staff = "5aff0000-0000-0000-0000-00000000a008";
    let player = "e0000000-0000-0000-0008-000000000001";
    grant_staff(&mut c, staff, &["loyalty:award"]);
    // At any moment the gaming day at UTC+12 is one day after the one at
    // UTC-12: the boundary is crossed without waiting for the clock.
    c.batch_execute("SET loyalty.gaming_day_timezone = 'Etc/GMT+12'")
        .unwrap();
    let first = manual_reward(&mut c, player, staff, 100, "same reward, same gaming day").unwrap();
    let second = manual_reward(&mut c, player, staff, 100, "same reward, same gaming day").unwrap();
    assert!(!first.get::<_, bool>(3));
    assert!(second.get::<_, bool>(3), "second is a replay");
    assert_eq!(second.get::<_, i64>(2), first.get::<_, i64>(2));
    assert_eq!(balance_of(&mut c, player), 100);
    c.batch_execute("SET loyalty.gaming_day_timezone = 'Etc/GMT-12'")
        .unwrap();
    let next_day =
        manual_reward(&mut c, player, staff, 100, "same reward, same gaming day").unwrap();
    assert!(!next_day.get::<_, bool>(3), "next gaming day is a new row");
    assert_eq!(balance_of(&mut c, player), 200);
    assert_eq!(ledger_rows(&mut c, player), 2);
    assert_invariants(&mut c);
}
