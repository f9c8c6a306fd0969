// Prometheus export (the `metrics` option): after a small raw + txn workload on the embedded
// cluster, the registry holds client-go's main families with the expected label values and
// plausible counts. The families mirror ClientMetrics, so a scrape and client.metrics() agree.
import { status } from "@grpc/grpc-js";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { RegionErrors } from "../../src/cluster/tikv/region-errors.js";
import { DEFAULT_METRICS_PREFIX, InvalidArgumentError, TikvClient } from "../../src/index.js";
import { itFault, skipOnRealCluster, uniquePrefix, useCluster } from "../support/cluster.js";
import { b, engineOps, lockKey } from "./txn/ported-lock-helpers.js";

type Sample = { labels: Record<string, string | number>; value: number; metricName?: string };

// every sample of family `name` (histograms: the _count samples), keyed by its label values
async function samples(registry: Registry, name: string): Promise<Sample[]> {
  const m = (await registry.getMetricsAsJSON()).find((f) => f.name === name);
  if (!m) return [];
  const all = m.values as Sample[];
  return m.type === ("histogram" as never) ? all.filter((s) => s.metricName === `${name}_count`) : all;
}

function total(ss: Sample[], labels: Record<string, string> = {}): number {
  return ss
    .filter((s) => Object.entries(labels).every(([k, v]) => String(s.labels[k]) === v))
    .reduce((a, s) => a + s.value, 0);
}

// the _sum sample of histogram `name` with `labels`
async function histogramSum(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const m = (await registry.getMetricsAsJSON()).find((f) => f.name === name);
  return total(
    ((m?.values ?? []) as Sample[]).filter((s) => s.metricName === `${name}_sum`),
    labels,
  );
}

function regionOf(env: ReturnType<typeof useCluster>, key: string) {
  const r = env.cluster.topology.locateKey(b(key));
  if (!r) throw new Error(`no region for ${key}`);
  return r;
}

const P = DEFAULT_METRICS_PREFIX;

