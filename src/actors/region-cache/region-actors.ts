// Region actors: one per region in trouble, root actors in a Map (never children of one
// parent), created on demand and removed when their machine stops after an idle period.

import { type Actor, createActor, fromPromise, type InspectionEvent } from "xstate";
import { type RegionMachineInput, regionMachine } from "../../machines/region.js";
import type { Backoffer } from "../backoff/backoffer.js";
import type { CachedRegion } from "./cached-region.js";
import type { RegionCache } from "./region-cache.js";

/** Options of {@link RegionActors}. */
export interface RegionActorsOptions {
  /** Idle time before a region actor stops (default 10 s). */
  idleMs?: number;
  /** XState inspection callback (the live view); no callback is attached when unset. */
  inspect?: (ev: InspectionEvent) => void;
}

interface LoadInput {
  key: Buffer;
}

/** The live region actors of one client. */
export class RegionActors {
  private readonly actors = new Map<bigint, Actor<typeof regionMachine>>();
  private readonly machine;
  private bo: Backoffer | undefined;

  constructor(
    private readonly cache: RegionCache,
    private readonly opts: RegionActorsOptions = {},
  ) {
    // the load uses the backoffer of the request that triggered it
    this.machine = regionMachine.provide({
      actors: {
        load: fromPromise<CachedRegion, LoadInput>(({ input }) => this.cache.locateKey(input.key, this.bo)),
      },
    });
  }

  /** Number of live region actors. */
  get size(): number {
    return this.actors.size;
  }

  /** True when region `id` has a live actor. */
  has(id: bigint): boolean {
    return this.actors.has(id);
  }

  /**
   * The region now holding `key`, after region `troubledId` turned out stale. Concurrent
   * callers for the same troubled region share its actor's PD lookup.
   */
  relocate(troubledId: bigint, key: Buffer, bo?: Backoffer): Promise<CachedRegion> {
    return new Promise<CachedRegion | undefined>((resolve, reject) => {
      const reply = (err: Error | null, region?: CachedRegion) => (err ? reject(err) : resolve(region));
      let actor = this.actors.get(troubledId);
      if (!actor) {
        this.bo = bo;
        const input: RegionMachineInput = { regionId: troubledId, key, idleMs: this.opts.idleMs };
        const created = createActor(this.machine, { input, inspect: this.opts.inspect });
        actor = created;
        this.actors.set(troubledId, created);
        created.subscribe({
          complete: () => {
            if (this.actors.get(troubledId) === created) this.actors.delete(troubledId);
          },
          error: () => {
            if (this.actors.get(troubledId) === created) this.actors.delete(troubledId);
          },
        });
        created.start();
        created.send({ type: "WAIT", key, reply });
        return;
      }
      this.bo = bo;
      actor.send({ type: "WAIT", key, reply });
    }).then((region) => region ?? this.cache.locateKey(key, bo));
  }

  /** Stops every region actor (pending waiters fail). */
  stopAll(): void {
    for (const a of this.actors.values()) a.send({ type: "STOP" });
    this.actors.clear();
  }
}
