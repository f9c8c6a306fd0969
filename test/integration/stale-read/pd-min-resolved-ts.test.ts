// The min safe ts from PD's min resolved ts (client-go tikv/kv.go updateSafeTS /
// updateGlobalTxnScopeTSFromPD with a PD HTTP client; integration_tests/pd_api_test.go): the
// mock PD's HTTP answer (pd server/api/min_resolved_ts.go), its parsing, and getMinSafeTs
// following PD without a GetStoreSafeTS RPC, falling back to the stores when PD answers 0, has
// the feature off or fails, and held back by a lock.

import { describe, expect, it } from "vitest";
import { PdHttpClient, PdHttpError, parseMinResolvedTs } from "../../../src/actors/pd/pd-http-client.js";
import { isValidSafeTs, MinSafeTsTracker } from "../../../src/actors/txn/min-safe-ts.js";
import { MIN_RESOLVED_TS_METHOD } from "../../../src/cluster/pd/http-api.js";
import { packTs } from "../../../src/cluster/pd/tso.js";
import { InvalidArgumentError, TikvClient } from "../../../src/index.js";
import * as kv from "../../../src/proto/kvrpcpb.js";
import { Store } from "../../../src/proto/metapb.js";
import { call, newClient } from "../../cluster/tikv/helpers.js";
import { skipOnRealCluster, useCluster } from "../../support/cluster.js";

const MAX_U64 = (1n << 64n) - 1n;
const BIG = (1n << 62n) + 12345n; // beyond 2^53: must survive JSON

describe("parsing PD's answer (pd client/http GetMinResolvedTSByStoresIDs)", () => {
  it("reads uint64 values beyond 2^53 exactly, per store too", () => {
    const a = parseMinResolvedTs(
      `{"is_real_time":true,"min_resolved_ts":${BIG},"persist_interval":"1s","stores_min_resolved_ts":{"1":${BIG},"2":${MAX_U64}}}`,
    );
    expect(a.minResolvedTs).toBe(BIG);
    expect(a.stores).toEqual(
      new Map([
        [1n, BIG],
        [2n, MAX_U64],
      ]),
    );
  });
  it("has no per-store values when PD answers null (no scope)", () => {
    const a = parseMinResolvedTs('{"is_real_time":true,"min_resolved_ts":7,"stores_min_resolved_ts":null}');
    expect(a).toEqual({ minResolvedTs: 7n, stores: undefined });
  });
  it("rejects an answer without is_real_time (the feature off), as pd's client does", () => {
    expect(() => parseMinResolvedTs('{"min_resolved_ts":7,"stores_min_resolved_ts":null}')).toThrow(
      /not enabled/,
    );
    expect(() => parseMinResolvedTs("not json")).toThrow(PdHttpError);
    expect(() => parseMinResolvedTs('{"is_real_time":true,"min_resolved_ts":-1}')).toThrow(PdHttpError);
  });
});

