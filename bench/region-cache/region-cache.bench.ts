/**
 * The region cache at scale: client heap per cached region, random key → region lookups, and
 * loading every region from a PD in pages, at 100k and 1M regions (DESIGN.md: ≤ 300 B per
 * region, ≤ 1 µs per lookup at 1M, loads in batches without stalling the event loop).
 *
 * The PD is an in-memory RegionSource that builds each page the way the gRPC decoder does (every
 * region decoded from its own bytes, so nothing is shared between regions that would not be
 * shared in a real client); the embedded cluster's PD is not in the loop, which keeps the
 * figures about the client. Needs --expose-gc:
 * `npm run bench:region-cache -- [--regions 100000,1000000] [--page 1000]`. Client memory is the
 * growth of the JS heap plus the typed arrays / arena outside it (process.memoryUsage
 * heapUsed + arrayBuffers), after gc. Lookup times are CPU time per lookup (process.cpuUsage over
 * rounds of 10,000), next to two bare structures given the same probes: the region index alone
 * (no validity, TTL or handle) and a sorted-btree of latin1 start keys (the index before #16).
 * The figures are also written to bench/region-cache/RESULTS.md.
 */
import { writeFileSync } from "node:fs";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { getHeapStatistics } from "node:v8";
import BTreeModule from "sorted-btree";
import { RegionCache } from "../../src/actors/region-cache/region-cache.js";
import { RegionIndex } from "../../src/actors/region-cache/region-index.js";
import type { RegionInfo, RegionSource } from "../../src/actors/region-cache/region-source.js";
import { RegionStore } from "../../src/actors/region-cache/region-store.js";
import { PeerRole, Region, type Store, StoreState } from "../../src/proto/metapb.js";

type BTreeCtor = typeof BTreeModule.default;
const BTree: BTreeCtor =
  (BTreeModule as unknown as { default?: BTreeCtor }).default ?? (BTreeModule as unknown as BTreeCtor);
const gc = (globalThis as { gc?: () => void }).gc;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

// Region i covers [key(i), key(i+1)); region 0 starts at "" and the last ends at "" (+inf).
// Keys look like TiDB record keys: a table prefix and an 8-byte big-endian handle.
const keyOf = (i: number): Buffer => {
  const k = Buffer.alloc(19);
  k.write("t\x80\x00\x00\x00\x00\x00\x00\x2a_r", 0, "latin1");
  k.writeBigUInt64BE(BigInt(i) * 1000n, 11);
  return k;
};

const STORES = 3n;

/** A PD of `n` regions with 3 voters each; pages are decoded from bytes like gRPC answers. */
class GeneratedPd implements RegionSource {
  // encoded up front into one buffer (no heap object per region: the PD's data is not the
  // client's), so that loading times the client's decoding and caching, not the encoding
  private readonly bytes: Buffer;
  private readonly offs: Uint32Array;

  constructor(private readonly n: number) {
    const parts = Array.from({ length: n }, (_, i) => this.encode(i));
    this.offs = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) this.offs[i + 1] = (this.offs[i] as number) + (parts[i] as Uint8Array).length;
    this.bytes = Buffer.concat(parts);
  }

  private encode(i: number): Uint8Array {
    const id = BigInt(i + 1);
    return Region.encode(
      Region.fromPartial({
        id,
        startKey: i === 0 ? Buffer.alloc(0) : keyOf(i),
        endKey: i === this.n - 1 ? Buffer.alloc(0) : keyOf(i + 1),
        regionEpoch: { confVer: 5n, version: 40n + BigInt(i % 7) },
        peers: [1n, 2n, 3n].map((s) => ({ id: id * 10n + s, storeId: s, role: PeerRole.Voter })),
      }),
    ).finish();
  }

  private info(i: number): RegionInfo {
    const meta = Region.decode(this.bytes.subarray(this.offs[i] as number, this.offs[i + 1] as number));
    return { meta, leader: meta.peers[i % Number(STORES)] };
  }

  // index of the region holding key (binary search over the generated bounds)
  private indexOf(key: Buffer): number {
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (Buffer.compare(keyOf(mid), key) <= 0) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  async getRegion(key: Buffer): Promise<RegionInfo | undefined> {
    return this.info(this.indexOf(key));
  }
  async getPrevRegion(key: Buffer): Promise<RegionInfo | undefined> {
    const i = this.indexOf(key);
    return i > 0 ? this.info(i - 1) : undefined;
  }
  async getRegionById(id: bigint): Promise<RegionInfo | undefined> {
    const i = Number(id) - 1;
    return i >= 0 && i < this.n ? this.info(i) : undefined;
  }
  async scanRegions(start: Buffer, _end: Buffer, limit: number): Promise<RegionInfo[]> {
    const out: RegionInfo[] = [];
    for (let i = this.indexOf(start); i < this.n && out.length < limit; i++) out.push(this.info(i));
    return out;
  }
  async getStore(id: bigint): Promise<Store | undefined> {
    return {
      id,
      address: `127.0.0.1:${20160 + Number(id)}`,
      state: StoreState.Up,
      labels: [],
      version: "",
      peerAddress: "",
      statusAddress: "",
      gitHash: "",
      startTimestamp: 0n,
      deployPath: "",
      lastHeartbeat: 0n,
      physicallyDestroyed: false,
      nodeState: 0,
    };
  }
}

