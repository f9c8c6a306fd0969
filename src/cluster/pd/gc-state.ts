// GC states per keyspace with PD's validation (pd pkg/gc/gc_state_manager.go): txn safe point
// and GC safe point never decrease, the GC safe point never passes the txn safe point, GC
// barriers block the txn safe point until they expire (expiration rounded up to whole seconds)
// and the legacy service-safe-point API maps onto barriers ("gc_worker" advances the txn safe
// point). Keyspaces without keyspace-level GC share the null keyspace's state. Global GC
// barriers block the txn safe point of every keyspace.
import { pdErrorMessage } from "./errors.js";

/** The keyspace id PD uses for the cluster-wide (unified) GC state. */
export const NULL_KEYSPACE_ID = 0xffffffff;
/** Valid keyspace ids fit in 24 bits. */
export const VALID_KEYSPACE_ID_MASK = 0xffffff;
/** Reserved barrier/service id of TiDB's GC worker. */
export const GC_WORKER_SERVICE_ID = "gc_worker";
/** No expiration: TTL reported as int64 max. */
export const TTL_FOREVER = (1n << 63n) - 1n;

/** A GC barrier; `expiresAtMs` undefined = never expires. */
export interface GcBarrier {
  barrierId: string;
  barrierTs: bigint;
  expiresAtMs: number | undefined;
}

/** One keyspace's GC state as GetGCState reports it. */
export interface GcStateView {
  keyspaceId: number;
  isKeyspaceLevel: boolean;
  txnSafePoint: bigint;
  gcSafePoint: bigint;
  barriers: GcBarrier[];
}

/** A GC API failure; the message is PD's (rendered with its RFC code). */
export class GcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GcError";
  }
}

const gcErr = (code: string, msg: string) => new GcError(pdErrorMessage(`PD:gc:${code}`, msg));

interface KeyspaceGc {
  txnSafePoint: bigint;
  gcSafePoint: bigint;
  barriers: Map<string, GcBarrier>;
}

/** Decides whether a keyspace id has keyspace-level GC (else it maps to the null keyspace). */
export type KeyspaceGcLookup = (keyspaceId: number) => { name: string; keyspaceLevel: boolean } | undefined;

/** GC state manager of the mock PD. */
export class GcStateManager {
  private readonly states = new Map<number, KeyspaceGc>();
  // global GC barriers: they block the txn safe point of every keyspace
  private readonly globals = new Map<string, GcBarrier>();
  /** Called after every change (PD writes its GC state to etcd; the etcd face mirrors it). */
  onChange: (() => void) | undefined;

  constructor(
    private readonly keyspaces: KeyspaceGcLookup,
    private readonly now: () => number = Date.now,
  ) {}

  private state(id: number): KeyspaceGc {
    let s = this.states.get(id);
    if (!s) {
      s = { txnSafePoint: 0n, gcSafePoint: 0n, barriers: new Map() };
      this.states.set(id, s);
    }
    return s;
  }

  /**
   * Maps a requested keyspace id to the one whose state is used (redirectKeyspace): invalid
   * ids and keyspaces without keyspace-level GC use the null keyspace for user APIs; GC
   * management APIs on the latter fail.
   */
  redirect(keyspaceId: number, userApi: boolean): number {
    if ((keyspaceId & ~VALID_KEYSPACE_ID_MASK) !== 0) return NULL_KEYSPACE_ID;
    const ks = this.keyspaces(keyspaceId);
    if (!ks) throw new GcError(pdErrorMessage("PD:keyspace:ErrKeyspaceNotFound", "keyspace does not exist"));
    if (!ks.keyspaceLevel) {
      if (userApi) return NULL_KEYSPACE_ID;
      throw gcErr(
        "ErrGCOnInvalidKeyspace",
        `trying to manage GC in keyspace ${ks.name} (id: ${keyspaceId}) where keyspace level GC is not enabled`,
      );
    }
    return keyspaceId;
  }

  /** GetGCState. */
  getState(keyspaceId: number, excludeBarriers: boolean): GcStateView {
    const id = this.redirect(keyspaceId, true);
    return this.view(id, excludeBarriers);
  }

  /** GetAllKeyspacesGCStates: the null keyspace plus every keyspace with keyspace-level GC. */
  allStates(keyspaceIds: readonly number[], excludeBarriers: boolean): GcStateView[] {
    const ids = [NULL_KEYSPACE_ID, ...keyspaceIds.filter((k) => this.keyspaces(k)?.keyspaceLevel)];
    return ids.map((id) => this.view(id, excludeBarriers));
  }

