// Renders the MVCC debug info TiKV attaches to some KeyErrors (TxnLockNotFound, CommitTsExpired)
// as the same JSON string client-go logs (error/error.go ExtractDebugInfoStrFromKeyErr): Go's
// encoding/json over the kvproto structs, i.e. snake_case names in declaration order, zero
// values omitted, bytes in base64, 64-bit numbers as plain numbers.

import type { DebugInfo, KeyError, MvccInfo, MvccLock, MvccValue, MvccWrite } from "../proto/kvrpcpb.js";

type Field = [name: string, value: string | undefined];

function obj(fields: Field[]): string {
  const parts = fields
    .filter((f): f is [string, string] => f[1] !== undefined)
    .map(([k, v]) => `"${k}":${v}`);
  return `{${parts.join(",")}}`;
}

const num = (v: bigint | number): string | undefined => (v ? String(v) : undefined);
const bool = (v: boolean): string | undefined => (v ? "true" : undefined);
const bytes = (v: Uint8Array): string | undefined =>
  v.length > 0 ? `"${Buffer.from(v).toString("base64")}"` : undefined;
const bytesAlways = (v: Uint8Array): string => `"${Buffer.from(v).toString("base64")}"`;

function list<T>(items: readonly T[], render: (t: T) => string | undefined): string | undefined {
  return items.length > 0 ? `[${items.map((i) => render(i) ?? "null").join(",")}]` : undefined;
}

function lock(l: MvccLock): string {
  return obj([
    ["type", num(l.type)],
    ["start_ts", num(l.startTs)],
    ["primary", bytes(l.primary)],
    ["short_value", bytes(l.shortValue)],
    ["ttl", num(l.ttl)],
    ["for_update_ts", num(l.forUpdateTs)],
    ["txn_size", num(l.txnSize)],
    ["use_async_commit", bool(l.useAsyncCommit)],
    ["secondaries", list(l.secondaries, bytesAlways)],
    ["rollback_ts", list(l.rollbackTs, (t) => String(t))],
    ["last_change_ts", num(l.lastChangeTs)],
    ["versions_to_last_change", num(l.versionsToLastChange)],
  ]);
}

function write(w: MvccWrite): string {
  return obj([
    ["type", num(w.type)],
    ["start_ts", num(w.startTs)],
    ["commit_ts", num(w.commitTs)],
    ["short_value", bytes(w.shortValue)],
    ["has_overlapped_rollback", bool(w.hasOverlappedRollback)],
    ["has_gc_fence", bool(w.hasGcFence)],
    ["gc_fence", num(w.gcFence)],
    ["last_change_ts", num(w.lastChangeTs)],
    ["versions_to_last_change", num(w.versionsToLastChange)],
  ]);
}

function value(v: MvccValue): string {
  return obj([
    ["start_ts", num(v.startTs)],
    ["value", bytes(v.value)],
  ]);
}

function mvcc(m: MvccInfo): string {
  return obj([
    ["lock", m.lock ? lock(m.lock) : undefined],
    ["writes", list(m.writes, write)],
    ["values", list(m.values, value)],
  ]);
}

const REDACTED = Buffer.from("?");

/** A copy of the debug info with keys and values replaced by "?" (client-go redaction). */
function redacted(info: DebugInfo): DebugInfo {
  return {
    mvccInfo: info.mvccInfo.map((d) => ({
      key: REDACTED,
      mvcc: d.mvcc && {
        lock: d.mvcc.lock && {
          ...d.mvcc.lock,
          primary: REDACTED,
          shortValue: REDACTED,
          secondaries: d.mvcc.lock.secondaries.map(() => REDACTED),
        },
        writes: d.mvcc.writes.map((w) => ({ ...w, shortValue: REDACTED })),
        values: d.mvcc.values.map((v) => ({ ...v, value: REDACTED })),
      },
    })),
  };
}

/**
 * The KeyError's MVCC debug info as client-go's JSON string, or "" when there is none.
 * With `redact`, keys and values are replaced by "?" as client-go does when log redaction is on.
 */
export function keyErrorDebugInfo(keyErr: KeyError, options?: { redact?: boolean }): string {
  if (!keyErr.debugInfo) return "";
  const info = options?.redact ? redacted(keyErr.debugInfo) : keyErr.debugInfo;
  const entry = (d: DebugInfo["mvccInfo"][number]) =>
    obj([
      ["key", bytes(d.key)],
      ["mvcc", d.mvcc ? mvcc(d.mvcc) : undefined],
    ]);
  return obj([["mvcc_info", list(info.mvccInfo, entry)]]);
}
