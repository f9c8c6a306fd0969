// The TSO servers of PD's microservice mode (pd pkg/mcs/tso/server/grpc_service.go): each serves
// tsopb.TSO on its own port. A Tso request is answered from the allocator of the keyspace's
// group when this server is that group's primary, else with the server's error, as PD's
// keyspace group manager (HandleTSORequest / getKeyspaceGroupMetaWithCheck) decides.
import { Server, ServerCredentials, type ServerDuplexStream, type ServiceError, status } from "@grpc/grpc-js";
import {
  ErrorType,
  type FindGroupByKeyspaceIDRequest,
  FindGroupByKeyspaceIDResponse,
  type GetMinTSRequest,
  GetMinTSResponse,
  type RequestHeader,
  ResponseHeader,
  TSOService,
  type TsoRequest,
  TsoResponse,
} from "../../../proto/tsopb.js";
import { mismatchClusterIdError, pdErrorMessage, statusError } from "../errors.js";
import {
  DEFAULT_KEYSPACE_GROUP_ID,
  type TsoKeyspaceGroup,
  type TsoKeyspaceGroups,
} from "./keyspace-groups.js";

/** tsopb.TSO methods, as counted per server. */
export type TsoServiceMethod = "Tso" | "FindGroupByKeyspaceID" | "GetMinTS";

interface Running {
  server: Server | undefined;
  endpoint: string;
  readonly calls: Record<TsoServiceMethod, number>;
}

const keyspaceOf = (h: RequestHeader | undefined): number =>
  h?.keyspace?.$case === "keyspaceId" ? h.keyspace.keyspaceId : 0;

/** errs.ErrUnknown wrapping a TSO error, as the Tso stream returns it. */
const unknown = (inner: string): ServiceError =>
  statusError(status.UNKNOWN, pdErrorMessage("PD:common:ErrUnknown", `unknown error ${inner}`));

/** genNotServedErr(errs.ErrGetAllocator, id). */
function notServedMessage(groupId: number): string {
  return pdErrorMessage(
    "PD:tso:ErrGetAllocator",
    `get allocator failed, requested keyspace group with id ${groupId} is not served by this host/pod`,
  );
}

/** errs.ErrKeyspaceNotAssigned. */
function notAssignedMessage(keyspaceId: number): string {
  return pdErrorMessage(
    "PD:tso:ErrKeyspaceNotAssigned",
    `the keyspace ${keyspaceId} isn't assigned to any keyspace group`,
  );
}

/** N TSO servers sharing one {@link TsoKeyspaceGroups}. */
export class TsoServers {
  private constructor(
    readonly groups: TsoKeyspaceGroups,
    private readonly clusterId: bigint,
    private readonly servers: Running[],
  ) {}

  /** Starts `groups.servers` servers on `host` (any free ports). */
  static async start(groups: TsoKeyspaceGroups, clusterId: bigint, host = "127.0.0.1"): Promise<TsoServers> {
    const running: Running[] = [];
    const out = new TsoServers(groups, clusterId, running);
    try {
      for (let i = 0; i < groups.servers; i++) {
        running.push({
          server: undefined,
          endpoint: `${host}:0`,
          calls: { Tso: 0, FindGroupByKeyspaceID: 0, GetMinTS: 0 },
        });
        await out.listen(i);
      }
    } catch (e) {
      await out.close();
      throw e;
    }
    return out;
  }

  /** host:port of every server, in index order. */
  get endpoints(): string[] {
    return this.servers.map((s) => s.endpoint);
  }

  /** host:port of the servers that are up (PD's GetClusterInfo lists the registered, live ones). */
  get liveEndpoints(): string[] {
    return this.servers.filter((s) => s.server).map((s) => s.endpoint);
  }

  /** Calls of `method` server `index` received (each Tso stream message counts once). */
  calls(index: number, method: TsoServiceMethod): number {
    return this.at(index).calls[method];
  }

  /** Stops server `index` (connections are refused); its groups elect another primary. */
  async stopServer(index: number): Promise<void> {
    const s = this.at(index);
    if (!s.server) return;
    const server = s.server;
    s.server = undefined;
    this.groups.setDown(index, true);
    server.forceShutdown();
  }

  /** Restarts server `index` on its old address (it becomes primary only of groups left without one). */
  async startServer(index: number): Promise<void> {
    if (this.at(index).server) return;
    await this.listen(index);
    this.groups.setDown(index, false);
  }

  /**
   * The smallest timestamp over every group with a primary (PD's GetMinTS in API mode collects
   * it from all TSO servers), each group allocating one; throws when some group has no primary.
   */
  minTs(): bigint {
    let min: bigint | undefined;
    for (const g of this.groups.all()) {
      if (g.primary === undefined)
        throw new Error(
          pdErrorMessage(
            "PD:tso:ErrGetMinTS",
            `get min ts failed, keyspace group ${g.id}'s primary is not elected`,
          ),
        );
      const t = g.allocator.generate(1);
      const ts = (BigInt(t.physical) << 18n) | BigInt(t.logical);
      if (min === undefined || ts < min) min = ts;
    }
    return min ?? 0n;
  }

  /** Stops every server. */
  async close(): Promise<void> {
    for (const s of this.servers) {
      s.server?.forceShutdown();
      s.server = undefined;
    }
  }

  private at(index: number): Running {
    const s = this.servers[index];
    if (!s) throw new RangeError(`no TSO server ${index} (have ${this.servers.length})`);
    return s;
  }