/** Figures for one cache size. */
export interface RegionCacheFigures {
  regions: number;
  /** JS heap + external typed arrays per region. */
  bytesPerRegion: number;
  /** The JS heap part. */
  heapBytesPerRegion: number;
  /** The typed-array / arena part. */
  externalBytesPerRegion: number;
  /** Wall time of the whole load. */
  loadMs: number;
  /** Client CPU per region loaded (decoding PD's answer, building and caching the entry). */
  loadCpuUsPerRegion: number;
  /** Longest event-loop stall while loading (ms): how long a request could wait behind a page. */
  loadMaxStallMs: number;
  /** 99th percentile of the event-loop delay while loading (ms). */
  loadP99StallMs: number;
  /** Longest event-loop delay over one idle second just before (ms): the machine's own scheduling noise. */
  idleMaxStallMs: number;
  lookupNsMedian: number;
  lookupNsP99: number;
  /** The same lookups in the bare region index (slot search and end-key check only). */
  bareIndexLookupNsMedian: number;
  /** The same lookups in a bare sorted-btree of latin1 start keys (the structure before #16). */
  bareBtreeLookupNsMedian: number;
}

const memory = () => {
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.arrayBuffers };
};

async function measureSize(n: number, page: number): Promise<RegionCacheFigures> {
  const pd = new GeneratedPd(n);
  gc?.();
  gc?.();
  const mem0 = memory();
  const cache = new RegionCache(pd, { ttlJitterMs: 0 });
  const idle = monitorEventLoopDelay({ resolution: 1 });
  idle.enable();
  await new Promise((r) => setTimeout(r, 1000));
  idle.disable();
  const stall = monitorEventLoopDelay({ resolution: 1 });
  stall.enable();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  let start: Buffer = Buffer.alloc(0);
  for (;;) {
    const loaded = await cache.batchLoadRegions(start, Buffer.alloc(0), page);
    const last = loaded[loaded.length - 1];
    if (!last || last.endKey.length === 0) break;
    start = last.endKey;
    // a macrotask between pages, as the PD round trip of the next page would give
    await new Promise((r) => setImmediate(r));
  }
  const loadMs = performance.now() - t0;
  const loadCpu = process.cpuUsage(cpu0);
  stall.disable();
  if (cache.size !== n) throw new Error(`cached ${cache.size} regions, expected ${n}`);
  gc?.();
  gc?.();
  const mem1 = memory();
  const heapBytesPerRegion = (mem1.heap - mem0.heap) / n;
  const externalBytesPerRegion = (mem1.external - mem0.external) / n;

  // random keys inside random regions, built before timing
  const probes = Array.from({ length: 200_000 }, () => {
    const i = Math.floor(Math.random() * n);
    const k = keyOf(i);
    k[18] = (k[18] as number) + 1;
    return k;
  });
  // CPU time, not wall time: on a shared machine the process is often descheduled mid-round
  const median = (xs: number[]) => Math.round([...xs].sort((a, b) => a - b)[xs.length >> 1] as number);
  const cpuNsPer = (count: number, f: () => void) => {
    const c = process.cpuUsage();
    f();
    const d = process.cpuUsage(c);
    return ((d.user + d.system) * 1000) / count;
  };
  const rounds: number[] = [];
  let hits = 0;
  for (let r = 0; r < 20; r++) {
    rounds.push(
      cpuNsPer(10_000, () => {
        for (let j = r * 10_000; j < (r + 1) * 10_000; j++)
          if (cache.tryLocateKey(probes[j] as Buffer)) hits++;
      }),
    );
  }
  if (hits !== 200_000) throw new Error(`only ${hits} of 200000 lookups hit`);
  rounds.sort((a, b) => a - b);
  // the bare index over the same regions (slots of a store holding only the keys)
  const store = new RegionStore();
  const index = new RegionIndex(store);
  for (let i = 0; i < n; i++) {
    const slot = store.add({
      id: BigInt(i + 1),
      confVer: 1n,
      version: 1n,
      startKey: i === 0 ? Buffer.alloc(0) : keyOf(i),
      endKey: i === n - 1 ? Buffer.alloc(0) : keyOf(i + 1),
      allPeers: [],
      epochs: [],
      leaderIdx: 0,
      ttlAt: 0,
      reason: 0,
      needReload: false,
      expireAfterTtl: false,
      downPeers: [],
      buckets: undefined,
      isInFlashback: false,
      flashbackStartTs: 0n,
    });
    index.set(slot);
  }
  const indexRounds: number[] = [];
  for (let r = 0; r < 20; r++) {
    indexRounds.push(
      cpuNsPer(10_000, () => {
        for (let j = r * 10_000; j < (r + 1) * 10_000; j++)
          if (index.searchByKey(probes[j] as Buffer) < 0) hits--;
      }),
    );
  }
  if (hits !== 200_000) throw new Error("the bare index missed a key");
  index.clear();
  // the structure before #16: a bare sorted-btree of latin1 start keys, same probes
  const bare = new BTree<string, number>();
  for (let i = 0; i < n; i++) bare.set(i === 0 ? "" : keyOf(i).toString("latin1"), i);
  const pair: [string, number] = ["", 0];
  const bareRounds: number[] = [];
  for (let r = 0; r < 20; r++) {
    bareRounds.push(
      cpuNsPer(10_000, () => {
        for (let j = r * 10_000; j < (r + 1) * 10_000; j++)
          bare.getPairOrNextLower((probes[j] as Buffer).toString("latin1"), pair);
      }),
    );
  }
  bare.clear();
  bareRounds.sort((a, b) => a - b);
  const figures = {
    regions: n,
    bytesPerRegion: Math.round(heapBytesPerRegion + externalBytesPerRegion),
    heapBytesPerRegion: Math.round(heapBytesPerRegion),
    externalBytesPerRegion: Math.round(externalBytesPerRegion),
    loadMs: Math.round(loadMs),
    loadCpuUsPerRegion: Math.round(((loadCpu.user + loadCpu.system) / n) * 10) / 10,
    loadMaxStallMs: Math.round(stall.max / 1e5) / 10,
    loadP99StallMs: Math.round(stall.percentile(99) / 1e5) / 10,
    idleMaxStallMs: Math.round(idle.max / 1e5) / 10,
    lookupNsMedian: Math.round(rounds[rounds.length >> 1] as number),
    lookupNsP99: Math.round(rounds[rounds.length - 1] as number),
    bareIndexLookupNsMedian: median(indexRounds),
    bareBtreeLookupNsMedian: Math.round(bareRounds[bareRounds.length >> 1] as number),
  };
  cache.clear();
  return figures;
}

