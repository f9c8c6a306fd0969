// Snapshot-isolation model test of the txn engine: random optimistic and pessimistic
// transactions (2PC, 1PC or async commit; pessimistic ones failing fast, waiting for locks
// or fair-locking), interleaved one request at a time, some crashing and leaving locks that
// others resolve (check_txn_status, check_secondary_locks + resolve_lock, as client-go's
// lock resolver does). The run must match a serial model replaying the committed txns in
// commit_ts order:
// every read sees exactly the snapshot at its ts (no dirty or fractured reads) and every
// key ends with one increment per committed writer (no lost update).
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TxnEngine } from "../../../../src/cluster/engine/txn/txn-engine.js";
import {
  type KeyError,
  type LockInfo,
  PessimisticLockKeyResultType,
  type PessimisticLockResponse,
} from "../../../../src/proto/kvrpcpb.js";
import {
  batchRollbackReq,
  checkSecondaryLocksReq,
  checkTxnStatusReq,
  commitReq,
  getReq,
  lockReq,
  prewriteReq,
  resolveLockReq,
  scanLockReq,
} from "../txn/pessimistic/requests.js";

const KEYS = ["a", "b", "c"] as const;
const TTL = 20n; // ms; timestamps advance 1 ms per TSO tick, so idle locks expire
const key = (i: number) => Buffer.from(KEYS[i] as string);

/** How a pessimistic txn meets locks: fail at once, wait (legacy), or wait in fair-lock mode. */
type WaitMode = "noWait" | "wait" | "fairLock";

/** How a txn commits: Percolator 2PC, one-phase commit, or async commit. */
type CommitMode = "2pc" | "1pc" | "async";

/** What a transaction does, drawn by fast-check. */
interface TxnSpec {
  pessimistic: boolean;
  waitMode: WaitMode;
  commitMode: CommitMode;
  /** Keys read at start_ts (and, for optimistic txns, the base of their increments). */
  reads: number[];
  /** Keys incremented; the first is the primary. */
  writes: number[];
  /** The txn stops for good before this step (leaving its locks), if set. */
  crashAt: number | undefined;
}

/** A value is "<count>:<writer txn>" so a read of an uncommitted write is recognisable. */
const encode = (count: number, txn: number) => Buffer.from(`${count}:${txn}`);
const countOf = (v: Buffer | undefined) => (v === undefined ? 0 : Number(v.toString().split(":")[0]));

interface ReadRecord {
  txn: number;
  ts: bigint;
  key: number;
  value: string | undefined;
}

interface Committed {
  txn: number;
  commitTs: bigint;
  writes: Map<number, string>;
}

class Tso {
  private tick = 1n;
  next(): bigint {
    this.tick += 1n;
    return this.tick << 18n;
  }
  /** A ts far in the future: every lock has expired by then. */
  farFuture(): bigint {
    return (this.tick + 1_000_000n) << 18n;
  }
}

type Status = "running" | "committed" | "aborted" | "crashed";

class World {
  // Wall-clock pieces (lock-wait timers, detector TTL) run on vitest fake timers.
  readonly engine = new TxnEngine({ now: () => Date.now(), pessimistic: { now: () => Date.now() } });
  readonly tso = new Tso();
  readonly reads: ReadRecord[] = [];
  readonly committed: Committed[] = [];
  /** How often each interesting path ran (to show the property is not vacuous). */
  readonly stats = {
    rolledForward: 0,
    rolledBack: 0,
    gaveUp: 0,
    pessimisticRetries: 0,
    waited: 0,
    deadlocks: 0,
    lockedWithConflict: 0,
    onePc: 0,
    asyncCommitted: 0,
    asyncResolved: 0,
  };

