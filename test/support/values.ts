// Keys and values as tests write and compare them.

/** A string as bytes. */
export const b = (s: string): Buffer => Buffer.from(s);

/** Values as strings (undefined stays undefined). */
export const str = (vs: ReadonlyArray<Buffer | undefined>): Array<string | undefined> =>
  vs.map((v) => v?.toString());
