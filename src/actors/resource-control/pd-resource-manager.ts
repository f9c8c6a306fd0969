// The client's side of PD's resource_manager.ResourceManager (pd client resource_manager_client.go):
// GetResourceGroup as a unary call to the PD leader, AcquireTokenBuckets over one long-lived
// stream (answers come in request order), re-opened on the leader after a failure.

import type { ClientDuplexStream } from "@grpc/grpc-js";
import { ResourceGroupNotFoundError } from "../../errors/resource-control.js";
import {
  GetResourceGroupRequest,
  type ResourceGroup,
  ResourceManagerClient,
  ResourceManagerService,
  type TokenBucketsRequest,
  type TokenBucketsResponse,
} from "../../proto/resource_manager.js";
import { unaryCallAsync } from "../../rpc/call.js";
import { type ChannelConfig, channelCredentials, channelOptions, grpcTarget } from "../../rpc/channel.js";
import { GrpcError, toGrpcError } from "../../rpc/errors.js";

/** What the controller needs from PD (a seam for tests). */
export interface ResourceManagerPort {
  /** The group's settings; ResourceGroupNotFoundError when PD has none of that name. */
  getGroup(name: string): Promise<ResourceGroup>;
  /** One token request and its answer. */
  acquire(req: TokenBucketsRequest): Promise<TokenBucketsResponse>;
  close(): void;
}

/** PD's "does not exist" (pd client IsResourceGroupNotExistErr matches this text). */
function isNotExist(e: unknown): boolean {
  return e instanceof GrpcError && e.details.includes("resource group does not exist");
}

interface Pending {
  resolve: (r: TokenBucketsResponse) => void;
  reject: (e: Error) => void;
}

/** {@link ResourceManagerPort} over gRPC to the PD leader. */
export class PdResourceManager implements ResourceManagerPort {
  private client: ResourceManagerClient | undefined;
  private clientTarget = "";
  private stream: ClientDuplexStream<TokenBucketsRequest, TokenBucketsResponse> | undefined;
  private pending: Pending[] = [];

  constructor(
    /** The PD leader's URL now (it may move). */
    private readonly leader: () => string | undefined,
    private readonly channel: ChannelConfig,
    private readonly timeoutMs: number,
  ) {}

  private rpc(): ResourceManagerClient {
    const url = this.leader();
    if (url === undefined) throw new GrpcError(14, "no PD leader known");
    const target = grpcTarget(url);
    if (this.client === undefined || this.clientTarget !== target) {
      this.closeStream(new GrpcError(14, "PD leader changed"));
      this.client?.close();
      this.client = new ResourceManagerClient(
        target,
        channelCredentials(this.channel.tls),
        channelOptions(this.channel),
      );
      this.clientTarget = target;
    }
    return this.client;
  }

  async getGroup(name: string): Promise<ResourceGroup> {
    try {
      const resp = await unaryCallAsync(
        this.rpc(),
        ResourceManagerService.getResourceGroup,
        GetResourceGroupRequest.fromPartial({ resourceGroupName: name }),
        { timeoutMs: this.timeoutMs },
        this.clientTarget,
      );
      if (resp.error?.message) throw new GrpcError(2, resp.error.message, this.clientTarget);
      if (!resp.group) throw new ResourceGroupNotFoundError(name);
      return resp.group;
    } catch (e) {
      if (isNotExist(e)) throw new ResourceGroupNotFoundError(name, { cause: e });
      throw e;
    }
  }

  acquire(req: TokenBucketsRequest): Promise<TokenBucketsResponse> {
    return new Promise<TokenBucketsResponse>((resolve, reject) => {
      let s: ClientDuplexStream<TokenBucketsRequest, TokenBucketsResponse>;
      try {
        s = this.openStream();
      } catch (e) {
        reject(e as Error);
        return;
      }
      // an answer that does not come in time fails the stream (re-opened by the next request)
      const t = setTimeout(() => {
        if (this.stream === s)
          this.closeStream(new GrpcError(4, "AcquireTokenBuckets timed out", this.clientTarget));
      }, this.timeoutMs);
      t.unref?.();
      this.pending.push({
        resolve: (r) => {
          clearTimeout(t);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
      s.write(req);
    });
  }

  private openStream(): ClientDuplexStream<TokenBucketsRequest, TokenBucketsResponse> {
    const client = this.rpc();
    if (this.stream) return this.stream;
    const s = client.acquireTokenBuckets();
    s.on("data", (r: TokenBucketsResponse) => {
      const p = this.pending.shift();
      if (r.error?.message) p?.reject(new GrpcError(2, r.error.message, this.clientTarget));
      else p?.resolve(r);
    });
    s.on("error", (e: Error) => {
      if (this.stream === s) this.closeStream(toGrpcError(e, this.clientTarget));
    });
    s.on("end", () => {
      if (this.stream === s) this.closeStream(new GrpcError(14, "token stream ended", this.clientTarget));
    });
    this.stream = s;
    return s;
  }

  private closeStream(err: Error): void {
    const s = this.stream;
    this.stream = undefined;
    const p = this.pending;
    this.pending = [];
    for (const x of p) x.reject(err);
    s?.cancel();
  }

  close(): void {
    this.closeStream(new GrpcError(1, "closed"));
    this.client?.close();
    this.client = undefined;
  }
}
