// The public face of resource control: options, the request source builder and group stats.
export type { ResourceGroupStats } from "../actors/resource-control/group-controller.js";
export { buildRequestSource, isInternalRequestSource } from "../actors/resource-control/request-source.js";
export type {
  RequestUnitConfig,
  ResourceCallOptions,
  ResourceControlOptions,
} from "./resource-control-options.js";
