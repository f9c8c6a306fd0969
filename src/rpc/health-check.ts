// One call of the standard gRPC health service (grpc.health.v1.Health/Check), which TiKV serves
// beside tikvpb.Tikv. client-go's store health check (internal/locate/store_cache.go
// requestLiveness / invokeKVStatusAPI) asks it whether an unreachable store is back.
// The call rides on an existing channel (a store connection's), so it needs no dial of its own.

import { type Client, credentials, makeGenericClientConstructor } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

/** What a health check found: SERVING, NOT_SERVING, UNKNOWN / SERVICE_UNKNOWN, or no answer. */
export type HealthCheckResult = "serving" | "notServing" | "unknown" | "unreachable";

const HealthClient = makeGenericClientConstructor(healthService as never, "Health");

// grpc.health.v1.HealthCheckResponse.ServingStatus as proto-loader decodes it (enum names)
function toResult(status: unknown): HealthCheckResult {
  if (status === "SERVING" || status === 1) return "serving";
  if (status === "NOT_SERVING" || status === 2) return "notServing";
  return "unknown";
}

/** The channel of a grpc-js client (what {@link checkHealth} rides on). */
export type ClientChannel = ReturnType<Client["getChannel"]>;

/**
 * Asks the health service on `channel` about the whole server (service ""), within `timeoutMs`.
 * Never rejects: a failed or timed-out call is "unreachable".
 */
export function checkHealth(
  channel: ClientChannel,
  target: string,
  timeoutMs: number,
): Promise<HealthCheckResult> {
  // credentials are ignored with channelOverride: the channel's own are used
  const client: Client = new HealthClient(target, credentials.createInsecure(), { channelOverride: channel });
  return new Promise((resolve) => {
    const check = (client as unknown as Record<string, (...args: unknown[]) => void>).Check as (
      ...args: unknown[]
    ) => void;
    check.call(
      client,
      { service: "" },
      { deadline: Date.now() + timeoutMs },
      (err: Error | null, resp?: { status?: unknown }) =>
        resolve(err ? "unreachable" : toResult(resp?.status)),
    );
  });
}