  /**
   * Resolves the lock blocking `callerStartTs`. Returns false when its owner is still alive
   * (the caller then gives up, as a client would after backing off).
   */
  resolve(lock: LockInfo, callerStartTs: bigint, currentTs = this.tso.next()): boolean {
    const st = this.engine.checkTxnStatus(
      checkTxnStatusReq(lock.primaryLock, lock.lockVersion, callerStartTs, currentTs),
    );
    if (st.error) throw new Error(`check_txn_status failed: ${JSON.stringify(st.error)}`);
    if (st.lockTtl > 0n) {
      // An expired async-commit primary: its fate is decided by its secondaries.
      const primary = st.lockInfo;
      if (primary?.useAsyncCommit && physical(currentTs) >= physical(primary.lockVersion) + primary.lockTtl) {
        this.resolveAsyncCommit(primary);
        return true;
      }
      this.stats.gaveUp++;
      return false;
    }
    if (st.commitVersion > 0n) this.stats.rolledForward++;
    else this.stats.rolledBack++;
    const r = this.engine.resolveLock(resolveLockReq(lock.lockVersion, st.commitVersion, [lock.key]));
    if (r.error) throw new Error(`resolve_lock failed: ${JSON.stringify(r.error)}`);
    return true;
  }

  /**
   * client-go's resolveAsyncCommitLock: committed if every secondary is locked (or already
   * committed), at the largest min_commit_ts; otherwise rolled back everywhere.
   */
  private resolveAsyncCommit(primary: LockInfo): void {
    this.stats.asyncResolved++;
    const startTs = primary.lockVersion;
    const c = this.engine.checkSecondaryLocks(checkSecondaryLocksReq(primary.secondaries, startTs));
    if (c.error) throw new Error(`check_secondary_locks failed: ${JSON.stringify(c.error)}`);
    let commitTs = c.commitTs;
    if (commitTs === 0n && c.locks.length === primary.secondaries.length) {
      commitTs = primary.minCommitTs;
      for (const l of c.locks) if (l.minCommitTs > commitTs) commitTs = l.minCommitTs;
    }
    const r = this.engine.resolveLock(
      resolveLockReq(startTs, commitTs, [primary.key, ...primary.secondaries]),
    );
    if (r.error) throw new Error(`resolve_lock failed: ${JSON.stringify(r.error)}`);
  }

  /** After all txns stopped: resolve every leftover lock and read the final state. */
  finish(): Map<number, string | undefined> {
    const locks = this.engine.scanLock(scanLockReq(this.tso.farFuture()));
    expect(locks.error).toBeUndefined();
    for (const l of locks.locks) expect(this.resolve(l, 0n, this.tso.farFuture())).toBe(true);
    const ts = this.tso.next();
    const out = new Map<number, string | undefined>();
    KEYS.forEach((_, i) => {
      const g = this.engine.get(getReq(key(i), ts));
      expect(g.error).toBeUndefined();
      out.set(i, g.notFound ? undefined : g.value.toString());
    });
    return out;
  }
}

/** One client transaction, advanced one request per `step()`. */
class TxnRunner {
  status: Status = "running";
  private steps = 0;
  private startTs = 0n;
  private forUpdateTs = 0n;
  private commitTs = 0n;
  /** Largest min_commit_ts returned by async-commit prewrites; 0 once it fell back to 2PC. */
  private asyncCommitTs = 0n;
  private asyncFallback = false;
  private asyncPrewritten = 0;
  private readonly base = new Map<number, Buffer | undefined>();
  /** Requests in order; each returns how far to move: 1 next, 0 retry, -1 back to the ts fetch. */
  private plan: (() => Promise<number> | number)[] = [];
  /** A timestamp fetched from the TSO in one step and used by the next request. */
  private pendingTs = 0n;
  /** A pessimistic-lock request that may be waiting in the engine's lock-wait queue. */
  private inFlight: { forUpdateTs: bigint; resp?: PessimisticLockResponse } | undefined;
  /** Blocked on a waiting lock request (a step does nothing until it is answered). */
  get blocked(): boolean {
    return this.inFlight !== undefined && this.inFlight.resp === undefined;
  }
  private pc = 0;
  private conflictRetries = 0;
  private lockBackoffs = 0;

