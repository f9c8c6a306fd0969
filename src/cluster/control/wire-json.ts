/**
 * JSON encoding for the control channel that keeps the types a cluster API takes and returns:
 * Buffers/Uint8Arrays, bigints (timestamps exceed 2^53), and errors.
 */

type Tagged =
  | { $bytes: string }
  | { $bigint: string }
  | { $error: { name: string; message: string; code?: string } };

/** Encodes a value to JSON text, tagging bytes and bigints so they survive the trip. */
export function encodeControlJson(value: unknown): string {
  return JSON.stringify(value, function replacer(this: Record<string, unknown>, key: string, v: unknown) {
    // JSON.stringify has already called Buffer#toJSON by the time the replacer sees `v`,
    // so look at the raw holder value instead.
    const raw = this[key];
    if (raw instanceof Uint8Array) return { $bytes: Buffer.from(raw).toString("base64") } satisfies Tagged;
    if (typeof raw === "bigint") return { $bigint: raw.toString() } satisfies Tagged;
    if (raw instanceof Error) {
      const code = (raw as Error & { code?: unknown }).code;
      return {
        $error: { name: raw.name, message: raw.message, ...(typeof code === "string" ? { code } : {}) },
      } satisfies Tagged;
    }
    return v;
  });
}

/** Decodes text written by {@link encodeControlJson}. Tagged errors become {@link RemoteControlError}. */
export function decodeControlJson(text: string): unknown {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (typeof o.$bytes === "string") return Buffer.from(o.$bytes, "base64");
      if (typeof o.$bigint === "string") return BigInt(o.$bigint);
      if (o.$error && typeof o.$error === "object") {
        const e = o.$error as { name: string; message: string; code?: string };
        return new RemoteControlError(e.name, e.message, e.code);
      }
    }
    return v;
  });
}

/** An error thrown by the cluster in the other process, re-raised here with its name and code. */
export class RemoteControlError extends Error {
  constructor(
    readonly remoteName: string,
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "RemoteControlError";
  }
}