  private view(id: number, excludeBarriers: boolean): GcStateView {
    const s = this.state(id);
    return {
      keyspaceId: id,
      isKeyspaceLevel: id !== NULL_KEYSPACE_ID,
      txnSafePoint: s.txnSafePoint,
      gcSafePoint: s.gcSafePoint,
      barriers: excludeBarriers
        ? []
        : [...s.barriers.values()].filter((b) => b.barrierId !== GC_WORKER_SERVICE_ID),
    };
  }

  /** AdvanceTxnSafePoint: returns old/new and what blocked it. */
  advanceTxnSafePoint(
    keyspaceId: number,
    target: bigint,
  ): { oldTxnSafePoint: bigint; newTxnSafePoint: bigint; blockerDescription: string; blockerId: string } {
    const id = this.redirect(keyspaceId, false);
    return this.advanceTxnImpl(id, target);
  }

  private advanceTxnImpl(id: number, target: bigint) {
    const s = this.state(id);
    const old = s.txnSafePoint;
    if (target < old) {
      throw gcErr(
        "ErrDecreasingTxnSafePoint",
        `trying to update txn safe point to a smaller value, current value: ${old}, given: ${target}`,
      );
    }
    const now = this.now();
    let minBlocker = target;
    let blocking: GcBarrier | undefined;
    let compat = false;
    for (const b of [...s.barriers.values()]) {
      if (b.barrierId === GC_WORKER_SERVICE_ID) {
        compat = true;
        continue;
      }
      if (b.expiresAtMs !== undefined && now > b.expiresAtMs) {
        s.barriers.delete(b.barrierId); // lazily dropped, as PD does
        continue;
      }
      if (b.barrierTs < minBlocker) {
        minBlocker = b.barrierTs;
        blocking = b;
      }
    }
    let blockingGlobal: GcBarrier | undefined;
    for (const b of this.liveGlobals(now)) {
      if (b.barrierTs < minBlocker) {
        minBlocker = b.barrierTs;
        blockingGlobal = b;
      }
    }
    if (blockingGlobal) blocking = blockingGlobal;
    // Never decreases (bigints: no Math.max).
    let next = minBlocker;
    if (old > next) next = old;
    if (compat)
      s.barriers.set(GC_WORKER_SERVICE_ID, {
        barrierId: GC_WORKER_SERVICE_ID,
        barrierTs: next,
        expiresAtMs: undefined,
      });
    s.txnSafePoint = next;
    this.onChange?.();
    return {
      oldTxnSafePoint: old,
      newTxnSafePoint: next,
      blockerDescription: blocking ? describeBarrier(blocking, blocking === blockingGlobal) : "",
      blockerId: blocking?.barrierId ?? "",
    };
  }

  /** AdvanceGCSafePoint (`compatible` = legacy UpdateGCSafePoint: decreasing is ignored). */
  advanceGcSafePoint(keyspaceId: number, target: bigint, compatible = false): { old: bigint; next: bigint } {
    const id = this.redirect(keyspaceId, false);
    const s = this.state(id);
    const old = s.gcSafePoint;
    if (target < old) {
      if (compatible) return { old, next: old };
      throw gcErr(
        "ErrDecreasingGCSafePoint",
        `trying to update GC safe point to a smaller value, current value: ${old}, given: ${target}`,
      );
    }
    if (target > s.txnSafePoint) {
      throw gcErr(
        "ErrGCSafePointExceedsTxnSafePoint",
        `trying to update GC safe point to a too large value that exceeds the txn safe point, current value: ${old}, given: ${target}, current txn safe point: ${s.txnSafePoint}`,
      );
    }
    s.gcSafePoint = target;
    this.onChange?.();
    return { old, next: target };
  }

  /** GetGCSafePoint (legacy). */
  gcSafePoint(keyspaceId: number): bigint {
    return this.state(this.redirect(keyspaceId, false)).gcSafePoint;
  }

  /** SetGCBarrier; `ttlSeconds` >= int64 max means never expires. */
  setBarrier(keyspaceId: number, barrierId: string, barrierTs: bigint, ttlSeconds: bigint): GcBarrier {
    if (ttlSeconds <= 0n) throw invalidArgument("ttl", durationString(ttlSeconds));
    const id = this.redirect(keyspaceId, true);
    return this.setBarrierImpl(id, barrierId, barrierTs, ttlSeconds);
  }