  constructor(
    private readonly w: World,
    private readonly id: number,
    private readonly spec: TxnSpec,
  ) {
    const s = spec;
    const fetchTs = () => {
      this.pendingTs = w.tso.next();
      return 1;
    };
    this.plan.push(() => {
      this.startTs = w.tso.next();
      return 1;
    });
    // Increments read their base: optimistic txns at start_ts, pessimistic ones when locking.
    const snapshotReads = s.pessimistic
      ? s.reads.filter((k) => !s.writes.includes(k))
      : [...s.reads, ...s.writes.filter((k) => !s.reads.includes(k))];
    for (const k of snapshotReads) this.plan.push(() => this.read(k));
    if (s.pessimistic) for (const k of s.writes) this.plan.push(fetchTs, () => this.lock(k));
    if (s.commitMode === "1pc" && s.writes.length > 0) {
      // One request; if TiKV falls back to 2PC the locks stay and the txn commits normally.
      this.plan.push(() => this.prewriteOnePc());
    } else {
      for (const k of s.writes) this.plan.push(() => this.prewrite(k));
    }
    if (s.commitMode === "async" && s.writes.length > 0) this.plan.push(() => this.decideAsyncCommit());
    if (s.writes.length > 0) this.plan.push(fetchTs, () => this.commitPrimary());
    for (const k of s.writes.slice(1)) this.plan.push(() => this.commitSecondary(k));
  }

  /** Runs one request; the step is repeated after a lock was resolved. */
  async step(): Promise<void> {
    if (this.status !== "running") return;
    // A crash leaves every lock behind (also secondaries after the primary committed).
    if (this.spec.crashAt !== undefined && this.steps >= this.spec.crashAt) {
      this.status = "crashed";
      return;
    }
    this.steps++;
    const op = this.plan[this.pc];
    if (op === undefined) return;
    this.pc += await op();
    if (this.status === "running" && this.pc >= this.plan.length) this.status = "committed";
  }

  private primary(): Buffer {
    return key(this.spec.writes[0] as number);
  }

  /** Handles a KeyError: resolve the lock and retry, or give up. */
  private onError(e: KeyError): number {
    if (e.locked) {
      // Resolved: retry now. Owner alive: retry later (backoff), up to a few times.
      if (this.w.resolve(e.locked, this.startTs) || ++this.lockBackoffs <= 3) return 0;
    }
    this.abort();
    return 0;
  }

  private read(k: number): number {
    const g = this.w.engine.get(getReq(key(k), this.startTs));
    if (g.error) return this.onError(g.error);
    const v = g.notFound ? undefined : g.value;
    this.base.set(k, v);
    this.w.reads.push({ txn: this.id, ts: this.startTs, key: k, value: v?.toString() });
    return 1;
  }

  private async lock(k: number): Promise<number> {
    if (!this.inFlight) {
      const slot: { forUpdateTs: bigint; resp?: PessimisticLockResponse } = { forUpdateTs: this.pendingTs };
      this.inFlight = slot;
      const mode = this.spec.waitMode;
      void this.w.engine
        .pessimisticLock(
          lockReq([key(k)], this.startTs, slot.forUpdateTs, {
            primary: this.primary(),
            ttl: TTL,
            returnValues: true,
            isFirstLock: this.forUpdateTs === 0n,
            waitTimeout: mode === "noWait" ? -1n : 0n,
            force: mode === "fairLock",
          }),
        )
        .then((r) => {
          slot.resp = r;
        });
      await settle();
      if (!slot.resp) {
        this.w.stats.waited++;
        return 0;
      }
    }
    const slot = this.inFlight;
    if (!slot.resp) return 0;
    this.inFlight = undefined;
    const r = slot.resp;
    const e = r.errors[0];
    if (e) {
      if (e.deadlock) this.w.stats.deadlocks++;
      // A newer commit (or a wake-up): retry the statement with a newer for_update_ts.
      if (e.conflict && ++this.conflictRetries <= 5) {
        this.w.stats.pessimisticRetries++;
        return -1;
      }
      return this.onError(e);
    }
    let value: Buffer | undefined;
    let readTs = slot.forUpdateTs;
    let forUpdateTs = slot.forUpdateTs;
    const res = r.results[0];
    if (this.spec.waitMode === "fairLock" && res) {
      value = res.existence ? res.value : undefined;
      if (res.type === PessimisticLockKeyResultType.LockResultLockedWithConflict) {
        // Locked at the newest commit: the value is the one committed at lockedWithConflictTs.
        this.w.stats.lockedWithConflict++;
        forUpdateTs = res.lockedWithConflictTs;
        readTs = res.lockedWithConflictTs;
      }
    } else {
      value = r.notFounds[0] ? undefined : r.values[0];
    }
    this.base.set(k, value);
    this.w.reads.push({ txn: this.id, ts: readTs, key: k, value: value?.toString() });
    if (forUpdateTs > this.forUpdateTs) this.forUpdateTs = forUpdateTs;
    return 1;
  }

