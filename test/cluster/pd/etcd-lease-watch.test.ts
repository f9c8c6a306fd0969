// The mock PD's etcd Lease and Watch services over gRPC: leases expire their keys on the PD
// clock (one delete revision, seen by watchers), keep-alive and time-to-live answers, and
// watch streams with start_revision replay, prefixes, filters, prev_kv, cancel, compaction
// and progress as etcd sends them.
import { status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { PD_MIN_LEASE_TTL } from "../../../src/cluster/pd/etcd/index.js";
import { WatchCreateRequest_FilterType } from "../../../src/proto/etcd/etcdserverpb/rpc.js";
import { Event_EventType } from "../../../src/proto/etcd/mvccpb/kv.js";
import { b, type EtcdFixture, prefixEnd, s, startEtcd } from "./etcd-helpers.js";

let fx: EtcdFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

/** A PD whose clock the test moves. */
async function withClock() {
  let offset = 0;
  const f = await startEtcd({ now: () => Date.now() + offset });
  return { f, advance: (ms: number) => (offset += ms) };
}

describe("etcd leases", () => {
  it("grants at least PD's minimum TTL; keys under an expired lease go in one revision", async () => {
    const { f, advance } = await withClock();
    fx = f;
    const short = await f.grant(1n);
    expect(short.TTL).toBe(PD_MIN_LEASE_TTL);
    const l = await f.grant(10n);
    expect(l.TTL).toBe(10n);
    await f.put("l/a", "1", { lease: l.ID });
    await f.put("l/b", "2", { lease: l.ID });
    await f.put("l/keep", "3");
    expect((await f.get("l/a"))!.lease).toBe(l.ID);
    const ttl = await f.timeToLive(l.ID, true);
    expect(ttl).toMatchObject({ ID: l.ID, grantedTTL: 10n });
    expect(ttl.TTL).toBeGreaterThanOrEqual(9n);
    expect(ttl.keys.map(s)).toEqual(["l/a", "l/b"]);
    const before = (await f.range({ key: b("x") })).header!.revision;
    advance(10_001);
    const left = await f.range({ key: b("l/"), rangeEnd: prefixEnd("l/") });
    expect(left.kvs.map((x) => s(x.key))).toEqual(["l/keep"]);
    expect(left.header!.revision).toBe(before + 1n);
    expect((await f.timeToLive(l.ID)).TTL).toBe(-1n);
    await expect(f.revoke(l.ID)).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: "etcdserver: requested lease not found",
    });
  });

  it("keep-alive pushes expiry out and answers TTL 0 for a gone lease; revoke deletes the keys", async () => {
    const { f, advance } = await withClock();
    fx = f;
    const l = await f.grant(6n);
    await f.put("ka", "v", { lease: l.ID });
    const ka = f.keepAlive();
    const answers: { ID: bigint; TTL: bigint }[] = [];
    ka.on("data", (r: { ID: bigint; TTL: bigint }) => answers.push(r));
    const ask = async (ID: bigint) => {
      const n = answers.length;
      ka.write({ ID });
      while (answers.length === n) await new Promise((r) => setTimeout(r, 5));
      return answers.at(-1)!;
    };
    advance(5_000);
    expect((await ask(l.ID)).TTL).toBe(6n);
    advance(5_000); // 10 s after the grant, 5 s after the renewal
    expect(await f.get("ka")).toBeDefined();
    expect((await ask(999n)).TTL).toBe(0n);
    await expect(f.grant(10n, l.ID)).rejects.toMatchObject({ details: "etcdserver: lease already exists" });
    await f.revoke(l.ID);
    expect(await f.get("ka")).toBeUndefined();
    expect((await ask(l.ID)).TTL).toBe(0n);
    ka.end();
  });
});

