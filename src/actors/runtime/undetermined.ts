// A write whose outcome the client cannot know is reported as such (DESIGN.md correctness rules:
// "a write sent, then timed out, aborted or cut off is reported as undetermined").

import {
  AbortedError,
  BackoffExhaustedError,
  GrpcError,
  ShuttingDownError,
  TimeoutError,
} from "../../errors/server.js";
import { ResultUndeterminedError } from "../../errors/txn.js";
import type { SendProgress } from "../request/request-sender.js";

/**
 * The error a write call rejects with, given how it failed and whether any of its requests may
 * have been applied (`progress.sent`, kept by the routing layer). A failure that carries no
 * verdict from the server (a timeout, an abort, a lost or refused connection, a retry budget spent
 * on those, the client closing) after something was sent becomes a {@link ResultUndeterminedError}
 * whose `cause` is the failure; anything else (bad input, the server's own rejection, a failure
 * before any request left the client) is returned as is.
 */
export function writeFailure(err: unknown, progress: SendProgress): unknown {
  if (!progress.sent || err instanceof ResultUndeterminedError || !withoutVerdict(err)) return err;
  return new ResultUndeterminedError({ cause: err });
}

function withoutVerdict(err: unknown): boolean {
  return (
    err instanceof TimeoutError ||
    err instanceof AbortedError ||
    err instanceof GrpcError ||
    err instanceof BackoffExhaustedError ||
    err instanceof ShuttingDownError
  );
}