describe("min safe ts tracker with a scripted PD (client-go updateGlobalTxnScopeTSFromPD)", () => {
  const stores = [1n, 2n].map((id) =>
    Store.fromPartial({ id, address: `store${id}`, labels: [{ key: "zone", value: "z1" }] }),
  );
  function scripted(pdAnswer: () => bigint | Error, storeTs: bigint) {
    const asked: string[] = [];
    const deps = {
      pd: { getAllStores: async () => stores, cachedStores: () => stores },
      stores: {
        get: () => ({
          send: async () => {
            asked.push("store");
            return { safeTs: storeTs };
          },
        }),
      },
      pdHttp: {
        minResolvedTs: async (ids: readonly bigint[] = []) => {
          asked.push(ids.length === 0 ? "pd:cluster" : "pd:stores");
          const a = pdAnswer();
          if (a instanceof Error) throw a;
          return { minResolvedTs: a, stores: ids.length ? new Map(ids.map((id) => [id, a])) : undefined };
        },
      },
      intervalMs: 60_000,
    };
    return { tracker: new MinSafeTsTracker(deps as never), asked };
  }

  it("takes PD's valid answer, never moves it back, and treats 0 and 2^64-1 as no answer", async () => {
    let answer: bigint | Error = 500n;
    const { tracker, asked } = scripted(() => answer, 300n);
    try {
      expect(await tracker.get()).toBe(500n);
      expect(asked).toEqual(["pd:cluster"]);
      answer = 400n; // older than what the tracker has: skipped, still PD's round
      expect(await tracker.get(undefined, true)).toBe(500n);
      expect(asked).toEqual(["pd:cluster", "pd:cluster"]);
      for (const bad of [0n, MAX_U64, new PdHttpError("down")]) {
        answer = bad;
        asked.length = 0;
        // the per-store path: PD asked per store (same invalid value), then each store; its min
        // replaces the global one, as in client-go (only the PD path keeps it from going back)
        expect(await tracker.get(undefined, true)).toBe(300n);
        expect(asked).toEqual(["pd:cluster", "pd:stores", "store", "store"]);
      }
      expect(isValidSafeTs(1n)).toBe(true);
    } finally {
      tracker.close();
    }
  });

  it("a zone first asked after PD-only rounds gets a round that computes it (from PD's per-store values)", async () => {
    const { tracker, asked } = scripted(() => 700n, 300n);
    try {
      expect(await tracker.get()).toBe(700n);
      expect(asked).toEqual(["pd:cluster"]);
      expect(await tracker.get("z1")).toBe(700n);
      expect(asked).toEqual(["pd:cluster", "pd:cluster", "pd:stores"]);
    } finally {
      tracker.close();
    }
  });
});

describe.skipIf(skipOnRealCluster("v1"))("mock PD's HTTP min resolved ts", () => {
  const env = useCluster({ stores: 3, replicas: 3, splitKeys: ["m"], resolvedTsIntervalMs: 0 });
  const get = async (path: string) => {
    const r = await fetch(`http://${env.cluster.pdHttpEndpoints[0]}${path}`);
    return { status: r.status, body: await r.text() };
  };

  it("mock PD serves GET /pd/api/v1/min-resolved-ts as PD does: cluster, scope=cluster, store ids, bad ids, feature off", async () => {
    const { cluster } = env;
    expect(cluster.pdHttpEndpoints).toHaveLength(1);
    // PD serves HTTP on its gRPC port (one socket, as cmux)
    expect(cluster.pdHttpEndpoints[0]).toBe(cluster.pdEndpoints[0]);
    const [left, right] = cluster.topology.regions();
    if (!left || !right) throw new Error("two regions expected");
    cluster.topology.advanceSafeTs(left.id, 1_000n);
    cluster.topology.advanceSafeTs(right.id, 2_000n);
    // every store holds a peer of each region: each store's min is 1000, but PD gives a value
    // only for stores leading a region (core.IsAvailableForMinResolvedTS), 2^64-1 for the rest
    const leading = new Set(cluster.topology.regions().map((r) => r.leader?.storeId));
    const plain = await get("/pd/api/v1/min-resolved-ts");
    expect(plain.status).toBe(200);
    expect(JSON.parse(plain.body)).toEqual({
      is_real_time: true,
      min_resolved_ts: 1000,
      persist_interval: "1s",
      stores_min_resolved_ts: null,
    });
    const all = parseMinResolvedTs((await get("/pd/api/v1/min-resolved-ts?scope=cluster")).body);
    expect(all.minResolvedTs).toBe(1_000n); // scope=cluster keeps the cluster-level value
    expect(all.stores).toEqual(new Map([1n, 2n, 3n].map((id) => [id, leading.has(id) ? 1_000n : MAX_U64])));
    expect(leading.size).toBeGreaterThan(0);
    // an unknown store has no value (2^64-1), which is then the min of a scope of it alone
    const some = await get("/pd/api/v1/min-resolved-ts?scope=1,99");
    expect(some.body).toContain(`"min_resolved_ts":1000`);
    expect(some.body).toContain(`"99":${MAX_U64}`);
    expect((await get("/pd/api/v1/min-resolved-ts?scope=99")).body).toContain(`"min_resolved_ts":${MAX_U64}`);
    const bad = await get("/pd/api/v1/min-resolved-ts?scope=1,x");
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatch(/invalid syntax/);
    expect((await get("/pd/api/v1/other")).status).toBe(404);
    cluster.pd.setMinResolvedTsPersistenceInterval(0);
    try {
      const off = JSON.parse((await get("/pd/api/v1/min-resolved-ts")).body);
      expect(off.is_real_time).toBeUndefined();
      expect(off.persist_interval).toBe("0s");
      await expect(new PdHttpClient(cluster.pdHttpEndpoints, undefined).minResolvedTs()).rejects.toThrow(
        /not enabled/,
      );
    } finally {
      cluster.pd.setMinResolvedTsPersistenceInterval(1_000);
    }
    expect(() => cluster.pd.setMinResolvedTsPersistenceInterval(-1)).toThrow(RangeError);
  });
});

