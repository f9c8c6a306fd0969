// Fault injection for the embedded cluster (see FaultRegistry).
export { FaultRegistry, InvalidFaultSpecError } from "./fault-registry.js";
export type { PdRpcName, RpcName, TikvRpcName } from "./rpc-names.js";
export { isRpcName, PD_RPCS, TIKV_RPCS } from "./rpc-names.js";
export type {
  CallInfo,
  DelaySpec,
  DropReplySpec,
  FailSpec,
  FaultDecision,
  FaultError,
  FaultHandle,
  FaultKey,
  FaultScope,
  RequestHook,
} from "./types.js";
