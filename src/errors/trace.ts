// The error of a transaction trace file that cannot be read (the `tikv-ts inspect` command).
import { InvalidArgumentError } from "./base.js";

/**
 * A trace (JSON) is not a tikv-ts transaction trace: not JSON, wrong format or version, or a
 * field of the wrong type. `path` names the offending field ("events[3].type"; "" = the whole
 * document).
 */
export class InvalidTraceError extends InvalidArgumentError {
  constructor(
    /** Where in the document the problem is ("" = the document itself). */
    readonly path: string,
    problem: string,
  ) {
    super(path === "" ? problem : `${path}: ${problem}`, "trace");
  }
}
