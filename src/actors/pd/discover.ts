// One discovery round: ask the members for GetMembers, check the cluster id, pick the leader
// (pd client servicediscovery/service_discovery.go initClusterID + updateMember).

import { TlsError, tlsFailureReason } from "../../errors/tls.js";
import type { PdMembership } from "../../machines/pd.js";
import { ErrorType, GetMembersRequest, type GetMembersResponse, PDService } from "../../proto/pdpb.js";
import { unaryCallAsync } from "../../rpc/call.js";
import { grpcTarget } from "../../rpc/channel.js";
import { AbortedError, ClusterIdMismatchError, PdError } from "../../rpc/errors.js";
import { type PdClients, pdHeader } from "./pd-rpc.js";

/**
 * Asks every endpoint for the member list (in parallel) and returns the leader.
 * `clusterId` 0n means "not known yet": all answering endpoints must then agree, else
 * ClusterIdMismatchError. With a known id, members of another cluster are ignored. `signal`
 * cancels the round (AbortedError).
 */
export async function discoverMembers(
  clients: PdClients,
  endpoints: string[],
  clusterId: bigint,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<PdMembership> {
  const answers = await Promise.all(
    endpoints.map((url) =>
      unaryCallAsync(
        clients.get(url),
        PDService.getMembers,
        GetMembersRequest.fromPartial({ header: pdHeader(clusterId) }),
        { timeoutMs, signal },
      ).then(
        (resp): GetMembersResponse | Error => resp,
        (err: Error) => err,
      ),
    ),
  );
  if (signal?.aborted) throw new AbortedError(signal.reason);
  if (answers.every((a) => a instanceof Error)) throwIfTls(answers as Error[], endpoints);
  const ok: GetMembersResponse[] = [];
  const errors: string[] = [];
  answers.forEach((a, i) => {
    if (a instanceof Error) errors.push(`${endpoints[i]}: ${a.message}`);
    else if (!a.header) errors.push(`${endpoints[i]}: no header`);
    else ok.push(a);
  });
  let id = clusterId;
  if (id === 0n) {
    for (const r of ok) {
      const rid = r.header?.clusterId ?? 0n;
      if (rid === 0n) continue;
      if (id === 0n) id = rid;
      else if (rid !== id) throw new ClusterIdMismatchError(`[pd] unmatched cluster id: ${id} != ${rid}`);
    }
  }
  for (const r of ok) {
    if ((r.header?.clusterId ?? 0n) !== id) {
      errors.push(`cluster id does not match: ${r.header?.clusterId} != ${id}`);
      continue;
    }
    const leaderUrl = r.leader?.clientUrls[0];
    if (!leaderUrl) {
      errors.push("leader url doesn't exist");
      continue;
    }
    const urls = new Set<string>();
    for (const m of r.members) for (const u of m.clientUrls) urls.add(grpcTarget(u));
    return { clusterId: id, leader: grpcTarget(leaderUrl), endpoints: [...urls] };
  }
  throw new PdError(
    ErrorType.UNKNOWN,
    `failed to get the PD leader from [${endpoints.join(", ")}]: ${errors.join("; ")}`,
  );
}

// No member answered and a handshake was refused: say why (TlsError) instead of "unreachable".
function throwIfTls(errors: readonly Error[], endpoints: readonly string[]): void {
  for (const [i, e] of errors.entries()) {
    // (the transport may have typed it already: keep its status as the cause)
    if (e instanceof TlsError) throw new TlsError(e.reason, e.details, endpoints[i], { cause: e.cause ?? e });
    const reason = tlsFailureReason(e.message);
    if (reason) {
      const details = "details" in e && typeof e.details === "string" ? e.details : e.message;
      throw new TlsError(reason, details, endpoints[i], { cause: e });
    }
  }
}
