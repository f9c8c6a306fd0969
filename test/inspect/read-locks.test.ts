// Locks a transaction's READS meet are recorded like those its commit meets: a get, batchGet or
// scan of an observed / traced transaction meeting the lock of a crashed transaction (expired,
// committed or rolled back) shows the lock (key, primary, owner ts, kind, TTL), the resolution
// and what the read learned (skip / read through) in client.observe(), in the trace JSON (and
// the page `tikv-ts inspect` renders from it), and in the live view's lane; the read's RPCs,
// its backoffs and the background cleanup's RPCs go to the same record. Unobserved reads build
// nothing (the resolver and the request control are the client's own, untouched).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import type { TxnLane } from "../../src/actors/inspect/txn-lanes.js";
import type { TxnEvent, TxnLockEvent } from "../../src/actors/observe/events.js";
import { ObserveHub } from "../../src/actors/observe/hub.js";
import { parseTrace, validateTrace } from "../../src/actors/observe/trace.js";
import { TxnRecorder } from "../../src/actors/observe/txn-recorder.js";
import { LockResolver, type ResolveLocksOptions } from "../../src/actors/txn/lock-resolver.js";
import type { TikvClient } from "../../src/api/tikv-client.js";
import { main } from "../../src/cli/main.js";
import { RegionErrors } from "../../src/cluster/tikv/region-errors.js";
import { InvalidTraceError } from "../../src/errors/trace.js";
import { composeTs, physicalOf } from "../../src/kv/timestamp.js";
import { engineCommit, engineRollback, prewriteOnly } from "../integration/txn/snapshot-support.js";
import { itFault, uniquePrefix, useCluster } from "../support/cluster.js";

const env = useCluster({ stores: 3, splitKeys: ["m"], regionKeyEncoding: "memcomparable" });
const dir = mkdtempSync(join(tmpdir(), "tikv-ts-read-locks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  vi.restoreAllMocks();
});

function collect(client: TikvClient): { events: TxnEvent[]; stop: () => void } {
  const events: TxnEvent[] = [];
  const sub = client.observe().txns.subscribe((e) => events.push(e));
  return { events, stop: () => sub.unsubscribe() };
}

const lockEvents = (evs: readonly TxnEvent[]) =>
  evs.filter((e): e is TxnLockEvent => e.type === "lockResolve");
const rpcs = (evs: readonly TxnEvent[]) =>
  evs.flatMap((e) => (e.type === "rpc" ? [`${e.command}:${e.outcome}`] : []));

/** A crashed transaction 10 s in the past: its 1 s TTL is over for any reader now. */
// a distinct logical part per lock: two locks made in one millisecond must not share an owner
// (then one read's cleanup would remove the other's lock)
let crashed = 0;
async function expiredLock(client: TikvClient, key: string): Promise<bigint> {
  const now = await client.txn().currentTimestamp();
  const startTs = composeTs(physicalOf(now) - 10_000, ++crashed);
  prewriteOnly(env.cluster, { startTs, primary: key, writes: [[key, "crashed"]], ttlMs: 1000n });
  return startTs;
}

/** A crashed transaction whose primary committed (or was rolled back); its secondary stays locked. */
async function crashedAfterPrimary(
  client: TikvClient,
  primary: string,
  secondary: string,
  end: "commit" | "rollback",
): Promise<bigint> {
  const t = client.txn();
  const startTs = await t.currentTimestamp();
  prewriteOnly(env.cluster, {
    startTs,
    primary,
    writes: [
      [primary, "p"],
      [secondary, "s"],
    ],
    ttlMs: 60_000n, // alive by its TTL: only the primary's fate lets readers pass
  });
  if (end === "commit") {
    expect(engineCommit(env.cluster, startTs, await t.currentTimestamp(), [primary]).error).toBeUndefined();
  } else engineRollback(env.cluster, startTs, [primary]);
  return startTs;
}

