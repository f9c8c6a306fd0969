// PacedDelivery: the replies of a large message go out a slice per event-loop turn, in arrival
// order; small messages at once; a throwing reply does not strand the ones after it.
import { describe, expect, it } from "vitest";
import { PacedDelivery, REPLIES_PER_TURN } from "../../../src/rpc/paced-delivery.js";

const turn = () => new Promise<void>((r) => setImmediate(r));

function run(tag: string, count: number, out: string[]) {
  return { count, deliver: (i: number) => void out.push(`${tag}${i}`) };
}

describe("PacedDelivery", () => {
  it("delivers a message of at most one slice at once", () => {
    const out: string[] = [];
    const p = new PacedDelivery(4);
    p.push(run("a", 3, out));
    expect(out).toEqual(["a0", "a1", "a2"]);
    expect(p.backlog).toBe(0);
  });

  it("delivers a large message a slice per turn", async () => {
    const out: string[] = [];
    const p = new PacedDelivery(4);
    p.push(run("a", 10, out));
    expect(out).toEqual(["a0", "a1", "a2", "a3"]);
    expect(p.backlog).toBe(6);
    await turn();
    expect(out).toHaveLength(8);
    await turn();
    expect(out).toHaveLength(10);
    expect(out.at(-1)).toBe("a9");
    expect(p.backlog).toBe(0);
  });

  it("keeps arrival order: a message arriving while another is paced waits behind it", async () => {
    const out: string[] = [];
    const p = new PacedDelivery(4);
    p.push(run("a", 6, out));
    p.push(run("b", 2, out));
    // b does not jump the queue, even though it is small
    expect(out).toEqual(["a0", "a1", "a2", "a3"]);
    await turn();
    expect(out).toEqual(["a0", "a1", "a2", "a3", "a4", "a5", "b0", "b1"]);
  });

  it("a reply that throws is reported; the replies after it are still delivered", () => {
    const out: string[] = [];
    const errors: unknown[] = [];
    const p = new PacedDelivery(8, (e) => errors.push(e));
    p.push({
      count: 3,
      deliver: (i) => {
        if (i === 1) throw new Error("caller bug");
        out.push(`x${i}`);
      },
    });
    expect(out).toEqual(["x0", "x2"]);
    expect(errors).toHaveLength(1);
  });

  it("an empty message is nothing; the default slice is REPLIES_PER_TURN", () => {
    const out: string[] = [];
    const p = new PacedDelivery();
    p.push(run("e", 0, out));
    p.push(run("a", REPLIES_PER_TURN + 1, out));
    expect(out).toHaveLength(REPLIES_PER_TURN);
    expect(p.backlog).toBe(1);
  });
});
