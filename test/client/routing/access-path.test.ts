// Replica selection access paths: client-go internal/locate/replica_selector_test.go tables
// (testReplicaReadAccessPathByCase, ...Case2, ...BasicCase) ported as data and replayed
// through RequestSender.sendToRegion with a scripted store and fake timers.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RegionCache } from "../../../src/actors/region-cache/index.js";
import type { ReplicaReadType } from "../../../src/actors/region-cache/replica-selector.js";
import { RequestSender } from "../../../src/actors/request/index.js";
import { RegionError, RegionFlashbackNotPreparedError } from "../../../src/errors/index.js";
import type { Error as RegionErrorProto } from "../../../src/proto/errorpb.js";
import { PeerRole } from "../../../src/proto/metapb.js";
import { FakePd, key, type RegionErrorInit, ScriptedStores, type StoreAnswer } from "./fakes.js";

/** client-go's RegionErrorType names. */
type ErrT =
  | "NotLeaderErr"
  | "NotLeaderWithNewLeader1Err"
  | "NotLeaderWithNewLeader2Err"
  | "NotLeaderWithNewLeader3Err"
  | "RegionNotFoundErr"
  | "KeyNotInRegionErr"
  | "EpochNotMatchErr"
  | "ServerIsBusyErr"
  | "ServerIsBusyWithEstimatedWaitMsErr"
  | "StaleCommandErr"
  | "StoreNotMatchErr"
  | "RaftEntryTooLargeErr"
  | "MaxTimestampNotSyncedErr"
  | "ReadIndexNotReadyErr"
  | "ProposalInMergingModeErr"
  | "DataIsNotReadyErr"
  | "RegionNotInitializedErr"
  | "DiskFullErr"
  | "RecoveryInProgressErr"
  | "FlashbackInProgressErr"
  | "FlashbackNotPreparedErr"
  | "IsWitnessErr"
  | "MismatchPeerIdErr"
  | "BucketVersionNotMatchErr"
  | "DeadLineExceededErr";

function regionErrorOf(t: ErrT): RegionErrorInit | undefined {
  switch (t) {
    case "NotLeaderErr":
      return { notLeader: { regionId: 1n, leader: undefined } };
    case "RegionNotFoundErr":
      return { regionNotFound: { regionId: 0n } };
    case "KeyNotInRegionErr":
      return {
        keyNotInRegion: {
          key: Buffer.alloc(0),
          regionId: 0n,
          startKey: Buffer.alloc(0),
          endKey: Buffer.alloc(0),
        },
      };
    case "EpochNotMatchErr":
      return { epochNotMatch: { currentRegions: [] } };
    case "ServerIsBusyErr":
      return { serverIsBusy: { reason: "", backoffMs: 0n, estimatedWaitMs: 0, appliedIndex: 0n } };
    case "ServerIsBusyWithEstimatedWaitMsErr":
      return { serverIsBusy: { reason: "", backoffMs: 0n, estimatedWaitMs: 10, appliedIndex: 0n } };
    case "StaleCommandErr":
      return { staleCommand: {} };
    case "StoreNotMatchErr":
      return { storeNotMatch: { requestStoreId: 0n, actualStoreId: 0n } };
    case "RaftEntryTooLargeErr":
      return { raftEntryTooLarge: { regionId: 0n, entrySize: 0n } };
    case "MaxTimestampNotSyncedErr":
      return { maxTimestampNotSynced: {} };
    case "ReadIndexNotReadyErr":
      return { readIndexNotReady: { reason: "", regionId: 0n } };
    case "ProposalInMergingModeErr":
      return { proposalInMergingMode: { regionId: 0n } };
    case "DataIsNotReadyErr":
      return { dataIsNotReady: { regionId: 0n, peerId: 0n, safeTs: 0n } };
    case "RegionNotInitializedErr":
      return { regionNotInitialized: { regionId: 0n } };
    case "DiskFullErr":
      return { diskFull: { storeId: [], reason: "" } };
    case "RecoveryInProgressErr":
      return { RecoveryInProgress: { regionId: 0n } };
    case "FlashbackInProgressErr":
      return { FlashbackInProgress: { regionId: 0n, flashbackStartTs: 0n } };
    case "FlashbackNotPreparedErr":
      return { FlashbackNotPrepared: { regionId: 0n } };
    case "IsWitnessErr":
      return { isWitness: { regionId: 0n } };
    case "MismatchPeerIdErr":
      return { mismatchPeerId: { requestPeerId: 0n, storePeerId: 0n } };
    case "BucketVersionNotMatchErr":
      return { bucketVersionNotMatch: { version: 0n, keys: [] } };
    default:
      return undefined;
  }
}

function answerOf(t: ErrT, leaderPeer: (store: bigint) => { id: bigint; storeId: bigint }): StoreAnswer {
  if (t === "DeadLineExceededErr") return { error: "timeout" };
  const m = /^NotLeaderWithNewLeader(\d)Err$/.exec(t);
  if (m) {
    const p = leaderPeer(BigInt(m[1] as string));
    return { regionError: { notLeader: { regionId: 1n, leader: { ...p, role: 0, isWitness: false } } } };
  }
  return { regionError: regionErrorOf(t) as RegionErrorInit };
}

