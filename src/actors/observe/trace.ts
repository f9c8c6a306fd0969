// A transaction's trace: the JSON document of the path it took (states, events, timings, RPCs
// and their outcomes, backoffs, locks met by its reads and writes), and its validation when read back.
import { InvalidTraceError } from "../../errors/trace.js";
import {
  type LockMet,
  RPC_OUTCOMES,
  TXN_EVENT_TYPES,
  TXN_KINDS,
  type TxnEvent,
  type TxnKind,
  type TxnLockEvent,
  type TxnRollbackEvent,
} from "./events.js";

/** The `format` field of a trace document. */
export const TRACE_FORMAT = "tikv-ts/txn-trace";
/** The version this client writes and reads. */
export const TRACE_VERSION = 1;

const OUTCOMES = ["active", "committed", "failed", "undetermined", "rolledBack"] as const;
/** How a traced transaction ended ("active": not yet). */
export type TraceOutcome = (typeof OUTCOMES)[number];

/** The outcome of a transaction whose last event is a rollback for `reason`. */
export function rollbackOutcome(reason: TxnRollbackEvent["reason"]): TraceOutcome {
  return reason === "user" ? "rolledBack" : reason === "undetermined" ? "undetermined" : "failed";
}

/** A transaction's recorded path. JSON-safe: `JSON.stringify(txn.trace())` is the file. */
export interface TxnTrace {
  format: typeof TRACE_FORMAT;
  version: typeof TRACE_VERSION;
  /** Start ts (decimal). */
  txn: string;
  kind: TxnKind;
  /** ms since the epoch. */
  startedAt: number;
  endedAt?: number;
  outcome: TraceOutcome;
  /** The machines whose states the path passes (their statecharts are what a renderer draws). */
  machines: string[];
  events: TxnEvent[];
  /** Events left out (the oldest after `begin`) because the trace grew past its cap. */
  dropped?: number;
}

type FieldType = "string" | "number" | "boolean" | "string[]" | "object" | "locks";
// required fields per event type (optional ones end with "?")
const EVENT_FIELDS: Record<TxnEvent["type"], Record<string, FieldType>> = {
  begin: { kind: "string", asyncCommit: "boolean", onePC: "boolean" },
  commitStart: { keys: "number", sampleKeys: "string[]", primary: "string" },
  state: { machine: "string", from: "string", to: "string", event: "string" },
  rpc: {
    command: "string",
    regionId: "string",
    storeId: "string",
    address: "string",
    attempt: "number",
    outcome: "string",
    "detail?": "string",
    durationMs: "number",
  },
  backoff: { kind: "string", sleepMs: "number", reason: "string" },
  lockResolve: {
    owners: "string[]",
    keys: "string[]",
    "locks?": "locks",
    "forRead?": "boolean",
    "ignored?": "string[]",
    "readThrough?": "string[]",
    outcome: "string",
    msBeforeExpired: "number",
    durationMs: "number",
  },
  commit: {
    commitTs: "string",
    "mode?": "string",
    asyncCommitFallback: "boolean",
    onePCFallback: "boolean",
    durationMs: "number",
  },
  rollback: {
    reason: "string",
    "mode?": "string",
    "asyncCommitFallback?": "boolean",
    "onePCFallback?": "boolean",
    "error?": "object",
    durationMs: "number",
  },
};

const ENUMS: Record<string, readonly string[]> = {
  "begin.kind": TXN_KINDS,
  "rpc.outcome": RPC_OUTCOMES,
  "lockResolve.outcome": ["resolved", "alive", "failed"] satisfies TxnLockEvent["outcome"][],
  "rollback.reason": ["user", "commitFailed", "undetermined"] satisfies TxnRollbackEvent["reason"][],
};

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

// the fields of each lock of a lockResolve event
const LOCK_FIELDS: Record<keyof LockMet, "string" | "number"> = {
  key: "string",
  primary: "string",
  startTs: "string",
  kind: "string",
  ttlMs: "number",
};

function check(v: unknown, t: FieldType, path: string): void {
  if (t === "locks") {
    if (!Array.isArray(v)) throw new InvalidTraceError(path, `must be an array of locks, got ${typeOf(v)}`);
    v.forEach((l, i) => {
      check(l, "object", `${path}[${i}]`);
      for (const [f, ft] of Object.entries(LOCK_FIELDS))
        check((l as Record<string, unknown>)[f], ft, `${path}[${i}].${f}`);
    });
    return;
  }
  const ok =
    t === "string[]"
      ? Array.isArray(v) && v.every((x) => typeof x === "string")
      : t === "object"
        ? typeOf(v) === "object"
        : t === "number"
          ? typeof v === "number" && Number.isFinite(v)
          : typeof v === t;
  if (!ok)
    throw new InvalidTraceError(
      path,
      `must be ${t === "string[]" ? "an array of strings" : `a ${t}`}, got ${typeOf(v)}`,
    );
}

function isDecimal(s: string): boolean {
  return /^[0-9]+$/.test(s);
}

