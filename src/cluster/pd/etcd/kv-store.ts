// The MVCC key space of the mock PD's embedded etcd (etcd server/mvcc): one store revision
// that every write batch (a Put, a DeleteRange, a whole Txn, a lease revoke) raises by one,
// per key its versions since the last compaction (create / mod revision, version, lease,
// tombstones), reads at any revision not yet compacted, and the history watchers replay.
import { BTree, type BTreeMap } from "../../engine/mvcc/btree.js";
import { errCompacted, errFutureRev, errLeaseNotFound } from "./errors.js";
import { type KeyRange, keyBytes } from "./key-range.js";

/** One live key at one revision (mvccpb.KeyValue without the wire types). */
export interface StoredKv {
  readonly key: Buffer;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  readonly version: bigint;
  readonly value: Buffer;
  readonly lease: bigint;
}

/** A key's write: a live version or a tombstone left by a delete. */
type KeyRevision = StoredKv | { readonly tombstone: true; readonly modRevision: bigint };

/** A change as watchers see it. */
export interface KvEvent {
  readonly type: "put" | "delete";
  /** For deletes: the key and the delete's revision only. */
  readonly kv: StoredKv;
  readonly prevKv: StoredKv | undefined;
}

/** The changes of one revision. */
export interface Commit {
  readonly revision: bigint;
  readonly events: readonly KvEvent[];
}

/** What the store needs from the lessor: lease existence and key attachment. */
export interface LeaseIndex {
  exists(id: bigint): boolean;
  attach(id: bigint, key: string): void;
  detach(id: bigint, key: string): void;
}

/** Writes of one batch; all land at the batch's revision. */
export interface WriteBatch {
  /** The revision this batch writes at. */
  readonly revision: bigint;
  /** Puts a key; returns its previous live version. */
  put(key: string, value: Buffer, lease: bigint): StoredKv | undefined;
  /** Deletes the live keys of a range; returns what was deleted. */
  deleteRange(range: KeyRange): StoredKv[];
}

const isLive = (r: KeyRevision | undefined): r is StoredKv => r !== undefined && !("tombstone" in r);

/** The embedded etcd's MVCC key space. */
export class KvStore {
  private readonly keys: BTreeMap<string, KeyRevision[]> = new BTree<string, KeyRevision[]>();
  private readonly history: Commit[] = [];
  private readonly listeners = new Set<(c: Commit) => void>();
  private rev = 1n; // a fresh etcd is at revision 1
  private compacted = 0n;
  // revision of the batch being written: reads inside it see its writes, as in an etcd txn
  private writing: bigint | undefined;
  private leases: LeaseIndex = { exists: () => false, attach: () => {}, detach: () => {} };

  /** The current store revision. */
  get revision(): bigint {
    return this.rev;
  }

  /** The last compaction revision (0: never compacted). */
  get compactRevision(): bigint {
    return this.compacted;
  }

  /** Connects the lessor (keys attach to leases on put, detach on delete). */
  useLeases(index: LeaseIndex): void {
    this.leases = index;
  }

