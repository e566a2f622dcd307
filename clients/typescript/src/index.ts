// loyalty_ext from TypeScript (node-postgres), safe behind PgBouncer in
// transaction mode: every call is one transaction; the staff token and the
// correlation id are set with set_config(..., true) inside it (SET LOCAL),
// so nothing outlives it on a shared server connection; every argument is
// cast to its SQL type; bigint columns are `bigint`; timestamps keep their
// microseconds (PgTimestamp).
import { Client, Pool, PoolClient, types as pgTypes } from "pg";
import { translate } from "./errors";

export * from "./errors";

/** A timestamptz as the server wrote it (UTC, microseconds kept). */
export class PgTimestamp {
  constructor(readonly text: string) {}
  /** Microseconds since 1970-01-01 UTC. */
  get epochMicros(): bigint {
    const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\+00$/.exec(this.text);
    if (!m) throw new Error(`unexpected timestamp ${this.text}`);
    const ms = Date.parse(`${m[1]}T${m[2]}Z`);
    return BigInt(ms) * 1000n + BigInt((m[3] ?? "").padEnd(6, "0") || "0");
  }
  toDate(): Date { return new Date(Number(this.epochMicros / 1000n)); }
  toString(): string { return this.text; }
}

const INT8 = 20, TIMESTAMPTZ = 1184;
/** Type parsers of a loyalty connection: int8 as bigint, timestamptz exact. */
export const loyaltyTypes = {
  getTypeParser(oid: number, format?: string): any {
    if (oid === INT8) return (v: string) => BigInt(v);
    if (oid === TIMESTAMPTZ) return (v: string) => new PgTimestamp(v);
    return (pgTypes.getTypeParser as any)(oid, format);
  },
};

export interface ChangeResult {
  player_id: string; balance_before: bigint; balance_after: bigint; tier_before: string; tier_after: string;
  tier_progress: number; lifetime_points: bigint; updated_at: PgTimestamp; row_locked: boolean;
  ledger_id: bigint; idempotent_replay: boolean; correlation_id: string;
}
export interface SlipResult {
  status: string; points: number | null; ledger_id: bigint | null; balance_after: bigint | null;
  tier_after: string | null; correlation_id: string; error: string | null;
}
export interface HoldResult {
  hold_id: bigint; player_id: string; points: number; status: string; expires_at: PgTimestamp;
  available_after: bigint; idempotent_replay: boolean; correlation_id: string;
}
export interface Account {
  current_balance: bigint; held_points: bigint; available: bigint; lifetime_points: bigint; tier: string;
  next_expiry_at: PgTimestamp | null; next_expiry_points: bigint | null;
}
export interface LoyaltyEvent {
  event_id: bigint; kind: string; casino_id: string; player_id: string | null; payload: any;
  correlation_id: string; created_at: PgTimestamp;
}

type Queryable = Client | Pool;
const queues = new WeakMap<object, Promise<unknown>>();
/** A Pool (it hands out clients) rather than a Client, also from another copy of pg. */
function isPool(db: Queryable): db is Pool {
  return db instanceof Pool || "totalCount" in (db as object);
}
export interface CallOptions { correlationId?: string; casinoId?: string }

export class LoyaltyClient {
  /** `db`: a Client or a Pool (each call borrows a connection for one transaction). */
  constructor(readonly db: Queryable, public staffToken?: string, public casinoId?: string) {}

  private call<T>(sql: string, args: unknown[], correlationId?: string): Promise<T[]> {
    if (isPool(this.db)) return this.run<T>(sql, args, correlationId);
    // Calls on one Client run one after another, whichever LoyaltyClient
    // makes them: a call is a transaction of several statements that
    // another call must not join.
    const next = (queues.get(this.db) ?? Promise.resolve()).then(() => this.run<T>(sql, args, correlationId));
    queues.set(this.db, next.catch(() => undefined));
    return next;
  }

