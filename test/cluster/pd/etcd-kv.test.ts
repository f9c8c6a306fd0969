// The mock PD's etcd KV face over gRPC (etcdserverpb.KV), through a client generated from our
// etcd protos: revisions, range forms, txn compares, compaction and errors as etcd's apply
// layer and MVCC store answer them (etcd server/etcdserver/apply.go, server/mvcc), plus a
// model-based check of revisions and historical reads against a serial model.
import { status } from "@grpc/grpc-js";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  RangeRequest_SortOrder as Order,
  Compare_CompareResult as R,
  Compare_CompareTarget as T,
  RangeRequest_SortTarget as Target,
} from "../../../src/proto/etcd/etcdserverpb/rpc.js";
import { b, type EtcdFixture, prefixEnd, s, startEtcd } from "./etcd-helpers.js";

let fx: EtcdFixture | undefined;
afterEach(async () => {
  await fx?.close();
  fx = undefined;
});

const ZERO = Buffer.from([0]);

describe("etcd KV: revisions", () => {
  it("each write raises the store revision by one; create/mod revision and version follow", async () => {
    fx = await startEtcd();
    const start = (await fx.range({ key: b("x") })).header!.revision;
    const p1 = await fx.put("a", "1");
    expect(p1.header!.revision).toBe(start + 1n);
    const p2 = await fx.put("a", "2", { prevKv: true });
    expect(p2.header!.revision).toBe(start + 2n);
    expect(s(p2.prevKv!.value)).toBe("1");
    const kv = (await fx.get("a"))!;
    expect(kv).toMatchObject({ createRevision: start + 1n, modRevision: start + 2n, version: 2n });
    const d = await fx.del({ key: b("a"), prevKv: true });
    expect(d.deleted).toBe(1n);
    expect(d.header!.revision).toBe(start + 3n);
    expect(s(d.prevKvs[0]!.value)).toBe("2");
    // deleting nothing does not raise the revision
    expect((await fx.del({ key: b("a") })).header!.revision).toBe(start + 3n);
    const again = await fx.put("a", "3");
    expect((await fx.get("a"))!).toMatchObject({
      createRevision: again.header!.revision,
      modRevision: again.header!.revision,
      version: 1n,
    });
  });

  it("headers carry the etcd cluster id, the answering member's id and the raft term", async () => {
    fx = await startEtcd({ members: 2 });
    const h = (await fx.put("k", "v")).header!;
    const members = (await fx.memberList()).members;
    expect(members.map((m) => m.ID)).toEqual(fx.pd.state.members.map((m) => m.memberId));
    expect(members[0]!.clientURLs).toEqual([`http://${fx.pd.endpoints[0]}`]);
    expect(h.memberId).toBe(members[0]!.ID);
    // etcd derives its cluster id from the member ids; it is not PD's cluster id
    expect(h.clusterId).not.toBe(0n);
    expect(h.clusterId).not.toBe(fx.pd.clusterId);
    const before = h.raftTerm;
    fx.pd.transferLeader(1);
    const st = await fx.status();
    expect(st.header!.raftTerm).toBe(before + 1n);
    expect(st.leader).toBe(members[1]!.ID);
    expect(st.version).toMatch(/^3\.5\./);
  });

  it("reads at a past revision see the keys as they were; compaction makes them unreadable", async () => {
    fx = await startEtcd();
    const r1 = (await fx.put("h", "one")).header!.revision;
    await fx.put("h", "two");
    await fx.del({ key: b("h") });
    expect(s((await fx.range({ key: b("h"), revision: r1 })).kvs[0]!.value)).toBe("one");
    expect((await fx.range({ key: b("h") })).kvs).toEqual([]);
    const cur = (await fx.range({ key: b("h") })).header!.revision;
    const future = await fx.range({ key: b("h"), revision: cur + 5n }).catch((e) => e);
    expect(future).toMatchObject({
      code: status.OUT_OF_RANGE,
      details: "etcdserver: mvcc: required revision is a future revision",
    });
    await fx.compact(r1 + 1n);
    const old = await fx.range({ key: b("h"), revision: r1 }).catch((e) => e);
    expect(old).toMatchObject({
      code: status.OUT_OF_RANGE,
      details: "etcdserver: mvcc: required revision has been compacted",
    });
    expect(s((await fx.range({ key: b("h"), revision: r1 + 1n })).kvs[0]!.value)).toBe("two");
    await expect(fx.compact(r1)).rejects.toMatchObject({ code: status.OUT_OF_RANGE });
  });

  it("compacts itself an hour behind, as PD's periodic auto-compaction does", async () => {
    let offset = 0;
    fx = await startEtcd({ now: () => Date.now() + offset });
    const r1 = (await fx.put("ac", "1")).header!.revision;
    fx.pd.state.etcd.autoCompact(); // the minute check samples r1
    await fx.put("ac", "2");
    offset += 3_600_000;
    fx.pd.state.etcd.autoCompact();
    await expect(fx.range({ key: b("ac"), revision: r1 - 1n })).rejects.toMatchObject({
      details: "etcdserver: mvcc: required revision has been compacted",
    });
    expect(s((await fx.range({ key: b("ac"), revision: r1 })).kvs[0]!.value)).toBe("1");
  });

  it("refuses an empty key, and ignore_value / ignore_lease as etcd does", async () => {
    fx = await startEtcd();
    await expect(fx.put("", "v")).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: "etcdserver: key is not provided",
    });
    await expect(fx.put("nokey", "", { ignoreValue: true })).rejects.toMatchObject({
      details: "etcdserver: key not found",
    });
    await expect(fx.put("k", "v", { ignoreValue: true })).rejects.toMatchObject({
      details: "etcdserver: value is provided",
    });
    await expect(fx.put("k", "v", { lease: 99n })).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: "etcdserver: requested lease not found",
    });
    await fx.put("k", "v");
    await fx.put("k", "", { ignoreValue: true });
    expect((await fx.get("k"))!).toMatchObject({ version: 2n });
    expect(s((await fx.get("k"))!.value)).toBe("v");
  });
});

