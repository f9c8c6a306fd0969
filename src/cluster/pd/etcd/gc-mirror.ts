// PD keeps its GC state in etcd under fixed keys (pd pkg/utils/keypath, pkg/storage/endpoint
// gc_states.go) and clients read some of them straight from etcd: client-go's safe-point KV
// and its compatible txn-safe-point loader read /tidb/store/gcworker/saved_safe_point. This
// mirror writes the mock PD's GC state to those keys, in PD's value formats, after every
// change, all changed keys in one write (PD commits a GC state change as one etcd txn). The
// other way round, a client writing the safe-point keys itself (as TiDB's GC worker once did)
// changes PD's state, since real PD reads them back from etcd.
import type { GcBarrier, GcStateManager } from "../gc-state.js";
import { NULL_KEYSPACE_ID } from "../gc-state.js";
import type { EtcdFace } from "./etcd-face.js";
import { keyString } from "./key-range.js";
import type { Commit } from "./kv-store.js";

/** The unified (null keyspace) txn safe point key; TiDB wrote it before PD owned it. */
export const TXN_SAFE_POINT_KEY = "/tidb/store/gcworker/saved_safe_point";

const INT64_MAX = "9223372036854775807";
const pad8 = (id: number) => String(id).padStart(8, "0");

/** PD's etcd keys and values for a GC state. */
export function gcStateEntries(
  gc: ReturnType<GcStateManager["storedStates"]>,
  pdClusterId: bigint,
): Map<string, string> {
  const out = new Map<string, string>();
  const root = `/pd/${pdClusterId}`;
  for (const ks of gc.keyspaces) {
    const unified = ks.keyspaceId === NULL_KEYSPACE_ID;
    if (ks.txnSafePoint > 0n) {
      const key = unified
        ? TXN_SAFE_POINT_KEY
        : `/keyspaces/tidb/${ks.keyspaceId}/tidb/store/gcworker/saved_safe_point`;
      out.set(key, ks.txnSafePoint.toString(10));
    }
    if (ks.gcSafePoint > 0n) {
      if (unified) out.set(`${root}/gc/safe_point`, ks.gcSafePoint.toString(16));
      else
        out.set(
          `${root}/keyspaces/gc_safe_point/${pad8(ks.keyspaceId)}`,
          `{"keyspace_id":${ks.keyspaceId},"safe_point":${ks.gcSafePoint}}`,
        );
    }
    for (const b of ks.barriers) {
      const key = unified
        ? `${root}/gc/safe_point/service/${b.barrierId}`
        : `${root}/keyspaces/service_safe_point/${pad8(ks.keyspaceId)}/${b.barrierId}`;
      out.set(key, serviceSafePointJson(b, unified ? undefined : ks.keyspaceId));
    }
  }
  for (const b of gc.globals) {
    const exp = b.expiresAtMs === undefined ? 0 : Math.floor(b.expiresAtMs / 1000);
    out.set(
      `${root}/gc/global_gc_barriers/${b.barrierId}`,
      `{"barrier_id":${JSON.stringify(b.barrierId)},"barrier_ts":${b.barrierTs},"expiration_time":${exp}}`,
    );
  }
  return out;
}

// endpoint.ServiceSafePoint's JSON: expired_at in Unix seconds, int64 max for never
function serviceSafePointJson(b: GcBarrier, keyspaceId: number | undefined): string {
  const exp = b.expiresAtMs === undefined ? INT64_MAX : String(Math.floor(b.expiresAtMs / 1000));
  const ks = keyspaceId === undefined ? "" : `,"keyspace_id":${keyspaceId}`;
  return `{"service_id":${JSON.stringify(b.barrierId)},"expired_at":${exp},"safe_point":${b.barrierTs}${ks}}`;
}

/** Keeps the etcd face's GC keys equal to the GC state manager's state. */
export class GcMirror {
  private written = new Map<string, string>();
  private syncing = false;

  constructor(
    private readonly etcd: EtcdFace,
    private readonly gc: GcStateManager,
    private readonly pdClusterId: bigint,
  ) {
    gc.onChange = () => this.sync();
    etcd.kv.subscribe((c) => {
      if (!this.syncing) this.load(c);
    });
  }

  // safe points a client put straight into etcd become PD's (values PD cannot parse are left
  // alone: real PD would fail to read them)
  private load(c: Commit): void {
    for (const e of c.events) {
      if (e.type !== "put") continue;
      const key = e.kv.key.toString("utf8");
      const text = e.kv.value.toString("utf8");
      const txn = /^(?:\/keyspaces\/tidb\/(\d+))?\/tidb\/store\/gcworker\/saved_safe_point$/.exec(key);
      if (txn && /^\d+$/.test(text)) {
        this.written.set(key, text);
        this.gc.loadStored(txn[1] === undefined ? NULL_KEYSPACE_ID : Number(txn[1]), {
          txnSafePoint: BigInt(text),
        });
      } else if (key === `/pd/${this.pdClusterId}/gc/safe_point` && /^[0-9a-f]+$/i.test(text)) {
        this.written.set(key, text);
        this.gc.loadStored(NULL_KEYSPACE_ID, { gcSafePoint: BigInt(`0x${text}`) });
      }
    }
  }

  /** Writes the keys whose values changed and deletes the ones that went, in one revision. */
  sync(): void {
    const next = gcStateEntries(this.gc.storedStates(), this.pdClusterId);
    const puts = [...next].filter(([k, v]) => this.written.get(k) !== v);
    const gone = [...this.written.keys()].filter((k) => !next.has(k));
    this.written = next;
    if (puts.length === 0 && gone.length === 0) return;
    const internal = (k: string) => keyString(Buffer.from(k, "utf8"));
    this.syncing = true;
    try {
      this.etcd.kv.write((w) => {
        for (const k of gone) w.deleteRange({ kind: "single", key: internal(k) });
        for (const [k, v] of puts) w.put(internal(k), Buffer.from(v, "utf8"), 0n);
      });
    } finally {
      this.syncing = false;
    }
  }
}