describe.skipIf(skipOnRealCluster("v1"))("metrics: prom-client registry", () => {
  const env = useCluster({ stores: 3, splitKeys: ["g", "p"], regionKeyEncoding: "memcomparable" });
  const ops = engineOps(env);

  itFault("a raw + txn workload shows up in every family with its labels", async () => {
    const registry = new Registry();
    const client = await env.connect({ metrics: { registry } });
    const raw = client.raw();
    const p = uniquePrefix("m");
    const keys = ["a", "h", "q"].map((c) => `${c}${p}`);
    for (const k of keys) await raw.put(k, "v");
    for (const k of keys) expect((await raw.get(k))?.toString()).toBe("v");
    // a send failure: backs off tikvRPC, counted as an RPC error
    const region = regionOf(env, keys[0] as string);
    env.cluster.faults.failNext({
      rpc: "RawGet",
      regionId: region.id,
      error: { grpcStatus: status.UNAVAILABLE, message: "injected" },
    });
    expect((await raw.get(keys[0] as string))?.toString()).toBe("v");

    const t = client.txn();
    for (const mode of [{}, { asyncCommit: true }, { onePC: true }]) {
      const txn = await t.begin(mode);
      // one region, so that 1PC applies
      txn.set(`a${p}t1`, "1");
      txn.set(`a${p}t2`, "22");
      await txn.commit();
    }
    const pess = await t.begin({ pessimistic: true });
    await pess.lockKeys([`q${p}lk`]);
    await pess.rollback();
    // a lock whose owner committed its primary, and one whose owner died (TTL 1 ms)
    const base = { value: "x", primaryValue: "z", ttlMs: 1n };
    await lockKey(t, ops, { ...base, key: `b${p}c`, primary: `b${p}pc`, commitPrimary: true });
    await lockKey(t, ops, { ...base, key: `b${p}r`, primary: `b${p}pr`, commitPrimary: false });
    await new Promise((r) => setTimeout(r, 5));
    const snap = await t.snapshot();
    expect((await snap.get(`b${p}c`))?.toString()).toBe("x");
    expect(await snap.get(`b${p}r`)).toBeUndefined();
    await t.whenIdle();

    const text = await registry.metrics();
    expect(text).toContain(`# TYPE ${P}request_seconds histogram`);

    const req = await samples(registry, `${P}request_seconds`);
    // 3 puts, 3 gets + the retried one (failed send included; region errors add retries), by
    // command and store, one observation per send ClientMetrics counted
    expect(total(req, { type: "RawPut" })).toBeGreaterThanOrEqual(3);
    expect(total(req, { type: "RawGet" })).toBeGreaterThanOrEqual(5);
    expect(total(req, { type: "Prewrite" })).toBeGreaterThanOrEqual(2);
    expect(total(req, { type: "Commit" })).toBeGreaterThanOrEqual(1);
    expect(total(req, { type: "PessimisticLock" })).toBe(1);
    expect(total(req, { type: "PessimisticRollback" })).toBe(1);
    expect(total(req, { type: "CheckTxnStatus" })).toBeGreaterThanOrEqual(2);
    const regionErrors = client.metrics().regionErrors;
    const re = await samples(registry, `${P}region_err_total`);
    for (const [kind, n] of Object.entries(regionErrors)) expect(total(re, { type: kind })).toBe(n);
    const stores = new Set(req.map((s) => String(s.labels.store)));
    expect([...stores].every((s) => /^[1-9]\d*$/.test(s))).toBe(true);
    expect(stores.size).toBeGreaterThanOrEqual(2);
    const sendsByStore = client.metrics().sendsByStore;
    expect(total(req)).toBe(Object.values(sendsByStore).reduce((a, n) => a + n, 0));

    const rpcErr = await samples(registry, `${P}rpc_err_total`);
    expect(total(rpcErr, { type: "RawGet", store: String(region.leader?.storeId) })).toBe(1);
    const bo = await samples(registry, `${P}backoff_seconds`);
    expect(total(bo, { type: "tikvRPC" })).toBe(client.metrics().backoffs.tikvRPC);
    expect(total(bo, { type: "tikvRPC" })).toBeGreaterThanOrEqual(1);
    expect(await histogramSum(registry, `${P}backoff_seconds`, { type: "tikvRPC" })).toBeGreaterThan(0);

    const rc = await samples(registry, `${P}region_cache_operations_total`);
    expect(total(rc, { type: "get_region_when_miss", result: "ok" })).toBeGreaterThanOrEqual(3);
    expect(total(rc, { type: "get_store", result: "ok" })).toBeGreaterThanOrEqual(1);

    const tso = await samples(registry, `${P}ts_future_wait_seconds`);
    expect(total(tso)).toBeGreaterThanOrEqual(4);

    const cmd = await samples(registry, `${P}txn_cmd_duration_seconds`);
    expect(total(cmd, { type: "commit" })).toBe(3);
    expect(total(cmd, { type: "lock_keys" })).toBe(1);
    expect(total(cmd, { type: "rollback" })).toBe(1);
    expect(total(await samples(registry, `${P}txn_write_kv_num`))).toBe(3);
    // each commit wrote the keys `a${p}t1` and `a${p}t2` with values "1" and "22"
    expect(await histogramSum(registry, `${P}txn_write_size_bytes`)).toBe(3 * (2 * (p.length + 3) + 3));
    expect(await histogramSum(registry, `${P}txn_write_kv_num`)).toBe(6);

    // requests go over BatchCommands streams: the messages carry (about: a store's first request
    // may wait for its stream) every request sent
    const batches = await samples(registry, `${P}batch_requests`);
    expect(batches.length).toBeGreaterThanOrEqual(2);
    expect(batches.every((s) => /^127\.0\.0\.1:\d+$/.test(String(s.labels.target)))).toBe(true);
    expect(await histogramSum(registry, `${P}batch_requests`)).toBeGreaterThanOrEqual(total(req) - 1);
    expect(total(await samples(registry, `${P}batch_pending_requests`))).toBe(total(batches));

    const commits = await samples(registry, `${P}txn_commit_total`);
    expect(total(commits, { type: "2pc" })).toBe(1);
    expect(total(commits, { type: "async_commit" })).toBe(1);
    expect(total(commits, { type: "1pc" })).toBe(1);
    expect(client.metrics().txnCommits).toEqual({ twoPC: 1, asyncCommit: 1, onePC: 1 });

    const lr = await samples(registry, `${P}lock_resolver_actions_total`);
    expect(total(lr, { type: "resolve_locks" })).toBeGreaterThanOrEqual(2);
    expect(total(lr, { type: "query_txn_status" })).toBeGreaterThanOrEqual(2);
    expect(total(lr, { type: "query_txn_status_committed" })).toBeGreaterThanOrEqual(1);
    expect(total(lr, { type: "query_txn_status_rolled_back" })).toBeGreaterThanOrEqual(1);
  });

  itFault("region errors are counted by kind and store", async () => {
    const registry = new Registry();
    const client = await env.connect({ metrics: { registry, prefix: "tikv_client_go_" } });
    const raw = client.raw();
    const key = `a${uniquePrefix("re")}`;
    await raw.put(key, "v");
    const region = regionOf(env, key);
    env.cluster.faults.failNext({
      rpc: "RawGet",
      regionId: region.id,
      error: { regionError: RegionErrors.serverIsBusy() },
    });
    expect((await raw.get(key))?.toString()).toBe("v");
    const re = await samples(registry, "tikv_client_go_region_err_total");
    expect(total(re, { type: "serverIsBusy", store: String(region.leader?.storeId) })).toBe(1);
    expect(total(await samples(registry, "tikv_client_go_backoff_seconds"), { type: "tikvServerBusy" })).toBe(
      1,
    );
  });

  it("clients sharing a registry add to the same series", async () => {
    const registry = new Registry();
    const a = await env.connect({ metrics: { registry } });
    const c = await env.connect({ metrics: { registry } });
    const key = `a${uniquePrefix("share")}`;
    await a.raw().put(key, "1");
    await c.raw().put(key, "2");
    expect(total(await samples(registry, `${P}request_seconds`), { type: "RawPut" })).toBe(2);
  });

  it("metrics: true registers in prom-client's global registry", async () => {
    const { register } = await import("prom-client");
    const client = await env.connect({ metrics: true });
    await client.raw().put(`a${uniquePrefix("global")}`, "1");
    expect(total(await samples(register, `${P}request_seconds`), { type: "RawPut" })).toBeGreaterThanOrEqual(
      1,
    );
  });

  it("bad metrics options are refused with InvalidArgumentError before connecting", async () => {
    const bad: Array<[unknown, string]> = [
      ["yes", "metrics"],
      [null, "metrics"],
      [{ registry: {} }, "metrics.registry"],
      [{ registry: null }, "metrics.registry"],
      [{ prefix: "1bad" }, "metrics.prefix"],
      [{ prefix: "has space_" }, "metrics.prefix"],
      [{ prefix: 7 }, "metrics.prefix"],
    ];
    for (const [metrics, argument] of bad) {
      const err = await TikvClient.connect({ pdEndpoints: env.pdEndpoints, metrics: metrics as never }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).argument).toBe(argument);
    }
  });
});