interface Case {
  name?: string;
  req: "Get" | "Prewrite";
  readType: ReplicaReadType;
  staleRead?: boolean;
  /** client-go's timeout (ms); 0 = ReadTimeoutShort. */
  timeout?: number;
  label?: string;
  /** Store of the region's leader (client-go changeRegionLeader). */
  leader?: number;
  /** TiKV busy threshold (client-go busyThresholdMs). */
  busyThresholdMs?: number;
  /** Stores whose TiKV-side slow score is 100 before the run. */
  slow?: number[];
  /** Add a learner peer on store 4. */
  learner?: boolean;
  accessErr: ErrT[];
  path: string[];
  respErr?: string | RegExp | (new (...a: never[]) => Error);
  /** Kind of the region error returned, "fake" for the pseudo EpochNotMatch. */
  respRegionError?: string;
  backoff: string[];
  regionIsValid: boolean;
}

const p = (store: number, rr: boolean, sr: boolean) =>
  `{addr: store${store}, replica-read: ${rr}, stale-read: ${sr}}`;

interface World {
  cache: RegionCache;
  stores: ScriptedStores;
  sender: RequestSender;
}

function newWorld(leader = 1, learner = false): World {
  const pd = new FakePd();
  for (const id of [1n, 2n, 3n, 4n]) pd.addStore(id, { id: String(id) });
  const info = pd.addRegion(1n, "", "", [1n, 2n, 3n], leader - 1);
  if (learner) info.meta.peers.push({ id: 14n, storeId: 4n, role: PeerRole.Learner, isWitness: false });
  const cache = new RegionCache(pd, { random: () => 0 });
  const stores = new ScriptedStores();
  return { cache, stores, sender: new RequestSender(cache, stores, { random: () => 0 }) };
}

async function runCase(ca: Case, world?: World) {
  const { cache, stores, sender } = world ?? newWorld(ca.leader, ca.learner);
  stores.accesses = [];
  const region = await cache.locateKey(key("key"));
  for (const id of ca.slow ?? []) cache.stores.setSlowScore(BigInt(id), 100);
  const peerOn = (s: bigint) => region.peers.find((x) => x.storeId === s) as { id: bigint; storeId: bigint };
  stores.script = ca.accessErr.map((t) => answerOf(t, peerOn));
  const budget = new (await import("../../../src/actors/backoff/index.js")).Backoffer({ maxSleepMs: 40_000 });
  let settled = false;
  const done = sender
    .sendToRegion(region, ca.req, (ctx) => ({ context: ctx.context, key: key("key") }) as never, {
      replicaRead: ca.readType,
      staleRead: ca.staleRead,
      labels: ca.label ? [{ key: "id", value: ca.label }] : undefined,
      rpcTimeoutMs: ca.timeout || 30_000,
      busyThresholdMs: ca.busyThresholdMs,
      budget,
    })
    .then(
      (resp) => ({ resp: resp as { regionError?: RegionErrorProto }, err: undefined }),
      (err: Error) => ({ resp: undefined, err }),
    )
    .finally(() => {
      settled = true;
    });
  for (let i = 0; i < 200 && !settled; i++) await vi.advanceTimersByTimeAsync(1000);
  const out = await done;
  const detail = Object.entries(budget.backoffTimes())
    .map(([k, v]) => `${k}+${v}`)
    .sort();
  return { out, path: stores.path(), detail, regionIsValid: region.isValid };
}

function kindOf(e: RegionErrorProto | undefined): string | undefined {
  if (!e) return undefined;
  if (e.epochNotMatch && e.epochNotMatch.currentRegions.length === 0) return "fake";
  return Object.entries(e).find(([k, v]) => k !== "message" && v !== undefined)?.[0];
}

async function check(ca: Case, world?: World) {
  const r = await runCase(ca, world);
  expect(r.path).toEqual(ca.path);
  expect(r.detail).toEqual([...ca.backoff].sort());
  expect(r.regionIsValid).toBe(ca.regionIsValid);
  if (ca.respErr) {
    expect(r.out.err).toBeDefined();
    if (typeof ca.respErr === "string") expect(r.out.err?.message).toBe(ca.respErr);
    else if (ca.respErr instanceof RegExp) expect(r.out.err?.message).toMatch(ca.respErr);
    else expect(r.out.err).toBeInstanceOf(ca.respErr);
  } else {
    expect(r.out.err).toBeUndefined();
    expect(kindOf(r.out.resp?.regionError)).toBe(ca.respRegionError);
  }
}

