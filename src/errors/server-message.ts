// TiKV errors that reach the client only as text, and the typed errors they become.
//
// TiKV reports storage failures of raw commands in the response's `error` string, rendered with
// the error's Display form ("max key size exceeded, size: 10, limit: 8"), and failures without an
// error field of their own (RawBatchGet / RawScan pairs, and transactional commands: the catch-all
// KeyError.abort) with its Debug form ("Error(KeyTooLarge { size: 10, limit: 8 })"); see tikv
// src/server/service/kv.rs and src/storage/errors.rs. client-go hands these strings on as plain
// errors (rawkv: errors.New(resp.Error); KeyError.abort: "tikv aborts txn"), and matches only
// "deadline is exceeded" / "Deadline is exceeded" and "invalid max_ts update", which arrive in
// region errors (src/machines/retry.ts classifies those). Here every storage error TiKV can put
// in such a string is recognised, in both forms, and becomes a typed error keeping TiKV's text.

import { InvalidArgumentError, type TikvError } from "./base.js";
import {
  ApiVersionMismatchError,
  InvalidKeyModeError,
  RegionUnavailableError,
  ServerBusyError,
  StaleCommandError,
  TikvServerTimeoutError,
  TtlNotEnabledError,
} from "./server.js";
import { KeyTooLargeError } from "./txn.js";

interface Rule {
  /** Matches the Display form, the Debug form, or both (groups per alternative). */
  readonly pattern: RegExp;
  readonly make: (message: string, m: RegExpExecArray) => TikvError;
}

// The first defined group among `indexes`.
function group(m: RegExpExecArray, ...indexes: number[]): string | undefined {
  for (const i of indexes) if (m[i] !== undefined) return m[i];
  return undefined;
}

const RULES: readonly Rule[] = [
  // ErrorInner::KeyTooLarge (every raw write checks its keys against max-key-size; so do
  // transactional writes: then it comes as KeyError.abort)
  {
    pattern: /max key size exceeded, size: (\d+), limit: (\d+)|KeyTooLarge \{ size: (\d+), limit: (\d+) \}/,
    make: (message, m) =>
      new KeyTooLargeError(Number(group(m, 1, 3)), { limit: Number(group(m, 2, 4)), message }),
  },
  // ErrorInner::ApiVersionNotMatched: the client's apiVersion is not the cluster's
  {
    pattern:
      /Api version in request does not match with TiKV storage, cmd: (\w+), storage: (\w+), request: (\w+)|ApiVersionNotMatched \{ cmd: (\w+), storage_api_version: (\w+), req_api_version: (\w+) \}/,
    make: (message, m) =>
      new ApiVersionMismatchError(message, group(m, 1, 4), group(m, 2, 5), group(m, 3, 6)),
  },
  // ErrorInner::InvalidKeyMode / InvalidKeyRangeMode (API v2 key outside the request's mode)
  {
    pattern: /Key mode mismatched with the request mode, cmd: (\w+)|InvalidKey(?:Range)?Mode \{ cmd: (\w+)/,
    make: (message, m) => new InvalidKeyModeError(message, group(m, 1, 2)),
  },
  // ErrorInner::TtlNotEnabled (a TTL on a storage without TTL); TiKV's raw store refuses a TTL
  // read there with "get ttl on non-ttl store"
  {
    pattern: /ttl is not enabled|\bTtlNotEnabled\b|get ttl on non-ttl store/,
    make: (message) => new TtlNotEnabledError(message),
  },
  // ErrorInner::TtlLenNotEqualsToPairs
  {
    pattern: /length of ttls does not equal to the length of pairs|\bTtlLenNotEqualsToPairs\b/,
    make: (message) => new InvalidArgumentError(message, "ttl"),
  },
  // ErrorInner::InvalidCf (unknown column family) / CfDeprecated (any column family in API v2)
  {
    pattern: /invalid cf name: |\bInvalidCf\(|cf is deprecated in API V2|\bCfDeprecated\(/,
    make: (message) => new InvalidArgumentError(message, "columnFamily"),
  },
  // ErrorInner::DeadlineExceeded (TiKV gave up on the request's deadline)
  {
    pattern: /deadline is exceeded|\bDeadlineExceeded\b/i,
    make: (message) => new TikvServerTimeoutError(message),
  },
  // ErrorInner::SchedTooBusy / GcWorkerTooBusy, and raftstore's busy reason
  {
    pattern:
      /(?:scheduler|gc worker) is (?:too )?busy|raftstore is busy|\b(?:SchedTooBusy|GcWorkerTooBusy)\b/,
    make: (message) => new ServerBusyError(message),
  },
  // ErrorInner::Closed: the store is shutting down, the region is unavailable there for now
  {
    pattern: /storage is closed|TiKV is Closing|\bError\(Closed\)/,
    make: (message) => new RegionUnavailableError(message),
  },
  // a raw write whose raft proposal was dropped (tikv storage/mod.rs: box_err!("stale command"))
  {
    pattern: /^stale command$|Other\("stale command"\)/,
    make: (message) => new StaleCommandError(message),
  },
];

/**
 * The typed error for a failure TiKV reported as text (a raw response's `error` string, or a
 * KeyError's `abort`), or undefined when the text is not one TiKV's storage produces for a known
 * condition. The typed error's message is TiKV's text (prefixed with the argument for
 * InvalidArgumentError). Every place that turns a server string into an error goes through here.
 */
export function errorFromServerMessage(message: string): TikvError | undefined {
  for (const rule of RULES) {
    const m = rule.pattern.exec(message);
    if (m) return rule.make(message, m);
  }
  return undefined;
}
