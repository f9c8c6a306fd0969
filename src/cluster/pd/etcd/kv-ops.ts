// The KV requests of the embedded etcd, applied as etcd's apply layer does
// (etcd server/etcdserver/apply.go): Range with limit / sort / revision filters / count and
// keys only, Put with lease / prev_kv / ignore_value / ignore_lease, DeleteRange, and Txn —
// compares against the current state, then the success or failure ops in one write batch
// (one revision), reads inside it seeing its earlier writes.
import {
  type Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from "../../../proto/etcd/etcdserverpb/rpc.js";
import {
  errDuplicateKey,
  errEmptyKey,
  errKeyNotFound,
  errLeaseProvided,
  errTooManyOps,
  errValueProvided,
} from "./errors.js";
import { type KeyRange, keyRange, keyString, rangesOverlap } from "./key-range.js";
import type { KvStore, StoredKv, WriteBatch } from "./kv-store.js";

/** etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;

/** Builds a response header at a revision (cluster and member fields filled by the caller). */
export type HeaderAt = (revision: bigint) => ResponseHeader;

type Body<T> = Omit<T, "header">;

/** Range at the store's current state (or `req.revision`). */
export function applyRange(kv: KvStore, req: RangeRequest): Body<RangeResponse> {
  if (req.key.length === 0) throw errEmptyKey();
  const filtered =
    req.sortOrder !== RangeRequest_SortOrder.NONE ||
    req.minModRevision !== 0n ||
    req.maxModRevision !== 0n ||
    req.minCreateRevision !== 0n ||
    req.maxCreateRevision !== 0n;
  // sorting and filtering need every key; otherwise fetch one more than asked to set `more`
  const fetch = filtered || req.limit <= 0n ? 0 : Number(req.limit) + 1;
  const { kvs: all, count } = kv.range(keyRange(req.key, req.rangeEnd), req.revision, fetch);
  let kvs = all.filter(
    (x) =>
      (req.maxModRevision === 0n || x.modRevision <= req.maxModRevision) &&
      (req.minModRevision === 0n || x.modRevision >= req.minModRevision) &&
      (req.maxCreateRevision === 0n || x.createRevision <= req.maxCreateRevision) &&
      (req.minCreateRevision === 0n || x.createRevision >= req.minCreateRevision),
  );
  let order = req.sortOrder;
  // results come in key order; another target sorts ascending unless told otherwise
  if (req.sortTarget !== RangeRequest_SortTarget.KEY && order === RangeRequest_SortOrder.NONE)
    order = RangeRequest_SortOrder.ASCEND;
  if (order !== RangeRequest_SortOrder.NONE) {
    const by = sortKey(req.sortTarget);
    kvs = [...kvs].sort((a, b) => compareBy(by(a), by(b)));
    if (order === RangeRequest_SortOrder.DESCEND) kvs.reverse();
  }
  let more = false;
  if (req.limit > 0n && kvs.length > Number(req.limit)) {
    kvs = kvs.slice(0, Number(req.limit));
    more = true;
  }
  if (req.countOnly) kvs = [];
  else if (req.keysOnly) kvs = kvs.map((x) => ({ ...x, value: Buffer.alloc(0) }));
  return { kvs, more, count: BigInt(count) };
}

function sortKey(target: RangeRequest_SortTarget): (kv: StoredKv) => bigint | Buffer {
  switch (target) {
    case RangeRequest_SortTarget.VERSION:
      return (kv) => kv.version;
    case RangeRequest_SortTarget.CREATE:
      return (kv) => kv.createRevision;
    case RangeRequest_SortTarget.MOD:
      return (kv) => kv.modRevision;
    case RangeRequest_SortTarget.VALUE:
      return (kv) => kv.value;
    default:
      return (kv) => kv.key;
  }
}

function compareBy(a: bigint | Buffer, b: bigint | Buffer): number {
  if (typeof a === "bigint" && typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(a as Buffer, b as Buffer);
}

/** A Put inside a write batch. */
export function applyPut(kv: KvStore, w: WriteBatch, req: PutRequest): Body<PutResponse> {
  if (req.key.length === 0) throw errEmptyKey();
  if (req.ignoreValue && req.value.length !== 0) throw errValueProvided();
  if (req.ignoreLease && req.lease !== 0n) throw errLeaseProvided();
  const key = keyString(req.key);
  let value = req.value;
  let lease = req.lease;
  if (req.ignoreValue || req.ignoreLease) {
    const cur = kv.range({ kind: "single", key }, 0n).kvs[0];
    if (!cur) throw errKeyNotFound();
    if (req.ignoreValue) value = cur.value;
    if (req.ignoreLease) lease = cur.lease;
  }
  const prev = w.put(key, Buffer.from(value), lease);
  return req.prevKv && prev ? { prevKv: prev } : {};
}

/** A DeleteRange inside a write batch. */
export function applyDeleteRange(w: WriteBatch, req: DeleteRangeRequest): Body<DeleteRangeResponse> {
  if (req.key.length === 0) throw errEmptyKey();
  const deleted = w.deleteRange(keyRange(req.key, req.rangeEnd));
  return { deleted: BigInt(deleted.length), prevKvs: req.prevKv ? deleted : [] };
}

/** A Txn: compares, then one branch in one write batch. */
export function applyTxn(kv: KvStore, req: TxnRequest, header: HeaderAt): Body<TxnResponse> {
  checkTxn(req);
  return kv.write((w) => {
    const out = runTxn(kv, w, req, header);
    return out;
  });
}

function runTxn(kv: KvStore, w: WriteBatch, req: TxnRequest, header: HeaderAt): Body<TxnResponse> {
  const succeeded = req.compare.every((c) => holds(kv, c));
  const ops = succeeded ? req.success : req.failure;
  const responses: ResponseOp[] = ops.map((op) => runOp(kv, w, op, header));
  return { succeeded, responses };
}

function runOp(kv: KvStore, w: WriteBatch, op: RequestOp, header: HeaderAt): ResponseOp {
  const r = op.request;
  // nested headers carry only the revision, as etcd's do
  const h = () => header(w.revision);
  switch (r?.$case) {
    case "requestRange":
      return {
        response: {
          $case: "responseRange",
          responseRange: { header: h(), ...applyRange(kv, r.requestRange) },
        },
      };
    case "requestPut":
      return {
        response: { $case: "responsePut", responsePut: { header: h(), ...applyPut(kv, w, r.requestPut) } },
      };
    case "requestDeleteRange":
      return {
        response: {
          $case: "responseDeleteRange",
          responseDeleteRange: { header: h(), ...applyDeleteRange(w, r.requestDeleteRange) },
        },
      };
    case "requestTxn":
      return {
        response: {
          $case: "responseTxn",
          responseTxn: { header: h(), ...runTxn(kv, w, r.requestTxn, header) },
        },
      };
    default:
      return {};
  }
}

/** Whether a compare holds for every key of its range (etcd applyCompare). */
function holds(kv: KvStore, c: Compare): boolean {
  const { kvs } = kv.range(keyRange(c.key, c.rangeEnd), 0n);
  if (kvs.length === 0) {
    // a missing key has no value to compare; its revisions and version count as 0
    if (c.target === Compare_CompareTarget.VALUE) return false;
    return compareOne(c, undefined);
  }
  return kvs.every((x) => compareOne(c, x));
}

function compareOne(c: Compare, kv: StoredKv | undefined): boolean {
  const u = c.targetUnion;
  let order: number;
  switch (c.target) {
    case Compare_CompareTarget.VALUE: {
      const want = u?.$case === "value" ? u.value : Buffer.alloc(0);
      order = Buffer.compare(kv?.value ?? Buffer.alloc(0), want);
      break;
    }
    case Compare_CompareTarget.VERSION:
      order = cmp(kv?.version ?? 0n, u?.$case === "version" ? u.version : 0n);
      break;
    case Compare_CompareTarget.CREATE:
      order = cmp(kv?.createRevision ?? 0n, u?.$case === "createRevision" ? u.createRevision : 0n);
      break;
    case Compare_CompareTarget.MOD:
      order = cmp(kv?.modRevision ?? 0n, u?.$case === "modRevision" ? u.modRevision : 0n);
      break;
    case Compare_CompareTarget.LEASE:
      order = cmp(kv?.lease ?? 0n, u?.$case === "lease" ? u.lease : 0n);
      break;
    default:
      return false;
  }
  switch (c.result) {
    case Compare_CompareResult.EQUAL:
      return order === 0;
    case Compare_CompareResult.NOT_EQUAL:
      return order !== 0;
    case Compare_CompareResult.GREATER:
      return order > 0;
    case Compare_CompareResult.LESS:
      return order < 0;
    default:
      return false;
  }
}

const cmp = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * etcd's request checks for a txn: at most MAX_TXN_OPS ops per branch, and within a branch
 * no key put twice or put and deleted (checkIntervals), nested txns included.
 */
function checkTxn(req: TxnRequest): void {
  if (
    req.compare.length > MAX_TXN_OPS ||
    req.success.length > MAX_TXN_OPS ||
    req.failure.length > MAX_TXN_OPS
  )
    throw errTooManyOps();
  for (const branch of [req.success, req.failure]) {
    const puts = new Set<string>();
    const dels: KeyRange[] = [];
    collectWrites(branch, puts, dels);
  }
}

function collectWrites(ops: readonly RequestOp[], puts: Set<string>, dels: KeyRange[]): void {
  for (const op of ops) {
    const r = op.request;
    if (r?.$case === "requestPut") {
      const k = keyString(r.requestPut.key);
      if (puts.has(k) || dels.some((d) => rangesOverlap(d, { kind: "single", key: k })))
        throw errDuplicateKey();
      puts.add(k);
    } else if (r?.$case === "requestDeleteRange") {
      const d = keyRange(r.requestDeleteRange.key, r.requestDeleteRange.rangeEnd);
      for (const k of puts) if (rangesOverlap(d, { kind: "single", key: k })) throw errDuplicateKey();
      dels.push(d);
    } else if (r?.$case === "requestTxn") {
      // etcd checks each nested branch against the writes of the enclosing one
      for (const branch of [r.requestTxn.success, r.requestTxn.failure]) {
        collectWrites(branch, new Set(puts), [...dels]);
      }
      checkTxn(r.requestTxn);
    }
  }
}