  private async run<T>(sql: string, args: unknown[], correlationId?: string): Promise<T[]> {
    const pooled = isPool(this.db);
    const conn: Client | PoolClient = pooled ? await (this.db as Pool).connect() : (this.db as Client);
    try {
      await conn.query("BEGIN");
      try {
        await conn.query({
          text: "SELECT set_config('loyalty.staff_token', $1, true), set_config('loyalty.correlation_id', $2, true),"
            + " set_config('TimeZone', 'UTC', true)",
          values: [this.staffToken ?? "", correlationId ?? ""],
        });
        const r = await conn.query({ text: sql, values: args, types: loyaltyTypes });
        await conn.query("COMMIT");
        return r.rows as T[];
      } catch (e) {
        await conn.query("ROLLBACK").catch(() => undefined);
        throw translate(e);
      }
    } finally {
      if (pooled) (conn as PoolClient).release();
    }
  }

  private casino(o?: CallOptions): string | null { return o?.casinoId ?? this.casinoId ?? null; }

  async increment(playerId: string, points: number | bigint, transactionType: string, idempotencyKey: string,
                  extra: { reason?: string; staffId?: string; ratingSlipId?: string; visitId?: string } & CallOptions = {}): Promise<ChangeResult> {
    const [r] = await this.call<ChangeResult>(
      "SELECT * FROM loyalty.increment_player_loyalty($1::uuid, $2::integer, $3::text, $4::text, $5::text, $6::uuid,"
      + " $7::uuid, $8::uuid, $9::text, $10::uuid)",
      [playerId, points.toString(), transactionType, idempotencyKey, extra.reason ?? null, extra.staffId ?? null,
       extra.ratingSlipId ?? null, extra.visitId ?? null, extra.correlationId ?? null, this.casino(extra)],
      extra.correlationId);
    return r;
  }

  async manualReward(playerId: string, points: number, reason: string,
                     extra: { staffId?: string; sequence?: number } & CallOptions = {}): Promise<ChangeResult> {
    const [r] = await this.call<ChangeResult>(
      "SELECT * FROM loyalty.manual_reward($1::uuid, $2::uuid, $3::integer, $4::text, $5::integer, $6::text, $7::uuid)",
      [playerId, extra.staffId ?? null, points, reason, extra.sequence ?? 1, extra.correlationId ?? null,
       this.casino(extra)],
      extra.correlationId);
    return r;
  }

  async redeem(playerId: string, points: number, reason: string, idempotencyKey: string,
               extra: { staffId?: string } & CallOptions = {}): Promise<ChangeResult> {
    const [r] = await this.call<ChangeResult>(
      "SELECT * FROM loyalty.redeem_points($1::uuid, $2::integer, $3::uuid, $4::text, $5::text, $6::text, $7::uuid)",
      [playerId, points, extra.staffId ?? null, reason, idempotencyKey, extra.correlationId ?? null,
       this.casino(extra)],
      extra.correlationId);
    return r;
  }

  async applyPromotion(playerId: string, rewardId: string, points: number,
                       extra: { reason?: string; sequence?: number } & CallOptions = {}): Promise<ChangeResult> {
    const [r] = await this.call<ChangeResult>(
      "SELECT * FROM loyalty.apply_promotion($1::uuid, $2::text, $3::integer, $4::text, NULL::uuid, $5::text,"
      + " $6::integer, $7::uuid)",
      [playerId, rewardId, points, extra.reason ?? null, extra.correlationId ?? null, extra.sequence ?? 1,
       this.casino(extra)],
      extra.correlationId);
    return r;
  }

  async completeRatingSlip(ratingSlipId: string, playerId: string, averageBet: string | number,
                           durationSeconds: number, gameSettings: object,
                           extra: { visitId?: string } & CallOptions = {}): Promise<SlipResult> {
    const [r] = await this.call<SlipResult>(
      "SELECT * FROM loyalty.complete_rating_slip($1::uuid, $2::uuid, $3::numeric, $4::integer, $5::jsonb,"
      + " $6::uuid, $7::text, $8::uuid)",
      [ratingSlipId, playerId, averageBet.toString(), durationSeconds, JSON.stringify(gameSettings),
       extra.visitId ?? null, extra.correlationId ?? null, this.casino(extra)],
      extra.correlationId);
    return r;
  }