describe("reads of an observed transaction record the locks they meet", () => {
  itFault(
    "observe(): a get meeting an expired lock shows the lock, its resolution and the read's RPCs",
    async () => {
      const client = await env.connect();
      const { events, stop } = collect(client);
      const heard: TxnLockEvent[] = [];
      client.events.on("txn:lock", (e) => heard.push(e));
      const k = `${uniquePrefix("rlexp")}k`;
      const owner = await expiredLock(client, k);
      const txn = await client.txn().begin();
      expect(await txn.get(k)).toBeUndefined(); // rolled back: nothing to read
      await txn.commit();
      await client.txn().whenIdle(); // the reader's background cleanup
      stop();
      client.events.removeAllListeners();
      const mine = events.filter((e) => e.txn === txn.startTs.toString());
      const [lock, ...more] = lockEvents(mine);
      expect(more).toEqual([]);
      expect(lock).toMatchObject({
        forRead: true,
        owners: [owner.toString()],
        keys: [k],
        locks: [{ key: k, primary: k, startTs: owner.toString(), kind: "Put", ttlMs: 1000 }],
        outcome: "resolved",
        msBeforeExpired: 0,
        ignored: [owner.toString()], // rolled back: later reads skip its locks
        readThrough: [],
      });
      expect(heard).toContainEqual(lock);
      // the read RPC met the lock, the status check rolled it back (the lock was its primary:
      // nothing left to clean up), the read retried: all in this transaction's record, in order
      expect(rpcs(mine)).toEqual(["Get:keyError", "CheckTxnStatus:ok", "Get:ok"]);
      const at = (e: TxnEvent | undefined) => mine.indexOf(e as TxnEvent);
      expect(at(lock)).toBeGreaterThan(
        mine.findIndex((e) => e.type === "rpc" && e.command === "CheckTxnStatus"),
      );
      expect(at(lock)).toBeLessThan(mine.findIndex((e) => e.type === "commit"));
      // a read event tells its key error's kind
      expect(mine.find((e) => e.type === "rpc" && e.command === "Get")).toMatchObject({ detail: "locked" });
    },
  );

  itFault("observe(): a read meeting a region error records the failed attempt and its backoff", async () => {
    const client = await env.connect();
    const { events, stop } = collect(client);
    const k = `${uniquePrefix("rlre")}k`;
    const fault = env.cluster.faults.failNext({
      rpc: "KvGet",
      key: k,
      count: 1,
      error: { regionError: RegionErrors.notLeader(0) },
    });
    const txn = await client.txn().begin();
    try {
      expect(await txn.get(k)).toBeUndefined();
    } finally {
      fault.cancel();
    }
    await txn.rollback();
    stop();
    const mine = events.filter((e) => e.txn === txn.startTs.toString());
    expect(rpcs(mine)[0]).toBe("Get:regionError");
    expect(rpcs(mine).at(-1)).toBe("Get:ok");
    const backoff = mine.findIndex((e) => e.type === "backoff");
    expect(mine[backoff]).toMatchObject({ kind: "regionScheduling" });
    expect(backoff).toBeLessThan(mine.map((e) => e.type === "rpc" && e.outcome === "ok").lastIndexOf(true));
  });

  itFault("trace: a pipelined transaction's read meeting an expired lock is recorded too", async () => {
    const client = await env.connect();
    const k = `${uniquePrefix("rlpl")}k`;
    const owner = await expiredLock(client, k);
    const txn = await client.txn().begin({ pipelined: true, trace: true });
    expect(await txn.get(k)).toBeUndefined();
    await txn.rollback();
    const trace = parseTrace(JSON.stringify(txn.trace()));
    expect(trace.kind).toBe("pipelined");
    expect(lockEvents(trace.events)).toEqual([
      expect.objectContaining({ forRead: true, owners: [owner.toString()], outcome: "resolved" }),
    ]);
    // its flushed buffer is read first (nothing there), then the snapshot meets the lock
    expect(rpcs(trace.events).slice(0, 4)).toEqual([
      "BufferBatchGet:ok",
      "Get:keyError",
      "CheckTxnStatus:ok",
      "Get:ok",
    ]);
  });

  itFault("trace: the background cleanup a read starts records its RPCs and its backoffs", async () => {
    const client = await env.connect();
    const p = uniquePrefix("rlbg");
    const [primary, secondary] = [`a${p}p`, `z${p}s`];
    await crashedAfterPrimary(client, primary, secondary, "commit");
    // the cleanup's first ResolveLock finds the store busy: it backs off and resends
    const fault = env.cluster.faults.failNext({
      rpc: "KvResolveLock",
      count: 1,
      error: { regionError: RegionErrors.serverIsBusy() },
    });
    const txn = await client.txn().begin({ trace: true });
    try {
      expect((await txn.get(secondary))?.toString()).toBe("s");
      await client.txn().whenIdle();
    } finally {
      fault.cancel();
    }
    await txn.rollback();
    const trace = parseTrace(JSON.stringify(txn.trace()));
    const seq = rpcs(trace.events);
    const resolves = seq.filter((r) => r.startsWith("ResolveLock:"));
    expect(resolves).toEqual(["ResolveLock:regionError", "ResolveLock:ok"]);
    const failed = trace.events.findIndex((e) => e.type === "rpc" && e.command === "ResolveLock");
    const backoff = trace.events.findIndex((e, i) => i > failed && e.type === "backoff");
    expect(trace.events[backoff]).toMatchObject({ kind: "tikvServerBusy" });
  });

  itFault(
    "trace: a batchGet reading through a committed transaction's lock; `tikv-ts inspect` renders it",
    async () => {
      const client = await env.connect();
      const p = uniquePrefix("rlcm");
      const [primary, secondary] = [`a${p}p`, `z${p}s`]; // two regions (split at "m")
      const owner = await crashedAfterPrimary(client, primary, secondary, "commit");
      const txn = await client.txn().begin({ trace: true });
      // through the transaction's own snapshot: the same record
      expect((await txn.snapshot.batchGet([secondary])).map((v) => v?.toString())).toEqual(["s"]);
      expect((await txn.batchGet([primary, secondary])).map((v) => v?.toString())).toEqual(["p", "s"]);
      await txn.rollback();
      await client.txn().whenIdle();
      const trace = parseTrace(JSON.stringify(txn.trace()));
      expect(trace.outcome).toBe("rolledBack");
      const [lock] = lockEvents(trace.events);
      expect(lock).toMatchObject({
        forRead: true,
        owners: [owner.toString()],
        locks: [{ key: secondary, primary, startTs: owner.toString(), kind: "Put", ttlMs: 60_000 }],
        outcome: "resolved",
        readThrough: [owner.toString()], // committed before the reader: read through its lock
        ignored: [],
      });
      // the batch met the lock, the status check found the commit, the batch was resent; the
      // secondary's lock was resolved in the background (at any point after the check)
      const seq = rpcs(trace.events);
      expect(seq.slice(0, 2)).toEqual(["BatchGet:ok", "CheckTxnStatus:ok"]);
      // 2 of the first batchGet, then one per region of the second (read through the lock)
      expect(seq.filter((r) => r === "BatchGet:ok")).toHaveLength(4);
      expect(seq.filter((r) => r === "ResolveLock:ok")).toHaveLength(1);

      const file = join(dir, "read-trace.json");
      writeFileSync(file, JSON.stringify(trace));
      const out = join(dir, "read-trace.html");
      const log = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
      const code = await main(["inspect", file, "--out", out]);
      log.mockRestore();
      expect(code).toBe(0);
      const html = readFileSync(out, "utf8");
      expect(html).toContain(
        `a read met locks of txn ${owner} on ${secondary} (Put of txn ${owner}, primary ${primary}, ttl 60000 ms): resolved; read through (committed): txn ${owner}`,
      );
      expect(html).toContain("BatchGet to region");
    },
  );

  itFault(
    "live view: a scan meeting a rolled-back transaction's lock shows in the transaction's lane",
    async () => {
      const client = await env.connect({ inspect: { port: 0 } });
      const url = client.inspection?.url as string;
      const p = uniquePrefix("rlrb");
      const [primary, secondary] = [`${p}a`, `${p}b`];
      const owner = await crashedAfterPrimary(client, primary, secondary, "rollback");
      const txn = await client.txn().begin({ pessimistic: true });
      expect(await txn.scan(p, `${p}z`, 10)).toEqual([]);
      await txn.commit();
      await client.txn().whenIdle();
      const lanes = (await (await fetch(`${url}txns`)).json()) as TxnLane[];
      const lane = lanes.find((l) => l.txn === txn.startTs.toString());
      expect(lane).toMatchObject({ kind: "pessimistic", outcome: "committed" });
      expect(lane?.locks).toBe(1);
      expect(lockEvents(lane?.events ?? [])[0]).toMatchObject({
        forRead: true,
        owners: [owner.toString()],
        locks: [{ key: secondary, primary, startTs: owner.toString(), kind: "Put" }],
        outcome: "resolved",
        ignored: [owner.toString()],
      });
      expect(rpcs(lane?.events ?? [])).toContain("Scan:ok");
      expect(lane?.rpcs).toBeGreaterThanOrEqual(3); // the scan, the status check, the read again
    },
  );
});

