// Timestamps from PD's TSO microservice (pd client servicediscovery/tso_service_discovery.go and
// clients/tso): when PD runs in API mode, the client asks a TSO server which keyspace group
// serves its keyspace (FindGroupByKeyspaceID: the group id, its members and which one is
// primary), then feeds the same per-turn batcher over a tsopb.Tso stream to the primary, with
// the keyspace id and group id in every request header. A lost stream (primary down, "not
// served" after a move) re-discovers; a response from another group switches to that group.

import { type ChannelCredentials, type ClientDuplexStream, status as GrpcStatus } from "@grpc/grpc-js";
import { type PdBackoff, pdBackoffDelay } from "../../machines/pd.js";
import { ErrorType as PdErrorType, type TsoResponse as PdTsoResponse } from "../../proto/pdpb.js";
import {
  FindGroupByKeyspaceIDRequest,
  type FindGroupByKeyspaceIDResponse,
  type RequestHeader,
  TSOClient,
  TSOService,
  type TsoRequest,
  type TsoResponse,
} from "../../proto/tsopb.js";
import { unaryCallAsync } from "../../rpc/call.js";
import { type ChannelConfig, channelCredentials, channelOptions, grpcTarget } from "../../rpc/channel.js";
import { GrpcError, PdError } from "../../rpc/errors.js";
import type { TsoBatcher } from "./tso-batcher.js";

/** The keyspace id of clients without a keyspace (constants.NullKeyspaceID). */
export const NULL_KEYSPACE_ID = 0xffffffff;
/** The keyspace config key naming the keyspace's TSO group (constants.TSOKeyspaceGroupIDKey). */
export const TSO_KEYSPACE_GROUP_ID_KEY = "tso_keyspace_group_id";

/** Options of a {@link TsoGroupClient}. */
export interface TsoGroupClientOptions extends ChannelConfig {
  /** TSO server URLs from GetClusterInfo. */
  urls: readonly string[];
  keyspaceId: number;
  clusterId: bigint;
  batcher: TsoBatcher;
  /** Registers the handler the batcher calls on a malformed response (undefined: none). */
  setStreamLost: (lost: ((err: Error) => void) | undefined) => void;
  rpcTimeoutMs: number;
  backoff: PdBackoff;
}

/** The group a keyspace's timestamps come from, as last discovered. */
export interface TsoGroupInfo {
  groupId: number;
  primary: string | undefined;
  members: string[];
  modRevision: bigint;
}