  async recoverRatingSlip(ratingSlipId: string, extra: CallOptions = {}): Promise<SlipResult> {
    const [r] = await this.call<SlipResult>(
      "SELECT * FROM loyalty.recover_rating_slip($1::uuid, $2::text, $3::uuid)",
      [ratingSlipId, extra.correlationId ?? null, this.casino(extra)], extra.correlationId);
    return r;
  }

  async hold(playerId: string, points: number, reason: string, idempotencyKey: string,
             extra: { staffId?: string; expiresAt?: string } & CallOptions = {}): Promise<HoldResult> {
    const [r] = await this.call<HoldResult>(
      "SELECT * FROM loyalty.hold_points($1::uuid, $2::integer, $3::uuid, $4::text, $5::text, $6::timestamptz,"
      + " $7::text, $8::uuid)",
      [playerId, points, extra.staffId ?? null, reason, idempotencyKey, extra.expiresAt ?? null,
       extra.correlationId ?? null, this.casino(extra)],
      extra.correlationId);
    return r;
  }

  async captureHold(holdId: bigint, points?: number, extra: { staffId?: string } & CallOptions = {}): Promise<ChangeResult> {
    const [r] = await this.call<ChangeResult>(
      "SELECT * FROM loyalty.capture_hold($1::bigint, $2::uuid, $3::integer, $4::text, $5::uuid)",
      [holdId.toString(), extra.staffId ?? null, points ?? null, extra.correlationId ?? null, this.casino(extra)],
      extra.correlationId);
    return r;
  }

  async releaseHold(holdId: bigint, reason: string, extra: { staffId?: string } & CallOptions = {}): Promise<HoldResult> {
    const [r] = await this.call<HoldResult>(
      "SELECT * FROM loyalty.release_hold($1::bigint, $2::uuid, $3::text, $4::text, $5::uuid)",
      [holdId.toString(), extra.staffId ?? null, reason, extra.correlationId ?? null, this.casino(extra)],
      extra.correlationId);
    return r;
  }

  async account(playerId: string, extra: CallOptions = {}): Promise<Account> {
    const [r] = await this.call<Account>("SELECT * FROM loyalty.player_account($1::uuid, $2::uuid)",
      [playerId, this.casino(extra)]);
    return r;
  }

  async claimEvents(consumer: string, max = 100): Promise<LoyaltyEvent[]> {
    return this.call<LoyaltyEvent>("SELECT * FROM loyalty.claim_events($1::text, $2::integer)", [consumer, max]);
  }

  async ackEvents(consumer: string, eventIds: bigint[]): Promise<number> {
    const [r] = await this.call<{ acked: number }>(
      "SELECT loyalty.ack_events($1::text, $2::bigint[]) AS acked", [consumer, eventIds.map(String)]);
    return r.acked;
  }
}

/**
 * A consumer loop: claim, handle, acknowledge; between claims wait for
 * NOTIFY loyalty_events on `listen` (a direct Client: a pooler in
 * transaction mode does not keep LISTEN). At least once: an event whose
 * handler throws is not acknowledged and comes back.
 */
export async function consume(client: LoyaltyClient, consumer: string, handle: (e: LoyaltyEvent) => Promise<void> | void,
                              opts: { listen?: Client; batch?: number; idleMs?: number; stop: () => boolean }): Promise<number> {
  const batch = opts.batch ?? 100;
  let wake: (() => void) | undefined;
  if (opts.listen) {
    opts.listen.on("notification", (n) => { if (n.channel === "loyalty_events" && wake) wake(); });
    await opts.listen.query("LISTEN loyalty_events");
  }
  let handled = 0;
  while (!opts.stop()) {
    const events = await client.claimEvents(consumer, batch);
    const done: bigint[] = [];
    try {
      for (const e of events) {
        await handle(e);
        done.push(e.event_id);
        handled++;
      }
    } finally {
      if (done.length) await client.ackEvents(consumer, done);
    }
    if (events.length < batch) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, opts.idleMs ?? 5000);
        wake = () => { clearTimeout(t); resolve(); };
      });
      wake = undefined;
    }
  }
  return handled;
}