/**
 * Checks that `doc` (parsed JSON) is a trace this client can read; returns it typed. Throws
 * InvalidTraceError naming the first offending field.
 *
 * @example
 * ```ts
 * const trace = validateTrace(JSON.parse(readFileSync("trace.json", "utf8")));
 * ```
 */
export function validateTrace(doc: unknown): TxnTrace {
  if (typeOf(doc) !== "object") throw new InvalidTraceError("", `must be a JSON object, got ${typeOf(doc)}`);
  const d = doc as Record<string, unknown>;
  if (d.format !== TRACE_FORMAT) {
    throw new InvalidTraceError("format", `must be "${TRACE_FORMAT}", got ${JSON.stringify(d.format)}`);
  }
  if (d.version !== TRACE_VERSION) {
    throw new InvalidTraceError(
      "version",
      `unsupported version ${JSON.stringify(d.version)} (this client reads ${TRACE_VERSION})`,
    );
  }
  check(d.txn, "string", "txn");
  if (!isDecimal(d.txn as string)) throw new InvalidTraceError("txn", "must be a decimal start ts");
  check(d.kind, "string", "kind");
  if (!(TXN_KINDS as readonly string[]).includes(d.kind as string)) {
    throw new InvalidTraceError(
      "kind",
      `must be optimistic, pessimistic or pipelined, got ${JSON.stringify(d.kind)}`,
    );
  }
  check(d.startedAt, "number", "startedAt");
  if (d.endedAt !== undefined) check(d.endedAt, "number", "endedAt");
  if (d.dropped !== undefined) check(d.dropped, "number", "dropped");
  if (!(OUTCOMES as readonly string[]).includes(d.outcome as string)) {
    throw new InvalidTraceError(
      "outcome",
      `must be one of ${OUTCOMES.join(", ")}, got ${JSON.stringify(d.outcome)}`,
    );
  }
  check(d.machines, "string[]", "machines");
  if (!Array.isArray(d.events))
    throw new InvalidTraceError("events", `must be an array, got ${typeOf(d.events)}`);
  d.events.forEach((e, i) => {
    validateEvent(e, `events[${i}]`);
  });
  return doc as TxnTrace;
}

function validateEvent(e: unknown, path: string): void {
  if (typeOf(e) !== "object") throw new InvalidTraceError(path, `must be an object, got ${typeOf(e)}`);
  const ev = e as Record<string, unknown>;
  const type = ev.type as TxnEvent["type"];
  if (!(TXN_EVENT_TYPES as readonly string[]).includes(type)) {
    throw new InvalidTraceError(`${path}.type`, `unknown event type ${JSON.stringify(ev.type)}`);
  }
  check(ev.txn, "string", `${path}.txn`);
  check(ev.at, "number", `${path}.at`);
  for (const [name, t] of Object.entries(EVENT_FIELDS[type])) {
    const optional = name.endsWith("?");
    const field = optional ? name.slice(0, -1) : name;
    if (optional && ev[field] === undefined) continue;
    check(ev[field], t, `${path}.${field}`);
    const allowed = ENUMS[`${type}.${field}`];
    if (allowed && !allowed.includes(ev[field] as string)) {
      throw new InvalidTraceError(
        `${path}.${field}`,
        `must be one of ${allowed.join(", ")}, got ${JSON.stringify(ev[field])}`,
      );
    }
  }
}

/** Parses and validates trace JSON text; InvalidTraceError when it is not JSON or not a trace. */
export function parseTrace(text: string): TxnTrace {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new InvalidTraceError("", `not JSON: ${(e as Error).message}`);
  }
  return validateTrace(doc);
}

/** The states a trace passes through in `machine`, in order (the first is the initial state). */
export function tracePath(trace: TxnTrace, machine: string): { states: string[]; events: string[] } {
  const states: string[] = [];
  const events: string[] = [];
  for (const e of trace.events) {
    if (e.type !== "state" || e.machine !== machine) continue;
    if (e.from === "") {
      states.push(e.to); // the initial state
      continue;
    }
    if (states.length === 0) states.push(e.from);
    events.push(e.event);
    states.push(e.to);
  }
  return { states, events };
}

const TRACE_KEY = "trace";

/** @internal Attaches `trace` to a failed transaction's error (read it back with {@link traceOf}). */
export function attachTrace(error: Error, trace: TxnTrace): void {
  Object.defineProperty(error, TRACE_KEY, {
    value: trace,
    enumerable: false,
    configurable: true,
    writable: true,
  });
}

/**
 * The trace a failed commit attached to its error (transactions begun with `trace: true`);
 * undefined for other errors.
 *
 * @example
 * ```ts
 * try { await txn.commit(); } catch (e) { writeFileSync("trace.json", JSON.stringify(traceOf(e))); }
 * ```
 */
export function traceOf(error: unknown): TxnTrace | undefined {
  if (!(error instanceof Error)) return undefined;
  const t = (error as Error & { [TRACE_KEY]?: unknown })[TRACE_KEY];
  return t && typeof t === "object" && (t as TxnTrace).format === TRACE_FORMAT ? (t as TxnTrace) : undefined;
}