describe("zero cost when nobody listens: reads", () => {
  itFault("an unobserved transaction's reads meeting locks tap nothing and publish nothing", async () => {
    const client = await env.connect();
    const tapResolver = vi.spyOn(TxnRecorder.prototype, "resolver");
    const tapControl = vi.spyOn(TxnRecorder.prototype, "control");
    const publish = vi.spyOn(ObserveHub.prototype, "publishTxn");
    const calls: Array<{ opts: ResolveLocksOptions }> = [];
    const orig = LockResolver.prototype.resolveLocks;
    vi.spyOn(LockResolver.prototype, "resolveLocks").mockImplementation(function (this: LockResolver, l, o) {
      calls.push({ opts: o });
      return orig.call(this, l, o);
    });
    const p = uniquePrefix("rloff");
    const keys = [`${p}g`, `${p}b`, `${p}s`];
    for (const k of keys) await expiredLock(client, k);
    const txn = await client.txn().begin();
    expect(await txn.get(keys[0] as string)).toBeUndefined();
    expect(await txn.batchGet([keys[1] as string])).toEqual([undefined]);
    expect(await txn.scan(`${p}s`, `${p}t`, 5)).toEqual([]);
    await txn.commit();
    await client.txn().whenIdle();
    // each read met its lock, and handed it to the client's resolver with a plain control
    expect(calls.filter((c) => c.opts.forRead)).toHaveLength(3);
    for (const c of calls) {
      expect(c.opts.ctl.interceptor).toBeUndefined();
      expect(Object.hasOwn(c.opts.ctl.bo, "next")).toBe(false); // no recording backoffer tap
    }
    expect(txn.recorder).toBeUndefined();
    expect(tapResolver).not.toHaveBeenCalled();
    expect(tapControl).not.toHaveBeenCalled();
    expect(publish).not.toHaveBeenCalled();
    expect(txn.trace()).toBeUndefined();

    // the same read observed goes through the recorder's taps (what the checks above rule out)
    calls.length = 0;
    const sub = client.observe().txns.subscribe(() => {});
    const k = `${p}o`;
    await expiredLock(client, k);
    const seen = await client.txn().begin();
    expect(await seen.get(k)).toBeUndefined();
    await seen.rollback();
    sub.unsubscribe();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.opts.ctl.interceptor).toBe(seen.recorder?.interceptor);
    expect(Object.hasOwn(calls[0]?.opts.ctl.bo ?? {}, "next")).toBe(true);
    expect(tapControl).toHaveBeenCalled();
  });
});