describe.skipIf(skipOnRealCluster("v1"))("PD min resolved ts", () => {
  const env = useCluster({
    stores: 3,
    replicas: 3,
    splitKeys: ["m"],
    regionKeyEncoding: "memcomparable",
    labels: (i) => ({ zone: `z${i + 1}` }),
    resolvedTsIntervalMs: 0,
  });
  const connect = () => env.connect({ pdHttpEndpoints: env.cluster.pdHttpEndpoints });
  const storeRpcs = () => env.cluster.recordRequests({ rpcs: ["GetStoreSafeTS"] });
  const tso = () => packTs(env.cluster.pd.state.tso.generate(1));

  // first: it needs the fresh cluster, where nothing is resolved yet
  it("zero at first (TestInitClusterMinResolvedTSZero): PD's 0 sends the client to the stores, which answer 0 too, and 0 is not taken as 2^64-1; then PD's value is taken without a store RPC", async () => {
    expect(env.cluster.pd.minResolvedTs()).toBe(0n);
    const client = await connect();
    expect(client.config.pdHttpEndpoints).toEqual(env.cluster.pdHttpEndpoints);
    const txns = client.txn();
    let rec = storeRpcs();
    try {
      expect(await txns.getMinSafeTs()).toBe(0n);
      expect(new Set(rec.entries.map((e) => e.storeId))).toEqual(new Set([1n, 2n, 3n]));
    } finally {
      rec.stop();
    }
    rec = storeRpcs();
    try {
      const t = tso();
      env.cluster.topology.advanceAllSafeTs(t);
      expect(await txns.getMinSafeTs({ refresh: true })).toBe(t);
      expect(rec.entries).toEqual([]);
    } finally {
      rec.stop();
    }
  });

  it("the PD HTTP client tries the next endpoint when one fails", async () => {
    const c = new PdHttpClient(["127.0.0.1:1", ...env.cluster.pdHttpEndpoints], undefined, 2_000);
    const a = await c.minResolvedTs([1n, 2n]);
    expect(a.stores?.get(1n)).toBe(env.cluster.pd.storeMinResolvedTs(1n));
    await expect(new PdHttpClient(["127.0.0.1:1"], undefined, 2_000).minResolvedTs()).rejects.toBeInstanceOf(
      PdHttpError,
    );
  });

  it("follows PD's cluster min without any GetStoreSafeTS (TestDCLabelClusterMinResolvedTS, global part)", async () => {
    const client = await connect();
    const txns = client.txn();
    const rec = storeRpcs();
    try {
      for (let i = 0; i < 3; i++) {
        env.cluster.advanceResolvedTs();
        const want = env.cluster.pd.minResolvedTs();
        expect(await txns.getMinSafeTs({ refresh: true })).toBe(want);
      }
      expect(rec.entries).toEqual([]);
    } finally {
      rec.stop();
    }
    expect(env.pdCalls(MIN_RESOLVED_TS_METHOD)).toBeGreaterThan(0);
  });

  it("a zone's min comes from PD's per-store values without a store RPC (TestGetStoresMinResolvedTS); only a store PD has no value for (leading nothing) is asked", async () => {
    const { cluster } = env;
    const client = await connect();
    const txns = client.txn();
    const leading = new Set(cluster.topology.regions().map((r) => r.leader?.storeId));
    const idle = [1n, 2n, 3n].filter((id) => !leading.has(id));
    const rec = storeRpcs();
    try {
      for (let round = 0; round < 2; round++) {
        cluster.advanceResolvedTs();
        for (const id of [1n, 2n, 3n]) {
          const fromPd = cluster.pd.storeMinResolvedTs(id);
          expect(fromPd === MAX_U64, `store ${id}`).toBe(idle.includes(id));
          // each store holds a peer of every region: its own safe ts is the cluster's
          expect(await txns.getMinSafeTs({ zone: `z${id}`, refresh: true }), `zone z${id}`).toBe(
            cluster.pd.minResolvedTs(),
          );
        }
      }
      expect(await txns.getMinSafeTs({ zone: "nowhere" })).toBe(0n);
      expect(new Set(rec.entries.map((e) => e.storeId))).toEqual(new Set(idle));
    } finally {
      rec.stop();
    }
  });

  it("PD failing or its feature off: the stores are asked GetStoreSafeTS, and the value still advances (TestDCLabelClusterMinResolvedTS, TiKV part)", async () => {
    const { cluster } = env;
    const client = await connect();
    const txns = client.txn();
    env.cluster.advanceResolvedTs();
    expect(await txns.getMinSafeTs()).toBe(cluster.pd.minResolvedTs());
    // PD failing: both of the round's asks (cluster, then per store) answer 500
    let rec = storeRpcs();
    try {
      cluster.pd.faults.failNext(MIN_RESOLVED_TS_METHOD, 2, {
        kind: "status",
        code: 13,
        details: "injected",
      });
      const t = tso();
      cluster.topology.advanceAllSafeTs(t);
      expect(await txns.getMinSafeTs({ refresh: true })).toBe(t);
      expect(new Set(rec.entries.map((e) => e.storeId))).toEqual(new Set([1n, 2n, 3n]));
    } finally {
      rec.stop();
    }
    // feature off (PD answers without is_real_time): every round goes to the stores
    cluster.pd.setMinResolvedTsPersistenceInterval(0);
    rec = storeRpcs();
    try {
      const t = tso();
      cluster.topology.advanceAllSafeTs(t);
      expect(await txns.getMinSafeTs({ refresh: true })).toBe(t);
      expect(rec.entries.length).toBeGreaterThanOrEqual(3);
      expect(rec.entries.every((e) => e.rpc === "GetStoreSafeTS" && e.outcome === "ok")).toBe(true);
    } finally {
      rec.stop();
      cluster.pd.setMinResolvedTsPersistenceInterval(1_000);
    }
    // back on: PD again, no store RPC
    rec = storeRpcs();
    try {
      cluster.advanceResolvedTs();
      expect(await txns.getMinSafeTs({ refresh: true })).toBe(cluster.pd.minResolvedTs());
      expect(rec.entries).toEqual([]);
    } finally {
      rec.stop();
    }
  });

  it("a lock holds PD's min resolved ts, and so the client's min safe ts, at its start ts until it is committed", async () => {
    const { cluster } = env;
    const client = await connect();
    const txns = client.txn();
    const key = Buffer.from("lock-held");
    const region = cluster.topology.locateKey(key);
    const leader = region?.leader;
    if (!region || !leader) throw new Error("no leader for the key");
    const stub = newClient(cluster.store(leader.storeId).address);
    const context = kv.Context.fromPartial({
      regionId: region.id,
      peer: leader,
      regionEpoch: region.region.regionEpoch,
    });
    const rec = storeRpcs();
    try {
      const startTs = tso();
      const pw = await call<kv.PrewriteRequest, kv.PrewriteResponse>(
        stub,
        "kvPrewrite",
        kv.PrewriteRequest.fromPartial({
          context,
          mutations: [{ op: kv.Op.Put, key, value: Buffer.from("v") }],
          primaryLock: key,
          startVersion: startTs,
          lockTtl: 60_000n,
        }),
      );
      expect(pw.errors).toEqual([]);
      for (let i = 0; i < 3; i++) {
        cluster.advanceResolvedTs();
        expect(await txns.getMinSafeTs({ refresh: true })).toBe(startTs);
      }
      const commitTs = tso();
      const c = await call<kv.CommitRequest, kv.CommitResponse>(
        stub,
        "kvCommit",
        kv.CommitRequest.fromPartial({
          context,
          keys: [key],
          startVersion: startTs,
          commitVersion: commitTs,
        }),
      );
      expect(c.error).toBeUndefined();
      cluster.advanceResolvedTs();
      expect(await txns.getMinSafeTs({ refresh: true })).toBeGreaterThan(commitTs);
      expect(rec.entries).toEqual([]);
    } finally {
      rec.stop();
      stub.close();
    }
  });

  it("refuses bad pdHttpEndpoints with InvalidArgumentError naming the entry", async () => {
    const pdEndpoints = env.pdEndpoints;
    for (const [bad, field] of [
      [[], "pdHttpEndpoints"],
      ["127.0.0.1:2379", "pdHttpEndpoints"],
      [[42], "pdHttpEndpoints[0]"],
      [["127.0.0.1"], "pdHttpEndpoints[0]"],
      [["127.0.0.1:2379", "grpc://127.0.0.1:2379"], "pdHttpEndpoints[1]"],
      [["ftp://127.0.0.1:2379"], "pdHttpEndpoints[0]"],
    ] as const) {
      const e = await TikvClient.connect({ pdEndpoints, pdHttpEndpoints: bad as never }).catch(
        (x: unknown) => x,
      );
      expect(e, JSON.stringify(bad)).toBeInstanceOf(InvalidArgumentError);
      expect((e as InvalidArgumentError).argument).toBe(field);
    }
  });
});

