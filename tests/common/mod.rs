//! Shared helpers for the integration tests: real connections to the
//! throwaway server started by `scripts/test.sh` (`LOYALTY_TEST_PG`).
#![allow(dead_code)]

pub mod load;

use postgres::{Client, NoTls, Row};

/// Connection parameters of the test server, without a database name.
pub fn server() -> String {
    std::env::var("LOYALTY_TEST_PG").expect(
        "LOYALTY_TEST_PG is not set: run scripts/test.sh, which starts a server and sets it",
    )
}

pub fn connect(db: &str) -> Client {
    connect_at(&server(), db)
}

/// A connection to `db` on another server (connection parameters without a
/// database name, as `server()` returns them).
pub fn connect_at(server: &str, db: &str) -> Client {
    Client::connect(&format!("{server} dbname={db}"), NoTls)
        .unwrap_or_else(|e| panic!("connect to {db} at {server}: {e}"))
}

/// A new database with the extension created in it; returns its name.
pub fn fresh_db(name: &str) -> String {
    let mut admin = connect("postgres");
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .expect("drop database");
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .expect("create database");
    // LOYALTY_TEST_EXTVERSION creates an older installed version instead of
    // the default one (to see a test fail on the release before a fix).
    let version = std::env::var("LOYALTY_TEST_EXTVERSION")
        .map(|v| format!(" VERSION '{v}'"))
        .unwrap_or_default();
    connect(name)
        .batch_execute(&format!("CREATE EXTENSION loyalty_ext{version}"))
        .expect("create extension");
    name.to_string()
}

/// A database with the extension, created once per test binary (the tests
/// of one file share it and use distinct player ids).
pub fn shared_db(name: &'static str) -> String {
    static CREATED: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut created = CREATED.lock().unwrap_or_else(|e| e.into_inner());
    if !created.contains(&name) {
        fresh_db(name);
        created.push(name);
    }
    name.to_string()
}

/// Creates `role` with exactly the README's application grants: the
/// application part of the "Roles and GRANTs" block, run as written with
/// `loyalty_app` renamed.  A test that uses it fails when the README's
/// grants stop being enough (or start being too much).
pub fn readme_application_grants(c: &mut Client, role: &str) {
    // LOYALTY_TEST_README: another release's README (with its grants).
    let path = std::env::var("LOYALTY_TEST_README").unwrap_or_else(|_| "README.md".into());
    let readme = std::fs::read_to_string(&path).expect(&path);
    let roles = &readme[readme.find("## Roles and GRANTs").expect("roles section")..];
    let block = roles.split("```sql\n").nth(1).expect("the GRANTs block");
    let app_part = &block[..block.find("-- Auditor").expect("the auditor part")];
    c.batch_execute(&app_part.replace("loyalty_app", role))
        .expect("the README's application grants");
}

/// Runs `body(i, barrier)` on `n` threads at once and returns their
/// results in order of `i`.  Each body opens what it needs (a connection, a
/// transaction) and then calls `barrier.wait()`, so that all of them start
/// the contested step together.  A panic in any thread fails the test.
pub fn parallel<T, F>(n: usize, body: F) -> Vec<T>
where
    T: Send,
    F: Fn(usize, &std::sync::Barrier) -> T + Sync,
{
    let barrier = std::sync::Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (body, barrier) = (&body, &barrier);
                scope.spawn(move || body(i, barrier))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The invariants of SPEC section 2, checked by `loyalty.drift_check()`.
pub fn assert_invariants(c: &mut Client) {
    let problems = c
        .query(
            "SELECT problem, player_id::text, ledger_id, detail FROM loyalty.drift_check()",
            &[],
        )
        .expect("drift_check");
    let rendered: Vec<String> = problems
        .iter()
        .map(|r| {
            format!(
                "{} player={:?} ledger={:?} {}",
                r.get::<_, String>(0),
                r.get::<_, Option<String>>(1),
                r.get::<_, Option<i64>>(2),
                r.get::<_, String>(3)
            )
        })
        .collect();
    assert!(
        rendered.is_empty(),
        "invariants broken:\n{}",
        rendered.join("\n")
    );
}

/// One call of `increment_player_loyalty` with the common arguments.
pub struct Call<'a> {
    pub player: &'a str,
    pub delta: i32,
    pub tx_type: &'a str,
    pub key: &'a str,
    pub reason: Option<&'a str>,
    pub staff: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub fn promotion(player: &'a str, delta: i32, key: &'a str) -> Self {
        Call {
            player,
            delta,
            tx_type: "PROMOTION",
            key,
            reason: None,
            staff: None,
        }
    }
}

pub const INCREMENT_SQL: &str = "SELECT player_id::text, balance_before, balance_after, tier_after, \
     ledger_id, idempotent_replay, correlation_id \
     FROM loyalty.increment_player_loyalty($1::text::uuid, $2, $3, $4, p_reason => $5, p_staff_id => $6::text::uuid)";

pub fn increment(
    c: &mut impl postgres::GenericClient,
    call: &Call,
) -> Result<Row, postgres::Error> {
    c.query_one(
        INCREMENT_SQL,
        &[
            &call.player,
            &call.delta,
            &call.tx_type,
            &call.key,
            &call.reason,
            &call.staff,
        ],
    )
}

