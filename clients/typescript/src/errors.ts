// One error class per SPEC section 8 condition, with the parsed DETAIL
// (key=value pairs; caller text double-quoted with \" and \\ escaped).

const FIELD = /\s*([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)/y;

export function parseDetail(detail: string | undefined | null): Record<string, string> {
  const fields: Record<string, string> = {};
  if (!detail) return fields;
  FIELD.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (FIELD.lastIndex < detail.length && (m = FIELD.exec(detail)) !== null) {
    const raw = m[2];
    fields[m[1]] = raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, "$1") : raw.trim();
  }
  return fields;
}

export class LoyaltyError extends Error {
  readonly correlationId?: string;
  constructor(readonly sqlstate: string, message: string, readonly detail: Record<string, string>) {
    super(message);
    this.name = new.target.name;
    this.correlationId = detail["correlation_id"];
  }
  protected int(key: string): bigint | undefined {
    const v = this.detail[key];
    return v !== undefined && /^-?\d+$/.test(v) ? BigInt(v) : undefined;
  }
}

export class InvalidArgument extends LoyaltyError {}
export class OutOfRange extends LoyaltyError {}
export class PermissionDenied extends LoyaltyError {}
export class RateLimited extends LoyaltyError {
  /** When the window frees a slot (the server's text, microseconds kept). */
  get resetAt(): string | undefined { return this.detail["reset_at"]; }
  get limit(): bigint | undefined { return this.int("limit") ?? this.int("points_limit"); }
  get remaining(): bigint | undefined { return this.int("remaining") ?? this.int("points_remaining"); }
}
export class IdempotencyConflict extends LoyaltyError {
  get existingLedgerId(): bigint | undefined { return this.int("existing_ledger_id"); }
  get idempotencyKey(): string | undefined { return this.detail["idempotency_key"]; }
}
export class InsufficientBalance extends LoyaltyError {
  get available(): bigint | undefined { return this.int("balance"); }
  get requested(): bigint | undefined { return this.int("requested"); }
}
export class InvalidState extends LoyaltyError {}
export class NotFound extends LoyaltyError {}
export class LockTimeout extends LoyaltyError {}
export class ReadOnly extends LoyaltyError {}
export class OutcomeUnknown extends LoyaltyError {}
export class Unreachable extends LoyaltyError {}
export class SerializationFailure extends LoyaltyError {}

const BY_STATE: Record<string, new (s: string, m: string, d: Record<string, string>) => LoyaltyError> = {
  "22023": InvalidArgument,
  "22003": OutOfRange,
  "42501": PermissionDenied,
  "53400": RateLimited,
  "23505": IdempotencyConflict,
  "23514": InsufficientBalance,
  "55000": InvalidState,
  P0002: NotFound,
  "55P03": LockTimeout,
  "25006": ReadOnly,
  "08006": OutcomeUnknown,
  "08001": Unreachable,
  "40001": SerializationFailure,
};

/** The typed error for a server error, or the error itself. */
export function translate(e: unknown): unknown {
  const err = e as { code?: string; message?: string; detail?: string };
  const cls = err && err.code ? BY_STATE[err.code] : undefined;
  return cls ? new cls(err.code as string, err.message ?? "", parseDetail(err.detail)) : e;
}