  private valueFor(k: number): Buffer {
    return encode(countOf(this.base.get(k)) + 1, this.id);
  }

  private prewrite(k: number): number {
    const async = this.spec.commitMode === "async";
    const isPrimary = k === this.spec.writes[0];
    const r = this.w.engine.prewrite(
      prewriteReq([[key(k), this.valueFor(k)]], this.startTs, {
        primary: this.primary(),
        ttl: TTL,
        forUpdateTs: this.spec.pessimistic ? this.forUpdateTs : 0n,
        useAsyncCommit: async,
        secondaries: async && isPrimary ? this.spec.writes.slice(1).map(key) : [],
        minCommitTs: maxTs(this.startTs, this.forUpdateTs) + 1n,
      }),
    );
    const e = r.errors[0];
    if (e) return this.onError(e);
    if (async) {
      if (r.minCommitTs === 0n) this.asyncFallback = true;
      else if (r.minCommitTs > this.asyncCommitTs) this.asyncCommitTs = r.minCommitTs;
      // The last successful async-commit prewrite commits the txn, even if it crashes now.
      if (++this.asyncPrewritten === this.spec.writes.length && !this.asyncFallback) {
        this.w.stats.asyncCommitted++;
        this.recordCommit(this.asyncCommitTs);
      }
    }
    return 1;
  }

  private prewriteOnePc(): number {
    const r = this.w.engine.prewrite(
      prewriteReq(
        this.spec.writes.map((k) => [key(k), this.valueFor(k)]),
        this.startTs,
        {
          primary: this.primary(),
          ttl: TTL,
          forUpdateTs: this.spec.pessimistic ? this.forUpdateTs : 0n,
          tryOnePc: true,
          minCommitTs: maxTs(this.startTs, this.forUpdateTs) + 1n,
        },
      ),
    );
    const e = r.errors[0];
    if (e) return this.onError(e);
    if (r.onePcCommitTs === 0n) return 1; // fell back to 2PC: locks were written
    this.w.stats.onePc++;
    this.recordCommit(r.onePcCommitTs);
    return this.plan.length - this.pc;
  }

  /** After async-commit prewrites: committed already, unless it fell back to 2PC. */
  private decideAsyncCommit(): number {
    return this.commitTs !== 0n ? 2 : 1; // committed: skip the commit-ts fetch
  }

  private recordCommit(commitTs: bigint): void {
    this.commitTs = commitTs;
    const writes = new Map<number, string>();
    for (const k of this.spec.writes) writes.set(k, this.valueFor(k).toString());
    this.w.committed.push({ txn: this.id, commitTs, writes });
  }

  private commitPrimary(): number {
    const decided = this.commitTs !== 0n;
    const commitTs = decided ? this.commitTs : this.pendingTs;
    const r = this.w.engine.commit(commitReq([this.primary()], this.startTs, commitTs));
    if (decided) {
      // Async commit: already committed; a resolver may have committed this key before us.
      expect(r.error).toBeUndefined();
      return 1;
    }
    if (r.error) {
      // Rolled back by a resolver, or min_commit_ts was pushed past our commit_ts: give up.
      this.abort();
      return 0;
    }
    this.recordCommit(commitTs);
    return 1;
  }

  private commitSecondary(k: number): number {
    const r = this.w.engine.commit(commitReq([key(k)], this.startTs, this.commitTs));
    // Once the primary is committed, a secondary can only have been committed by a resolver.
    expect(r.error).toBeUndefined();
    return 1;
  }