describe("etcd KV: ranges", () => {
  async function seed(f: EtcdFixture) {
    for (const [k, v] of [
      ["p/a", "3"],
      ["p/b", "1"],
      ["p/c", "2"],
      ["q", "0"],
    ] as const)
      await f.put(k, v);
    await f.put("p/b", "9"); // version 2
  }

  it("single key, [key, end), prefix and '\\0' (every key >= key)", async () => {
    fx = await startEtcd();
    await seed(fx);
    const keys = async (r: Parameters<EtcdFixture["range"]>[0]) =>
      (await fx!.range(r)).kvs.map((x) => s(x.key));
    expect(await keys({ key: b("p/b") })).toEqual(["p/b"]);
    expect(await keys({ key: b("p/a"), rangeEnd: b("p/c") })).toEqual(["p/a", "p/b"]);
    expect(await keys({ key: b("p/"), rangeEnd: prefixEnd("p/") })).toEqual(["p/a", "p/b", "p/c"]);
    expect(await keys({ key: b("p/c"), rangeEnd: ZERO })).toEqual(["p/c", "q"]);
    // key "\0" with range_end "\0": the whole key space (PD's /pd/cluster_id is in it)
    expect(await keys({ key: ZERO, rangeEnd: ZERO })).toEqual(["/pd/cluster_id", "p/a", "p/b", "p/c", "q"]);
    expect(await keys({ key: b("p/c"), rangeEnd: b("p/a") })).toEqual([]);
  });

  it("limit sets more, count is the whole range; count_only and keys_only", async () => {
    fx = await startEtcd();
    await seed(fx);
    const r = await fx.range({ key: b("p/"), rangeEnd: prefixEnd("p/"), limit: 2n });
    expect(r.kvs.map((x) => s(x.key))).toEqual(["p/a", "p/b"]);
    expect(r).toMatchObject({ more: true, count: 3n });
    const all = await fx.range({ key: b("p/"), rangeEnd: prefixEnd("p/"), limit: 3n });
    expect(all.more).toBe(false);
    const c = await fx.range({ key: b("p/"), rangeEnd: prefixEnd("p/"), countOnly: true });
    expect(c).toMatchObject({ kvs: [], count: 3n });
    const k = await fx.range({ key: b("p/"), rangeEnd: prefixEnd("p/"), keysOnly: true });
    expect(k.kvs.map((x) => x.value.length)).toEqual([0, 0, 0]);
  });

  it("sorts by each target, ascending when only the target is given, and descending", async () => {
    fx = await startEtcd();
    await seed(fx);
    const sorted = async (sortTarget: Target, sortOrder = Order.NONE, limit = 0n) =>
      (await fx!.range({ key: b("p/"), rangeEnd: prefixEnd("p/"), sortTarget, sortOrder, limit })).kvs.map(
        (x) => s(x.key),
      );
    expect(await sorted(Target.VALUE)).toEqual(["p/c", "p/a", "p/b"]); // 2 < 3 < 9
    expect(await sorted(Target.KEY, Order.DESCEND)).toEqual(["p/c", "p/b", "p/a"]);
    expect(await sorted(Target.MOD, Order.DESCEND)).toEqual(["p/b", "p/c", "p/a"]);
    expect(await sorted(Target.CREATE, Order.ASCEND)).toEqual(["p/a", "p/b", "p/c"]);
    expect((await sorted(Target.VERSION, Order.DESCEND))[0]).toBe("p/b");
    // sort happens before the limit
    expect(await sorted(Target.VALUE, Order.DESCEND, 1n)).toEqual(["p/b"]);
  });

  it("filters by min/max mod and create revision", async () => {
    fx = await startEtcd();
    await seed(fx);
    const c = (await fx.get("p/c"))!.modRevision;
    const r = await fx.range({ key: b("p/"), rangeEnd: prefixEnd("p/"), minModRevision: c });
    expect(r.kvs.map((x) => s(x.key))).toEqual(["p/b", "p/c"]);
    const r2 = await fx.range({ key: b("p/"), rangeEnd: prefixEnd("p/"), maxCreateRevision: c - 1n });
    expect(r2.kvs.map((x) => s(x.key))).toEqual(["p/a", "p/b"]);
  });
});