/// The SQLSTATE of a failed call, as text.
pub fn sqlstate(e: &postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("no sqlstate: {e}"))
}

pub fn scalar_i64(c: &mut Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).expect(sql).get(0)
}

/// A player's current balance.
pub fn balance_of(c: &mut Client, player: &str) -> i64 {
    scalar_i64(
        c,
        &format!("SELECT current_balance FROM loyalty.player_loyalty WHERE player_id = '{player}'"),
    )
}

/// How many ledger rows a player has.
pub fn ledger_rows(c: &mut Client, player: &str) -> i64 {
    scalar_i64(
        c,
        &format!("SELECT count(*) FROM loyalty.loyalty_ledger WHERE player_id = '{player}'"),
    )
}

/// Restarts the test server (`pg_ctl restart -m fast`), as `scripts/test.sh`
/// started it.
pub fn restart_server() {
    let pgdata = std::env::var("LOYALTY_TEST_PGDATA")
        .expect("LOYALTY_TEST_PGDATA is not set: run scripts/test.sh");
    let status = std::process::Command::new("env")
        .args(["-u", "RUST_BACKTRACE", "runuser", "-u", "postgres", "--"])
        .arg("/usr/lib/postgresql/15/bin/pg_ctl")
        .args(["-D", &pgdata, "-w", "-t", "60", "-m", "fast", "restart"])
        // The same log file: later tests read it (tests/events.rs).
        .args(["-l", &format!("{pgdata}/../server.log")])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run pg_ctl");
    assert!(status.success(), "pg_ctl restart failed");
}

/// A staff member with the given capabilities.
pub fn grant_staff(c: &mut Client, staff: &str, caps: &[&str]) {
    let caps: Vec<String> = caps.iter().map(|s| s.to_string()).collect();
    c.execute(
        "INSERT INTO loyalty.staff_permission (staff_id, capabilities) VALUES ($1::text::uuid, $2)
         ON CONFLICT ON CONSTRAINT staff_permission_pkey DO UPDATE SET capabilities = EXCLUDED.capabilities",
        &[&staff, &caps],
    )
    .expect("grant staff");
}

pub const MANUAL_REWARD_SQL: &str =
    "SELECT balance_before, balance_after, ledger_id, idempotent_replay \
     FROM loyalty.manual_reward($1::text::uuid, $2::text::uuid, $3, $4)";

pub fn manual_reward(
    c: &mut impl postgres::GenericClient,
    player: &str,
    staff: &str,
    points: i32,
    reason: &str,
) -> Result<Row, postgres::Error> {
    c.query_one(MANUAL_REWARD_SQL, &[&player, &staff, &points, &reason])
}