describe("etcd watch", () => {
  const create = (key: string, more: Record<string, unknown> = {}) => ({
    requestUnion: { $case: "createRequest" as const, createRequest: { key: b(key), ...more } },
  });

  it("replays from start_revision, then streams later writes in revision order", async () => {
    fx = await startEtcd();
    const r1 = (await fx.put("w/a", "1")).header!.revision;
    await fx.put("w/b", "2");
    await fx.put("other", "x");
    await fx.del({ key: b("w/a") });
    const w = fx.watch();
    w.send(create("w/", { rangeEnd: prefixEnd("w/"), startRevision: r1 }));
    const [created, e1, e2, e3] = await w.next(4);
    expect(created).toMatchObject({ created: true, watchId: 0n });
    const flat = [e1!, e2!, e3!].map((r) => [
      r.header!.revision,
      r.events.map((e) => [e.type, s(e.kv!.key)]),
    ]);
    expect(flat).toEqual([
      [r1, [[Event_EventType.PUT, "w/a"]]],
      [r1 + 1n, [[Event_EventType.PUT, "w/b"]]],
      [r1 + 3n, [[Event_EventType.DELETE, "w/a"]]],
    ]);
    await fx.put("w/c", "3");
    await fx.put("nope", "3");
    await fx.put("w/b", "4");
    const [l1, l2] = await w.next(2);
    expect(l1!.events.map((e) => s(e.kv!.key))).toEqual(["w/c"]);
    expect(l2!.events[0]!.kv).toMatchObject({ version: 2n, modRevision: r1 + 6n });
    expect(s(l2!.events[0]!.kv!.value)).toBe("4");
  });

  it("a start_revision in the future waits for that revision", async () => {
    fx = await startEtcd();
    const r = (await fx.put("fut", "0")).header!.revision;
    const w = fx.watch();
    w.send(create("fut", { startRevision: r + 2n }));
    await w.next(1);
    await fx.put("fut", "1");
    await fx.put("fut", "2");
    const [ev] = await w.next(1);
    expect(ev!.header!.revision).toBe(r + 2n);
    expect(s(ev!.events[0]!.kv!.value)).toBe("2");
  });

  it("a txn's writes arrive as one response; filters and prev_kv apply", async () => {
    fx = await startEtcd();
    await fx.put("f/a", "old");
    const w = fx.watch();
    w.send(
      create("f/", {
        rangeEnd: prefixEnd("f/"),
        prevKv: true,
        filters: [WatchCreateRequest_FilterType.NODELETE],
      }),
    );
    await w.next(1);
    await fx.txn({
      success: [
        { request: { $case: "requestPut", requestPut: { key: b("f/a"), value: b("new") } } },
        { request: { $case: "requestPut", requestPut: { key: b("f/b"), value: b("b") } } },
      ],
    });
    await fx.del({ key: b("f/b") }); // filtered out
    await fx.put("f/c", "c");
    const [t, c] = await w.next(2);
    expect(t!.events.map((e) => s(e.kv!.key))).toEqual(["f/a", "f/b"]);
    expect(s(t!.events[0]!.prevKv!.value)).toBe("old");
    expect(t!.events[1]!.prevKv).toBeUndefined();
    expect(c!.events.map((e) => s(e.kv!.key))).toEqual(["f/c"]);
  });

  it("cancel stops a watcher; a compacted start revision cancels with compact_revision", async () => {
    fx = await startEtcd();
    const r1 = (await fx.put("c", "1")).header!.revision;
    await fx.put("c", "2");
    const w = fx.watch();
    w.send(create("c"));
    w.send(create("c", { watchId: 7n }));
    const [a, seven] = await w.next(2);
    expect([a!.watchId, seven!.watchId]).toEqual([0n, 7n]);
    w.send({ requestUnion: { $case: "cancelRequest", cancelRequest: { watchId: 0n } } });
    expect((await w.next(1))[0]).toMatchObject({ watchId: 0n, canceled: true });
    await fx.put("c", "3");
    const [ev] = await w.next(1);
    expect(ev!.watchId).toBe(7n);
    await fx.compact(r1 + 1n);
    w.send(create("c", { startRevision: r1 }));
    const [cr, cancel] = await w.next(2);
    // ids are not reused within a stream: the next automatic one is 1
    expect(cr).toMatchObject({ created: true, watchId: 1n });
    expect(cancel).toMatchObject({ watchId: 1n, canceled: true, compactRevision: r1 + 1n });
  });

  it("answers a progress request with the current revision; notifies idle progress watchers", async () => {
    fx = await startEtcd();
    fx.pd.state.etcd.progressNotifyMs = 100;
    const rev = (await fx.put("p", "1")).header!.revision;
    const w = fx.watch();
    w.send(create("p", { progressNotify: true }));
    await w.next(1);
    w.send({ requestUnion: { $case: "progressRequest", progressRequest: {} } });
    const [p] = await w.next(1);
    expect(p).toMatchObject({ watchId: -1n, events: [] });
    expect(p!.header!.revision).toBe(rev);
    const [tick] = await w.next(1, 1000);
    expect(tick).toMatchObject({ watchId: 0n, events: [], canceled: false });
  });

  it("watchers see the delete of a lease's keys when it expires", async () => {
    const { f, advance } = await withClock();
    fx = f;
    const l = await f.grant(5n);
    await f.put("e/1", "v", { lease: l.ID });
    const w = f.watch();
    w.send(create("e/", { rangeEnd: prefixEnd("e/") }));
    await w.next(1);
    advance(6_000);
    // the lessor checks every 500 ms as etcd's does, with no request needed
    const [d] = await w.next(1, 2000);
    expect(d!.events.map((e) => [e.type, s(e.kv!.key)])).toEqual([[Event_EventType.DELETE, "e/1"]]);
  });
});