  /** Calls `fn` with every commit from now on; returns the unsubscribe function. */
  subscribe(fn: (c: Commit) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Runs `fn` as one write batch: every write in it lands at revision + 1, which becomes the
   * store revision if anything was written (etcd raises the revision once per txn).
   */
  write<T>(fn: (w: WriteBatch) => T): T {
    const revision = this.rev + 1n;
    const events: KvEvent[] = [];
    // a batch that throws half way (e.g. a txn put naming a missing lease) leaves no trace
    const undo: (() => void)[] = [];
    const touch = (key: string): KeyRevision[] => {
      const before = this.keys.get(key);
      const saved = before ? [...before] : undefined;
      undo.push(() => (saved ? this.keys.set(key, saved) : this.keys.delete(key)));
      return before ?? [];
    };
    const batch: WriteBatch = {
      revision,
      put: (key, value, lease) => {
        if (lease !== 0n && !this.leases.exists(lease)) throw errLeaseNotFound();
        const versions = touch(key);
        const last = versions.at(-1);
        const prev = isLive(last) ? last : undefined;
        const kv: StoredKv = {
          key: keyBytes(key),
          createRevision: prev?.createRevision ?? revision,
          modRevision: revision,
          version: (prev?.version ?? 0n) + 1n,
          value,
          lease,
        };
        // two writes of one key in one batch: the later replaces the earlier
        if (last && last.modRevision === revision) versions[versions.length - 1] = kv;
        else versions.push(kv);
        this.keys.set(key, versions);
        if (prev && prev.lease !== 0n && prev.lease !== lease) {
          this.leases.detach(prev.lease, key);
          undo.push(() => this.leases.attach(prev.lease, key));
        }
        if (lease !== 0n) {
          this.leases.attach(lease, key);
          undo.push(() => this.leases.detach(lease, key));
        }
        events.push({ type: "put", kv, prevKv: prev });
        return prev;
      },
      deleteRange: (range) => {
        const deleted: StoredKv[] = [];
        for (const [key] of this.liveEntries(range)) {
          const versions = touch(key);
          const prev = versions.at(-1) as StoredKv;
          const tomb: KeyRevision = { tombstone: true, modRevision: revision };
          if (prev.modRevision === revision) versions[versions.length - 1] = tomb;
          else versions.push(tomb);
          this.keys.set(key, versions);
          if (prev.lease !== 0n) {
            this.leases.detach(prev.lease, key);
            undo.push(() => this.leases.attach(prev.lease, key));
          }
          deleted.push(prev);
          const kv: StoredKv = {
            key: prev.key,
            createRevision: 0n,
            modRevision: revision,
            version: 0n,
            value: Buffer.alloc(0),
            lease: 0n,
          };
          events.push({ type: "delete", kv, prevKv: prev });
        }
        return deleted;
      },
    };
    let out: T;
    this.writing = revision;
    try {
      out = fn(batch);
    } catch (e) {
      for (const u of undo.reverse()) u();
      throw e;
    } finally {
      this.writing = undefined;
    }
    if (events.length > 0) {
      this.rev = revision;
      const commit: Commit = { revision, events };
      this.history.push(commit);
      for (const l of [...this.listeners]) l(commit);
    }
    return out;
  }

  /**
   * The live keys of `range` at `revision` (0: current), in key order, at most `limit` of them
   * (0: all), and how many keys the range holds at that revision.
   */
  range(range: KeyRange, revision: bigint, limit = 0): { kvs: StoredKv[]; count: number } {
    this.checkRevision(revision);
    const at = revision === 0n ? (this.writing ?? this.rev) : revision;
    const kvs: StoredKv[] = [];
    let count = 0;
    for (const [, versions] of this.entries(range)) {
      const v = versionAt(versions, at);
      if (!v) continue;
      count++;
      if (limit === 0 || kvs.length < limit) kvs.push(v);
    }
    return { kvs, count };
  }

  /** Throws etcd's errors for a read revision that is compacted or in the future. */
  checkRevision(revision: bigint): void {
    if (revision > this.rev) throw errFutureRev();
    if (revision > 0n && revision < this.compacted) throw errCompacted();
  }

  /**
   * Compacts history before `revision`: older versions go, except each key's last one at or
   * before it (tombstones go too), and watchers can no longer start before it.
   */
  compact(revision: bigint): void {
    if (revision <= this.compacted) throw errCompacted();
    if (revision > this.rev) throw errFutureRev();
    const empty: string[] = [];
    this.keys.forEach((versions, key) => {
      let keep = 0;
      for (let i = 0; i < versions.length; i++)
        if ((versions[i] as KeyRevision).modRevision <= revision) keep = i;
      const kept = versions.slice(keep);
      if (kept[0] && !isLive(kept[0]) && kept[0].modRevision <= revision) kept.shift();
      if (kept.length === 0) empty.push(key);
      else this.keys.set(key, kept);
    });
    for (const k of empty) this.keys.delete(k);
    const firstKept = this.history.findIndex((c) => c.revision >= revision);
    this.history.splice(0, firstKept < 0 ? this.history.length : firstKept);
    this.compacted = revision;
  }

  /** Commits with revision >= `from` (callers check compaction first). */
  commitsFrom(from: bigint): readonly Commit[] {
    return this.history.filter((c) => c.revision >= from);
  }

  /** Rough size of the live data in bytes (Maintenance.Status dbSize). */
  approximateSize(): number {
    let n = 0;
    this.keys.forEach((versions, key) => {
      for (const v of versions) n += key.length + (isLive(v) ? v.value.length : 0) + 32;
    });
    return n;
  }

  private *liveEntries(range: KeyRange): Generator<[string, KeyRevision[]]> {
    for (const e of this.entries(range)) if (isLive(e[1].at(-1))) yield e;
  }

  private *entries(range: KeyRange): Generator<[string, KeyRevision[]]> {
    if (range.kind === "single") {
      const v = this.keys.get(range.key);
      if (v) yield [range.key, v];
      return;
    }
    if (range.end !== undefined && range.end <= range.start) return;
    // collect first: writes in the same batch may change the tree while a caller iterates
    const found: [string, KeyRevision[]][] = [];
    for (const [k, v] of this.keys.entries(range.start)) {
      if (range.end !== undefined && k >= range.end) break;
      found.push([k, v]);
    }
    yield* found;
  }
}

function versionAt(versions: readonly KeyRevision[], at: bigint): StoredKv | undefined {
  for (let i = versions.length - 1; i >= 0; i--) {
    const v = versions[i] as KeyRevision;
    if (v.modRevision <= at) return isLive(v) ? v : undefined;
  }
  return undefined;
}