/** Runs the region cache bench at each size. */
export async function runRegionCacheBench(sizes: number[], page: number): Promise<RegionCacheFigures[]> {
  if (!gc) console.log("(run with --expose-gc for heap figures; they are rough without it)");
  const out: RegionCacheFigures[] = [];
  for (const n of sizes) {
    const f = await measureSize(n, page);
    out.push(f);
    console.log(
      `${n} regions: ${f.bytesPerRegion} B/region (heap ${f.heapBytesPerRegion} + typed arrays ${f.externalBytesPerRegion}), load ${f.loadMs} ms (${f.loadCpuUsPerRegion} µs CPU/region) in pages of ${page} (event-loop stall: longest ${f.loadMaxStallMs} ms, p99 ${f.loadP99StallMs} ms; idle ${f.idleMaxStallMs} ms), lookup median ${f.lookupNsMedian} ns CPU (worst round ${f.lookupNsP99} ns; bare index ${f.bareIndexLookupNsMedian} ns, bare sorted-btree ${f.bareBtreeLookupNsMedian} ns)`,
    );
  }
  return out;
}

const sizes = (arg("regions") ?? "100000,1000000").split(",").map(Number);
const result = await runRegionCacheBench(sizes, Number(arg("page") ?? 1000));
const heapLimitMb = Math.round(getHeapStatistics().heap_size_limit / 2 ** 20);
console.log(JSON.stringify({ bench: "region-cache", heapLimitMb, result }));
writeResults(result, heapLimitMb, Number(arg("page") ?? 1000));

// bench/region-cache/RESULTS.md: the figures of the last run
function writeResults(rows: RegionCacheFigures[], limitMb: number, page: number): void {
  const lines = [
    "# Region cache at scale: last run of `npm run bench:region-cache`",
    "",
    `Written by bench/region-cache/region-cache.bench.ts on ${new Date().toISOString().slice(0, 10)}; Node ${process.version}, heap limit ${limitMb} MB (not raised); PD pages of ${page}; targets (DESIGN.md): ≤ 300 B per region, ≤ 1 µs per lookup at 1M.`,
    "",
    "| regions | B/region (heap + typed arrays) | lookup median (worst round) | bare index | bare sorted-btree | load CPU/region | event-loop stall while loading: longest, p99 (idle longest) |",
    "|---|---|---|---|---|---|---|",
    ...rows.map(
      (f) =>
        `| ${f.regions.toLocaleString("en")} | ${f.bytesPerRegion} (${f.heapBytesPerRegion} + ${f.externalBytesPerRegion}) | ${f.lookupNsMedian} ns (${f.lookupNsP99} ns) | ${f.bareIndexLookupNsMedian} ns | ${f.bareBtreeLookupNsMedian} ns | ${f.loadCpuUsPerRegion} µs | ${f.loadMaxStallMs} ms, ${f.loadP99StallMs} ms (${f.idleMaxStallMs} ms) |`,
    ),
    "",
  ];
  writeFileSync(new URL("./RESULTS.md", import.meta.url), lines.join("\n"));
}
