// Statechart of the PD client: find the leader among the endpoints (GetMembers, cluster id
// check), keep a TSO stream to it, follow leader changes, back off between failed rounds.
// Pure: discovery and the TSO stream are injected actors. Follows pd client
// servicediscovery/service_discovery.go (initClusterID, updateMember, leader switch) and
// clients/tso/dispatcher.go (reconnect on stream loss).

import { assign, emit, enqueueActions, fromCallback, fromPromise, setup } from "xstate";

/** What one discovery round learned. */
export interface PdMembership {
  clusterId: bigint;
  /** gRPC target of the leader ("host:port"). */
  leader: string;
  /** Client URLs of all members, used for the next rounds. */
  endpoints: string[];
}

/** Input of the injected `discover` actor. */
export interface PdDiscoverInput {
  endpoints: string[];
  /** 0n until the first successful round; later rounds must see the same id. */
  clusterId: bigint;
}

/** Input of the injected `tsoStream` actor. */
export interface PdTsoStreamInput {
  leader: string;
  clusterId: bigint;
}

/** Backoff between failed rounds: min(cap, base * 2^(attempt-1)), equal jitter when random is set. */
export interface PdBackoff {
  baseMs: number;
  capMs: number;
  random?: () => number;
}

/** Events of the PD machine. */
export type PdEvent =
  | { type: "LEADER_LOST"; error: Error; leader?: string }
  | { type: "TSO_LOST"; error: Error }
  | { type: "TSO_OK" }
  | { type: "CHECK_MEMBERS" }
  | { type: "STOP" };

/** Emitted for the actor layer / public hooks. */
export type PdEmitted =
  | { type: "leaderChanged"; leader: string; clusterId: bigint }
  | { type: "discoveryFailed"; error: Error; attempt: number };

/** Input of the PD machine. */
export interface PdInput {
  endpoints: string[];
  backoff?: Partial<PdBackoff>;
  /** Period of the background member check (pd client MemberUpdateInterval, 1 min). */
  memberCheckIntervalMs?: number;
}

/** Context of the PD machine. */
export interface PdContext {
  endpoints: string[];
  clusterId: bigint;
  leader: string | undefined;
  /** Failed rounds since the last success (drives the backoff). */
  attempts: number;
  lastError: Error | undefined;
  backoff: PdBackoff;
  memberCheckIntervalMs: number;
}

/** Delay before the next discovery round after `attempt` failures. */
export function pdBackoffDelay(b: PdBackoff, attempt: number): number {
  const v = Math.min(b.capMs, b.baseMs * 2 ** Math.max(0, attempt - 1));
  if (!b.random) return v;
  const half = Math.floor(v / 2);
  return half + Math.floor(b.random() * (v - half));
}

/** The PD statechart. */
export const pdMachine = setup({
  types: {
    context: {} as PdContext,
    events: {} as PdEvent,
    input: {} as PdInput,
    emitted: {} as PdEmitted,
  },
  actors: {
    discover: fromPromise<PdMembership, PdDiscoverInput>(async () => {
      throw new Error("pd machine: no discover actor provided");
    }),
    tsoStream: fromCallback<PdEvent, PdTsoStreamInput>(() => () => {}),
  },
  delays: {
    backoff: ({ context }) => pdBackoffDelay(context.backoff, context.attempts),
    memberCheck: ({ context }) => context.memberCheckIntervalMs,
  },
  guards: {
    leaderMoved: ({ context, event }) =>
      (event as { output?: PdMembership }).output?.leader !== context.leader,
    firstTsoLoss: ({ context }) => context.attempts === 0,
    // a stale report about a leader we already left is ignored
    lossOfCurrentLeader: ({ context, event }) => {
      const e = event as Extract<PdEvent, { type: "LEADER_LOST" }>;
      return e.leader === undefined || e.leader === context.leader;
    },
  },
}).createMachine({
  id: "pd",
  context: ({ input }) => ({
    endpoints: input.endpoints,
    clusterId: 0n,
    leader: undefined,
    attempts: 0,
    lastError: undefined,
    backoff: { baseMs: 100, capMs: 3000, random: Math.random, ...input.backoff },
    memberCheckIntervalMs: input.memberCheckIntervalMs ?? 60_000,
  }),
  initial: "discovering",
  on: { STOP: ".stopped" },
  states: {
    discovering: {
      invoke: {
        src: "discover",
        input: ({ context }) => ({ endpoints: context.endpoints, clusterId: context.clusterId }),
        onDone: {
          target: "connected",
          actions: [
            // emitted only when the leader really moved (before the assign below overwrites it)
            enqueueActions(({ context, event, enqueue }) => {
              if (event.output.leader !== context.leader) {
                enqueue.emit({
                  type: "leaderChanged",
                  leader: event.output.leader,
                  clusterId: event.output.clusterId,
                });
              }
            }),
            assign({
              clusterId: ({ event }) => event.output.clusterId,
              leader: ({ event }) => event.output.leader,
              endpoints: ({ context, event }) =>
                event.output.endpoints.length ? event.output.endpoints : context.endpoints,
              lastError: undefined,
            }),
          ],
        },
        onError: {
          target: "backoff",
          actions: [
            assign({
              attempts: ({ context }) => context.attempts + 1,
              lastError: ({ event }) => event.error as Error,
            }),
            emit(({ context, event }) => ({
              type: "discoveryFailed" as const,
              error: event.error as Error,
              attempt: context.attempts,
            })),
          ],
        },
      },
    },
    backoff: {
      after: { backoff: "discovering" },
    },
    connected: {
      invoke: {
        src: "tsoStream",
        input: ({ context }) => ({ leader: context.leader as string, clusterId: context.clusterId }),
      },
      initial: "idle",
      states: {
        idle: {
          after: { memberCheck: "checking" },
          on: { CHECK_MEMBERS: "checking" },
        },
        // Background member refresh; the TSO stream keeps running unless the leader moved.
        checking: {
          invoke: {
            src: "discover",
            input: ({ context }) => ({ endpoints: context.endpoints, clusterId: context.clusterId }),
            onDone: [
              { guard: "leaderMoved", target: "#pd.discovering" },
              {
                target: "idle",
                actions: assign({
                  endpoints: ({ context, event }) =>
                    event.output.endpoints.length ? event.output.endpoints : context.endpoints,
                }),
              },
            ],
            onError: "idle",
          },
        },
      },
      on: {
        // A stream that works again proves the leader; reset the failure count.
        TSO_OK: { actions: assign({ attempts: 0 }) },
        // Re-discover right away the first time; repeated failures go through the backoff.
        TSO_LOST: [
          {
            guard: "firstTsoLoss",
            target: "discovering",
            actions: assign({ attempts: 1, lastError: ({ event }) => event.error }),
          },
          {
            target: "backoff",
            actions: assign({
              attempts: ({ context }) => context.attempts + 1,
              lastError: ({ event }) => event.error,
            }),
          },
        ],
        LEADER_LOST: {
          guard: "lossOfCurrentLeader",
          target: "discovering",
          actions: assign({ lastError: ({ event }) => event.error }),
        },
      },
    },
    stopped: {
      on: { STOP: {} },
    },
  },
});

/** The PD machine's type. */
export type PdMachine = typeof pdMachine;
