// The embedded cluster's mock PD.

export { FOLLOWER_HANDLE_METADATA_KEY } from "./call-guard.js";
export { NOT_LEADER_ERR } from "./errors.js";
export { type PdFaultKind, PdFaults, type PdMethod, type PdRequestEvent } from "./faults.js";
export {
  GC_WORKER_SERVICE_ID,
  type GcBarrier,
  GcError,
  GcStateManager,
  type GcStateView,
  NULL_KEYSPACE_ID,
  TTL_FOREVER,
} from "./gc-state.js";
export { MIN_RESOLVED_TS_METHOD, MIN_RESOLVED_TS_PATH } from "./http-api.js";
export {
  DEFAULT_KEYSPACE_NAME,
  GC_MANAGEMENT_TYPE,
  KEYSPACE_LEVEL_GC,
  KeyspaceRegistry,
  type KeyspaceSpec,
  keyspaceRegionBounds,
} from "./keyspaces.js";
export { MockPd, type MockPdOptions } from "./mock-pd.js";
export { type PdOperator, PdState, type PdStateOptions } from "./pd-state.js";
export { RegionKeyCodec, type RegionKeyEncoding } from "./region-codec.js";
export { FrozenRegionView, type RegionView } from "./region-view.js";
export { MAX_LOGICAL, packTs, TimestampOracle, type TsoPair, unpackTs } from "./tso.js";