describe("etcd KV: txn", () => {
  const put = (k: string, v: string) => ({
    request: { $case: "requestPut" as const, requestPut: { key: b(k), value: b(v) } },
  });
  const get = (k: string) => ({ request: { $case: "requestRange" as const, requestRange: { key: b(k) } } });

  it("compares value, version, create and mod revision; runs success or failure at one revision", async () => {
    fx = await startEtcd();
    const r = (await fx.put("t", "v1")).header!.revision;
    const ok = await fx.txn({
      compare: [
        { key: b("t"), target: T.VALUE, result: R.EQUAL, targetUnion: { $case: "value", value: b("v1") } },
        { key: b("t"), target: T.VERSION, result: R.EQUAL, targetUnion: { $case: "version", version: 1n } },
        {
          key: b("t"),
          target: T.CREATE,
          result: R.EQUAL,
          targetUnion: { $case: "createRevision", createRevision: r },
        },
        {
          key: b("t"),
          target: T.MOD,
          result: R.LESS,
          targetUnion: { $case: "modRevision", modRevision: r + 1n },
        },
      ],
      success: [put("t", "v2"), put("u", "x"), get("t")],
      failure: [put("f", "nope")],
    });
    expect(ok.succeeded).toBe(true);
    // two puts, one revision; the read inside sees the txn's own write
    expect(ok.header!.revision).toBe(r + 1n);
    const inner = ok.responses[2]!.response;
    expect(inner?.$case === "responseRange" && s(inner.responseRange.kvs[0]!.value)).toBe("v2");
    expect((await fx.get("u"))!.modRevision).toBe(r + 1n);

    const no = await fx.txn({
      compare: [
        { key: b("t"), target: T.VALUE, result: R.EQUAL, targetUnion: { $case: "value", value: b("v1") } },
      ],
      success: [put("s", "nope")],
      failure: [get("t")],
    });
    expect(no.succeeded).toBe(false);
    expect(no.header!.revision).toBe(r + 1n); // a read-only branch writes nothing
    expect(await fx.get("s")).toBeUndefined();
  });

  it("a missing key has version / create revision 0 and never matches a value compare", async () => {
    fx = await startEtcd();
    const absent = await fx.txn({
      compare: [
        {
          key: b("m"),
          target: T.CREATE,
          result: R.EQUAL,
          targetUnion: { $case: "createRevision", createRevision: 0n },
        },
      ],
      success: [put("m", "created")],
    });
    expect(absent.succeeded).toBe(true);
    const value = await fx.txn({
      compare: [
        {
          key: b("zz"),
          target: T.VALUE,
          result: R.NOT_EQUAL,
          targetUnion: { $case: "value", value: b("x") },
        },
      ],
    });
    expect(value.succeeded).toBe(false);
  });

  it("a range compare must hold for every key in the range", async () => {
    fx = await startEtcd();
    await fx.put("r/1", "a");
    await fx.put("r/2", "b");
    const cmp = (v: bigint) =>
      fx!.txn({
        compare: [
          {
            key: b("r/"),
            rangeEnd: prefixEnd("r/"),
            target: T.VERSION,
            result: R.EQUAL,
            targetUnion: { $case: "version", version: v },
          },
        ],
      });
    expect((await cmp(1n)).succeeded).toBe(true);
    await fx.put("r/2", "c");
    expect((await cmp(1n)).succeeded).toBe(false);
  });

  it("refuses duplicate keys and too many ops; a failed txn leaves nothing behind", async () => {
    fx = await startEtcd();
    await expect(fx.txn({ success: [put("d", "1"), put("d", "2")] })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
      details: "etcdserver: duplicate key given in txn request",
    });
    await expect(
      fx.txn({
        success: [
          put("d/x", "1"),
          {
            request: {
              $case: "requestDeleteRange",
              requestDeleteRange: { key: b("d/"), rangeEnd: prefixEnd("d/") },
            },
          },
        ],
      }),
    ).rejects.toMatchObject({ details: "etcdserver: duplicate key given in txn request" });
    await expect(
      fx.txn({ success: Array.from({ length: 129 }, (_, i) => put(`o${i}`, "v")) }),
    ).rejects.toMatchObject({
      details: "etcdserver: too many operations in txn request",
    });
    const rev = (await fx.range({ key: b("x") })).header!.revision;
    await expect(
      fx.txn({
        success: [
          put("ok", "1"),
          { request: { $case: "requestPut", requestPut: { key: b("bad"), lease: 123n } } },
        ],
      }),
    ).rejects.toMatchObject({ code: status.NOT_FOUND });
    expect(await fx.get("ok")).toBeUndefined();
    expect((await fx.range({ key: b("x") })).header!.revision).toBe(rev);
  });
});

