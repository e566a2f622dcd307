//! Attacks on issue 16's faster paths, found by a cold-read review of
//! commit 790808f (each reproduced there, each fixed since): a writer
//! queued behind a hot player waiting twice `loyalty.lock_timeout`, and a
//! replay using velocity quota when only the login role's limit counts.
//! The batch's holes of the same review are isolation specs
//! (`batch_waits_at_most_lock_timeout`, `batch_refusal_leaves_no_trace`).
//! And one on the batch's later shortcut (a campaign that has credited no
//! one looks no key up): squatting its derived keys before its first run
//! to spend its budget on players who are then refused.
//! Each attack uses only the README's application grants.

mod common;

use common::*;
use postgres::Client;
use std::time::{Duration, Instant};

const DB: &str = "loyalty_it_attacks_perf";
const HOST: &str = "a9000000-0000-0000-0000-0000000000a1";

/// The README's application role and two login roles in it.
fn setup() -> (Client, String, String) {
    let db = shared_db(DB);
    let mut c = connect(&db);
    grant_staff(&mut c, HOST, &["loyalty:award"]);
    static ROLES: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (one, two) = ROLES
        .get_or_init(|| {
            let group = format!("perf_app_{}", std::process::id());
            readme_application_grants(&mut c, &group);
            // Direct promotions for the hot-player test.
            c.batch_execute(&format!(
                "UPDATE loyalty.role_permission SET capabilities = capabilities || '{{loyalty:promote}}'
                  WHERE role_name = '{group}'"
            ))
            .unwrap();
            let (one, two) = (format!("{group}_one"), format!("{group}_two"));
            c.batch_execute(&format!(
                "CREATE ROLE {one} LOGIN IN ROLE {group}; CREATE ROLE {two} LOGIN IN ROLE {group}"
            ))
            .unwrap();
            (one, two)
        })
        .clone();
    (c, one, two)
}

#[test]
fn queueing_behind_a_hot_player_to_wait_twice_the_lock_timeout() {
    let (mut admin, one, _) = setup();
    let player = "a9000000-0000-0000-0001-000000000001";
    admin
        .batch_execute(&format!(
            "SELECT loyalty.increment_player_loyalty('{player}', 10, 'PROMOTION', 'hot-seed')"
        ))
        .unwrap();
    // The holder changes the player and keeps its transaction open.
    let mut holder = connect_as(DB, &one);
    holder
        .batch_execute(&format!(
            "BEGIN; SELECT loyalty.increment_player_loyalty('{player}', 1, 'PROMOTION', 'hot-held')"
        ))
        .unwrap();
    // Three writers arrive one after another: the first waits for the row,
    // the others queue behind it.  Each must give up within one
    // loyalty.lock_timeout (1 s), queueing included.
    let timeout_ms = 1000u64;
    let writers: Vec<_> = (0..3)
        .map(|i| {
            let login = one.clone();
            let player = player.to_string();
            std::thread::sleep(Duration::from_millis(150));
            std::thread::spawn(move || {
                let mut c = connect_as(DB, &login);
                c.batch_execute(&format!("SET loyalty.lock_timeout = {timeout_ms}"))
                    .unwrap();
                let started = Instant::now();
                let r = c.batch_execute(&format!(
                    "SELECT loyalty.increment_player_loyalty('{player}', 1, 'PROMOTION', 'hot-queued-{i}')"
                ));
                (state_of(r), started.elapsed())
            })
        })
        .collect();
    until_waiting(&mut admin, DB, 1);
    for w in writers {
        let (state, waited) = w.join().unwrap();
        assert_eq!(state, "55P03", "a queued writer gives up with 55P03");
        assert!(
            waited < Duration::from_millis(timeout_ms * 17 / 10),
            "waited {waited:?}, more than one loyalty.lock_timeout of {timeout_ms} ms"
        );
    }
    holder.batch_execute("COMMIT").unwrap();
    assert_eq!(balance_of(&mut admin, player), 11);
    assert_invariants(&mut admin);
}

