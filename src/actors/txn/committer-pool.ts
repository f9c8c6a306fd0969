// Idle committer actors, reused commit after commit: creating and starting an XState actor costs
// more CPU and garbage than all the transitions of a commit, and a busy client commits thousands
// of times a second. An actor rests in an end state (or idle) between commits and is lent out by
// `take`, started on its next session by BEGIN. Observed commits (an inspect callback) get a
// fresh actor of their own instead (made by the caller), so their inspection stream starts with
// their commit; `give` stops those.

import type { Actor, AnyStateMachine } from "xstate";
import { createActor } from "xstate";

/** Most idle actors kept (a burst beyond this makes garbage, not a leak). */
export const COMMITTER_POOL_CAP = 1024;

/** A pool of started actors of one machine. */
export class ActorPool<M extends AnyStateMachine> {
  private readonly idle: Actor<M>[] = [];

  constructor(
    private readonly machine: M,
    private readonly cap = COMMITTER_POOL_CAP,
  ) {}

  /** A started actor, idle or resting in an end state: from the pool, or made now. */
  take(): Actor<M> {
    const idle = this.idle.pop();
    if (idle !== undefined) return idle;
    // The cast: createActor's options type is conditional on the machine's required inputs,
    // which a generic M cannot satisfy; pooled machines take an optional input.
    const a = createActor(this.machine as AnyStateMachine);
    a.start();
    return a as Actor<M>;
  }

  /**
   * Takes back an actor whose commit ended. Call it after the step that ended it (from a
   * microtask); an actor that failed or stopped, or one that was observed, is stopped instead.
   */
  give(a: Actor<M>, observed: boolean): void {
    if (
      observed ||
      (a.getSnapshot() as { status: string }).status !== "active" ||
      this.idle.length >= this.cap
    ) {
      a.stop();
      return;
    }
    this.idle.push(a);
  }

  /** Idle actors held (for tests). */
  get size(): number {
    return this.idle.length;
  }
}
