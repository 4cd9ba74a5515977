/**
 * What every scenario shares: its result shape, readiness probes, waiting for
 * delivery to settle, CPU time of a process, number formatting.
 */
import { PROBE, writeAll } from "./lines.ts";
import { sleep } from "./proc.ts";

export interface Options {
  quick: boolean;
  /** Write a CPU profile of every tailcast run into this directory. */
  cpuProfDir: string | null;
  /** Progress lines (stderr). */
  log: (line: string) => void;
}

export type Verdict = "met" | "MISSED" | "";

export interface Row {
  subject: string;
  cells: Record<string, string>;
  /** The run failed: shown instead of the cells. */
  error?: string;
  /** The target this row is held to, and whether it was met. */
  target?: string;
  verdict?: Verdict;
}

/** A target and how this run did against it, for the summary. */
export interface TargetResult {
  /** Section id (the key of its "what limits it" paragraph). */
  id: string;
  target: string;
  measured: string;
  verdict: Verdict;
}

export interface Section {
  id: string;
  title: string;
  /** How it was measured, one paragraph. */
  method: string;
  columns: string[];
  rows: Row[];
  targets: TargetResult[];
  /** Lines under the table (ratios, caveats). */
  notes: string[];
  seconds: number;
}

/** Writes probe lines to `path` until `ready()`: the subject follows the file. */
export async function probeUntil(
  path: string,
  ready: () => boolean,
  what: string,
  ms = 20_000,
): Promise<void> {
  const file = await Deno.open(path, { append: true, create: true });
  try {
    const end = performance.now() + ms;
    while (!ready()) {
      if (performance.now() > end) {
        throw new Error(`${what} did not show a probe line within ${ms} ms`);
      }
      writeAll(file, PROBE);
      await sleep(25);
    }
  } finally {
    file.close();
  }
}

/**
 * Waits until `complete()`, or until nothing arrived for `quietMs` (measured
 * from `since` or the last arrival), at most `maxMs`.
 */
export async function settle(
  complete: () => boolean,
  lastArrival: () => number,
  quietMs: number,
  maxMs: number,
): Promise<void> {
  const since = performance.now();
  const end = since + maxMs;
  for (;;) {
    const now = performance.now();
    if (complete() || now > end) return;
    const last = lastArrival();
    const from = Number.isNaN(last) ? since : Math.max(since, last);
    if (now - from > quietMs) return;
    await sleep(5);
  }
}

/** User + system CPU seconds of a process so far (NaN once gone). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 (utime, stime) are 11 and 12 after the command name; clock ticks are 100/s on Linux.
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * CPU seconds of each kind of thread of a process: `reader` (the main
 * thread), `worker-N` (pool workers), `V8` (V8's helpers: GC, compiler),
 * `I/O` (tokio's blocking pool), `other`. With `since` (an earlier reading)
 * and `seconds`, the difference as a share of one core.
 */
export function threadCpu(
  pid: number,
  since?: Map<string, number>,
  seconds?: number,
): Map<string, number> {
  const out = new Map<string, number>();
  try {
    for (const entry of Deno.readDirSync(`/proc/${pid}/task`)) {
      try {
        const dir = `/proc/${pid}/task/${entry.name}`;
        const comm = Deno.readTextFileSync(`${dir}/comm`).trim();
        const stat = Deno.readTextFileSync(`${dir}/stat`);
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        const cpu = (Number(f[11]) + Number(f[12])) / 100;
        const kind = entry.name === String(pid)
          ? "reader"
          : comm.startsWith("worker-")
          ? comm
          : comm.startsWith("V8 ")
          ? "V8"
          : comm.startsWith("tokio")
          ? "I/O"
          : "other";
        out.set(kind, (out.get(kind) ?? 0) + cpu);
      } catch {
        // The thread ended meanwhile.
      }
    }
  } catch {
    return out;
  }
  if (since && seconds) {
    for (const [kind, cpu] of out) {
      out.set(kind, (cpu - (since.get(kind) ?? 0)) / seconds);
    }
  }
  return out;
}

/** A thread reading as `reader 80 %, worker-1 60 %, …`. */
export function threadText(threads: Map<string, number>): string {
  const order = (k: string) =>
    k === "reader" ? 0 : k.startsWith("worker-") ? 1 : k === "V8" ? 2 : 3;
  return [...threads]
    .sort((a, b) => order(a[0]) - order(b[0]) || a[0].localeCompare(b[0]))
    .map(([k, v]) => `${k} ${Math.round(100 * v)} %`)
    .join(", ");
}

export function int(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "–";
}

export function fixed(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

export function ms(n: number): string {
  if (!Number.isFinite(n)) return "–";
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** A target a scenario could not measure: it failed with `error`. */
export function failedTarget(
  id: string,
  target: string,
  error: unknown,
): TargetResult {
  return {
    id,
    target,
    measured: `error: ${errorText(error)}`,
    verdict: "MISSED",
  };
}

export function errorText(error: unknown): string {
  return (error instanceof Error ? error.message : String(error))
    .replace(/\s+/g, " ")
    .replaceAll("|", "/")
    .slice(0, 160);
}

/**
 * The median run by `rate` (an error only if every run failed), and the
 * range of rates over the runs, e.g. "350,000–372,000 (3 runs)".
 */
export function median<T extends { rate: number }>(
  runs: (T | Error)[],
): { pick: T | Error; range: string } {
  const ok = runs.filter((r): r is T => !(r instanceof Error))
    .sort((a, b) => a.rate - b.rate);
  if (ok.length === 0) return { pick: runs[0], range: "" };
  const failed = runs.length - ok.length;
  const range = ok.length === 1
    ? `1 run`
    : `${int(ok[0].rate)}–${int(ok[ok.length - 1].rate)} (${ok.length} runs)`;
  return {
    pick: ok[Math.floor((ok.length - 1) / 2)],
    range: failed > 0 ? `${range}, ${failed} failed` : range,
  };
}
