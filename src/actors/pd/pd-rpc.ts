// PD gRPC plumbing: one client per member URL, request headers, response header checks and
// the classification of errors that mean "ask another member" (pd client errs/errs.go).

import type { ChannelCredentials } from "@grpc/grpc-js";
import { type ErrorType, PDClient, type RequestHeader, type ResponseHeader } from "../../proto/pdpb.js";
import { type ChannelConfig, channelCredentials, channelOptions, grpcTarget } from "../../rpc/channel.js";
import { ClusterIdMismatchError, GrpcError, isUnavailable, PdError, TimeoutError } from "../../rpc/errors.js";

/** Messages PD uses when a request reached the wrong member (pd client errs/errno.go). */
const LEADER_CHANGE_MESSAGES = [
  "no leader",
  "not leader",
  "is not served",
  "not primary",
  "mismatch callee id",
];

/** True when `err` means the leader moved or the member cannot serve: re-discover and retry. */
export function isLeaderChange(err: unknown): boolean {
  if (err instanceof GrpcError) {
    if (isUnavailable(err)) return true;
    return LEADER_CHANGE_MESSAGES.some((m) => err.details.includes(m));
  }
  if (err instanceof TimeoutError) return true;
  if (err instanceof PdError) return LEADER_CHANGE_MESSAGES.some((m) => err.pdMessage.includes(m));
  return false;
}

/** Builds the request header PD expects. */
export function pdHeader(clusterId: bigint): RequestHeader {
  return { clusterId, senderId: 0n, callerId: "tikv-ts", callerComponent: "tikv-ts" };
}

/**
 * Throws for an error header (PdError with PD's ErrorType) or a response from another cluster
 * (ClusterIdMismatchError). A cluster id of 0 in the response is not checked.
 */
export function checkHeader(header: ResponseHeader | undefined, clusterId: bigint): void {
  if (!header) return;
  if (header.error && header.error.type !== 0) {
    throw new PdError(header.error.type as ErrorType, header.error.message);
  }
  if (clusterId !== 0n && header.clusterId !== 0n && header.clusterId !== clusterId) {
    throw new ClusterIdMismatchError(`mismatch cluster id: want ${clusterId}, got ${header.clusterId}`);
  }
}

/** Lazily created PD clients, one per member target. */
export class PdClients {
  private readonly clients = new Map<string, PDClient>();
  private readonly creds: ChannelCredentials;

  constructor(private readonly cfg: ChannelConfig = {}) {
    this.creds = channelCredentials(cfg.tls);
  }

  /** The client for `url` ("http://h:p" or "h:p"). */
  get(url: string): PDClient {
    const target = grpcTarget(url);
    let c = this.clients.get(target);
    if (!c) {
      c = new PDClient(target, this.creds, channelOptions(this.cfg));
      this.clients.set(target, c);
    }
    return c;
  }

  /** Closes every channel. */
  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
