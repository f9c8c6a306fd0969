// The etcd that real PD embeds, as the mock PD's members share it: one MVCC key space, one
// lessor, the member list and response headers (etcd cluster id, answering member, store
// revision, raft term). PD keeps some of its own state in it that clients read directly
// (the GC safe points, through GcMirror), and seeds /pd/cluster_id as PD does.
import { createHash } from "node:crypto";
import type { ResponseHeader } from "../../../proto/etcd/etcdserverpb/rpc.js";
import type { Member as PdMember } from "../../../proto/pdpb.js";
import { type KeyRange, keyString } from "./key-range.js";
import { KvStore, type StoredKv } from "./kv-store.js";
import { Lessor, PD_MIN_LEASE_TTL } from "./lessor.js";
import { DEFAULT_PROGRESS_NOTIFY_MS } from "./watch-stream.js";

/** Version string Maintenance.Status reports (PD 8.5 embeds etcd 3.5). */
export const ETCD_VERSION = "3.5.15";

/** PD runs etcd with periodic auto-compaction keeping one hour of history. */
const AUTO_COMPACTION_RETENTION_MS = 3_600_000;
const COMPACTION_CHECK_MS = 60_000;

/** PD's key for its cluster id (keypath.ClusterIDPath; value: 8 bytes, big-endian). */
export const PD_CLUSTER_ID_KEY = "/pd/cluster_id";

/** Who the etcd members are and which one leads (PD's members; etcd follows PD's leader). */
export interface EtcdMembership {
  members(): readonly PdMember[];
  leaderIndex(): number | undefined;
}

/** Options of {@link EtcdFace}. */
export interface EtcdFaceOptions {
  membership: EtcdMembership;
  /** PD's cluster id (stored under /pd/cluster_id). */
  pdClusterId: bigint;
  now: () => number;
  /** Minimum lease TTL in seconds (default 5, PD's). */
  minLeaseTtl?: bigint;
  /** Interval of watch progress notifications in ms (default 10 minutes, etcd's). */
  progressNotifyMs?: number;
}

/** The embedded etcd of the mock PD, shared by its members. */
export class EtcdFace {
  readonly kv = new KvStore();
  readonly lessor: Lessor;
  /** Interval of watch progress notifications in ms, for watch streams opened from now on. */
  progressNotifyMs: number;
  private readonly membership: EtcdMembership;
  private term = 2n; // a single fresh etcd member wins its first election at term 2
  private lastLeader: number | undefined;
  private clusterIdOf: { memo: string; id: bigint } | undefined;
  private readonly now: () => number;
  // (revision, time) samples, at most one a check interval, for the periodic compactor
  private readonly marks: { revision: bigint; atMs: number }[] = [];
  private readonly compactor: NodeJS.Timeout;

  constructor(opts: EtcdFaceOptions) {
    this.membership = opts.membership;
    this.lessor = new Lessor(this.kv, opts.now, opts.minLeaseTtl ?? PD_MIN_LEASE_TTL);
    this.progressNotifyMs = opts.progressNotifyMs ?? DEFAULT_PROGRESS_NOTIFY_MS;
    this.lastLeader = opts.membership.leaderIndex();
    const id = Buffer.alloc(8);
    id.writeBigUInt64BE(BigInt.asUintN(64, opts.pdClusterId));
    this.kv.write((w) => w.put(PD_CLUSTER_ID_KEY, id, 0n));
    this.now = opts.now;
    this.compactor = setInterval(() => this.autoCompact(), COMPACTION_CHECK_MS);
    this.compactor.unref();
  }

  /**
   * Periodic auto-compaction as PD configures etcd (retention one hour): compacts at the last
   * revision that was current an hour ago, so history does not grow without bound.
   */
  autoCompact(): void {
    const now = this.now();
    this.marks.push({ revision: this.kv.revision, atMs: now });
    let target: bigint | undefined;
    while (
      this.marks.length > 0 &&
      (this.marks[0] as { atMs: number }).atMs <= now - AUTO_COMPACTION_RETENTION_MS
    )
      target = this.marks.shift()?.revision;
    if (target !== undefined && target > this.kv.compactRevision) this.kv.compact(target);
  }

  /**
   * etcd's cluster id: the first 8 bytes of the SHA-1 of the sorted member ids (big-endian),
   * as etcd derives it; not PD's cluster id.
   */
  clusterId(): bigint {
    const ids = this.membership
      .members()
      .map((m) => m.memberId)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const buf = Buffer.alloc(8 * ids.length);
    for (const [i, id] of ids.entries()) buf.writeBigUInt64BE(BigInt.asUintN(64, id), 8 * i);
    const memo = buf.toString("hex");
    if (memo !== this.clusterIdOf?.memo)
      this.clusterIdOf = { memo, id: createHash("sha1").update(buf).digest().readBigUInt64BE(0) };
    return this.clusterIdOf.id;
  }

  /** The raft term: it grows by one with every leader change observed. */
  raftTerm(): bigint {
    const leader = this.membership.leaderIndex();
    if (leader !== this.lastLeader) {
      this.lastLeader = leader;
      this.term++;
    }
    return this.term;
  }

  /** The member id of member `index` (0 while it has not started). */
  memberId(index: number): bigint {
    return this.membership.members()[index]?.memberId ?? 0n;
  }

  /** The member id of the leader (0 while there is none). */
  leaderId(): bigint {
    const i = this.membership.leaderIndex();
    return i === undefined ? 0n : this.memberId(i);
  }

  /** PD's members as etcd members. */
  members(): readonly PdMember[] {
    return this.membership.members();
  }

  /** The response header member `index` sends at `revision` (default: the current one). */
  header(index: number, revision: bigint = this.kv.revision): ResponseHeader {
    return {
      clusterId: this.clusterId(),
      memberId: this.memberId(index),
      revision,
      raftTerm: this.raftTerm(),
    };
  }

  /** Expires due leases; every request runs it first so the PD clock decides, not a timer. */
  tick(): void {
    this.lessor.expire();
  }

  /** The current value of a key (for PD's own readers and tests). */
  get(key: string | Uint8Array): StoredKv | undefined {
    this.tick();
    const k = keyString(typeof key === "string" ? Buffer.from(key, "utf8") : key);
    return this.kv.range({ kind: "single", key: k }, 0n).kvs[0];
  }

  /** The live keys with this prefix, in key order. */
  getPrefix(prefix: string): StoredKv[] {
    this.tick();
    return this.kv.range(prefixRange(keyString(Buffer.from(prefix, "utf8"))), 0n).kvs;
  }

  /** Stops background work (lease expiry, compaction). */
  stop(): void {
    this.lessor.stop();
    clearInterval(this.compactor);
  }
}

/** The range of every key starting with `prefix`, an internal key (clientv3.GetPrefixRangeEnd). */
function prefixRange(prefix: string): KeyRange {
  const bytes = Buffer.from(prefix, "latin1");
  for (let i = bytes.length - 1; i >= 0; i--) {
    if ((bytes[i] as number) < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1));
      end[i] = (end[i] as number) + 1;
      return { kind: "interval", start: prefix, end: end.toString("latin1") };
    }
  }
  return { kind: "interval", start: prefix, end: undefined };
}
