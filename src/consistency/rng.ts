// Seeded randomness for the consistency suite: every choice of a run (operations, keys, values,
// the nemesis schedule) comes from streams derived from one seed, so a seed reproduces what a run
// asks for (the interleaving still depends on timing). sfc32 seeded by a string hash: small, fast,
// and good enough for test generation (not for cryptography).

import type { Rng } from "./types.js";

/** The seed a run was given, as a number or a string. */
export type Seed = number | string;

// cyrb128: a 128-bit string hash, used only to spread a seed into sfc32's four words.
function hash128(s: string): [number, number, number, number] {
  let h1 = 1779033703;
  let h2 = 3144134277;
  let h3 = 1013904242;
  let h4 = 2773480762;
  for (let i = 0; i < s.length; i++) {
    const k = s.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

class Sfc32 implements Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    [this.a, this.b, this.c, this.d] = hash128(seed);
    for (let i = 0; i < 15; i++) this.next(); // warm up: early outputs correlate with the seed
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  int(n: number): number {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`rng.int needs a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError("rng.pick of an empty list");
    return xs[this.int(xs.length)] as T;
  }
}

/**
 * A seeded random source. `stream` names an independent stream of the same seed (e.g. one per
 * process, one for the nemesis), so that adding draws to one stream does not shift the others.
 *
 * @example
 * ```ts
 * const ops = createRng(42, "process-3");
 * const nemesis = createRng(42, "nemesis");
 * ops.pick(["read", "write"]);
 * ```
 */
export function createRng(seed: Seed, stream = ""): Rng {
  return new Sfc32(`${typeof seed}:${String(seed)}/${stream}`);
}

/** A uniform integer in [lo, hi] (inclusive). */
export function between(rng: Rng, lo: number, hi: number): number {
  return lo + rng.int(hi - lo + 1);
}
