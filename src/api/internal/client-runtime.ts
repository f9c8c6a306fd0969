// What a RawClient needs from its connected TikvClient; its own module so the two do not import
// each other.
import type { PdActor } from "../../actors/pd/pd-actor.js";
import type { ClientMetrics } from "../../actors/runtime/metrics.js";
import type { RawRequestSender } from "../../actors/runtime/raw-sender.js";
import type { ResolvedConnectOptions } from "../options.js";

/** The parts of a connected client a RawClient uses. */
export interface ClientRuntime {
  readonly options: ResolvedConnectOptions;
  readonly sender: RawRequestSender;
  readonly metrics: ClientMetrics;
  readonly pd: PdActor;
  /** Throws ShuttingDownError after close(). */
  checkOpen(): void;
}