  private async listen(index: number): Promise<void> {
    const s = this.at(index);
    const server = new Server();
    server.addService(TSOService, this.handlers(index));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(s.endpoint, ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    s.endpoint = `${s.endpoint.slice(0, s.endpoint.lastIndexOf(":"))}:${port}`;
    s.server = server;
  }

  private header(groupId: number, error?: { type: ErrorType; message: string }): ResponseHeader {
    return ResponseHeader.fromPartial({ clusterId: this.clusterId, keyspaceGroupId: groupId, error });
  }

  // getKeyspaceGroupMetaWithCheck + "is this server the group's primary"
  private serving(index: number, keyspaceId: number, requested: number): TsoKeyspaceGroup | string {
    const g = this.groups.groupOf(keyspaceId);
    if (!g)
      return requested !== DEFAULT_KEYSPACE_GROUP_ID
        ? notAssignedMessage(keyspaceId)
        : notServedMessage(requested);
    return g.primary === index ? g : notServedMessage(requested);
  }

  private handlers(index: number) {
    const calls = this.at(index).calls;
    return {
      tso: (call: ServerDuplexStream<TsoRequest, TsoResponse>) => {
        let failed = false;
        call.on("data", (req: TsoRequest) => {
          calls.Tso++;
          if (failed) return;
          const fail = (e: ServiceError) => {
            failed = true;
            call.emit("error", e);
          };
          const got = req.header?.clusterId ?? 0n;
          if (got !== this.clusterId) return fail(mismatchClusterIdError(this.clusterId, got));
          const g = this.serving(index, keyspaceOf(req.header), req.header?.keyspaceGroupId ?? 0);
          if (typeof g === "string") return fail(unknown(g));
          try {
            const t = g.allocator.generate(req.count);
            call.write(
              TsoResponse.fromPartial({
                header: this.header(g.id),
                count: req.count,
                timestamp: { physical: BigInt(t.physical), logical: BigInt(t.logical), suffixBits: 0 },
              }),
            );
          } catch (e) {
            fail(e as ServiceError);
          }
        });
        call.on("end", () => {
          if (!failed) call.end();
        });
        call.on("error", () => {
          failed = true;
        });
      },

      findGroupByKeyspaceId: unaryHandler((req: FindGroupByKeyspaceIDRequest) => {
        calls.FindGroupByKeyspaceID++;
        const requested = req.header?.keyspaceGroupId ?? 0;
        const bad = this.validate(req.header, requested);
        if (bad) return FindGroupByKeyspaceIDResponse.fromPartial({ header: bad });
        if (req.modRevision > this.groups.modRevision) {
          return FindGroupByKeyspaceIDResponse.fromPartial({
            header: this.header(requested, {
              type: ErrorType.INVALID_VALUE,
              message: pdErrorMessage(
                "PD:keyspace:ErrKeyspaceGroupModRevisionStale",
                "keyspace group mod revision is stale",
              ),
            }),
          });
        }
        const ks = req.keyspace?.$case === "keyspaceId" ? req.keyspace.keyspaceId : 0;
        const g = this.groups.groupOf(ks);
        if (!g) {
          return FindGroupByKeyspaceIDResponse.fromPartial({
            header: this.header(requested, { type: ErrorType.UNKNOWN, message: "keyspace group not found" }),
            modRevision: this.groups.modRevision,
          });
        }
        const endpoints = this.endpoints;
        return FindGroupByKeyspaceIDResponse.fromPartial({
          header: this.header(g.id),
          keyspaceGroup: {
            id: g.id,
            userKind: "basic",
            members: g.members.map((m) => ({
              address: `http://${endpoints[m]}`,
              isPrimary: m === g.primary,
            })),
          },
          modRevision: this.groups.modRevision,
        });
      }),

      getMinTs: unaryHandler((req: GetMinTSRequest) => {
        calls.GetMinTS++;
        const requested = req.header?.keyspaceGroupId ?? 0;
        const bad = this.validate(req.header, requested);
        const all = this.groups.all();
        if (bad) return GetMinTSResponse.fromPartial({ header: bad, keyspaceGroupsTotal: all.length });
        let min: bigint | undefined;
        let serving = 0;
        for (const g of all) {
          if (g.primary !== index) continue;
          serving++;
          const t = g.allocator.generate(1);
          const ts = (BigInt(t.physical) << 18n) | BigInt(t.logical);
          if (min === undefined || ts < min) min = ts;
        }
        const ts = min ?? 0n;
        return GetMinTSResponse.fromPartial({
          header: this.header(requested),
          timestamp: { physical: ts >> 18n, logical: ts & ((1n << 18n) - 1n), suffixBits: 0 },
          keyspaceGroupsServing: serving,
          keyspaceGroupsTotal: all.length,
        });
      }),
    };
  }

  private validate(h: RequestHeader | undefined, requested: number): ResponseHeader | undefined {
    if (!h || h.clusterId !== this.clusterId) {
      return this.header(requested, {
        type: ErrorType.CLUSTER_MISMATCHED,
        message: `mismatch cluster id, need ${this.clusterId} but got ${h?.clusterId ?? 0n}`,
      });
    }
    return undefined;
  }
}

// A unary handler answering whatever `answer` returns (errors go in the header, as PD's TSO does).
function unaryHandler<Req, Resp>(answer: (req: Req) => Resp) {
  return (call: { request: Req }, cb: (err: ServiceError | null, resp?: Resp) => void) => {
    try {
      cb(null, answer(call.request));
    } catch (e) {
      cb(statusError(status.UNKNOWN, (e as Error).message));
    }
  };
}