  private abort(): void {
    this.status = "aborted";
    if (this.spec.writes.length === 0) return;
    this.w.engine.batchRollback(batchRollbackReq(this.spec.writes.map(key), this.startTs));
  }
}

/** Lets promise callbacks (wake-ups, resumed lock requests) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

async function passTime(ms: number): Promise<void> {
  vi.advanceTimersByTime(ms);
  await settle();
}

/** Serial model: the state after applying committed txns with commit_ts <= ts in order. */
function stateAt(committed: readonly Committed[], ts: bigint): Map<number, string> {
  const s = new Map<number, string>();
  for (const c of committed) if (c.commitTs <= ts) for (const [k, v] of c.writes) s.set(k, v);
  return s;
}

const maxTs = (a: bigint, b: bigint) => (a > b ? a : b);
const physical = (ts: bigint) => ts >> 18n;

const keyIdx = fc.integer({ min: 0, max: KEYS.length - 1 });
const txnSpec: fc.Arbitrary<TxnSpec> = fc.record({
  pessimistic: fc.boolean(),
  waitMode: fc.constantFrom<WaitMode>("noWait", "wait", "fairLock"),
  commitMode: fc.constantFrom<CommitMode>("2pc", "1pc", "async"),
  reads: fc.uniqueArray(keyIdx, { maxLength: 3 }),
  writes: fc.uniqueArray(keyIdx, { minLength: 1, maxLength: 3 }),
  // One txn in four crashes at some step.
  crashAt: fc.oneof(
    { arbitrary: fc.constant(undefined), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max: 12 }), weight: 1 },
  ),
});

async function runModel(specs: TxnSpec[], schedule: number[]) {
  const w = new World();
  const txns = specs.map((s, i) => new TxnRunner(w, i, s));
  // Schedule entries past the last txn let wall-clock time pass (lock-wait timers).
  for (const i of schedule) {
    const t = txns[i];
    if (t) await t.step();
    else await passTime(30);
  }
  // Let every live txn finish, round-robin; when all are blocked, time passes.
  for (let guard = 0; guard < 2000 && txns.some((t) => t.status === "running"); guard++) {
    for (const t of txns) await t.step();
    if (txns.every((t) => t.status !== "running" || t.blocked)) await passTime(100);
  }
  expect(txns.every((t) => t.status !== "running")).toBe(true);
  const final = w.finish();
  w.engine.close();

  const committed = [...w.committed].sort((x, y) => (x.commitTs < y.commitTs ? -1 : 1));
  // No dirty / fractured read: each read saw exactly the snapshot at its ts.
  for (const r of w.reads) {
    expect(r.value, `txn ${r.txn} read ${KEYS[r.key]}@${r.ts}`).toBe(stateAt(committed, r.ts).get(r.key));
  }
  // The store ends in the state of the serial replay...
  const serial = stateAt(committed, 1n << 62n);
  for (let k = 0; k < KEYS.length; k++) expect(final.get(k)).toBe(serial.get(k));
  // ...and no update was lost: one increment per committed writer.
  KEYS.forEach((_, k) => {
    const writers = committed.filter((c) => c.writes.has(k)).length;
    expect(countOf(final.get(k) === undefined ? undefined : Buffer.from(final.get(k) as string))).toBe(
      writers,
    );
  });
  return { committed: committed.length, stats: w.stats };
}