// testReplicaReadAccessPathByCase
const byCase: Case[] = [
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    accessErr: ["DataIsNotReadyErr", "ServerIsBusyErr"],
    path: [p(1, false, true), p(2, true, false), p(3, true, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    label: "2",
    accessErr: ["DataIsNotReadyErr"],
    path: [p(2, false, true), p(1, false, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    label: "2",
    accessErr: ["DataIsNotReadyErr", "ServerIsBusyErr"],
    path: [p(2, false, true), p(1, false, false), p(2, false, true)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    timeout: 1000,
    label: "2",
    accessErr: ["DataIsNotReadyErr", "NotLeaderWithNewLeader2Err"],
    path: [p(2, false, true), p(1, false, false), p(2, false, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    timeout: 1000,
    label: "2",
    accessErr: ["DeadLineExceededErr", "NotLeaderWithNewLeader2Err"],
    path: [p(2, false, true), p(1, false, false), p(3, false, true)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    timeout: 1000,
    accessErr: ["DeadLineExceededErr"],
    path: [p(1, false, false), p(2, true, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    timeout: 1000,
    accessErr: ["NotLeaderWithNewLeader3Err", "DeadLineExceededErr"],
    path: [p(1, false, false), p(3, false, false), p(2, true, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Prewrite",
    readType: "leader",
    timeout: 1000,
    accessErr: ["NotLeaderWithNewLeader3Err", "DeadLineExceededErr"],
    path: [p(1, false, false), p(3, false, false), p(2, false, false)],
    backoff: ["tikvRPC+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    timeout: 1000,
    accessErr: ["NotLeaderErr", "DeadLineExceededErr", "NotLeaderWithNewLeader2Err"],
    path: [p(1, false, false), p(2, false, false), p(3, false, false)],
    respRegionError: "fake",
    backoff: ["regionScheduling+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    timeout: 1000,
    accessErr: ["DeadLineExceededErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(1, false, true), p(2, false, true), p(3, false, true)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    timeout: 1000,
    accessErr: ["ServerIsBusyErr", "ServerIsBusyErr", "DeadLineExceededErr"],
    path: [p(1, false, false), p(2, true, false), p(3, true, false)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    label: "3",
    accessErr: ["ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(3, false, true), p(1, false, false), p(2, false, true)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    label: "2",
    accessErr: ["DataIsNotReadyErr", "ServerIsBusyErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(2, false, true), p(1, false, false), p(2, false, true), p(3, false, true)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: false,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    leader: 2,
    accessErr: ["DataIsNotReadyErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(1, false, true), p(2, false, false), p(3, false, true), p(1, false, true)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    leader: 2,
    accessErr: ["DataIsNotReadyErr", "ServerIsBusyErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(1, false, true), p(2, false, false), p(3, false, true), p(1, false, true)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: false,
  },
  {
    req: "Get",
    readType: "mixed",
    timeout: 1000,
    label: "2",
    accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
    path: [p(2, true, false), p(1, false, false), p(3, true, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    timeout: 1,
    accessErr: ["ServerIsBusyErr", "ServerIsBusyWithEstimatedWaitMsErr"],
    path: [p(1, false, true), p(2, false, true), p(3, false, true)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    leader: 3,
    accessErr: ["ServerIsBusyErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(1, true, false), p(2, true, false), p(3, false, false)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: false,
  },
  {
    req: "Get",
    readType: "preferLeader",
    leader: 3,
    accessErr: ["ServerIsBusyErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(3, false, false), p(1, true, false), p(2, true, false)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: false,
  },
  {
    req: "Get",
    readType: "preferLeader",
    leader: 3,
    label: "2",
    accessErr: ["ServerIsBusyErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(2, true, false), p(3, false, false), p(1, true, false)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: false,
  },
];

// testReplicaReadAccessPathByCase2
const byCase2: Case[] = [
  {
    req: "Get",
    readType: "mixed",
    timeout: 1000,
    label: "2",
    accessErr: ["DeadLineExceededErr", "DiskFullErr", "FlashbackNotPreparedErr"],
    path: [p(2, true, false), p(1, false, false), p(3, true, false)],
    respErr: "region 0 is not prepared for the flashback",
    backoff: ["tikvDiskFull+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    timeout: 1000,
    accessErr: ["NotLeaderErr", "NotLeaderWithNewLeader3Err", "DeadLineExceededErr"],
    path: [p(1, false, false), p(2, false, false), p(3, false, false)],
    respRegionError: "fake",
    backoff: ["regionScheduling+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    timeout: 1000,
    accessErr: ["ServerIsBusyErr", "ServerIsBusyErr", "DeadLineExceededErr"],
    path: [p(1, false, false), p(2, true, false), p(3, true, false)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    label: "3",
    accessErr: ["DataIsNotReadyErr", "NotLeaderErr"],
    path: [p(3, false, true), p(1, false, false), p(3, true, false)],
    backoff: ["regionScheduling+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    timeout: 1000,
    label: "2",
    accessErr: ["FlashbackInProgressErr"],
    path: [p(2, true, false), p(1, false, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    timeout: 1,
    label: "1",
    accessErr: ["DataIsNotReadyErr", "ServerIsBusyErr"],
    path: [p(1, false, true), p(2, true, false), p(3, true, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Prewrite",
    readType: "leader",
    accessErr: [
      "DeadLineExceededErr",
      "NotLeaderErr",
      "NotLeaderWithNewLeader2Err",
      "ServerIsBusyErr",
      "DeadLineExceededErr",
    ],
    path: [
      p(1, false, false),
      p(2, false, false),
      p(3, false, false),
      p(2, false, false),
      p(2, false, false),
    ],
    respRegionError: "fake",
    backoff: ["regionScheduling+1", "tikvRPC+2", "tikvServerBusy+1"],
    regionIsValid: false,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    accessErr: ["DeadLineExceededErr", "RegionNotInitializedErr", "DeadLineExceededErr"],
    path: [p(1, false, true), p(2, true, false), p(3, true, false)],
    respRegionError: "fake",
    backoff: ["regionNotInitialized+1", "tikvRPC+2"],
    regionIsValid: false,
  },
  {
    req: "Get",
    readType: "mixed",
    staleRead: true,
    timeout: 1000,
    label: "2",
    accessErr: ["DeadLineExceededErr", "NotLeaderWithNewLeader2Err"],
    path: [p(2, false, true), p(1, false, false), p(3, false, true)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    timeout: 1000,
    label: "2",
    accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
    path: [p(2, true, false), p(1, false, false), p(3, true, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "mixed",
    timeout: 1000,
    label: "3",
    leader: 2,
    accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
    path: [p(3, true, false), p(2, false, false), p(1, true, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    timeout: 1000,
    accessErr: ["NotLeaderErr", "DeadLineExceededErr", "NotLeaderWithNewLeader2Err"],
    path: [p(1, false, false), p(2, false, false), p(3, false, false)],
    respRegionError: "fake",
    backoff: ["regionScheduling+1"],
    regionIsValid: true,
  },
];

// testReplicaReadAccessPathByBasicCase: generated exactly like client-go's loops
function basicCases(): Case[] {
  const retryable: ErrT[] = [
    "ServerIsBusyErr",
    "ServerIsBusyWithEstimatedWaitMsErr",
    "StaleCommandErr",
    "MaxTimestampNotSyncedErr",
    "ProposalInMergingModeErr",
    "ReadIndexNotReadyErr",
    "RegionNotInitializedErr",
    "DiskFullErr",
  ];
  const noRetry: ErrT[] = [
    "RegionNotFoundErr",
    "KeyNotInRegionErr",
    "EpochNotMatchErr",
    "StoreNotMatchErr",
    "RaftEntryTooLargeErr",
    "RecoveryInProgressErr",
    "FlashbackNotPreparedErr",
    "IsWitnessErr",
    "MismatchPeerIdErr",
    "BucketVersionNotMatchErr",
  ];
  const out: Case[] = [];
  for (const req of ["Get", "Prewrite"] as const) {
    for (const readType of ["leader", "follower", "mixed", "preferLeader"] as const) {
      if (req === "Prewrite" && readType !== "leader") continue;
      for (const staleRead of [false, true]) {
        if (staleRead && readType !== "mixed") continue;
        for (const tp of retryable) {
          let backoff: string[] = [];
          if (tp === "ServerIsBusyErr" || tp === "ServerIsBusyWithEstimatedWaitMsErr") {
            if (readType === "leader") backoff = ["tikvServerBusy+1"];
          } else if (tp === "DiskFullErr") backoff = ["tikvDiskFull+1"];
          else if (tp === "RegionNotInitializedErr") backoff = ["regionNotInitialized+1"];
          else if (tp === "ReadIndexNotReadyErr" || tp === "ProposalInMergingModeErr")
            backoff = ["regionScheduling+1"];
          else if (tp === "MaxTimestampNotSyncedErr") backoff = ["maxTsNotSynced+1"];
          let path = [p(1, false, false), p(2, true, false)];
          if (readType === "leader") path = [p(1, false, false), p(1, false, false)];
          else if (readType === "follower") {
            if (tp === "ServerIsBusyErr") backoff = [];
            path = [p(2, true, false), p(3, true, false)];
          } else if (readType === "mixed") {
            if (tp === "ServerIsBusyErr") backoff = [];
            if (staleRead) {
              path =
                tp === "ServerIsBusyErr" || tp === "ServerIsBusyWithEstimatedWaitMsErr"
                  ? [p(1, false, true), p(2, false, true)]
                  : [p(1, false, true), p(2, true, false)];
            }
          } else if (tp === "ServerIsBusyErr") backoff = [];
          out.push({
            name: `${req} ${readType}${staleRead ? " stale" : ""} ${tp}`,
            req,
            readType,
            staleRead,
            accessErr: [tp],
            path,
            backoff,
            regionIsValid: true,
          });
        }
        for (const tp of noRetry) {
          let backoff: string[] = [];
          let regionIsValid = false;
          let respErr: Case["respErr"];
          let respRegionError: string | undefined = kindOf({
            message: "",
            ...regionErrorOf(tp),
          } as RegionErrorProto);
          let path = [p(1, false, false)];
          if (tp === "RecoveryInProgressErr") backoff = ["regionRecoveryInProgress+1"];
          else if (tp === "IsWitnessErr") backoff = ["isWitness+1"];
          else if (tp === "BucketVersionNotMatchErr") regionIsValid = true;
          else if (tp === "RaftEntryTooLargeErr") {
            respErr = RegionError;
            respRegionError = undefined;
            regionIsValid = true;
          } else if (tp === "FlashbackNotPreparedErr") {
            respErr = RegionFlashbackNotPreparedError;
            respRegionError = undefined;
            regionIsValid = true;
          }
          if (readType === "follower") {
            if (tp === "RegionNotFoundErr") {
              path = [p(2, true, false), p(1, false, false)];
              respRegionError = undefined;
              regionIsValid = false;
            } else path = [p(2, true, false)];
          } else if (readType === "mixed" && staleRead) path = [p(1, false, true)];
          out.push({
            name: `${req} ${readType}${staleRead ? " stale" : ""} ${tp}`,
            req,
            readType,
            staleRead,
            accessErr: [tp],
            path,
            respErr,
            respRegionError,
            backoff,
            regionIsValid,
          });
        }
      }
    }
  }
  return out;
}

// testReplicaReadAccessPathByLeaderCase
const byLeaderCase: Case[] = [
  {
    req: "Get",
    readType: "leader",
    accessErr: [],
    path: [p(1, false, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    accessErr: ["ServerIsBusyWithEstimatedWaitMsErr", "ServerIsBusyErr"],
    path: [p(1, false, false), p(1, false, false), p(1, false, false)],
    backoff: ["tikvServerBusy+2"],
    regionIsValid: true,
  },
  {
    name: "leader busy 11 times: probe followers once (client-go#2028), then stay on the leader",
    req: "Get",
    readType: "leader",
    accessErr: Array(11).fill("ServerIsBusyErr") as ErrT[],
    path: [
      p(1, false, false),
      p(1, false, false),
      p(2, false, false),
      p(3, false, false),
      ...Array(8).fill(p(1, false, false)),
    ],
    backoff: ["tikvServerBusy+11"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    accessErr: ["NotLeaderErr"],
    path: [p(1, false, false), p(2, false, false)],
    backoff: ["regionScheduling+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    accessErr: ["NotLeaderErr", "NotLeaderErr"],
    path: [p(1, false, false), p(2, false, false), p(3, false, false)],
    backoff: ["regionScheduling+2"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    accessErr: ["NotLeaderErr", "NotLeaderErr", "NotLeaderErr"],
    path: [p(1, false, false), p(2, false, false), p(3, false, false)],
    respRegionError: "fake",
    backoff: ["regionScheduling+3"],
    regionIsValid: false,
  },
  {
    req: "Get",
    readType: "leader",
    accessErr: ["NotLeaderWithNewLeader3Err"],
    path: [p(1, false, false), p(3, false, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    accessErr: ["NotLeaderWithNewLeader3Err", "ServerIsBusyErr"],
    path: [p(1, false, false), p(3, false, false), p(3, false, false)],
    backoff: ["tikvServerBusy+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    accessErr: ["DeadLineExceededErr"],
    path: [p(1, false, false), p(2, false, false)],
    backoff: ["tikvRPC+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    accessErr: ["DeadLineExceededErr", "NotLeaderWithNewLeader1Err", "NotLeaderWithNewLeader1Err"],
    path: [p(1, false, false), p(2, false, false), p(3, false, false)],
    respRegionError: "fake",
    backoff: ["tikvRPC+1"],
    regionIsValid: false,
  },
  {
    req: "Get",
    readType: "leader",
    accessErr: ["DeadLineExceededErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(1, false, false), p(2, false, false), p(3, false, false)],
    respRegionError: "fake",
    backoff: ["tikvRPC+1", "tikvServerBusy+1"],
    regionIsValid: false,
  },
  {
    req: "Get",
    readType: "leader",
    busyThresholdMs: 10,
    accessErr: [
      "NotLeaderErr",
      "NotLeaderWithNewLeader3Err",
      "ServerIsBusyWithEstimatedWaitMsErr",
      "NotLeaderErr",
    ],
    path: [p(1, false, false), p(2, false, false), p(3, false, false), p(3, false, false)],
    respRegionError: "fake",
    backoff: ["regionScheduling+2", "tikvServerBusy+1"],
    regionIsValid: false,
  },
  {
    req: "Get",
    readType: "leader",
    busyThresholdMs: 10,
    accessErr: [
      "NotLeaderErr",
      "NotLeaderWithNewLeader3Err",
      "ServerIsBusyWithEstimatedWaitMsErr",
      "ServerIsBusyErr",
    ],
    path: [
      p(1, false, false),
      p(2, false, false),
      p(3, false, false),
      p(3, false, false),
      p(3, false, false),
    ],
    backoff: ["regionScheduling+1", "tikvServerBusy+2"],
    regionIsValid: true,
  },
];

// testReplicaReadAccessPathByLeaderCase, "switch leader": three requests on the same cache
const switchLeaderSequence: Case[] = [
  {
    req: "Get",
    readType: "leader",
    accessErr: ["NotLeaderErr"],
    path: [p(1, false, false), p(2, false, false)],
    backoff: ["regionScheduling+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    accessErr: ["NotLeaderWithNewLeader3Err"],
    path: [p(2, false, false), p(3, false, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    accessErr: ["ServerIsBusyErr"],
    path: [p(3, false, false), p(3, false, false)],
    backoff: ["tikvServerBusy+1"],
    regionIsValid: true,
  },
];

// testReplicaReadAccessPathByFollowerCase
const byFollowerCase: Case[] = [
  {
    req: "Get",
    readType: "follower",
    accessErr: [],
    path: [p(2, true, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "follower",
    accessErr: ["ServerIsBusyWithEstimatedWaitMsErr", "ServerIsBusyErr"],
    path: [p(2, true, false), p(3, true, false), p(1, false, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "follower",
    accessErr: ["ServerIsBusyErr", "ServerIsBusyWithEstimatedWaitMsErr", "ServerIsBusyErr"],
    path: [p(2, true, false), p(3, true, false), p(1, false, false)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: false,
  },
  {
    req: "Get",
    readType: "follower",
    accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
    path: [p(2, true, false), p(3, true, false), p(1, false, false)],
    backoff: ["tikvRPC+1"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "follower",
    timeout: 1000,
    accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
    path: [p(2, true, false), p(3, true, false), p(1, false, false)],
    backoff: [],
    regionIsValid: true,
  },
];

// testReplicaReadAccessPathByMixedAndPreferLeaderCase
const byMixedAndPreferLeader: Case[] = (["mixed", "preferLeader"] as const)
  .flatMap((readType): Case[] => [
    { req: "Get", readType, accessErr: [], path: [p(1, false, false)], backoff: [], regionIsValid: true },
    {
      req: "Get",
      readType,
      accessErr: ["ServerIsBusyWithEstimatedWaitMsErr", "StaleCommandErr", "ServerIsBusyErr"],
      path: [p(1, false, false), p(2, true, false), p(3, true, false)],
      respRegionError: "fake",
      backoff: ["tikvServerBusy+1"],
      regionIsValid: false,
    },
    {
      req: "Get",
      readType,
      accessErr: ["ServerIsBusyErr", "RegionNotFoundErr"],
      path: [p(1, false, false), p(2, true, false)],
      respRegionError: "regionNotFound",
      backoff: [],
      regionIsValid: false,
    },
    {
      req: "Get",
      readType,
      accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
      path: [p(1, false, false), p(2, true, false), p(3, true, false)],
      backoff: ["tikvRPC+1"],
      regionIsValid: true,
    },
    {
      req: "Get",
      readType,
      timeout: 1000,
      accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
      path: [p(1, false, false), p(2, true, false), p(3, true, false)],
      backoff: [],
      regionIsValid: true,
    },
  ])
  .concat([
    {
      req: "Get",
      readType: "mixed",
      label: "2",
      accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
      path: [p(2, true, false), p(1, false, false), p(3, true, false)],
      backoff: ["tikvRPC+1"],
      regionIsValid: true,
    },
    {
      req: "Get",
      readType: "preferLeader",
      leader: 3,
      accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
      path: [p(3, false, false), p(1, true, false), p(2, true, false)],
      backoff: ["tikvRPC+1"],
      regionIsValid: true,
    },
    {
      req: "Get",
      readType: "preferLeader",
      leader: 3,
      label: "2",
      accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
      path: [p(2, true, false), p(3, false, false), p(1, true, false)],
      backoff: ["tikvRPC+1"],
      regionIsValid: true,
    },
  ]);

// ...MixedAndPreferLeaderCase multi-case runs: a slow leader is skipped by prefer-leader
const preferLeaderSequences: Case[][] = [
  [
    {
      req: "Get",
      readType: "preferLeader",
      accessErr: ["ServerIsBusyErr"],
      path: [p(1, false, false), p(2, true, false)],
      backoff: [],
      regionIsValid: true,
    },
    {
      req: "Get",
      readType: "preferLeader",
      accessErr: ["ServerIsBusyErr", "ServerIsBusyErr", "ServerIsBusyErr"],
      path: [p(2, true, false), p(3, true, false), p(1, false, false)],
      respRegionError: "fake",
      backoff: ["tikvServerBusy+1"],
      regionIsValid: false,
    },
  ],
  [
    {
      req: "Get",
      readType: "preferLeader",
      accessErr: ["ServerIsBusyErr", "ServerIsBusyErr"],
      path: [p(1, false, false), p(2, true, false), p(3, true, false)],
      backoff: [],
      regionIsValid: true,
    },
    {
      req: "Get",
      readType: "preferLeader",
      accessErr: ["ServerIsBusyErr", "ServerIsBusyErr", "ServerIsBusyErr"],
      path: [p(3, true, false), p(1, false, false)],
      respRegionError: "fake",
      backoff: ["tikvServerBusy+1"],
      regionIsValid: false,
    },
  ],
];

// TestReplicaReadAccessPathByStaleReadCase
const st = (c: Omit<Case, "req" | "readType" | "staleRead">): Case => ({
  req: "Get",
  readType: "mixed",
  staleRead: true,
  ...c,
});
const byStaleRead: Case[] = [
  st({ accessErr: [], path: [p(1, false, true)], backoff: [], regionIsValid: true }),
  st({
    accessErr: ["DataIsNotReadyErr"],
    path: [p(1, false, true), p(2, true, false)],
    backoff: [],
    regionIsValid: true,
  }),
  st({
    label: "2",
    accessErr: ["DataIsNotReadyErr"],
    path: [p(2, false, true), p(1, false, false)],
    backoff: [],
    regionIsValid: true,
  }),
  st({
    accessErr: ["DataIsNotReadyErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(1, false, true), p(2, true, false), p(3, true, false)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: false,
  }),
  st({
    label: "2",
    accessErr: ["DataIsNotReadyErr", "NotLeaderWithNewLeader3Err"],
    path: [p(2, false, true), p(1, false, false), p(3, false, false)],
    backoff: [],
    regionIsValid: true,
  }),
  st({
    label: "2",
    accessErr: ["DataIsNotReadyErr", "ServerIsBusyErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(2, false, true), p(1, false, false), p(2, false, true), p(3, false, true)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: false,
  }),
  st({
    leader: 2,
    accessErr: ["DataIsNotReadyErr", "ServerIsBusyErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(1, false, true), p(2, false, false), p(3, false, true), p(1, false, true)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: false,
  }),
  st({
    label: "2",
    accessErr: ["DataIsNotReadyErr", "NotLeaderErr", "ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(2, false, true), p(1, false, false), p(2, true, false), p(3, true, false)],
    respRegionError: "fake",
    backoff: ["regionScheduling+1", "tikvServerBusy+1"],
    regionIsValid: false,
  }),
  st({
    label: "2",
    accessErr: [
      "DataIsNotReadyErr",
      "NotLeaderWithNewLeader3Err",
      "ServerIsBusyErr",
      "NotLeaderWithNewLeader2Err",
      "ServerIsBusyErr",
    ],
    path: [
      p(2, false, true),
      p(1, false, false),
      p(3, false, false),
      p(3, false, false),
      p(2, false, false),
      p(2, false, false),
    ],
    backoff: ["tikvServerBusy+2"],
    regionIsValid: true,
  }),
  st({
    label: "2",
    accessErr: ["DataIsNotReadyErr", "RegionNotFoundErr"],
    path: [p(2, false, true), p(1, false, false)],
    respRegionError: "regionNotFound",
    backoff: [],
    regionIsValid: false,
  }),
  st({
    timeout: 1000,
    accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
    path: [p(1, false, true), p(2, false, true), p(3, false, true)],
    backoff: [],
    regionIsValid: true,
  }),
  st({
    timeout: 1000,
    label: "2",
    accessErr: ["DeadLineExceededErr", "ServerIsBusyErr"],
    path: [p(2, false, true), p(1, false, false), p(3, false, true)],
    backoff: [],
    regionIsValid: true,
  }),
  st({
    timeout: 1000,
    label: "2",
    accessErr: ["DeadLineExceededErr", "DeadLineExceededErr"],
    path: [p(2, false, true), p(1, false, false), p(3, false, true)],
    backoff: [],
    regionIsValid: true,
  }),
];

// ...StaleReadCase multi-case run: timed-out stores stay unusable for the next request
const staleReadSequence: Case[] = [
  st({
    label: "2",
    accessErr: ["DeadLineExceededErr", "DeadLineExceededErr"],
    path: [p(2, false, true), p(1, false, false), p(3, true, false)],
    backoff: ["tikvRPC+2"],
    regionIsValid: true,
  }),
  st({
    label: "2",
    accessErr: ["ServerIsBusyErr"],
    path: [p(3, false, true)],
    respRegionError: "fake",
    backoff: ["tikvServerBusy+1"],
    regionIsValid: false,
  }),
];

// TestReplicaReadAccessPathByTryIdleReplicaCase
const byTryIdleReplica: Case[] = [
  {
    req: "Prewrite",
    readType: "leader",
    busyThresholdMs: 10,
    accessErr: ["ServerIsBusyErr", "ServerIsBusyErr"],
    path: [p(1, false, false), p(1, false, false), p(2, false, false)],
    backoff: ["tikvServerBusy+2"],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    busyThresholdMs: 10,
    accessErr: ["ServerIsBusyWithEstimatedWaitMsErr", "ServerIsBusyWithEstimatedWaitMsErr"],
    path: [p(1, false, false), p(2, true, false), p(3, true, false)],
    backoff: [],
    regionIsValid: true,
  },
  {
    req: "Get",
    readType: "leader",
    busyThresholdMs: 10,
    accessErr: [
      "ServerIsBusyWithEstimatedWaitMsErr",
      "ServerIsBusyWithEstimatedWaitMsErr",
      "ServerIsBusyWithEstimatedWaitMsErr",
    ],
    path: [p(1, false, false), p(2, true, false), p(3, true, false), p(1, false, false)],
    backoff: ["tikvServerBusy+1"],
    regionIsValid: true,
  },
];

// TestReplicaReadAccessPathByLearnerCase
const byLearner: Case[] = [
  {
    req: "Get",
    readType: "learner",
    learner: true,
    accessErr: ["ServerIsBusyErr"],
    path: [p(4, true, false), p(1, false, false)],
    backoff: [],
    regionIsValid: true,
  },
];

// TestReplicaReadAvoidSlowStore (leader on store 3; store 1 slow in the "slow" variants)
function avoidSlowStoreCases(): Case[] {
  const out: Case[] = [];
  for (const staleRead of [false, true]) {
    for (const withLabel of [false, true]) {
      const base = {
        req: "Get" as const,
        readType: "mixed" as const,
        staleRead,
        leader: 3,
        label: withLabel ? "1" : undefined,
        backoff: [],
        regionIsValid: true,
      };
      const tag = `stale=${staleRead} label=${withLabel}`;
      out.push({ ...base, name: `${tag} slow=false`, accessErr: [], path: [p(1, !staleRead, staleRead)] });
      const first = withLabel ? 3 : 2;
      out.push({
        ...base,
        name: `${tag} slow=true`,
        slow: [1],
        accessErr: [],
        path: [p(first, !staleRead && first !== 3, staleRead)],
      });
      const second = staleRead || withLabel ? p(3, false, false) : p(2, true, false);
      out.push({
        ...base,
        name: `${tag} slow=false busy`,
        accessErr: ["ServerIsBusyErr"],
        path: [p(1, !staleRead, staleRead), second],
      });
      const secondSlow =
        first === 3 ? (staleRead ? p(2, false, true) : p(2, true, false)) : p(3, false, false);
      out.push({
        ...base,
        name: `${tag} slow=true busy`,
        slow: [1],
        accessErr: ["ServerIsBusyErr"],
        path: [p(first, !staleRead && first !== 3, staleRead), secondSlow],
      });
    }
  }
  return out;
}

describe("replica selector access paths (client-go replica_selector_test.go)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const title = (ca: Case, i: number) =>
    `case ${i + 1}: ${ca.req} ${ca.readType}${ca.staleRead ? " stale" : ""} ${ca.accessErr.join(",")}`;
  describe("TestReplicaReadAccessPathByCase", () => {
    for (const [i, ca] of byCase.entries()) it(title(ca, i), () => check(ca));
  });
  describe("TestReplicaReadAccessPathByCase2", () => {
    for (const [i, ca] of byCase2.entries()) it(title(ca, i), () => check(ca));
  });
  describe("TestReplicaReadAccessPathByLeaderCase", () => {
    for (const [i, ca] of byLeaderCase.entries()) it(ca.name ?? title(ca, i), () => check(ca));
    it("switch leader across requests on one cache", async () => {
      const w = newWorld();
      for (const ca of switchLeaderSequence) await check(ca, w);
    });
  });
  describe("TestReplicaReadAccessPathByFollowerCase", () => {
    for (const [i, ca] of byFollowerCase.entries()) it(title(ca, i), () => check(ca));
  });
  describe("TestReplicaReadAccessPathByMixedAndPreferLeaderCase", () => {
    for (const [i, ca] of byMixedAndPreferLeader.entries()) it(title(ca, i), () => check(ca));
    for (const [i, seq] of preferLeaderSequences.entries()) {
      it(`slow leader skipped across requests (${i + 1})`, async () => {
        const w = newWorld();
        for (const ca of seq) await check(ca, w);
      });
    }
  });
  describe("TestReplicaReadAccessPathByStaleReadCase", () => {
    for (const [i, ca] of byStaleRead.entries()) it(title(ca, i), () => check(ca));
    it("timed-out stores stay unusable for the next request", async () => {
      const w = newWorld();
      for (const ca of staleReadSequence) await check(ca, w);
    });
  });
  describe("TestReplicaReadAccessPathByTryIdleReplicaCase", () => {
    for (const [i, ca] of byTryIdleReplica.entries()) it(title(ca, i), () => check(ca));
  });
  describe("TestReplicaReadAccessPathByLearnerCase", () => {
    for (const [i, ca] of byLearner.entries()) it(title(ca, i), () => check(ca));
  });
  describe("TestReplicaReadAvoidSlowStore", () => {
    for (const ca of avoidSlowStoreCases()) it(ca.name as string, () => check(ca));
  });
  describe("TestReplicaReadAccessPathByBasicCase", () => {
    for (const ca of basicCases()) it(ca.name as string, () => check(ca));
  });
});