describe.skipIf(skipOnRealCluster("v1"))("PD min resolved ts over mutual TLS", () => {
  const env = useCluster({ stores: 2, splitKeys: ["m"], resolvedTsIntervalMs: 0, tls: "generate" });

  it("the client asks PD's HTTP API over https with its CA and client certificate; PD refuses a client without one", async () => {
    const { cluster } = env;
    const c = cluster.certificates;
    if (!c) throw new Error("no generated certificates");
    const tls = { ca: Buffer.from(c.ca), cert: Buffer.from(c.client.cert), key: Buffer.from(c.client.key) };
    const client = await env.connect({ tls, pdHttpEndpoints: cluster.pdHttpEndpoints });
    const rec = cluster.recordRequests({ rpcs: ["GetStoreSafeTS"] });
    try {
      cluster.advanceResolvedTs();
      const want = cluster.pd.minResolvedTs();
      expect(want).toBeGreaterThan(0n);
      expect(await client.txn().getMinSafeTs()).toBe(want);
      expect(rec.entries).toEqual([]);
    } finally {
      rec.stop();
    }
    // https without a client certificate: the handshake is refused
    await expect(
      new PdHttpClient(cluster.pdHttpEndpoints, { ca: Buffer.from(c.ca) }, 2_000).minResolvedTs(),
    ).rejects.toBeInstanceOf(PdHttpError);
    // plaintext to the TLS port fails too
    await expect(
      new PdHttpClient([`http://${cluster.pdHttpEndpoints[0]}`], undefined, 2_000).minResolvedTs(),
    ).rejects.toBeInstanceOf(PdHttpError);
  });
});
