// The embedded PD's resource groups (pkg/mcs/resourcemanager/server/keyspace_manager.go and
// manager.go): per keyspace, a reserved "default" group (RU mode, unlimited rate and burst,
// medium priority) that cannot be deleted; names of 1-32 bytes; priority 0-16; modify keeps the
// mode; token requests go to each group's bucket and their consumption is added to its stats.
// Errors carry PD's error texts, which clients match on (e.g. "resource group does not exist").

import {
  Consumption,
  GroupMode,
  type KeyspaceIDValue,
  type ResourceGroup,
  type TokenBucketRequest,
  type TokenBucketResponse,
  type TokenBucketsRequest,
} from "../../../proto/resource_manager.js";
import { GroupTokenBucket, UNLIMITED_RATE } from "./token-bucket.js";

/** The reserved group of every keyspace (PD DefaultResourceGroupName). */
export const DEFAULT_RESOURCE_GROUP = "default";
const MAX_NAME_LENGTH = 32;
const MAX_PRIORITY = 16;
const MIDDLE_PRIORITY = 8;
/** PD's NullKeyspaceID: requests without a keyspace id. */
const NULL_KEYSPACE = 0xffff_ffff;

/** A request PD refuses; `message` is PD's error text (sent as a gRPC UNKNOWN status). */
export class ResourceManagerError extends Error {}

function notExists(name: string): ResourceManagerError {
  return new ResourceManagerError(
    `[PD:resourcemanager:ErrGroupNotExists]the ${name} resource group does not exist`,
  );
}
function invalid(what: string): ResourceManagerError {
  return new ResourceManagerError(
    `[PD:resourcemanager:ErrInvalidGroup]invalid group settings, please check ${what}`,
  );
}

/** Adds `d` into `acc` (client reports are deltas since the last report). */
export function addConsumption(acc: Consumption, d: Consumption): void {
  acc.rRU += d.rRU;
  acc.wRU += d.wRU;
  acc.readBytes += d.readBytes;
  acc.writeBytes += d.writeBytes;
  acc.totalCpuTimeMs += d.totalCpuTimeMs;
  acc.sqlLayerCpuTimeMs += d.sqlLayerCpuTimeMs;
  acc.kvReadRpcCount += d.kvReadRpcCount;
  acc.kvWriteRpcCount += d.kvWriteRpcCount;
  acc.readCrossAzTrafficBytes += d.readCrossAzTrafficBytes;
  acc.writeCrossAzTrafficBytes += d.writeCrossAzTrafficBytes;
}

/** What the embedded resource manager counted, per group (for tests and the control API). */
export interface GroupGrantStats {
  /** Token requests served (one per group per AcquireTokenBuckets message). */
  requests: number;
  /** RU asked for in total. */
  requested: number;
  /** RU granted in total. */
  granted: number;
  /** Grants that came with a trickle time (the bucket could not cover them at once). */
  trickled: number;
}

interface Group {
  meta: ResourceGroup;
  bucket: GroupTokenBucket;
  consumption: Consumption;
  stats: GroupGrantStats;
}

function keyspaceOf(v: KeyspaceIDValue | undefined): number {
  return v?.keyspace?.$case === "value" ? v.keyspace.value : NULL_KEYSPACE;
}

function bucketOf(meta: ResourceGroup): GroupTokenBucket {
  const ru = meta.rUSettings?.rU;
  return new GroupTokenBucket({
    fillRate: Number(ru?.settings?.fillRate ?? 0n),
    burstLimit: ru?.settings?.burstLimit ?? 0n,
    tokens: ru?.tokens ?? 0,
  });
}

function defaultGroup(): ResourceGroup {
  return {
    name: DEFAULT_RESOURCE_GROUP,
    mode: GroupMode.RUMode,
    rUSettings: {
      rU: { settings: { fillRate: BigInt(UNLIMITED_RATE), burstLimit: -1n, maxTokens: 0 }, tokens: 0 },
    },
    priority: MIDDLE_PRIORITY,
  };
}

/** Every keyspace's groups and their buckets. */
export class ResourceGroupRegistry {
  private readonly keyspaces = new Map<number, Map<string, Group>>();

  constructor(private readonly now: () => number = Date.now) {}

  // PD creates a keyspace's manager (with its default group) on first use
  private groupsOf(keyspaceId: number): Map<string, Group> {
    let m = this.keyspaces.get(keyspaceId);
    if (!m) {
      m = new Map();
      this.keyspaces.set(keyspaceId, m);
      this.put(m, defaultGroup(), keyspaceId);
    }
    return m;
  }

  private put(m: Map<string, Group>, meta: ResourceGroup, keyspaceId: number): void {
    const stored: ResourceGroup = {
      ...meta,
      RUStats: undefined,
      keyspaceId:
        keyspaceId === NULL_KEYSPACE ? undefined : { keyspace: { $case: "value", value: keyspaceId } },
    };
    m.set(meta.name, {
      meta: stored,
      bucket: bucketOf(stored),
      consumption: Consumption.fromPartial({}),
      stats: { requests: 0, requested: 0, granted: 0, trickled: 0 },
    });
  }

  /** AddResourceGroup: validates and stores (PD overwrites a group of the same name). */
  add(meta: ResourceGroup | undefined): void {
    if (!meta || meta.name.length === 0 || Buffer.byteLength(meta.name) > MAX_NAME_LENGTH)
      throw invalid("the group name");
    if (meta.priority > MAX_PRIORITY) throw invalid("the group priority");
    const ks = keyspaceOf(meta.keyspaceId);
    this.put(this.groupsOf(ks), meta, ks);
  }

