// `tikv-ts inspect trace.json [--out file.html|file.svg]`: draws a transaction trace (from
// txn.trace() or traceOf(error)) on its statecharts, for a bug report. Exit codes: 0 = written,
// 1 = the trace is not valid (the field is named) or cannot be read, 2 = bad usage.

import { readFileSync, writeFileSync } from "node:fs";
import { extname } from "node:path";
import type { Command } from "commander";
import { drawnCharts } from "../actors/inspect/charts.js";
import { renderTraceHtml, renderTraceSvg } from "../actors/inspect/trace-view.js";
import { parseTrace } from "../actors/observe/trace.js";
import { InvalidTraceError } from "../errors/trace.js";

/** Renders the trace file at `input` to `out` (format from its extension: .svg or .html). */
async function renderTraceFile(input: string, out: string): Promise<void> {
  const trace = parseTrace(readFileSync(input, "utf8"));
  const charts = await drawnCharts(trace.machines);
  const ext = extname(out).toLowerCase();
  writeFileSync(out, ext === ".svg" ? renderTraceSvg(trace, charts) : renderTraceHtml(trace, charts));
}

/** Adds `inspect` to the program; `setCode` receives the exit code when it ran. */
export function addInspectCommand(prog: Command, setCode: (code: number) => void): Command {
  return prog
    .command("inspect")
    .summary("draw a transaction trace (JSON) on its statecharts, as HTML or SVG")
    .description(
      "Draw a transaction trace (txn.trace() / traceOf(error), saved as JSON) on the committer's " +
        "statechart: the states it passed highlighted in order, the transitions it took marked, " +
        "and (HTML) the timeline of its RPCs, backoffs and lock resolutions.",
    )
    .argument("<trace.json>", "the trace file")
    .option("--out <file>", "output file: .html (default) or .svg; default <trace>.html")
    .action(async (input: string, flags: { out?: string }) => {
      const out = flags.out ?? `${input.replace(/\.json$/i, "")}.html`;
      const ext = extname(out).toLowerCase();
      if (ext !== ".html" && ext !== ".htm" && ext !== ".svg") {
        process.stderr.write(`error: --out must end in .html or .svg, not ${out}\n`);
        setCode(2);
        return;
      }
      try {
        await renderTraceFile(input, out);
        process.stdout.write(`${out}\n`);
        setCode(0);
      } catch (e) {
        const why =
          e instanceof InvalidTraceError ? `invalid trace ${input}: ${e.message}` : (e as Error).message;
        process.stderr.write(`error: ${why}\n`);
        setCode(1);
      }
    });
}
