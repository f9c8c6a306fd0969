// The nemesis registry and scheduler: one fault at a time, chosen, timed and parameterised by the
// nemesis stream of the run's seed; every start and stop recorded in the history (process -1).

import { describeError } from "../classify.js";
import type { HistoryRecorder } from "../history.js";
import { NEMESIS_PROCESS } from "../history.js";
import { between } from "../rng.js";
import type { OpValue } from "../types.js";
import { clientCrashNemesis } from "./client-crash.js";
import {
  dropReplyErrorNemesis,
  dropReplyNemesis,
  pdLeaderNemesis,
  pdUnavailableNemesis,
  rpcDelayNemesis,
  rpcErrorNemesis,
  storePauseNemesis,
  storeRestartNemesis,
} from "./faults.js";
import { leaderNemesis, mergeNemesis, peerNemesis, splitNemesis } from "./topology.js";
import type { Nemesis, NemesisContext } from "./types.js";

export { healCluster } from "./faults.js";
export type { ActiveFault, CrashPoint, Nemesis, NemesisContext } from "./types.js";

/** Every nemesis by name. */
export const NEMESES: Readonly<Record<string, Nemesis>> = Object.fromEntries(
  [
    splitNemesis,
    mergeNemesis,
    leaderNemesis,
    peerNemesis,
    storeRestartNemesis,
    storePauseNemesis,
    dropReplyNemesis,
    dropReplyErrorNemesis,
    rpcErrorNemesis,
    rpcDelayNemesis,
    pdLeaderNemesis,
    pdUnavailableNemesis,
    clientCrashNemesis,
  ].map((n) => [n.name, n]),
);

/** Thrown for an unknown nemesis name. */
export class UnknownNemesisError extends Error {
  readonly code = "UNKNOWN_NEMESIS";
  constructor(name: string) {
    super(`unknown nemesis ${JSON.stringify(name)}; known: ${Object.keys(NEMESES).join(", ")}, all, none`);
    this.name = "UnknownNemesisError";
  }
}

/**
 * Resolves a nemesis list ("all", "none", or names) to nemeses; against a real cluster the
 * embedded-only ones are left out of "all" and refused by name.
 */
export function resolveNemeses(spec: string | readonly string[], embedded: boolean): Nemesis[] {
  const names =
    typeof spec === "string"
      ? spec
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : [...spec];
  if (names.length === 0 || (names.length === 1 && names[0] === "none")) return [];
  if (names.length === 1 && names[0] === "all") {
    return Object.values(NEMESES).filter((n) => embedded || !n.embeddedOnly);
  }
  return names.map((name) => {
    const n = NEMESES[name];
    if (!n) throw new UnknownNemesisError(name);
    if (n.embeddedOnly && !embedded) {
      throw new UnknownNemesisError(`${name} (needs the embedded cluster; not available with --pd)`);
    }
    return n;
  });
}

/** Timing of the schedule, in ms. */
export interface ScheduleTiming {
  /** Quiet time between faults [min, max]. */
  gapMs: [number, number];
  /** How long a fault holds [min, max]. */
  holdMs: [number, number];
}

/** A running schedule; `stop()` heals the active fault and resolves when the loop has ended. */
export interface Schedule {
  stop(): Promise<void>;
  /** Faults started so far. */
  readonly started: number;
}

/**
 * Runs faults one at a time until stopped: wait a gap, start a random nemesis, hold, stop it.
 * A fault that cannot be applied now (e.g. a merge of regions on different stores) is recorded
 * with its error and skipped.
 */
export function runSchedule(
  nemeses: readonly Nemesis[],
  ctx: NemesisContext,
  history: HistoryRecorder,
  timing: ScheduleTiming,
): Schedule {
  let stopping = false;
  let wake: (() => void) | undefined;
  let started = 0;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wake = undefined;
        resolve();
      }
      wake = done;
    });
  const loop = (async () => {
    if (nemeses.length === 0) return;
    while (!stopping) {
      await sleep(between(ctx.rng, timing.gapMs[0], timing.gapMs[1]));
      if (stopping) break;
      const n = ctx.rng.pick(nemeses);
      const hold = between(ctx.rng, timing.holdMs[0], timing.holdMs[1]);
      history.invoke(NEMESIS_PROCESS, "nemesis", { action: "start", fault: n.name });
      let active: Awaited<ReturnType<Nemesis["start"]>> | undefined;
      try {
        active = await n.start(ctx);
        started++;
        history.complete(NEMESIS_PROCESS, "info", { action: "start", fault: n.name, detail: active.value });
        history.activeNemesis = n.name;
      } catch (e) {
        history.complete(
          NEMESIS_PROCESS,
          "info",
          { action: "start", fault: n.name, skipped: true },
          describeError(e),
        );
        continue;
      }
      await sleep(hold);
      history.invoke(NEMESIS_PROCESS, "nemesis", { action: "stop", fault: n.name });
      let detail: OpValue = null;
      let error: string | undefined;
      try {
        detail = await active.stop();
      } catch (e) {
        error = describeError(e);
      }
      history.activeNemesis = undefined;
      history.complete(NEMESIS_PROCESS, "info", { action: "stop", fault: n.name, detail }, error);
    }
  })();
  return {
    get started() {
      return started;
    },
    async stop() {
      stopping = true;
      wake?.();
      await loop;
    },
  };
}
