// Medians, ratios and the markdown table of bench/peers (pure: no I/O).

/** The two clients compared. */
export type Client = "tikv-ts" | "client-go";

/** One run of one workload by one client. */
export interface Sample {
  client: Client;
  workload: string;
  concurrency: number;
  rep: number;
  opsPerSec: number;
  p50Us: number;
  p99Us: number;
  /** Client process CPU (all threads) per operation. */
  cpuUsPerOp: number;
  /** Cluster process CPU per operation. */
  clusterCpuUsPerOp: number;
}

/** A metric of {@link Sample}. */
export type Metric = "opsPerSec" | "p50Us" | "p99Us" | "cpuUsPerOp" | "clusterCpuUsPerOp";
const METRICS: readonly Metric[] = ["opsPerSec", "p50Us", "p99Us", "cpuUsPerOp", "clusterCpuUsPerOp"];

/** Median, min and max of a set of numbers. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

/** One workload at one concurrency: each client's medians and the tikv-ts / client-go ratios. */
export interface Row {
  workload: string;
  concurrency: number;
  tikvTs: Record<Metric, number>;
  clientGo: Record<Metric, number>;
  /** Ratio tikv-ts / client-go per repetition (both measured in the same repetition), summarised. */
  ratio: Record<Metric, Spread>;
}

/** Median (mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/** Median, min and max. */
export function spread(xs: readonly number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
}

/** Groups samples by workload and concurrency (first-seen order) and summarises each group. */
export function summarise(samples: readonly Sample[]): Row[] {
  const groups = new Map<string, Sample[]>();
  for (const s of samples) {
    const k = `${s.workload}@${s.concurrency}`;
    const g = groups.get(k);
    if (g) g.push(s);
    else groups.set(k, [s]);
  }
  const rows: Row[] = [];
  for (const g of groups.values()) {
    const of = (c: Client) => g.filter((s) => s.client === c);
    const ts = of("tikv-ts");
    const go = of("client-go");
    const med = (xs: Sample[]) =>
      Object.fromEntries(METRICS.map((m) => [m, median(xs.map((s) => s[m]))])) as Record<Metric, number>;
    const ratio = Object.fromEntries(
      METRICS.map((m) => {
        const per: number[] = [];
        for (const a of ts) {
          const b = go.find((x) => x.rep === a.rep);
          if (b && b[m] > 0) per.push(a[m] / b[m]);
        }
        return [m, spread(per)];
      }),
    ) as Record<Metric, Spread>;
    const first = g[0] as Sample;
    rows.push({
      workload: first.workload,
      concurrency: first.concurrency,
      tikvTs: med(ts),
      clientGo: med(go),
      ratio,
    });
  }
  return rows;
}

const fmt = (x: number) => (!Number.isFinite(x) ? "–" : x >= 100 ? String(Math.round(x)) : x.toFixed(1));
const fmtRatio = (r: Spread) =>
  !Number.isFinite(r.median) ? "–" : `**${r.median.toFixed(2)}×** (${r.min.toFixed(2)}–${r.max.toFixed(2)})`;

/** The markdown table: per row each client's median and the ratio with its spread across repetitions. */
export function markdownTable(rows: readonly Row[]): string {
  const head =
    "| workload | c | ops/s tikv-ts / client-go | ratio | p50 µs | ratio | p99 µs | ratio | client CPU µs/op | ratio | cluster CPU µs/op | ratio |";
  const lines = [head, `|${"---|".repeat(12)}`];
  for (const r of rows) {
    const cell = (m: Metric) => `${fmt(r.tikvTs[m])} / ${fmt(r.clientGo[m])} | ${fmtRatio(r.ratio[m])}`;
    lines.push(
      `| ${r.workload} | ${r.concurrency} | ${cell("opsPerSec")} | ${cell("p50Us")} | ${cell("p99Us")} | ${cell("cpuUsPerOp")} | ${cell("clusterCpuUsPerOp")} |`,
    );
  }
  return lines.join("\n");
}