/** The keyspace-group TSO path of the PD actor (one per client in API mode). */
export class TsoGroupClient {
  /** Counters for tests: FindGroupByKeyspaceID rounds that found a primary, streams opened. */
  readonly stats = { discoveries: 0, streams: 0 };
  /** Why the last discovery round or stream failed (diagnostics). */
  lastError: Error | undefined;
  private info: TsoGroupInfo = { groupId: 0, primary: undefined, members: [], modRevision: 0n };
  private readonly clients = new Map<string, TSOClient>();
  private readonly creds: ChannelCredentials;
  private call: ClientDuplexStream<TsoRequest, TsoResponse> | undefined;
  private header: RequestHeader;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly o: TsoGroupClientOptions) {
    this.creds = channelCredentials(o.tls);
    this.header = this.headerFor(0);
  }

  /** The current group (after the first discovery). */
  get group(): TsoGroupInfo {
    return this.info;
  }

  /** Discovers the group and opens the stream (in the background). */
  start(): void {
    void this.discover();
  }

  /** Stops the stream and closes the channels; the batcher is left to its owner. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.dropStream();
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private headerFor(groupId: number): RequestHeader {
    return {
      clusterId: this.o.clusterId,
      senderId: 0n,
      keyspace: { $case: "keyspaceId", keyspaceId: this.o.keyspaceId },
      keyspaceGroupId: groupId,
      calleeId: "",
    };
  }

  private client(url: string): TSOClient {
    const target = grpcTarget(url);
    let c = this.clients.get(target);
    if (!c) {
      c = new TSOClient(target, this.creds, channelOptions(this.o));
      this.clients.set(target, c);
    }
    return c;
  }

  // Servers to ask, the one that just failed last (it is likely the dead primary).
  private candidates(failed: string | undefined): string[] {
    const all = [...new Set([...this.info.members, ...this.o.urls].map(grpcTarget))];
    if (failed === undefined) return all;
    const f = grpcTarget(failed);
    return [...all.filter((u) => u !== f), ...all.filter((u) => u === f)];
  }

  private async discover(failed?: string): Promise<void> {
    this.timer = undefined;
    for (const url of this.candidates(failed)) {
      if (this.closed) return;
      try {
        const found = await this.findGroup(url);
        if (this.closed) return;
        if (found.primary === undefined) {
          this.lastError = new PdError(PdErrorType.UNKNOWN, `keyspace group ${found.groupId} has no primary`);
          continue;
        }
        this.info = found;
        this.stats.discoveries++;
        this.openStream(found.primary, found.groupId);
        return;
      } catch (e) {
        this.lastError = e as Error;
      }
    }
    if (this.closed) return;
    this.failures++;
    // requests meanwhile wait in the batcher, up to their own deadline
    this.timer = setTimeout(() => void this.discover(failed), pdBackoffDelay(this.o.backoff, this.failures));
    this.timer.unref?.();
  }

  private async findGroup(url: string): Promise<TsoGroupInfo> {
    const req = FindGroupByKeyspaceIDRequest.fromPartial({
      header: this.headerFor(0),
      keyspace: { $case: "keyspaceId", keyspaceId: this.o.keyspaceId },
      modRevision: this.info.modRevision,
    });
    let r: FindGroupByKeyspaceIDResponse;
    try {
      r = await unaryCallAsync(
        this.client(url),
        TSOService.findGroupByKeyspaceId,
        req,
        { timeoutMs: this.o.rpcTimeoutMs },
        url,
      );
    } catch (e) {
      // a TSO server without keyspace groups: it serves the default group itself
      if (e instanceof GrpcError && e.grpcCode === GrpcStatus.UNIMPLEMENTED) {
        return { groupId: 0, primary: url, members: [url], modRevision: this.info.modRevision };
      }
      throw e;
    }
    if (r.header?.error && r.header.error.type !== 0) {
      throw new PdError(PdErrorType.UNKNOWN, `find keyspace group from ${url}: ${r.header.error.message}`);
    }
    const g = r.keyspaceGroup;
    if (!g)
      throw new PdError(PdErrorType.UNKNOWN, `find keyspace group from ${url}: no keyspace group found`);
    if (r.modRevision < this.info.modRevision) {
      throw new PdError(
        PdErrorType.UNKNOWN,
        `find keyspace group from ${url}: stale mod revision ${r.modRevision}`,
      );
    }
    const primary = g.members.find((m) => m.isPrimary)?.address;
    return { groupId: g.id, primary, members: g.members.map((m) => m.address), modRevision: r.modRevision };
  }

  private openStream(primary: string, groupId: number): void {
    this.dropStream();
    const call = this.client(primary).tso();
    this.call = call;
    this.stats.streams++;
    this.header = this.headerFor(groupId);
    let dead = false;
    const lost = (err: Error) => {
      if (dead) return;
      dead = true;
      this.lastError = err;
      if (this.call === call) this.dropStream();
      if (this.closed) return;
      // first loss: re-discover at once; repeated losses back off
      this.failures++;
      const wait = this.failures === 1 ? 0 : pdBackoffDelay(this.o.backoff, this.failures - 1);
      this.timer = setTimeout(() => void this.discover(primary), wait);
      this.timer.unref?.();
    };
    call.on("data", (r: TsoResponse) => {
      this.failures = 0;
      const h = r.header;
      if (h && !h.error && h.keyspaceGroupId !== this.header.keyspaceGroupId) {
        // the keyspace moved: the server answered from its new group (PD makes that group's
        // TSO exceed the old one's); ask for the new group from now on
        this.header = this.headerFor(h.keyspaceGroupId);
        this.info = { ...this.info, groupId: h.keyspaceGroupId };
      }
      this.o.batcher.onResponse(toPdResponse(r));
    });
    call.on("error", (e: Error) => lost(e));
    call.on("end", () => lost(new Error("tso stream ended")));
    this.o.setStreamLost(lost);
    this.o.batcher.attach(
      {
        write: (req) => call.write({ header: this.header, count: req.count, dcLocation: "" }),
      },
      this.o.clusterId,
    );
  }

  private dropStream(): void {
    const call = this.call;
    if (!call) return;
    this.call = undefined;
    this.o.setStreamLost(undefined);
    this.o.batcher.detach();
    call.cancel();
  }
}

// The batcher reads only the error, count and timestamp; tsopb error types all become UNKNOWN.
function toPdResponse(r: TsoResponse): PdTsoResponse {
  const err = r.header?.error;
  return {
    header:
      err && err.type !== 0
        ? { clusterId: r.header?.clusterId ?? 0n, error: { type: PdErrorType.UNKNOWN, message: err.message } }
        : undefined,
    count: r.count,
    timestamp: r.timestamp,
  };
}
