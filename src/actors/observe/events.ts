// What the observable API tells: actor transitions and the lifecycle of transactions. Plain,
// JSON-safe objects (timestamps and ids as decimal strings), so the same records feed
// client.observe(), the live view's stream and a transaction's trace.

/** One state change of an actor (an XState machine instance). */
export interface ActorTransition {
  /** The machine's id ("committer", "pd", "store", "region", "retry", ...). */
  kind: string;
  /** The actor's id within its system (XState's id, or a readable label). */
  actorId: string;
  /** XState session id (unique in the process). */
  sessionId: string;
  /** State before, as text ("prewriting", "a.b", "a.b|c.d" for parallel states); "" at start. */
  from: string;
  /** State after. */
  to: string;
  /** Type of the event that caused it ("" for the initial state). */
  event: string;
  /** ms since the epoch. */
  at: number;
  /** The transaction (start ts) the actor works for, when it is a transaction's. */
  txn?: string;
}

/** Every {@link TxnKind} (what a trace's reader accepts). */
export const TXN_KINDS = ["optimistic", "pessimistic", "pipelined"] as const;
/** How a transaction protects its writes. */
export type TxnKind = (typeof TXN_KINDS)[number];

/** Every {@link RpcOutcome}. */
export const RPC_OUTCOMES = ["ok", "regionError", "keyError", "failed"] as const;
/** Outcome of one RPC attempt as the client saw it. */
export type RpcOutcome = (typeof RPC_OUTCOMES)[number];

/** Fields every transaction event carries. */
export interface TxnEventBase {
  /** The transaction's start ts (decimal). */
  txn: string;
  /** ms since the epoch. */
  at: number;
}

/** A transaction began. */
export interface TxnBeginEvent extends TxnEventBase {
  type: "begin";
  kind: TxnKind;
  /** Protocols asked for (the committer may still fall back). */
  asyncCommit: boolean;
  onePC: boolean;
}

/** Commit started: the writes are known. */
export interface TxnCommitStartEvent extends TxnEventBase {
  type: "commitStart";
  /** Number of keys written or locked. */
  keys: number;
  /** Up to 16 of them, printable (see {@link printableKey}). */
  sampleKeys: string[];
  /** The primary key, printable. */
  primary: string;
}

/** A state change of the transaction's committer (one of its phases). */
export interface TxnStateEvent extends TxnEventBase {
  type: "state";
  /** The machine ("committer"). */
  machine: string;
  from: string;
  to: string;
  event: string;
}

/** One RPC attempt of the transaction (a batch of keys to one region). */
export interface TxnRpcEvent extends TxnEventBase {
  type: "rpc";
  /** TiKV command ("Prewrite", "Commit", "BatchRollback", ...). */
  command: string;
  regionId: string;
  storeId: string;
  address: string;
  /** 0 = first attempt to this region; then the routing layer's retries. */
  attempt: number;
  outcome: RpcOutcome;
  /** The region error kind, key error kind or error message. */
  detail?: string;
  durationMs: number;
}

/** The transaction backed off before retrying. */
export interface TxnBackoffEvent extends TxnEventBase {
  type: "backoff";
  /** Backoff kind (client-go Bo* name: "regionMiss", "txnLock", "tikvRPC", ...). */
  kind: string;
  sleepMs: number;
  /** The error that caused it. */
  reason: string;
}

/** One lock a transaction met, as it was handed to the lock resolver. */
export interface LockMet {
  /** The locked key, printable. */
  key: string;
  /** The owner's primary key, printable. */
  primary: string;
  /** The owner's start ts (decimal). */
  startTs: string;
  /** Kind of lock: "Put", "Del", "Lock", "PessimisticLock", "SharedLock", ... (kvrpcpb.Op). */
  kind: string;
  /** The lock's TTL in ms. */
  ttlMs: number;
}

/** The transaction met other transactions' locks and had them resolved. */
export interface TxnLockEvent extends TxnEventBase {
  type: "lockResolve";
  /** Start ts of the lock owners (decimal). */
  owners: string[];
  /** Keys locked, printable. */
  keys: string[];
  /** Up to 16 of the locks met (absent in traces of older clients). */
  locks?: LockMet[];
  /** True when a read (get, batchGet, scan, iteration) met them; absent for commit and lock calls. */
  forRead?: boolean;
  /** Reads: owners whose locks later reads skip (rolled back, or committing after the read ts). */
  ignored?: string[];
  /** Reads: owners committed before the read ts, whose locks later reads read through. */
  readThrough?: string[];
  /** "resolved": all gone; "alive": some owner is alive (wait msBeforeExpired); "failed". */
  outcome: "resolved" | "alive" | "failed";
  msBeforeExpired: number;
  durationMs: number;
}

/** The transaction committed. */
export interface TxnCommitEvent extends TxnEventBase {
  type: "commit";
  commitTs: string;
  /** Protocol used: "2pc", "asyncCommit" or "onePC" (undefined: nothing was written). */
  mode?: string;
  asyncCommitFallback: boolean;
  onePCFallback: boolean;
  durationMs: number;
}

/** The transaction ended without committing: rolled back, or its commit failed. */
export interface TxnRollbackEvent extends TxnEventBase {
  type: "rollback";
  /** "user": rollback(); "commitFailed": the commit failed; "undetermined": the outcome is unknown. */
  reason: "user" | "commitFailed" | "undetermined";
  mode?: string;
  asyncCommitFallback?: boolean;
  onePCFallback?: boolean;
  error?: { name: string; code?: string; message: string };
  durationMs: number;
}

/** Everything a transaction reports. */
export type TxnEvent =
  | TxnBeginEvent
  | TxnCommitStartEvent
  | TxnStateEvent
  | TxnRpcEvent
  | TxnBackoffEvent
  | TxnLockEvent
  | TxnCommitEvent
  | TxnRollbackEvent;

/** The `type` of each {@link TxnEvent}. */
export const TXN_EVENT_TYPES = [
  "begin",
  "commitStart",
  "state",
  "rpc",
  "backoff",
  "lockResolve",
  "commit",
  "rollback",
] as const satisfies readonly TxnEvent["type"][];

/** A key as text: printable ASCII as is, other bytes as \xNN (cut at 64 bytes). */
export function printableKey(key: Uint8Array): string {
  let s = "";
  const n = Math.min(key.length, 64);
  for (let i = 0; i < n; i++) {
    const b = key[i] as number;
    s +=
      b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`;
  }
  return key.length > n ? `${s}…` : s;
}
