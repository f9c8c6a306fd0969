// The mock PD's embedded etcd: etcd's v3 gRPC API on the PD client port, with PD's GC state
// mirrored into it.

export { EtcdError } from "./errors.js";
export {
  ETCD_VERSION,
  EtcdFace,
  type EtcdFaceOptions,
  type EtcdMembership,
  PD_CLUSTER_ID_KEY,
} from "./etcd-face.js";
export { GcMirror, gcStateEntries, TXN_SAFE_POINT_KEY } from "./gc-mirror.js";
export { MAX_TXN_OPS } from "./kv-ops.js";
export type { Commit, KvEvent, StoredKv } from "./kv-store.js";
export { MAX_LEASE_TTL, PD_MIN_LEASE_TTL } from "./lessor.js";
export { addEtcdServices } from "./services.js";
export { DEFAULT_PROGRESS_NOTIFY_MS } from "./watch-stream.js";