  private setBarrierImpl(id: number, barrierId: string, barrierTs: bigint, ttlSeconds: bigint): GcBarrier {
    if (barrierId === GC_WORKER_SERVICE_ID) {
      throw gcErr(
        "ErrReservedGCBarrierID",
        `trying to set a GC barrier with a barrier ID that is reserved: ${barrierId}`,
      );
    }
    if (barrierId.length === 0) throw invalidArgument("barrierID", "");
    const s = this.state(id);
    if (barrierTs < s.txnSafePoint) {
      throw gcErr(
        "ErrGCBarrierTSBehindTxnSafePoint",
        `trying to set a GC barrier on ts ${barrierTs} which is already behind the txn safe point ${s.txnSafePoint}`,
      );
    }
    // Go durations saturate near 292 years; anything that large never expires.
    const forever = ttlSeconds > 9223372036n;
    const expiresAtMs = forever
      ? undefined
      : Math.ceil((this.now() + Number(ttlSeconds) * 1000) / 1000) * 1000;
    const b: GcBarrier = { barrierId, barrierTs, expiresAtMs };
    s.barriers.set(barrierId, b);
    this.onChange?.();
    return b;
  }

  /** DeleteGCBarrier: the deleted barrier, or undefined when there was none. */
  deleteBarrier(keyspaceId: number, barrierId: string): GcBarrier | undefined {
    const id = this.redirect(keyspaceId, true);
    return this.deleteBarrierImpl(id, barrierId);
  }

  private deleteBarrierImpl(id: number, barrierId: string): GcBarrier | undefined {
    if (barrierId === GC_WORKER_SERVICE_ID) {
      throw gcErr(
        "ErrReservedGCBarrierID",
        `trying to set a GC barrier with a barrier ID that is reserved: ${barrierId}`,
      );
    }
    if (barrierId.length === 0) throw invalidArgument("barrierID", "");
    const s = this.state(id);
    const b = s.barriers.get(barrierId);
    s.barriers.delete(barrierId);
    if (b) this.onChange?.();
    return b;
  }

  /**
   * SetGlobalGCBarrier: a barrier on every keyspace at once; it may not lie behind the largest
   * txn safe point of any keyspace (ErrGlobalGCBarrierTSBehindTxnSafePoint).
   */
  setGlobalBarrier(barrierId: string, barrierTs: bigint, ttlSeconds: bigint): GcBarrier {
    if (ttlSeconds <= 0n) throw invalidArgument("ttl", durationString(ttlSeconds));
    if (barrierId.length === 0) throw invalidArgument("barrierID", "");
    let max = 0n;
    let maxId = NULL_KEYSPACE_ID;
    for (const [id, st] of this.states) {
      if (st.txnSafePoint > max) {
        max = st.txnSafePoint;
        maxId = id;
      }
    }
    if (barrierTs < max) {
      const ks =
        maxId === NULL_KEYSPACE_ID
          ? "<null_keyspace>"
          : `{ name: "${this.keyspaces(maxId)?.name ?? ""}", id: ${maxId} }`;
      throw gcErr(
        "ErrGlobalGCBarrierTSBehindTxnSafePoint",
        `trying to set a global GC barrier on ts ${barrierTs} which is already behind the txn safe point ${max} of keyspace ${ks}`,
      );
    }
    const forever = ttlSeconds > 9223372036n;
    const expiresAtMs = forever
      ? undefined
      : Math.ceil((this.now() + Number(ttlSeconds) * 1000) / 1000) * 1000;
    const b: GcBarrier = { barrierId, barrierTs, expiresAtMs };
    this.globals.set(barrierId, b);
    this.onChange?.();
    return b;
  }

  /** DeleteGlobalGCBarrier: the deleted barrier, or undefined when there was none. */
  deleteGlobalBarrier(barrierId: string): GcBarrier | undefined {
    if (barrierId.length === 0) throw invalidArgument("barrierID", "");
    const b = this.globals.get(barrierId);
    this.globals.delete(barrierId);
    if (b) this.onChange?.();
    return b;
  }

