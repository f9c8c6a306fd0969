// The transaction's background work (secondary commits, cleanup, released locks, pipelined
// resolve and broadcasts) runs between the user's lifecycle hooks (client-go
// SetBackgroundGoroutineLifecycleHooks: Pre before a task starts, Post when it ends), e.g. to
// count a session's work still running or to attach a tracing span.

/** Hooks around each background task of a transaction. Exceptions they throw are ignored. */
export interface LifecycleHooks {
  /** Called synchronously before a background task starts. */
  before?: () => void;
  /** Called once the task has ended (however it ended). */
  after?: () => void;
}

function call(hook: (() => void) | undefined): void {
  try {
    hook?.();
  } catch {
    // a user hook must not break the transaction's background work
  }
}

/** Starts `task` between `hooks`; resolves or rejects as it does. */
export function backgroundTask<T>(hooks: LifecycleHooks | undefined, task: () => Promise<T>): Promise<T> {
  if (hooks === undefined) {
    // no hooks (the common case): the task itself, without a finally step
    try {
      return task();
    } catch (e) {
      return Promise.reject(e);
    }
  }
  call(hooks.before);
  let p: Promise<T>;
  try {
    p = task();
  } catch (e) {
    p = Promise.reject(e);
  }
  return p.finally(() => call(hooks.after));
}