  /** ModifyResourceGroup: same mode only; priority, runaway, background and RU settings are replaced. */
  modify(meta: ResourceGroup | undefined): void {
    if (!meta || meta.name === "") throw invalid("the group name");
    const g = this.groupsOf(keyspaceOf(meta.keyspaceId)).get(meta.name);
    if (!g) throw notExists(meta.name);
    if (meta.mode !== g.meta.mode)
      throw new ResourceManagerError(
        "only support reconfigure in same mode, maybe you should delete and create a new one",
      );
    if (meta.priority > MAX_PRIORITY)
      throw new ResourceManagerError("invalid resource group priority, the value should be in [0,16]");
    const ru = meta.rUSettings?.rU;
    if (g.meta.mode === GroupMode.RUMode && !meta.rUSettings)
      throw new ResourceManagerError("invalid resource group settings, RU mode should set RU settings");
    g.meta = {
      ...g.meta,
      priority: meta.priority,
      runawaySettings: meta.runawaySettings,
      backgroundSettings: meta.backgroundSettings,
      rUSettings: meta.rUSettings,
    };
    if (ru?.settings) g.bucket.reconfigure(Number(ru.settings.fillRate), ru.settings.burstLimit);
    // PD patch: the tokens of a modify request are a delta
    if (ru?.tokens) g.bucket.tokens += ru.tokens;
  }

  /** DeleteResourceGroup: "default" is reserved. */
  delete(name: string, keyspace?: KeyspaceIDValue): void {
    if (name === DEFAULT_RESOURCE_GROUP)
      throw new ResourceManagerError(
        "[PD:resourcemanager:ErrDeleteReservedGroup]cannot delete reserved group",
      );
    const m = this.groupsOf(keyspaceOf(keyspace));
    if (!m.delete(name)) throw notExists(name);
  }

  /** GetResourceGroup (throws PD's "does not exist"). */
  get(name: string, keyspace?: KeyspaceIDValue, withStats = false): ResourceGroup {
    const g = this.groupsOf(keyspaceOf(keyspace)).get(name);
    if (!g) throw notExists(name);
    return this.view(g, withStats);
  }

  /** ListResourceGroups, by name. */
  list(keyspace?: KeyspaceIDValue, withStats = false): ResourceGroup[] {
    return [...this.groupsOf(keyspaceOf(keyspace)).values()]
      .sort((a, b) => (a.meta.name < b.meta.name ? -1 : 1))
      .map((g) => this.view(g, withStats));
  }

  /** What a group's buckets granted so far (undefined: no such group). */
  grantStats(name: string, keyspaceId = NULL_KEYSPACE): GroupGrantStats | undefined {
    const s = this.keyspaces.get(keyspaceId)?.get(name)?.stats;
    return s && { ...s };
  }

  /** The consumption reported for a group so far. */
  consumption(name: string, keyspaceId = NULL_KEYSPACE): Consumption | undefined {
    const c = this.keyspaces.get(keyspaceId)?.get(name)?.consumption;
    return c && { ...c };
  }

  private view(g: Group, withStats: boolean): ResourceGroup {
    const rU = g.meta.mode === GroupMode.RUMode ? { rU: g.bucket.toProto() } : g.meta.rUSettings;
    return { ...g.meta, rUSettings: rU, RUStats: withStats ? { ...g.consumption } : undefined };
  }

  /**
   * One AcquireTokenBuckets message (PD grpc_service.go): unknown groups are skipped, every
   * report adds to its group's consumption, background reports get no grant, RU-mode groups
   * get one grant per RU item.
   */
  acquire(req: TokenBucketsRequest): TokenBucketResponse[] {
    const out: TokenBucketResponse[] = [];
    const now = this.now();
    for (const r of req.requests) out.push(...this.acquireOne(r, req, now));
    return out;
  }

  private acquireOne(r: TokenBucketRequest, req: TokenBucketsRequest, now: number): TokenBucketResponse[] {
    const ks = keyspaceOf(r.keyspaceId);
    const g = this.groupsOf(ks).get(r.resourceGroupName);
    if (!g) return [];
    if (r.consumptionSinceLastRequest) addConsumption(g.consumption, r.consumptionSinceLastRequest);
    if (r.isBackground || g.meta.mode !== GroupMode.RUMode) return [];
    const resp: TokenBucketResponse = {
      resourceGroupName: g.meta.name,
      grantedRUTokens: [],
      grantedResourceTokens: [],
      keyspaceId: { keyspace: { $case: "value", value: ks } },
    };
    const items = r.request?.$case === "ruItems" ? r.request.ruItems.requestRU : [];
    for (const item of items) {
      const grant = g.bucket.request(now, item.value, Number(req.targetRequestPeriodMs), req.clientUniqueId);
      g.stats.requests++;
      g.stats.requested += item.value;
      g.stats.granted += grant.tokens;
      if (grant.trickleTimeMs > 0) g.stats.trickled++;
      resp.grantedRUTokens.push({
        type: item.type,
        grantedTokens: {
          // as PD: a grant names only the burst limit (the client derives its rate)
          settings: { fillRate: 0n, burstLimit: grant.burstLimit, maxTokens: 0 },
          tokens: grant.tokens,
        },
        trickleTimeMs: BigInt(grant.trickleTimeMs),
      });
    }
    return [resp];
  }
}
