// The client's resource group controller (PD client ResourceGroupsController,
// client/resource_group/controller/global_controller.go, wired in as client-go's resource control
// interceptor, internal/client/client_interceptor.go): one cost controller per group in use,
// loaded from PD on first use; every update interval (and at once when a bucket runs low or a
// grant's trickle ends) the groups that need it report their consumption since the last report
// and ask for tokens in one AcquireTokenBuckets message.
//
// One long-lived object per client with its own timer: requests reach it through the
// interceptor chain (no actor per request, no extra hop when a request names no group).

import { ResourceGroupNotFoundError } from "../../errors/resource-control.js";
import type { Context } from "../../proto/kvrpcpb.js";
import { RequestUnitType, type TokenBucketRequest } from "../../proto/resource_manager.js";
import type { RpcInterceptor, RpcInvoker, RpcRequest } from "../request/interceptor.js";
import { GroupController, type GroupControllerConfig, type ResourceGroupStats } from "./group-controller.js";
import type { ResourceManagerPort } from "./pd-resource-manager.js";
import { isBypassedSource } from "./request-source.js";
import { requestInfo, responseInfo } from "./ru-model.js";

export type { ResourceGroupStats };

/** Group settings are re-read from PD every this many update ticks (10 s by default). */
const META_REFRESH_TICKS = 10;

/** Options of the controller: the group timing rules and this client's id at PD. */
export interface ResourceControllerOptions extends GroupControllerConfig {
  /** The id PD keeps this client's token slot under (client-go: a random id per process). */
  clientId: bigint;
  now?: () => number;
}

export class ResourceGroupsController {
  private readonly groups = new Map<string, GroupController>();
  private readonly loading = new Map<string, Promise<GroupController>>();
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly now: () => number;
  private roundRunning = false;
  private ticks = 0;
  private roundAgain = false;
  private closed = false;
  /** The interceptor to put first in the client's chain. */
  readonly interceptor: RpcInterceptor;

  constructor(
    private readonly pd: ResourceManagerPort,
    private readonly opts: ResourceControllerOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => this.tick(), opts.updateIntervalMs);
    this.timer.unref?.();
    this.interceptor = { name: "resource-control", wrap: (next) => this.wrap(next) };
  }

  /** What group `name` did so far (undefined until a request used it). */
  stats(name: string): ResourceGroupStats | undefined {
    const g = this.groups.get(name);
    return g && { ...g.stats };
  }

  /** Stops the timer and the PD stream. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.pd.close();
  }

  private wrap(next: RpcInvoker): RpcInvoker {
    return async (req: RpcRequest) => {
      const ctx = (req.request as { context?: Context } | undefined)?.context;
      const rcc = ctx?.resourceControlContext;
      const name = rcc?.resourceGroupName;
      // (client-go: no group name, or an internal "others" request: no control)
      if (!name || isBypassedSource(ctx?.requestSource ?? "")) return next(req);
      const group = this.groups.get(name) ?? (await this.load(name));
      const info = requestInfo(req.command, req.request, req.replicaCount ?? 1, req.storeId);
      const { penalty, priority } = await group.onRequest(info, req.signal);
      const context: Context = {
        ...(ctx as Context),
        resourceControlContext: {
          resourceGroupName: name,
          penalty,
          // the request's own priority wins (client-go sets the group's only when it is 0)
          overridePriority: rcc.overridePriority !== 0n ? rcc.overridePriority : BigInt(priority),
        },
      };
      const resp = await next({ ...req, context, request: { ...(req.request as object), context } });
      group.onResponse(info, responseInfo(req.command, resp));
      return resp;
    };
  }

  // first use of a group: its settings from PD, one lookup for concurrent first requests
  private load(name: string): Promise<GroupController> {
    let p = this.loading.get(name);
    if (!p) {
      p = this.pd
        .getGroup(name)
        .then((meta) => {
          let g = this.groups.get(name);
          if (!g) {
            g = new GroupController(meta, this.opts, this.now, () => this.kick());
            this.groups.set(name, g);
            // its first report goes out at once (PD client: a group's first report is always due)
            queueMicrotask(() => this.round(false));
          }
          return g;
        })
        .finally(() => this.loading.delete(name));
      this.loading.set(name, p);
    }
    return p;
  }

  private tick(): void {
    for (const g of this.groups.values()) g.updateAverage();
    this.round(false);
    if (++this.ticks % META_REFRESH_TICKS === 0) this.refreshMeta();
  }

  // settings changed at PD reach the groups in use (the PD client watches them; we re-read them);
  // a group deleted at PD is dropped, so its next request fails with ResourceGroupNotFoundError
  private refreshMeta(): void {
    for (const [name, g] of this.groups) {
      this.pd.getGroup(name).then(
        (meta) => g.updateMeta(meta),
        (e: unknown) => {
          if (e instanceof ResourceGroupNotFoundError && this.groups.get(name) === g)
            this.groups.delete(name);
        },
      );
    }
  }

  // a group needs tokens now: run a round soon (coalesced)
  private kick(): void {
    queueMicrotask(() => this.round(true));
  }

  private round(lowOnly: boolean): void {
    if (this.closed) return;
    if (this.roundRunning) {
      this.roundAgain = true;
      return;
    }
    const picked = [...this.groups.values()].filter((g) => g.wantsReport(lowOnly));
    if (picked.length === 0) return;
    const reports = picked.map((g) => ({ g, ...g.takeReport() }));
    const requests: TokenBucketRequest[] = reports.map((r) => ({
      resourceGroupName: r.g.name,
      request: {
        $case: "ruItems",
        ruItems: { requestRU: [{ type: RequestUnitType.RU, value: r.requested }] },
      },
      consumptionSinceLastRequest: r.consumption,
      isBackground: false,
      isTiflash: false,
      keyspaceId: r.g.meta.keyspaceId,
    }));
    this.roundRunning = true;
    this.pd
      .acquire({
        requests,
        targetRequestPeriodMs: BigInt(this.opts.targetPeriodMs),
        clientUniqueId: this.opts.clientId,
      })
      .then(
        (resp) => {
          const answered = new Set<string>();
          for (const r of resp.responses) {
            const g = this.groups.get(r.resourceGroupName);
            if (!g) continue;
            answered.add(g.name);
            const granted = r.grantedRUTokens[0];
            const trickleMs = g.applyGrant(granted?.grantedTokens, Number(granted?.trickleTimeMs ?? 0n));
            // ask again when the trickle ends (PD client: its notification timer)
            if (trickleMs > 0) setTimeout(() => this.round(true), trickleMs).unref?.();
          }
          // PD skips groups it no longer has: they stop being asked for until used again
          for (const r of reports) {
            if (answered.has(r.g.name)) continue;
            r.g.applyGrant(undefined, 0);
            this.groups.delete(r.g.name);
          }
        },
        () => {
          for (const r of reports) r.g.reportFailed(r.consumption);
          // PD failed: wait for the next tick rather than asking again at once
          this.roundAgain = false;
        },
      )
      .finally(() => {
        this.roundRunning = false;
        if (this.roundAgain) {
          this.roundAgain = false;
          this.round(true);
        }
      });
  }
}