describe("snapshot isolation model (TxnEngine vs serial replay)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("random interleavings of optimistic / pessimistic txns with crashes keep SI", async () => {
    let commits = 0;
    const total = {
      rolledForward: 0,
      rolledBack: 0,
      gaveUp: 0,
      pessimisticRetries: 0,
      waited: 0,
      deadlocks: 0,
      lockedWithConflict: 0,
      onePc: 0,
      asyncCommitted: 0,
      asyncResolved: 0,
    };
    await fc.assert(
      fc.asyncProperty(
        fc.array(txnSpec, { minLength: 2, maxLength: 4 }),
        fc.array(fc.nat(4), { maxLength: 80 }),
        async (specs, schedule) => {
          const r = await runModel(specs, schedule);
          commits += r.committed;
          for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += r.stats[k];
        },
      ),
      // Fixed seed by default so the path counts below are stable; set SI_MODEL_SEED /
      // SI_MODEL_RUNS to explore further.
      {
        numRuns: Number(process.env.SI_MODEL_RUNS ?? 200),
        seed: Number(process.env.SI_MODEL_SEED ?? 20261122),
      },
    );
    // The property is not vacuous: transactions do commit.
    expect(commits).toBeGreaterThan(50);
    expect(total.rolledForward).toBeGreaterThan(0);
    expect(total.rolledBack).toBeGreaterThan(0);
    expect(total.gaveUp).toBeGreaterThan(0);
    expect(total.pessimisticRetries).toBeGreaterThan(0);
    expect(total.waited).toBeGreaterThan(0);
    expect(total.deadlocks).toBeGreaterThan(0);
    expect(total.lockedWithConflict).toBeGreaterThan(0);
    expect(total.onePc).toBeGreaterThan(0);
    expect(total.asyncCommitted).toBeGreaterThan(0);
    expect(total.asyncResolved).toBeGreaterThan(0);
  });

  it("a pessimistic lock after a newer commit retries with a new for_update_ts", async () => {
    const r = await runModel(
      [
        {
          pessimistic: true,
          waitMode: "noWait",
          commitMode: "2pc",
          reads: [],
          writes: [0],
          crashAt: undefined,
        },
        {
          pessimistic: false,
          waitMode: "noWait",
          commitMode: "2pc",
          reads: [0],
          writes: [0],
          crashAt: undefined,
        },
      ],
      // Y: begin, read, prewrite; X: begin, fetch for_update_ts; Y: fetch commit_ts, commit; X: lock.
      [1, 1, 1, 0, 0, 1, 1, 0],
    );
    expect(r.stats.pessimisticRetries).toBe(1);
    expect(r.committed).toBe(2);
  });

  it("two waiting pessimistic txns locking in opposite orders: one deadlocks, the other commits", async () => {
    const r = await runModel(
      [
        {
          pessimistic: true,
          waitMode: "wait",
          commitMode: "2pc",
          reads: [],
          writes: [0, 1],
          crashAt: undefined,
        },
        {
          pessimistic: true,
          waitMode: "wait",
          commitMode: "2pc",
          reads: [],
          writes: [1, 0],
          crashAt: undefined,
        },
      ],
      // T0: begin, T1: begin, T0 locks a, T1 locks b, T0 waits for b, T1 asks for a.
      [0, 1, 0, 0, 1, 1, 0, 0, 1, 1],
    );
    expect(r.stats.deadlocks).toBe(1);
    expect(r.committed).toBe(1);
  });

  it("an async-commit txn that crashed after its last prewrite is committed by resolution", async () => {
    const r = await runModel(
      [
        {
          pessimistic: false,
          waitMode: "noWait",
          commitMode: "async",
          reads: [],
          writes: [0, 1],
          crashAt: 5,
        },
        {
          pessimistic: false,
          waitMode: "noWait",
          commitMode: "2pc",
          reads: [],
          writes: [2],
          crashAt: undefined,
        },
      ],
      [0, 0, 0, 0, 0, 0],
    );
    expect(r.stats.asyncCommitted).toBe(1);
    expect(r.stats.asyncResolved).toBe(1);
    expect(r.committed).toBe(2);
  });

  it("a crashed committed primary is rolled forward by the reader", async () => {
    const r = await runModel(
      [
        {
          pessimistic: false,
          waitMode: "noWait",
          commitMode: "2pc",
          reads: [0, 1],
          writes: [0, 1],
          crashAt: 7,
        },
        {
          pessimistic: true,
          waitMode: "noWait",
          commitMode: "2pc",
          reads: [1],
          writes: [1],
          crashAt: undefined,
        },
      ],
      [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1],
    );
    expect(r.committed).toBe(2);
  });
});
