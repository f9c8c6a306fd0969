import { describe, expect, it } from "vitest";
import { Crc64Xz, crc64Xz } from "../../../../src/cluster/engine/raw/crc64.js";

describe("CRC-64/XZ", () => {
  it("matches the catalogue check value for '123456789'", () => {
    // CRC-64/XZ check value from the CRC catalogue (also Go's crc64 ECMA table).
    expect(crc64Xz(Buffer.from("123456789"))).toBe(0x995dc9bbdf1939fan);
  });

  it("is 0 for empty input", () => {
    expect(crc64Xz()).toBe(0n);
    expect(crc64Xz(Buffer.alloc(0))).toBe(0n);
  });

  it("is incremental: chunks equal the concatenation", () => {
    const whole = crc64Xz(Buffer.from("hello world"));
    expect(new Crc64Xz().update(Buffer.from("hello ")).update(Buffer.from("world")).sum64()).toBe(whole);
    expect(crc64Xz(Buffer.from("hel"), Buffer.from("lo world"))).toBe(whole);
  });

  it("distinguishes single-bit changes and covers high bytes", () => {
    const a = crc64Xz(Buffer.from([0x00, 0xff, 0x80]));
    const c = crc64Xz(Buffer.from([0x01, 0xff, 0x80]));
    expect(a).not.toBe(c);
    expect(a >= 0n && a < 1n << 64n).toBe(true);
  });

  it("matches a bit-by-bit reference implementation on random data", () => {
    const poly = 0xc96c5795d7870f42n;
    const mask = (1n << 64n) - 1n;
    const reference = (data: Uint8Array): bigint => {
      let crc = mask;
      for (const byte of data) {
        crc ^= BigInt(byte);
        for (let i = 0; i < 8; i++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
      }
      return crc ^ mask;
    };
    let seed = 12345;
    for (let n = 0; n < 20; n++) {
      const data = new Uint8Array(n * 7);
      for (let i = 0; i < data.length; i++) {
        seed = (seed * 1103515245 + 12345) >>> 0;
        data[i] = seed >>> 24;
      }
      expect(crc64Xz(data)).toBe(reference(data));
    }
  });
});