#[test]
fn replaying_from_a_second_login_role_while_only_role_limits_count() {
    let (mut admin, one, two) = setup();
    let player = "a9000000-0000-0000-0001-000000000002";
    // The staff member's limits are off (at the maximum): only each login
    // role's usage row counts a manual reward.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {DB} SET loyalty.manual_reward_rate_limit = 2147483647;
             ALTER DATABASE {DB} SET loyalty.manual_reward_points_limit = 2147483647;"
        ))
        .unwrap();
    let reward = format!(
        "SELECT idempotent_replay FROM loyalty.manual_reward('{player}', '{HOST}', 5, 'retry scenario reward')"
    );
    let mut first = connect_as(DB, &one);
    first.batch_execute("BEGIN").unwrap();
    assert!(!first.query_one(&reward, &[]).unwrap().get::<_, bool>(0));
    // The same request from another login role while the first is open:
    // it waits for it, then is its replay.
    let second = {
        let (two, reward) = (two.clone(), reward.clone());
        std::thread::spawn(move || {
            let mut c = connect_as(DB, &two);
            c.query_one(&reward, &[]).unwrap().get::<_, bool>(0)
        })
    };
    until_waiting(&mut admin, DB, 1);
    first.batch_execute("COMMIT").unwrap();
    assert!(second.join().unwrap(), "the second call is a replay");
    // A replay uses no quota: the second role has counted nothing.
    let counted = scalar_i64(
        &mut admin,
        &format!(
            "SELECT coalesce(sum(c), 0) FROM loyalty.velocity_usage, unnest(event_count) AS c
              WHERE scope = 'role' AND actor = '{two}' AND kind = 'manual_reward'"
        ),
    );
    assert_eq!(counted, 0, "the replaying role's quota is untouched");
    assert_eq!(ledger_rows(&mut admin, player), 1);
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {DB} RESET loyalty.manual_reward_rate_limit;
             ALTER DATABASE {DB} RESET loyalty.manual_reward_points_limit;"
        ))
        .unwrap();
    assert_invariants(&mut admin);
}

#[test]
fn squatting_a_fresh_campaigns_keys_to_spend_its_budget() {
    let (mut admin, one, _) = setup();
    let (x, y, z) = (
        "a9000000-0000-0000-0001-000000000031",
        "a9000000-0000-0000-0001-000000000032",
        "a9000000-0000-0000-0001-000000000033",
    );
    // Two credits' worth of budget; nothing credited yet.
    admin
        .batch_execute(
            "INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to, budget_points)
             VALUES ('squat-fresh', 100, now() - interval '1 day', now() + interval '1 day', 200)",
        )
        .unwrap();
    let mut app = connect_as(DB, &one);
    // The insider takes the first player's credit key for a change of its own.
    app.batch_execute(&format!(
        "SELECT loyalty.increment_player_loyalty('{x}', 5, 'PROMOTION', loyalty.promotion_key('{x}', 'squat-fresh'))"
    ))
    .unwrap();
    let outcomes: Vec<(String, String)> = app
        .query(
            &format!(
                "SELECT player_id::text, outcome || coalesce(' ' || sqlstate, '')
                   FROM loyalty.apply_promotion_batch('squat-fresh', ARRAY['{x}', '{y}', '{z}']::uuid[])"
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(
        outcomes,
        vec![
            (x.to_string(), "refused 23505".to_string()),
            (y.to_string(), "credited".to_string()),
            (z.to_string(), "credited".to_string()),
        ],
        "the squatted player's refusal spends none of the budget"
    );
    let credited = scalar_i64(
        &mut admin,
        "SELECT credited_points FROM loyalty.promotion_campaign WHERE reward_id = 'squat-fresh'",
    );
    assert_eq!(credited, 200);
    assert_invariants(&mut admin);
}
