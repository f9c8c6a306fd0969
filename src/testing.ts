// tikv-ts/testing: the embedded cluster (mock PD + mock TiKV stores on loopback) and its
// control APIs, for tests of tikv-ts and of other TiKV clients.

export {
  type ApiVersionName,
  type DiskUsage,
  EmbeddedCluster,
  EmbeddedClusterError,
  type EmbeddedClusterOptions,
  type RegionKeyEncoding,
} from "./cluster/embedded-cluster.js";
export {
  type CallInfo,
  type DelaySpec,
  type DropReplySpec,
  type FailSpec,
  type FaultDecision,
  type FaultError,
  type FaultHandle,
  type FaultKey,
  FaultRegistry,
  type FaultScope,
  InvalidFaultSpecError,
  isRpcName,
  PD_RPCS,
  type PdRpcName,
  type RequestHook,
  type RpcName,
  TIKV_RPCS,
  type TikvRpcName,
} from "./cluster/faults/index.js";
export {
  MockPd,
  type MockPdOptions,
  type PdFaultKind,
  PdFaults,
  type PdMethod,
  type PdRequestEvent,
} from "./cluster/pd/index.js";
export type { GroupGrantStats, ResourceGroupRegistry } from "./cluster/pd/resource-manager/groups.js";
export type {
  TsoKeyspaceGroup,
  TsoKeyspaceGroupSpec,
  TsoKeyspaceGroups,
  TsoMicroserviceOptions,
} from "./cluster/pd/tso-service/keyspace-groups.js";
export type { TsoServers, TsoServiceMethod } from "./cluster/pd/tso-service/tso-servers.js";
export {
  GC_WORKER_IS_BUSY,
  HEALTH_FEEDBACK_INTERVAL_MS,
  HealthSource,
  type KeyRangeArg,
  MAX_RESPONSES_PER_MESSAGE,
  MockTikvStore,
  type MockTikvStoreOptions,
  RAFTSTORE_IS_BUSY,
  type RawEnginePort,
  RegionErrors,
  type RegionState,
  SCHEDULER_IS_BUSY,
  StoreStateError,
  type TopologyPort,
  type TxnEnginePort,
} from "./cluster/tikv/index.js";
export type { RequestFilter, RequestRecorder, ServedRequest } from "./cluster/tikv/request-log.js";
export { StoreMetrics } from "./cluster/tikv/store-metrics.js";
export {
  ClusterTlsError,
  type ClusterTlsOptions,
  type ServerPem,
} from "./cluster/tls/server-security.js";
export {
  type ClusterCertificates,
  generateClusterCertificates,
  type IssueOptions,
  type PemKeyPair,
  TestCa,
} from "./cluster/tls/test-certs.js";
export * from "./cluster/topology/index.js";
