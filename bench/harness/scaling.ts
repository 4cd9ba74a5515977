/**
 * Scenario 7: the worker pool. The same fan-out and append runs with
 * `--workers 1` (the reader's thread serves everyone) and `--workers 2`
 * (a worker thread serves too, on the same port), in one run, with the
 * CPU each thread used.
 */
import {
  errorText,
  fixed,
  int,
  ms,
  type Options,
  type Row,
  type Section,
  threadText,
} from "./common.ts";
import { fanRun } from "./fanout_scenarios.ts";
import { appendRun } from "./follow_scenarios.ts";
import { sseSubjectWith } from "./subjects.ts";

const WORKERS = [1, 2];

export async function scaling(o: Options): Promise<Section> {
  const started = performance.now();
  const seconds = o.quick ? 4 : 10;
  const total = o.quick ? 200_000 : 1_000_000;
  const fans = o.quick
    ? [{ subscribers: 100, rate: 1000 }]
    : [{ subscribers: 100, rate: 1000 }, { subscribers: 1000, rate: 100 }];
  const rows: Row[] = [];
  for (const f of fans) {
    for (const workers of WORKERS) {
      const label = `fan-out ${int(f.subscribers)} × ${
        int(f.rate)
      } lines/s, --workers ${workers}`;
      o.log(`scaling: ${label}`);
      try {
        const r = await fanRun(
          o,
          { ...f, client: "raw", workers },
          f.subscribers,
          seconds,
        );
        rows.push({
          subject: label,
          cells: {
            "events/s": int(r.delivered / r.seconds),
            "p50 ms": ms(r.lat.p50),
            "p99 ms": ms(r.lat.p99),
            "p99.9 ms": ms(r.lat.p999),
            missing: int(r.expected - r.delivered),
            "server CPU": `${int(100 * r.serverCpu)} %`,
            "CPU per thread": threadText(r.threads),
            "peak RSS MiB": int(r.rssPeak),
          },
          target: "reported",
        });
      } catch (error) {
        rows.push({ subject: label, cells: {}, error: errorText(error) });
      }
    }
  }
  for (const workers of WORKERS) {
    const subject = sseSubjectWith(workers);
    const label = `append ${
      int(total)
    } lines, SSE 1 client, --workers ${workers}`;
    o.log(`scaling: ${label}`);
    try {
      const r = await appendRun(o, subject, total);
      rows.push({
        subject: label,
        cells: {
          "events/s": int(r.rate),
          missing: r.row.cells.missing,
          "server CPU": `${
            int(
              100 * Number(r.row.cells["subject CPU s"]) /
                Number(r.row.cells["all delivered s"]),
            )
          } %`,
          "CPU per thread": threadText(r.threads),
          "peak RSS MiB": r.row.cells["peak RSS MiB"],
        },
        target: "reported",
      });
    } catch (error) {
      rows.push({ subject: label, cells: {}, error: errorText(error) });
    }
  }
  return {
    id: "scaling",
    title: "7. Scaling: --workers 1 and --workers 2, same run",
    method:
      "The fan-out runs of section 5 and the SSE append run of section 1, each with " +
      "`--workers 1` (the reader's thread serves every subscriber) and `--workers 2` (a pool " +
      "worker serves on the same port too; the kernel spreads connections). CPU per thread is " +
      `from /proc/PID/task over the run's wall time (100 % = one core): \`reader\` is the main ` +
      "thread (files, stages, journal, its share of subscribers), `worker-1` the pool worker, " +
      "`V8` its helper threads (GC, compiler), `I/O` tokio's blocking pool (file reads). " +
      `Fan-out runs last ${seconds} s; append writes ${int(total)} lines (${
        fixed(total * 120 / 1e6, 0)
      } MB).`,
    columns: [
      "events/s",
      "p50 ms",
      "p99 ms",
      "p99.9 ms",
      "missing",
      "server CPU",
      "CPU per thread",
      "peak RSS MiB",
    ],
    rows,
    targets: [],
    notes: [],
    seconds: (performance.now() - started) / 1000,
  };
}