  /**
   * Every stored state as PD persists it: per keyspace (the null keyspace included) its safe
   * points and all barriers, gc_worker's compatibility one included; and the global barriers.
   */
  storedStates(): {
    keyspaces: { keyspaceId: number; txnSafePoint: bigint; gcSafePoint: bigint; barriers: GcBarrier[] }[];
    globals: GcBarrier[];
  } {
    return {
      keyspaces: [...this.states].map(([keyspaceId, st]) => ({
        keyspaceId,
        txnSafePoint: st.txnSafePoint,
        gcSafePoint: st.gcSafePoint,
        barriers: [...st.barriers.values()],
      })),
      globals: [...this.globals.values()],
    };
  }

  /**
   * Takes safe points as PD reads them back from etcd, after a client wrote PD's keys
   * directly (old TiDB GC workers put the txn safe point themselves); no validation, as PD
   * trusts its storage.
   */
  loadStored(keyspaceId: number, points: { txnSafePoint?: bigint; gcSafePoint?: bigint }): void {
    const s = this.state(keyspaceId);
    if (points.txnSafePoint !== undefined) s.txnSafePoint = points.txnSafePoint;
    if (points.gcSafePoint !== undefined) s.gcSafePoint = points.gcSafePoint;
    this.onChange?.();
  }

  /** The global GC barriers that have not expired. */
  globalBarriers(): GcBarrier[] {
    return this.liveGlobals(this.now());
  }

  // expired global barriers are dropped lazily, as PD does when it meets them
  private liveGlobals(now: number): GcBarrier[] {
    const out: GcBarrier[] = [];
    for (const b of [...this.globals.values()]) {
      if (b.expiresAtMs !== undefined && now > b.expiresAtMs) this.globals.delete(b.barrierId);
      else out.push(b);
    }
    return out;
  }

  /**
   * UpdateServiceGCSafePoint (legacy, CompatibleUpdateServiceGCSafePoint): "gc_worker" advances
   * the txn safe point; other services set (ttl > 0) or delete a barrier. Returns the reported
   * minimum service safe point.
   */
  updateServiceSafePoint(
    keyspaceId: number,
    serviceId: string,
    safePoint: bigint,
    ttlSeconds: bigint,
  ): { serviceId: string; expiresAtSec: bigint; safePoint: bigint } {
    const id = this.redirect(keyspaceId, true);
    if (serviceId === GC_WORKER_SERVICE_ID) {
      if (ttlSeconds !== TTL_FOREVER)
        throw new GcError("TTL of gc_worker's service safe point must be infinity");
      const res = this.advanceTxnImpl(id, safePoint);
      if (res.newTxnSafePoint !== safePoint) {
        return { serviceId: res.blockerId, expiresAtSec: TTL_FOREVER, safePoint: res.newTxnSafePoint };
      }
      return { serviceId: GC_WORKER_SERVICE_ID, expiresAtSec: TTL_FOREVER, safePoint };
    }
    try {
      if (ttlSeconds > 0n) this.setBarrierImpl(id, serviceId, safePoint, ttlSeconds);
      else this.deleteBarrierImpl(id, serviceId);
    } catch (e) {
      // A barrier behind the txn safe point is not an error here: the answer shows the minimum.
      if (!(e instanceof GcError && e.message.includes("ErrGCBarrierTSBehindTxnSafePoint"))) throw e;
    }
    return {
      serviceId: GC_WORKER_SERVICE_ID,
      expiresAtSec: TTL_FOREVER,
      safePoint: this.state(id).txnSafePoint,
    };
  }
}

/** TTL left of a barrier in whole seconds (int64 max when it never expires), as gcBarrierToProto. */
export function barrierTtlSeconds(b: GcBarrier, nowMs: number): bigint {
  if (b.expiresAtMs === undefined) return TTL_FOREVER;
  return BigInt(Math.max(Math.floor((b.expiresAtMs - nowMs) / 1000), 0));
}

function describeBarrier(b: GcBarrier, global = false): string {
  const exp = b.expiresAtMs === undefined ? "<nil>" : new Date(b.expiresAtMs).toISOString();
  return `${global ? "GlobalGCBarrier" : "GCBarrier"} { BarrierID: ${JSON.stringify(b.barrierId)}, BarrierTS: ${b.barrierTs}, ExpirationTime: ${JSON.stringify(exp)} }`;
}

function invalidArgument(what: string, value: string): GcError {
  return new GcError(
    pdErrorMessage("PD:common:ErrInvalidArgument", `invalid argument for ${what}: ${value}`),
  );
}

function durationString(seconds: bigint): string {
  return seconds === 0n ? "0s" : `${seconds}s`;
}