/// Simulates a crash: SIGKILL to the postmaster and every backend, then a
/// normal start (crash recovery replays the WAL).
pub fn crash_and_restart() {
    let pgdata = std::env::var("LOYALTY_TEST_PGDATA")
        .expect("LOYALTY_TEST_PGDATA is not set: run scripts/test.sh");
    kill_9(&pgdata);
    let status = std::process::Command::new("env")
        .args(["-u", "RUST_BACKTRACE", "runuser", "-u", "postgres", "--"])
        .arg("/usr/lib/postgresql/15/bin/pg_ctl")
        .args([
            "-D",
            &pgdata,
            "-w",
            "-t",
            "120",
            "-l",
            &format!("{pgdata}/../server.log"),
            "start",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run pg_ctl");
    assert!(status.success(), "server did not come back after the crash");
}

/// SIGKILL to the postmaster of the cluster in `pgdata` and every one of
/// its processes, as a machine losing power would stop them; returns once
/// the postmaster is gone.
pub fn kill_9(pgdata: &str) {
    let pidfile =
        std::fs::read_to_string(format!("{pgdata}/postmaster.pid")).expect("postmaster.pid");
    let pid = pidfile.lines().next().expect("pid line").trim().to_string();
    let children = || -> Vec<String> {
        std::process::Command::new("pgrep")
            .args(["-P", &pid])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    // Children first would let the postmaster restart them; kill all at
    // once, and remember them: once the postmaster is gone they are no
    // longer its children, and one still alive holds the listening socket.
    let mut all = children();
    let _ = std::process::Command::new("pkill")
        .args(["-9", "-P", &pid])
        .status();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status();
    all.extend(children());
    let _ = std::process::Command::new("pkill")
        .args(["-9", "-P", &pid])
        .status();
    // Gone: no such process, or a zombie (its sockets are closed).
    let gone = |p: &str| {
        std::fs::read_to_string(format!("/proc/{p}/stat"))
            .map(|stat| {
                stat.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(true)
    };
    for p in &all {
        for _ in 0..400 {
            if gone(p) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    // The postmaster must be reaped, not only dead: a new postmaster
    // refuses a data directory whose postmaster.pid names a process that
    // still exists, a zombie included.
    for _ in 0..400 {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

pub const COMPLETE_SLIP_SQL: &str = "SELECT status, points, ledger_id, balance_after, correlation_id, error \
     FROM loyalty.complete_rating_slip($1::text::uuid, $2::text::uuid, $3::text::numeric, $4, $5::text::jsonb, \
     p_correlation_id => $6)";

/// The standard test table: 25 bet, 2% edge, 60 rounds/h.
pub const TABLE_SETTINGS: &str = r#"{"house_edge": 2, "average_rounds_per_hour": 60}"#;

pub fn complete_slip(
    c: &mut impl postgres::GenericClient,
    slip: &str,
    player: &str,
    bet: &str,
    seconds: i32,
    corr: Option<&str>,
) -> Result<Row, postgres::Error> {
    c.query_one(
        COMPLETE_SLIP_SQL,
        &[&slip, &player, &bet, &seconds, &TABLE_SETTINGS, &corr],
    )
}

/// Holds row locks on players in a separate open transaction until dropped.
pub struct Blocker {
    client: Client,
}

impl Blocker {
    pub fn lock_players(db: &str, players: &[String]) -> Blocker {
        Blocker::lock_players_at(&server(), db, players)
    }

    /// `lock_players` on another server.
    pub fn lock_players_at(server: &str, db: &str, players: &[String]) -> Blocker {
        let mut client = connect_at(server, db);
        client.batch_execute("BEGIN").unwrap();
        client
            .execute(
                "SELECT 1 FROM loyalty.player_loyalty WHERE player_id::text = ANY($1) FOR UPDATE",
                &[&players],
            )
            .unwrap();
        Blocker { client }
    }

    pub fn release(mut self) {
        self.client.batch_execute("COMMIT").unwrap();
    }
}

/// A connection to `db` as `role` (trust authentication on the test server).
pub fn connect_as(db: &str, role: &str) -> Client {
    let server: String = server()
        .split_whitespace()
        .filter(|kv| !kv.starts_with("user="))
        .collect::<Vec<_>>()
        .join(" ");
    Client::connect(&format!("{server} user={role} dbname={db}"), NoTls)
        .unwrap_or_else(|e| panic!("connect to {db} as {role}: {e}"))
}

/// "ok", or the SQLSTATE of the error.
pub fn state_of(r: Result<impl Sized, postgres::Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => sqlstate(&e),
    }
}

/// Whether the installed version has a function of this name (an attack
/// test can also be run against an older release).
pub fn has_function(c: &mut Client, name: &str) -> bool {
    c.query_one(
        "SELECT EXISTS (SELECT FROM pg_proc WHERE proname = $1 AND pronamespace = 'loyalty'::regnamespace)",
        &[&name],
    )
    .unwrap()
    .get(0)
}

/// Whether the installed version has this column.
pub fn has_column(c: &mut Client, table: &str, column: &str) -> bool {
    c.query_one(
        "SELECT EXISTS (SELECT FROM information_schema.columns
                         WHERE table_schema = 'loyalty' AND table_name = $1 AND column_name = $2)",
        &[&table, &column],
    )
    .unwrap()
    .get(0)
}

/// Waits until at least `n` sessions of database `db` wait for a lock.
pub fn until_waiting(admin: &mut Client, db: &str, n: i64) {
    for _ in 0..200 {
        let waiting: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'",
                &[&db],
            )
            .unwrap()
            .get(0);
        if waiting >= n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    panic!("{n} sessions never came to wait for a lock");
}

/// Where `scripts/test.sh` keeps its clusters (`LOYALTY_BASE`): two levels
/// above the test server's data directory.
pub fn cluster_base() -> String {
    let pgdata = std::env::var("LOYALTY_TEST_PGDATA")
        .expect("LOYALTY_TEST_PGDATA is not set: run scripts/test.sh");
    let data = std::path::Path::new(&pgdata);
    data.parent()
        .and_then(|p| p.parent())
        .expect("LOYALTY_TEST_PGDATA is BASE/NAME/data")
        .display()
        .to_string()
}

/// Runs `commands` in bash after sourcing `scripts/common.sh` (its
/// `start_cluster`, `start_standby`, `stop_cluster`, ...), with the test
/// run's `LOYALTY_BASE`.
pub fn cluster_shell(commands: &str) {
    let script = format!(
        "source {}/scripts/common.sh && {commands}",
        env!("CARGO_MANIFEST_DIR")
    );
    let status = std::process::Command::new("bash")
        .args(["-c", &script])
        .env("LOYALTY_BASE", cluster_base())
        .status()
        .expect("run bash");
    assert!(status.success(), "failed: {commands}");
}

/// `pg_ctl ARGS` on the cluster `name` made by `cluster_shell`, as postgres.
pub fn cluster_ctl(name: &str, args: &[&str]) {
    let data = format!("{}/{name}/data", cluster_base());
    let status = std::process::Command::new("env")
        .args(["-u", "RUST_BACKTRACE", "runuser", "-u", "postgres", "--"])
        .arg("/usr/lib/postgresql/15/bin/pg_ctl")
        .args(["-D", &data, "-w", "-t", "60"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run pg_ctl");
    assert!(status.success(), "pg_ctl {args:?} on {name} failed");
}