describe("etcd KV: model", () => {
  // A serial model of etcd's MVCC: per key value / create / mod / version, one revision per write.
  type Op =
    | { kind: "put"; key: string; value: string }
    | { kind: "del"; key: string }
    | { kind: "delPrefix" };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant("put" as const),
      key: fc.constantFrom("m/a", "m/b", "m/c"),
      value: fc.string({ maxLength: 3 }),
    }),
    fc.record({ kind: fc.constant("del" as const), key: fc.constantFrom("m/a", "m/b", "m/c") }),
    fc.constant({ kind: "delPrefix" as const }),
  );

  it("matches the model after every write, and at every past revision", async () => {
    fx = await startEtcd();
    const f = fx;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 10 }), async (ops) => {
        await f.del({ key: b("m/"), rangeEnd: prefixEnd("m/") });
        let rev = (await f.range({ key: b("m/") })).header!.revision;
        const model = new Map<string, { value: string; create: bigint; mod: bigint; version: bigint }>();
        const snapshots: [bigint, string][] = [];
        const view = () =>
          JSON.stringify(
            [...model]
              .sort(([x], [y]) => (x < y ? -1 : 1))
              .map(([k, v]) => [k, v.value, `${v.create}`, `${v.mod}`, `${v.version}`]),
          );
        for (const o of ops) {
          if (o.kind === "put") {
            rev++;
            const cur = model.get(o.key);
            model.set(o.key, {
              value: o.value,
              create: cur?.create ?? rev,
              mod: rev,
              version: (cur?.version ?? 0n) + 1n,
            });
            expect((await f.put(o.key, o.value)).header!.revision).toBe(rev);
          } else {
            const gone = o.kind === "del" ? [o.key].filter((k) => model.has(k)) : [...model.keys()];
            if (gone.length > 0) rev++;
            for (const k of gone) model.delete(k);
            const r =
              o.kind === "del"
                ? await f.del({ key: b(o.key) })
                : await f.del({ key: b("m/"), rangeEnd: prefixEnd("m/") });
            expect(r.deleted).toBe(BigInt(gone.length));
            expect(r.header!.revision).toBe(rev);
          }
          snapshots.push([rev, view()]);
        }
        const read = async (revision: bigint) =>
          JSON.stringify(
            (await f.range({ key: b("m/"), rangeEnd: prefixEnd("m/"), revision })).kvs.map((x) => [
              s(x.key),
              s(x.value),
              `${x.createRevision}`,
              `${x.modRevision}`,
              `${x.version}`,
            ]),
          );
        expect(await read(0n)).toBe(view());
        for (const [r, v] of snapshots) expect(await read(r)).toBe(v);
      }),
      { numRuns: 12 },
    );
  });
});
