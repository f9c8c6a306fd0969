// Waiting in tests: sleep, and polling a condition until it holds or a time passed.

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every `stepMs` until it holds or `withinMs` passed; returns whether it held. */
export async function eventually(
  cond: () => boolean | Promise<boolean>,
  withinMs = 10_000,
  stepMs = 10,
): Promise<boolean> {
  const until = Date.now() + withinMs;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= until) return false;
    await sleep(stepMs);
  }
}

/** Retries the assertion `check` every 10 ms until it passes; after `withinMs` its failure is thrown. */
export async function eventuallyPasses(check: () => void, withinMs = 3_000): Promise<void> {
  const until = Date.now() + withinMs;
  for (;;) {
    try {
      check();
      return;
    } catch (e) {
      if (Date.now() > until) throw e;
      await sleep(10);
    }
  }
}
