// The seed's acceptance scenarios (SPEC 11; 5 is a benchmark), holds,
// campaigns and the outbox through PgBouncer in transaction mode.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { Client, Pool } from "pg";
import {
  LoyaltyClient, PgTimestamp, consume, IdempotencyConflict, InsufficientBalance, InvalidArgument, InvalidState,
  NotFound, OutOfRange, RateLimited, parseDetail, LoyaltyEvent,
} from "../src/index";

const DB = "loyalty_ts_client";
const KID = "ts-hs";
const SECRET = "typescript client test secret";
const DEFAULT_CASINO = "00000000-0000-0000-0000-000000000000";
const TABLE = { house_edge: 2, average_rounds_per_hour: 60 };

function conf(env: string, database: string) {
  const v = process.env[env];
  if (!v) throw new Error(`${env} is not set: run scripts/test.sh`);
  const kv = Object.fromEntries(v.split(/\s+/).filter(Boolean).map((p) => p.split("=") as [string, string]));
  return { host: kv.host, port: Number(kv.port), user: kv.user ?? "postgres", database };
}
const direct = (db = DB) => new Client(conf("LOYALTY_TEST_PG", db));

function token(staff: string): string {
  const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64url");
  const head = b64(JSON.stringify({ alg: "HS256", typ: "JWT", kid: KID }));
  const body = b64(JSON.stringify({ sub: staff, exp: Math.floor(Date.now() / 1000) + 3600 }));
  const sig = createHmac("sha256", SECRET).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

let admin: Client;
let pool: Pool;

before(async () => {
  const root = direct("postgres");
  await root.connect();
  await root.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await root.query(`CREATE DATABASE ${DB}`);
  await root.end();
  admin = direct();
  await admin.connect();
  await admin.query("CREATE EXTENSION loyalty_ext");
  await admin.query("INSERT INTO loyalty.trusted_key (kid, algorithm, key) VALUES ($1, 'HS256', $2)", [KID, SECRET]);
  await admin.query(`ALTER DATABASE ${DB} SET loyalty.lock_timeout = 300`);
  pool = new Pool({ ...conf("LOYALTY_TEST_PGBOUNCER", DB), max: 4 });
});

after(async () => {
  await pool.end();
  await admin.end();
});

async function staff(...caps: string[]): Promise<string> {
  const s = randomUUID();
  await admin.query("INSERT INTO loyalty.staff_permission (staff_id, capabilities) VALUES ($1, $2)", [s, caps]);
  return s;
}
async function rows(player: string): Promise<number> {
  const r = await admin.query("SELECT count(*)::int AS n FROM loyalty.loyalty_ledger WHERE player_id = $1", [player]);
  return r.rows[0].n;
}

test("scenarios 1 and 2: a slip completed twice is one GAMEPLAY row", async () => {
  const c = new LoyaltyClient(pool);
  const [player, slip] = [randomUUID(), randomUUID()];
  const first = await c.completeRatingSlip(slip, player, 25, 3600, TABLE);
  assert.equal(first.status, "COMPLETED");
  assert.equal(first.balance_after, BigInt(first.points!));
  assert.equal(typeof first.ledger_id, "bigint");
  const second = await c.completeRatingSlip(slip, player, 25, 3600, TABLE);
  assert.equal(second.status, "ALREADY_COMPLETED");
  assert.equal(await rows(player), 1);
});

test("scenario 3: a manual reward of 100, bigint balances and microsecond timestamps", async () => {
  const host = await staff("loyalty:award");
  const c = new LoyaltyClient(pool, token(host));
  const r = await c.manualReward(randomUUID(), 100, "birthday dinner comp", { correlationId: "ts-scenario-3" });
  assert.equal(r.balance_before, 0n);
  assert.equal(r.balance_after, 100n);
  assert.equal(r.correlation_id, "ts-scenario-3");
  assert.ok(r.updated_at instanceof PgTimestamp);
  const stored = await admin.query(
    "SELECT staff_id::text, (extract(epoch FROM created_at) * 1000000)::bigint::text AS us FROM loyalty.loyalty_ledger WHERE id = $1",
    [r.ledger_id.toString()]);
  assert.equal(stored.rows[0].staff_id, host);
  assert.equal(r.updated_at.epochMicros.toString(), stored.rows[0].us, "no microsecond is lost");
});

test("scenario 4: ten rewards, then the eleventh is RateLimited with its reset time", async () => {
  const host = await staff("loyalty:award");
  const c = new LoyaltyClient(pool, token(host));
  const player = randomUUID();
  for (let i = 0; i < 10; i++) await c.manualReward(player, 5, `table games reward number ${i}`);
  await assert.rejects(c.manualReward(player, 5, "table games reward eleven"), (e: unknown) => {
    assert.ok(e instanceof RateLimited);
    assert.equal(e.sqlstate, "53400");
    assert.equal(e.remaining, 0n);
    assert.equal(e.limit, 10n);
    assert.ok(Date.parse(e.resetAt!.replace(" ", "T").replace(/\+00$/, "Z")) > Date.now());
    assert.ok(e.correlationId);
    return true;
  });
  assert.equal(await rows(player), 10);
});

test("scenario 6: a partial completion, then recovery keeps the correlation id", async () => {
  const c = new LoyaltyClient(pool);
  const [player, slip] = [randomUUID(), randomUUID()];
  await c.increment(player, 1, "PROMOTION", `open-${player}`);
  const blocker = direct();
  await blocker.connect();
  await blocker.query("BEGIN");
  await blocker.query("SELECT 1 FROM loyalty.player_loyalty WHERE player_id = $1 FOR UPDATE", [player]);
  const partial = await c.completeRatingSlip(slip, player, 25, 3600, TABLE, { correlationId: "ts-slip-6" });
  await blocker.query("ROLLBACK");
  await blocker.end();
  assert.equal(partial.status, "PARTIAL_COMPLETION");
  const recovered = await c.recoverRatingSlip(slip);
  assert.equal(recovered.status, "COMPLETED");
  assert.equal(recovered.correlation_id, "ts-slip-6");
  assert.equal((await c.recoverRatingSlip(slip)).status, "ALREADY_COMPLETED");
  assert.equal(await rows(player), 2);
});

test("scenario 7: a slip and a 50-point reward in parallel", async () => {
  const host = await staff("loyalty:award");
  const [player, slip] = [randomUUID(), randomUUID()];
  const [s] = await Promise.all([
    new LoyaltyClient(pool).completeRatingSlip(slip, player, 25, 3600, TABLE),
    new LoyaltyClient(pool, token(host)).manualReward(player, 50, "parallel floor reward"),
  ]);
  const account = await new LoyaltyClient(pool).account(player);
  assert.equal(account.current_balance, BigInt(s.points!) + 50n);
  assert.equal(await rows(player), 2);
});

test("scenario 8: the same reward twice in a gaming day, then the next day", async () => {
  const host = await staff("loyalty:award");
  const c = new LoyaltyClient(pool, token(host));
  const player = randomUUID();
  const zone = "UPDATE loyalty.casino SET gaming_day_timezone = $1 WHERE casino_id = $2";
  await admin.query(zone, ["Etc/GMT+12", DEFAULT_CASINO]);
  try {
    const a = await c.manualReward(player, 100, "same reward same day");
    const b = await c.manualReward(player, 100, "same reward same day");
    assert.ok(b.idempotent_replay);
    assert.equal(b.ledger_id, a.ledger_id);
    await admin.query(zone, ["Etc/GMT-12", DEFAULT_CASINO]);
    const next = await c.manualReward(player, 100, "same reward same day");
    assert.ok(!next.idempotent_replay);
    assert.equal(next.balance_after, 200n);
  } finally {
    await admin.query(zone, [null, DEFAULT_CASINO]);
  }
});

test("errors: a reused key names the existing ledger id; too big a number is OutOfRange", async () => {
  const c = new LoyaltyClient(pool);
  const player = randomUUID();
  const first = await c.increment(player, 10, "PROMOTION", `k-${player}`);
  await assert.rejects(c.increment(player, 11, "PROMOTION", `k-${player}`), (e: unknown) => {
    assert.ok(e instanceof IdempotencyConflict);
    assert.equal(e.existingLedgerId, first.ledger_id);
    return true;
  });
  await assert.rejects(c.increment(player, 2n ** 31n, "PROMOTION", "too-big"), OutOfRange);
  await assert.rejects(new LoyaltyClient(pool).manualReward(player, 5, "nobody acts for this"), InvalidArgument);
  assert.deepEqual(parseDetail('k="a, b=\\"c\\"", existing_ledger_id=7'), { k: 'a, b="c"', existing_ledger_id: "7" });
});

test("holds and a campaign", async () => {
  const cashier = await staff("loyalty:redeem");
  const c = new LoyaltyClient(pool, token(cashier));
  const player = randomUUID();
  await new LoyaltyClient(pool).increment(player, 1000, "PROMOTION", `fund-${player}`);
  const hold = await c.hold(player, 600, "suite upgrade on hold", `hold-${player}`);
  assert.equal(hold.available_after, 400n);
  await assert.rejects(c.redeem(player, 500, "more than is available", `redeem-${player}`), InsufficientBalance);
  assert.equal((await c.captureHold(hold.hold_id, 250)).balance_after, 750n);
  await assert.rejects(c.releaseHold(hold.hold_id, "already captured"), InvalidState);
  await admin.query("INSERT INTO loyalty.promotion_campaign (reward_id, points_per_credit, valid_from, valid_to,"
    + " budget_points) VALUES ($1, 25, now() - interval '1 day', now() + interval '1 day', 50)", [`ts-${player}`]);
  const p = new LoyaltyClient(pool);
  assert.equal((await p.applyPromotion(player, `ts-${player}`, 25)).balance_after, 775n);
  assert.ok((await p.applyPromotion(player, `ts-${player}`, 25)).idempotent_replay);
  await assert.rejects(p.applyPromotion(player, "no-such-campaign", 25), NotFound);
});

test("the outbox: a consumer loop woken by NOTIFY gets every event, per player in commit order", async () => {
  const c = new LoyaltyClient(pool);
  const consumer = `ts-${randomUUID().slice(0, 8)}`;
  for (let old = await c.claimEvents(consumer, 1000); old.length; old = await c.claimEvents(consumer, 1000)) {
    await c.ackEvents(consumer, old.map((e) => e.event_id));
  }
  await admin.query("UPDATE loyalty.casino SET balance_events = true WHERE casino_id = $1", [DEFAULT_CASINO]);
  try {
    const players = [randomUUID(), randomUUID()];
    const seen: LoyaltyEvent[] = [];
    const changes = () => seen.filter((e) => e.kind === "balance_changed");
    const listen = direct();
    await listen.connect();
    const loop = consume(new LoyaltyClient(pool), consumer, (e) => { seen.push(e); },
      { listen, idleMs: 1000, stop: () => changes().length >= 4 });
    for (const p of players) {
      await c.increment(p, 10, "PROMOTION", `ev1-${p}`);
      await c.increment(p, 20000, "PROMOTION", `ev2-${p}`);
    }
    await loop;
    await listen.end();
    for (const p of players) {
      assert.deepEqual(changes().filter((e) => e.player_id === p).map((e) => e.payload.points_change), [10, 20000]);
    }
    assert.ok(seen.some((e) => e.kind === "tier_upgrade"));
    assert.equal(typeof seen[0].event_id, "bigint");
    assert.deepEqual(await c.claimEvents(consumer), []);
  } finally {
    await admin.query("UPDATE loyalty.casino SET balance_events = false WHERE casino_id = $1", [DEFAULT_CASINO]);
  }
});

test("one shared Client: concurrent calls do not share a transaction or a staff token", async () => {
  const [alice, bob] = [await staff("loyalty:award"), await staff("loyalty:award")];
  const shared = new Client(conf("LOYALTY_TEST_PGBOUNCER", DB));
  await shared.connect();
  try {
    const a = new LoyaltyClient(shared, token(alice));
    const b = new LoyaltyClient(shared, token(bob));
    const player = randomUUID();
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) =>
      (i % 2 ? b : a).manualReward(player, 5, `interleaved reward number ${i}`)));
    const staffOf = await admin.query(
      "SELECT id::text, staff_id::text FROM loyalty.loyalty_ledger WHERE player_id = $1", [player]);
    const byId = new Map(staffOf.rows.map((r) => [r.id, r.staff_id]));
    results.forEach((r, i) => assert.equal(byId.get(r.ledger_id.toString()), i % 2 ? bob : alice));
  } finally {
    await shared.end();
  }
});
