// The embedded cluster's mock PD.
export { MockPd, type MockPdOptions } from "./mock-pd.js";
export { PdState, type PdStateOptions, type PdOperator } from "./pd-state.js";
export { PdFaults, type PdFaultKind, type PdMethod, type PdRequestEvent } from "./faults.js";
export { TimestampOracle, MAX_LOGICAL, packTs, unpackTs, type TsoPair } from "./tso.js";
export {
  GcStateManager,
  GcError,
  NULL_KEYSPACE_ID,
  GC_WORKER_SERVICE_ID,
  TTL_FOREVER,
  type GcBarrier,
  type GcStateView,
} from "./gc-state.js";
export {
  KeyspaceRegistry,
  DEFAULT_KEYSPACE_NAME,
  GC_MANAGEMENT_TYPE,
  KEYSPACE_LEVEL_GC,
  type KeyspaceSpec,
} from "./keyspaces.js";
export { RegionKeyCodec, type RegionKeyEncoding } from "./region-codec.js";
export { FOLLOWER_HANDLE_METADATA_KEY } from "./call-guard.js";
export { NOT_LEADER_ERR } from "./errors.js";