describe("trace validation of read-time lock events", () => {
  const lock = { key: "k", primary: "p", startTs: "40", kind: "Put", ttlMs: 3000 };
  const event = {
    type: "lockResolve",
    txn: "42",
    at: 2,
    owners: ["40"],
    keys: ["k"],
    locks: [lock],
    forRead: true,
    ignored: [],
    readThrough: ["40"],
    outcome: "resolved",
    msBeforeExpired: 0,
    durationMs: 1,
  };
  const doc = (e: unknown) => ({
    format: "tikv-ts/txn-trace",
    version: 1,
    txn: "42",
    kind: "optimistic",
    startedAt: 1,
    outcome: "active",
    machines: [],
    events: [e],
  });

  it("accepts them, and the lock events of older traces without the new fields", () => {
    expect(validateTrace(doc(event)).events[0]).toEqual(event);
    const { locks: _l, forRead: _f, ignored: _i, readThrough: _r, ...old } = event;
    expect(validateTrace(doc(old)).events).toHaveLength(1);
  });

  it.each([
    ["locks not an array", { ...event, locks: {} }, "events[0].locks", /array of locks/],
    ["a lock not an object", { ...event, locks: [7] }, "events[0].locks[0]", /must be a object/],
    [
      "a lock without its ts",
      { ...event, locks: [{ ...lock, startTs: undefined }] },
      "events[0].locks[0].startTs",
      /must be a string/,
    ],
    [
      "a lock with a text TTL",
      { ...event, locks: [{ ...lock, ttlMs: "3s" }] },
      "events[0].locks[0].ttlMs",
      /must be a number/,
    ],
    ["forRead not a boolean", { ...event, forRead: "yes" }, "events[0].forRead", /must be a boolean/],
    ["readThrough not strings", { ...event, readThrough: [40] }, "events[0].readThrough", /array of strings/],
  ])("rejects %s, naming the field", (_what, e, path, message) => {
    let caught: unknown;
    try {
      validateTrace(doc(e));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidTraceError);
    expect((caught as InvalidTraceError).path).toBe(path);
    expect((caught as Error).message).toMatch(message);
  });
});
