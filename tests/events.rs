//! Notable events reach the server log with their correlation id, and
//! `loyalty.log_events = off` silences them (SPEC section 7, issue 5).

mod common;

use common::*;

const DB: &str = "loyalty_it_events";

fn server_log() -> String {
    let pgdata = std::env::var("LOYALTY_TEST_PGDATA").expect("LOYALTY_TEST_PGDATA");
    std::fs::read_to_string(format!("{pgdata}/../server.log")).expect("server log")
}

fn assert_logged(kind: &str, corr: &str) {
    let needle = format!("loyalty event={kind} correlation_id={corr}");
    let log = server_log();
    assert!(log.contains(&needle), "server log lacks `{needle}`");
}

#[test]
fn notable_events_are_logged_with_their_correlation_id() {
    fresh_db(DB);
    let mut c = connect(DB);
    let staff = "5aff0000-0000-0000-00e0-000000000001";
    let player = "e7e00000-0000-0000-0000-000000000001";
    grant_staff(&mut c, staff, &["loyalty:award", "loyalty:adjust"]);

    // tier upgrade and replay
    c.batch_execute(&format!(
        "SELECT 1 FROM loyalty.increment_player_loyalty('{player}', 1500, 'PROMOTION', 'ev-1', p_correlation_id => 'ev-upgrade')"
    ))
    .unwrap();
    assert_logged("tier_upgrade", "ev-upgrade");
    c.batch_execute(&format!(
        "SELECT 1 FROM loyalty.increment_player_loyalty('{player}', 1500, 'PROMOTION', 'ev-1', p_correlation_id => 'ev-replay')"
    ))
    .unwrap();
    assert_logged("idempotent_replay", "ev-replay");

    // rate-limit hit
    c.batch_execute("SET loyalty.manual_reward_rate_limit = 0")
        .unwrap();
    let e = c
        .batch_execute(&format!(
            "SELECT 1 FROM loyalty.manual_reward('{player}', '{staff}', 5, 'one reward too many', p_correlation_id => 'ev-rate')"
        ))
        .unwrap_err();
    assert_eq!(sqlstate(&e), "53400");
    assert_logged("rate_limit_hit", "ev-rate");
    c.batch_execute("RESET loyalty.manual_reward_rate_limit")
        .unwrap();

    // spoofing attempt
    c.batch_execute("SET loyalty.session_staff_id = '5aff0000-0000-0000-00e0-0000000000ff'")
        .unwrap();
    let e = c
        .batch_execute(&format!(
            "SELECT 1 FROM loyalty.manual_reward('{player}', '{staff}', 5, 'acting for somebody', p_correlation_id => 'ev-spoof')"
        ))
        .unwrap_err();
    assert_eq!(sqlstate(&e), "42501");
    assert_logged("spoofing_attempt", "ev-spoof");
    c.batch_execute("RESET loyalty.session_staff_id").unwrap();

    // partial completion, then recovery
    let blocker = Blocker::lock_players(DB, &[player.to_string()]);
    {
        let mut tx = c.transaction().unwrap();
        tx.batch_execute("SET LOCAL loyalty.lock_timeout = 100")
            .unwrap();
        let row = complete_slip(
            &mut tx,
            "5a000000-0000-0000-00e0-000000000001",
            player,
            "25",
            3600,
            Some("ev-slip"),
        )
        .unwrap();
        assert_eq!(row.get::<_, String>(0), "PARTIAL_COMPLETION");
        tx.commit().unwrap();
    }
    blocker.release();
    assert_logged("partial_completion", "ev-slip");
    c.batch_execute(
        "SELECT 1 FROM loyalty.recover_rating_slip('5a000000-0000-0000-00e0-000000000001')",
    )
    .unwrap();
    assert_logged("recovery", "ev-slip");

    // reconcile
    c.batch_execute(&format!(
        "SET loyalty.correlation_id = 'ev-reconcile';
         SELECT 1 FROM loyalty.reconcile_player('{player}', '{staff}', 'routine balance check');
         RESET loyalty.correlation_id;"
    ))
    .unwrap();
    assert_logged("reconcile", "ev-reconcile");

    // switched off: no line
    c.batch_execute(&format!(
        "SET loyalty.log_events = off;
         SELECT 1 FROM loyalty.increment_player_loyalty('{player}', 1500, 'PROMOTION', 'ev-1', p_correlation_id => 'ev-silent');
         RESET loyalty.log_events;"
    ))
    .unwrap();
    assert!(
        !server_log().contains("correlation_id=ev-silent"),
        "loyalty.log_events = off must silence events"
    );
    assert_invariants(&mut c);
}
