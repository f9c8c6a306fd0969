/**
 * The committer's own overhead per 10-key optimistic commit: the real Committer (statechart,
 * phase actions, request building, grouping by region, control blocks) against a fake sender
 * that answers every RPC at once and a TSO that answers at once. That is the client CPU of a
 * commit minus RPC encode/decode and transport (target <= 30 µs). Plain script:
 * `node --import tsx bench/txn/committer.bench.ts`; bench/txn/txn.bench.ts reports it too.
 */
import { CachedRegion } from "../../src/actors/region-cache/cached-region.js";
import type { RegionCache } from "../../src/actors/region-cache/region-cache.js";
import { makeControl } from "../../src/actors/runtime/control.js";
import { ClientMetrics } from "../../src/actors/runtime/metrics.js";
import type { RawRequestSender } from "../../src/actors/runtime/raw-sender.js";
import { Committer, type CommitterDeps } from "../../src/actors/txn/committer.js";
import type { LockResolver } from "../../src/actors/txn/lock-resolver.js";
import type { ApiCodec } from "../../src/kv/api-codec.js";
import { Assertion, CommitResponse, type Mutation, Op, PrewriteResponse } from "../../src/proto/kvrpcpb.js";
import { Region } from "../../src/proto/metapb.js";

// one region holding every key; the fake sender never meets a region error or a lock
const region = new CachedRegion(
  Region.fromPartial({ id: 1n, regionEpoch: { confVer: 1n, version: 1n } }),
  [],
  [],
  0,
  [],
  Number.MAX_SAFE_INTEGER,
);

function fakeDeps(): CommitterDeps {
  const metrics = new ClientMetrics();
  const prewriteOk = PrewriteResponse.fromPartial({});
  const commitOk = CommitResponse.fromPartial({});
  let ts = 1000n << 18n;
  const sender: RawRequestSender = {
    cache: undefined as unknown as RegionCache,
    codec: undefined as unknown as ApiCodec,
    metrics,
    locate: () => region,
    sendOnce: (_r, cmd) => Promise.resolve({ resp: (cmd === "Prewrite" ? prewriteOk : commitOk) as never }),
  };
  return {
    sender,
    // never asked: no prewrite meets a lock
    resolver: undefined as unknown as LockResolver,
    getTimestamp: () => Promise.resolve(ts++),
    control: () => makeControl({ maxBackoffMs: 40_000, timeoutMs: 0, metrics }),
    track: () => {},
    maxTxnTtlMs: 3_600_000,
  };
}

/** CPU µs per 10-key optimistic commit of the Committer against a fake sender, after a warm-up. */
export async function committerOverheadUs(n = 20_000): Promise<number> {
  const deps = fakeDeps();
  const value = Buffer.from("v");
  // keys made before timing: their cost is the memdb's, not the committer's
  const keys = Array.from({ length: 10 }, (_, j) => Buffer.from(`peer-txn-key-${j}`));
  const once = async (i: number) => {
    const mutations: Mutation[] = keys.map((key) => ({ op: Op.Put, key, value, assertion: Assertion.None }));
    const startTs = BigInt(i + 1) << 18n;
    const c = new Committer(deps, {
      startTs,
      mutations,
      primaryIndex: 0,
      sizeBytes: 150,
      startedAtMs: Date.now(),
    });
    await c.commit();
    // the secondaries commit in the background: let them end so each commit is counted whole
    await new Promise<void>((r) => setImmediate(r));
  };
  for (let i = 0; i < Math.min(n, 5000); i++) await once(i);
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < n; i++) await once(i);
  const c = process.cpuUsage(cpu0);
  return Math.round(((c.user + c.system) / n) * 10) / 10;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(
    `committer overhead: ${await committerOverheadUs()} µs per 10-key optimistic commit (target <= 30)`,
  );
}
