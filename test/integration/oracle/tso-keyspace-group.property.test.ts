// Model-based property of the keyspace-group TSO path: whatever happens to the TSO servers
// (a primary stops or restarts, the primary moves, the keyspace moves between groups), a
// keyspace client's timestamps keep strictly increasing and every request is answered while
// some member of its group is up. The model is just "which servers are up".

import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EmbeddedCluster } from "../../../src/cluster/embedded-cluster.js";
import type { TsoServers } from "../../../src/cluster/pd/tso-service/tso-servers.js";
import { TikvClient } from "../../../src/index.js";
import { isRealCluster } from "../../support/cluster.js";

type Op =
  | { kind: "stop"; server: number }
  | { kind: "start"; server: number }
  | { kind: "primary"; group: number; server: number }
  | { kind: "move"; group: number }
  | { kind: "batch"; n: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("stop" as const), server: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ kind: fc.constant("start" as const), server: fc.integer({ min: 0, max: 1 }) }),
  fc.record({
    kind: fc.constant("primary" as const),
    group: fc.integer({ min: 0, max: 1 }),
    server: fc.integer({ min: 0, max: 1 }),
  }),
  fc.record({ kind: fc.constant("move" as const), group: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ kind: fc.constant("batch" as const), n: fc.integer({ min: 1, max: 8 }) }),
);

describe.skipIf(isRealCluster)("keyspace-group TSO under server changes (property)", () => {
  let cluster: EmbeddedCluster;
  let tso: TsoServers;
  let client: TikvClient;

  beforeAll(async () => {
    cluster = await EmbeddedCluster.start({
      stores: 1,
      apiVersion: "v2",
      resolvedTsIntervalMs: 0,
      tsoMicroservice: { servers: 2, keyspaceGroups: [{ id: 1, keyspaces: [1], primary: 1 }] },
    });
    cluster.pd.createKeyspace({ name: "ks1", id: 1 });
    tso = cluster.pd.tsoServers as TsoServers;
    client = await TikvClient.connect({
      pdEndpoints: cluster.pdEndpoints,
      apiVersion: "v2",
      keyspace: "ks1",
    });
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
  });

  it("timestamps strictly increase and are always answered while a group member is up", async () => {
    let last = await client.oracle.getTimestamp();
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 10 }), async (ops) => {
        const up = [!tso.groups.isDown(0), !tso.groups.isDown(1)];
        for (const op of ops) {
          if (op.kind === "stop") {
            // keep one server up: with none, requests wait (tested in the example file)
            if (!up[1 - op.server]) continue;
            await tso.stopServer(op.server);
            up[op.server] = false;
          } else if (op.kind === "start") {
            await tso.startServer(op.server);
            up[op.server] = true;
          } else if (op.kind === "primary") {
            if (up[op.server]) tso.groups.setPrimary(op.group, op.server);
          } else if (op.kind === "move") {
            tso.groups.assign(1, op.group);
          } else {
            const got = await Promise.all(
              Array.from({ length: op.n }, () => client.oracle.getTimestamp({ timeoutMs: 3_000 })),
            );
            for (const t of got) {
              expect(t).toBeGreaterThan(last);
              last = t;
            }
          }
        }
        const t = await client.oracle.getTimestamp({ timeoutMs: 3_000 });
        expect(t).toBeGreaterThan(last);
        last = t;
      }),
      { numRuns: 40 },
    );
  });
});
