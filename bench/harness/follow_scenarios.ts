/**
 * Scenarios 1–4, each for GNU `tail -F`, `tailcast --stdout` and one SSE
 * client of the tailcast server: append, backfill, latency, rotation under
 * load. One subject runs at a time, on its own file in its own temporary
 * directory, bounded in time; whatever happens, its processes are stopped and
 * its directory removed.
 */
import {
  cpuSeconds,
  errorText,
  fixed,
  int,
  median,
  ms,
  type Options,
  probeUntil,
  type Row,
  type Section,
  settle,
  type TargetResult,
  threadCpu,
  type Verdict,
} from "./common.ts";
import {
  Latencies,
  type LatencySummary,
  LINE_BYTES,
  LineMaker,
  SetTally,
  writeAll,
} from "./lines.ts";
import { paced } from "./pacer.ts";
import { bounded, RssSampler, type Scope } from "./proc.ts";
import {
  type Running,
  type Subject,
  SUBJECTS,
  tailSubject,
} from "./subjects.ts";

const verdict = (ok: boolean): Verdict => ok ? "met" : "MISSED";

/** Creates `dir/app.log` (empty), starts the subject from its end and waits until it shows a probe. */
async function startFollowing(
  scope: Scope,
  subject: Subject,
  o: Options,
  sink: SetTally,
): Promise<{ path: string; run: Running }> {
  const dir = await scope.tempDir();
  const path = `${dir}/app.log`;
  await Deno.writeFile(path, new Uint8Array());
  const run = await subject.start(scope, {
    path,
    from: "end",
    sink,
    cpuProfDir: o.cpuProfDir,
  });
  await probeUntil(path, () => run.scanner.probes > 0, subject.name);
  return { path, run };
}

/** Appends `total` lines to `path` in blocks of 1,000, as fast as the file takes them. */
export async function writeAllLines(
  path: string,
  total: number,
): Promise<void> {
  const file = await Deno.open(path, { append: true });
  const maker = new LineMaker(1000);
  try {
    for (let seq = 0; seq < total; seq += 1000) {
      const block = maker.make(seq, Math.min(1000, total - seq));
      // Asynchronous writes let this thread read the subjects' output meanwhile.
      for (let at = 0; at < block.length;) {
        at += await file.write(block.subarray(at));
      }
    }
  } finally {
    file.close();
  }
}

// ---------------------------------------------------------------------------
// 1. append

/** One subject, `total` lines appended as fast as possible: its rate, row and CPU per thread. */
export function appendRun(
  o: Options,
  subject: Subject,
  total: number,
): Promise<{ rate: number; row: Row; threads: Map<string, number> }> {
  return bounded(
    `append, ${subject.name}`,
    180_000,
    async (scope) => {
      const tally = new SetTally(total);
      const { path, run } = await startFollowing(scope, subject, o, tally);
      const rss = new RssSampler(run.pid);
      const cpu0 = cpuSeconds(run.pid);
      const threads0 = threadCpu(run.pid);
      const t0 = performance.now();
      await writeAllLines(path, total);
      const written = performance.now() - t0;
      await settle(
        () => tally.unique >= total,
        () => tally.last,
        3000,
        150_000,
      );
      const cpu = cpuSeconds(run.pid) - cpu0;
      const threads = threadCpu(
        run.pid,
        threads0,
        (performance.now() - t0) / 1000,
      );
      const mem = rss.stop();
      await run.stop();
      const seconds = (tally.last - t0) / 1000;
      const rate = tally.unique / seconds;
      return {
        rate,
        threads,
        row: {
          subject: subject.name,
          cells: {
            "lines/s": int(rate),
            "MB/s": fixed((rate * LINE_BYTES) / 1e6, 1),
            "all delivered s": fixed(seconds, 2),
            "writer done s": fixed(written / 1000, 2),
            missing: int(tally.missing),
            doubled: int(tally.dup),
            "subject CPU s": fixed(cpu, 2),
            "peak RSS MiB": int(mem.peak),
          },
        },
      };
    },
  );
}

export async function append(o: Options): Promise<Section> {
  const started = performance.now();
  const total = o.quick ? 200_000 : 1_000_000;
  const rounds = o.quick ? 1 : 3;
  const runs = new Map<string, ({ rate: number; row: Row } | Error)[]>();
  // Rounds interleave the subjects, so a change in background load hits all of them.
  for (let round = 1; round <= rounds; round++) {
    for (const subject of SUBJECTS) {
      o.log(`append: ${subject.name} (${round}/${rounds})`);
      const result = await appendRun(o, subject, total)
        .catch((error) => new Error(errorText(error)));
      runs.set(subject.name, [...runs.get(subject.name) ?? [], result]);
    }
  }
  const results = new Map(
    [...runs].map(([name, list]) => [name, median(list)] as const),
  );
  const base = results.get(tailSubject.name)?.pick;
  const baseRate = base instanceof Error || !base ? NaN : base.rate;
  const rows: Row[] = [];
  const targets: TargetResult[] = [];
  for (const subject of SUBJECTS) {
    const { pick: r, range } = results.get(subject.name)!;
    if (r instanceof Error) {
      rows.push(errorRow(subject, r, subject.kind !== "tail"));
      if (subject.kind !== "tail") {
        targets.push({
          id: "append",
          target: `append, ${subject.name}: ≥ 1,000,000 lines/s`,
          measured: `error: ${r.message}`,
          verdict: "MISSED",
        });
      }
      continue;
    }
    const row = r.row;
    row.cells["× tail -F"] = `${fixed(r.rate / baseRate)}×`;
    row.cells["lines/s over the runs"] = range;
    if (subject.kind !== "tail") {
      // Issue 12: 1 M lines/s (≈ 0.4× tail -F here; 1.0× is the goal beyond)
      // and at most 100 MB (95 MiB) of RSS while the lines come.
      const rss = Number(row.cells["peak RSS MiB"].replaceAll(",", ""));
      const fast = r.rate >= 1_000_000 &&
        row.cells.missing === "0" && row.cells.doubled === "0";
      row.target = "≥ 1,000,000 lines/s, peak RSS ≤ 100 MB, 0 missing/doubled";
      row.verdict = verdict(fast && rss <= 95);
      targets.push({
        id: "append",
        target: `append, ${subject.name}: ≥ 1,000,000 lines/s`,
        measured: `${row.cells["lines/s"]} lines/s (${
          fixed(r.rate / baseRate)
        }× tail -F's ${int(baseRate)})`,
        verdict: verdict(fast),
      });
      targets.push({
        id: "memory",
        target:
          `peak RSS while 1 M lines are appended, ${subject.name}: ≤ 100 MB`,
        measured: `${row.cells["peak RSS MiB"]} MiB`,
        verdict: verdict(rss <= 95),
      });
    } else {
      row.target = "baseline";
    }
    rows.push(row);
  }
  return {
    id: "append",
    title: `1. Append: ${
      int(total)
    } lines of ${LINE_BYTES} B, written as fast as possible`,
    method:
      `The writer appends ${
        int(total)
      } lines in 1,000-line writes (asynchronous, so this ` +
      `process reads the subject's output meanwhile). Lines/s is distinct lines received ` +
      `divided by the time from the first write to the last line received; the row is the ` +
      `median of ${rounds} interleaved runs. Peak RSS and CPU ` +
      `are the subject's (for SSE: the server's), sampled from /proc every 50 ms.`,
    columns: [
      "lines/s",
      "× tail -F",
      "lines/s over the runs",
      "MB/s",
      "all delivered s",
      "writer done s",
      "missing",
      "doubled",
      "subject CPU s",
      "peak RSS MiB",
    ],
    rows,
    targets,
    notes: [],
    seconds: (performance.now() - started) / 1000,
  };
}

function errorRow(subject: Subject, error: Error, held: boolean): Row {
  return {
    subject: subject.name,
    cells: {},
    error: error.message,
    target: held ? "" : "baseline",
    verdict: held ? "MISSED" : "",
  };
}

// ---------------------------------------------------------------------------
// 2. backfill

export async function backfill(o: Options): Promise<Section> {
  const started = performance.now();
  const total = o.quick ? 200_000 : 1_000_000;
  const rounds = o.quick ? 1 : 3;
  const runs = new Map<
    string,
    ({ rate: number; clean: boolean; row: Row } | Error)[]
  >();
  await bounded("backfill", 600_000, async (outer) => {
    const dir = await outer.tempDir();
    const path = `${dir}/app.log`;
    await Deno.writeFile(path, new Uint8Array());
    await writeAllLines(path, total);
    for (let round = 1; round <= rounds; round++) {
      for (const subject of SUBJECTS) {
        o.log(`backfill: ${subject.name} (${round}/${rounds})`);
        const result = await bounded(
          `backfill, ${subject.name}`,
          120_000,
          async (scope) => {
            const tally = new SetTally(total);
            const run = await subject.start(scope, {
              path,
              from: "start",
              sink: tally,
              cpuProfDir: o.cpuProfDir,
            });
            const rss = new RssSampler(run.pid);
            await settle(
              () => tally.unique >= total,
              () => tally.last,
              3000,
              100_000,
            );
            const cpu = cpuSeconds(run.pid);
            const mem = rss.stop();
            await run.stop();
            const rate = tally.unique / ((tally.last - tally.first) / 1000);
            const all = (tally.last - run.spawnedAt) / 1000;
            return {
              rate,
              clean: tally.missing === 0 && tally.dup === 0,
              row: {
                subject: subject.name,
                cells: {
                  "events/s": int(rate),
                  "events/s incl. start-up": int(tally.unique / all),
                  "first line ms": int(tally.first - run.spawnedAt),
                  "all delivered s": fixed(all, 2),
                  missing: int(tally.missing),
                  doubled: int(tally.dup),
                  "subject CPU s": fixed(cpu, 2),
                  "peak RSS MiB": int(mem.peak),
                },
              },
            };
          },
        ).catch((error) => new Error(errorText(error)));
        runs.set(subject.name, [...runs.get(subject.name) ?? [], result]);
      }
    }
  });
  const rows: Row[] = [];
  const targets: TargetResult[] = [];
  const base = median(runs.get(tailSubject.name) ?? []).pick;
  const baseRate = !base || base instanceof Error ? NaN : base.rate;
  for (const subject of SUBJECTS) {
    const { pick: r, range } = median(runs.get(subject.name) ?? []);
    const held = subject.kind !== "tail";
    const targetText = `backfill, ${subject.name} ≥ 1,000,000 events/s`;
    if (!r || r instanceof Error) {
      const e = r ?? new Error("did not run");
      rows.push(errorRow(subject, e, held));
      if (held) {
        targets.push({
          id: "backfill",
          target: targetText,
          measured: `error: ${e.message}`,
          verdict: "MISSED",
        });
      }
      continue;
    }
    const row = r.row;
    row.cells["× tail -F"] = `${fixed(r.rate / baseRate)}×`;
    row.cells["events/s over the runs"] = range;
    if (held) {
      row.target = "≥ 1,000,000 events/s";
      row.verdict = verdict(r.rate >= 1_000_000 && r.clean);
      targets.push({
        id: "backfill",
        target: targetText,
        measured: `${row.cells["events/s"]} events/s, ${
          row.cells["× tail -F"]
        } tail -F (${
          row.cells["all delivered s"]
        } s from start-up to the last line)`,
        verdict: row.verdict,
      });
    } else {
      row.target = "baseline";
    }
    rows.push(row);
  }
  return {
    id: "backfill",
    title: `2. Backfill: the same ${
      int(total)
    } lines already written, followed from the start`,
    method:
      "The file is written first, then each subject is started on it from its first byte " +
      "(`tail -n +1 -F`, `tailcast --from start`; the SSE client connects as soon as the " +
      "server listens and asks for `?backlog=999999999`, so what the server read before it " +
      "came is replayed from disk, the rest is live). Events/s is distinct lines divided by " +
      "the time from the first line received to the last (the target is held to this); " +
      "start-up (process start to first line) is shown separately and in the time to " +
      `deliver all. The row is the median of ${rounds} interleaved runs.`,
    columns: [
      "events/s",
      "× tail -F",
      "events/s over the runs",
      "events/s incl. start-up",
      "first line ms",
      "all delivered s",
      "missing",
      "doubled",
      "subject CPU s",
      "peak RSS MiB",
    ],
    rows,
    targets,
    notes: [],
    seconds: (performance.now() - started) / 1000,
  };
}

// ---------------------------------------------------------------------------
// 3. latency

interface Pattern {
  id: string;
  label: string;
  periodMs: number;
  linesPerTick: number;
}

export async function latency(o: Options): Promise<Section> {
  const started = performance.now();
  const seconds = o.quick ? 3 : 10;
  const patterns: Pattern[] = [
    { id: "steady", label: "1 line/ms", periodMs: 1, linesPerTick: 1 },
    {
      id: "bursts",
      label: "100 lines every 100 ms",
      periodMs: 100,
      linesPerTick: 100,
    },
  ];
  const rows: Row[] = [];
  const targets: TargetResult[] = [];
  for (const pattern of patterns) {
    const ticks = Math.round((seconds * 1000) / pattern.periodMs);
    const total = ticks * pattern.linesPerTick;
    const results = new Map<
      string,
      { s: LatencySummary; missing: number } | Error
    >();
    for (const subject of SUBJECTS) {
      o.log(`latency ${pattern.label}: ${subject.name}`);
      const result = await bounded(
        `latency, ${subject.name}`,
        (seconds + 60) * 1000,
        async (scope) => {
          const lat = new Latencies(total);
          const tally = new SetTally(total, lat);
          const { path, run } = await startFollowing(scope, subject, o, tally);
          const file = await Deno.open(path, { append: true });
          const maker = new LineMaker(pattern.linesPerTick);
          let seq = 0;
          try {
            await paced(pattern.periodMs, ticks, () => {
              // One write(2) per tick: one line, or a burst of 100.
              writeAll(file, maker.make(seq, pattern.linesPerTick));
              seq += pattern.linesPerTick;
            });
          } finally {
            file.close();
          }
          await settle(
            () => tally.unique >= total,
            () => tally.last,
            3000,
            30_000,
          );
          await run.stop();
          return { s: lat.summary(), missing: tally.missing };
        },
      ).catch((error) => new Error(errorText(error)));
      results.set(subject.name, result);
    }
    const base = results.get(tailSubject.name);
    const baseP99 = base instanceof Error || !base ? NaN : base.s.p99;
    for (const subject of SUBJECTS) {
      const r = results.get(subject.name)!;
      const held = subject.kind !== "tail";
      // Issue 12: steady lines within tail -F's p99 + 0.5 ms (p99.9 ≤ 3 ms);
      // bursts within 2 ms at p99.
      const bursts = pattern.id === "bursts";
      const targetText = bursts
        ? `latency (${pattern.label}), ${subject.name}: p99 ≤ 2 ms`
        : `latency (${pattern.label}), ${subject.name}: p99 ≤ tail -F p99 + 0.5 ms and p99.9 ≤ 3 ms`;
      if (r instanceof Error) {
        rows.push({
          ...errorRow(subject, r, held),
          subject: `${pattern.label}: ${subject.name}`,
        });
        if (held) {
          targets.push({
            id: "latency",
            target: targetText,
            measured: `error: ${r.message}`,
            verdict: "MISSED",
          });
        }
        continue;
      }
      const row: Row = {
        subject: `${pattern.label}: ${subject.name}`,
        cells: {
          "p50 ms": ms(r.s.p50),
          "p90 ms": ms(r.s.p90),
          "p99 ms": ms(r.s.p99),
          "p99.9 ms": ms(r.s.p999),
          "max ms": ms(r.s.max),
          lines: int(total),
          missing: int(r.missing),
        },
      };
      if (held) {
        const okP99 = bursts ? r.s.p99 <= 2 : r.s.p99 <= baseP99 + 0.5;
        const okP999 = bursts || r.s.p999 <= 3;
        row.target = bursts
          ? "p99 ≤ 2 ms"
          : `p99 ≤ ${ms(baseP99 + 0.5)} ms, p99.9 ≤ 3 ms`;
        row.verdict = verdict(okP99 && okP999 && r.missing === 0);
        targets.push({
          id: "latency",
          target: targetText,
          measured: `p99 ${ms(r.s.p99)} ms (tail -F ${ms(baseP99)} ms${
            okP99 ? "" : ", MISSED"
          }), p99.9 ${ms(r.s.p999)} ms${okP999 ? "" : " (MISSED)"}`,
          verdict: row.verdict,
        });
      } else {
        row.target = "baseline";
      }
      rows.push(row);
    }
  }
  return {
    id: "latency",
    title:
      `3. Latency: 1 line per ms for ${seconds} s, and bursts of 100 lines every 100 ms for ${seconds} s`,
    method:
      "Lines are written on the ticks of a worker-thread metronome (this thread's timers are " +
      "too coarse for 1 ms), stamped with `performance.now()` right before their write(2) " +
      "(a burst is one write of 100 lines) and again when the chunk holding them is read " +
      "from the subject's stdout or the SSE socket, on the same clock. Percentiles over " +
      "every line.",
    columns: [
      "p50 ms",
      "p90 ms",
      "p99 ms",
      "p99.9 ms",
      "max ms",
      "lines",
      "missing",
    ],
    rows,
    targets,
    notes: [],
    seconds: (performance.now() - started) / 1000,
  };
}

// ---------------------------------------------------------------------------
// 4. rotation under load

type Scheme = "rename" | "copytruncate";

export async function rotation(o: Options): Promise<Section> {
  const started = performance.now();
  const seconds = o.quick ? 3 : 6;
  const rate = 50_000;
  const everyMs = 500;
  const rows: Row[] = [];
  const targets: TargetResult[] = [];
  for (const scheme of ["rename", "copytruncate"] as Scheme[]) {
    for (const subject of SUBJECTS) {
      o.log(`rotation ${scheme}: ${subject.name}`);
      const held = subject.kind !== "tail" && scheme === "rename";
      const label = `${scheme}: ${subject.name}`;
      const targetText =
        `rotation (rename every 0.5 s at 50,000 lines/s), ${subject.name}: 0 lost, 0 doubled`;
      try {
        const row = await bounded(
          `rotation ${label}`,
          (seconds + 60) * 1000,
          async (scope) => {
            const total = seconds * rate;
            const tally = new SetTally(total);
            const { path, run } = await startFollowing(
              scope,
              subject,
              o,
              tally,
            );
            const rotations = await rotatingWriter(
              path,
              scheme,
              rate,
              seconds,
              everyMs,
            );
            await settle(
              () => tally.unique >= total,
              () => tally.last,
              3000,
              30_000,
            );
            await run.stop();
            const row: Row = {
              subject: label,
              cells: {
                lines: int(total),
                rotations: int(rotations),
                lost: int(tally.missing),
                doubled: int(tally.dup),
                "lost %": fixed((100 * tally.missing) / total, 3),
              },
            };
            if (held) {
              row.target = "0 lost, 0 doubled";
              row.verdict = verdict(tally.missing === 0 && tally.dup === 0);
              targets.push({
                id: "rotation",
                target: targetText,
                measured: `${int(tally.missing)} lost, ${
                  int(tally.dup)
                } doubled of ${int(total)}`,
                verdict: row.verdict,
              });
            } else {
              row.target = subject.kind === "tail" ? "baseline" : "reported";
            }
            return row;
          },
        );
        rows.push(row);
      } catch (error) {
        const e = new Error(errorText(error));
        rows.push({ ...errorRow(subject, e, held), subject: label });
        if (held) {
          targets.push({
            id: "rotation",
            target: targetText,
            measured: `error: ${e.message}`,
            verdict: "MISSED",
          });
        }
      }
    }
  }
  return {
    id: "rotation",
    title: `4. Rotation under load: ${
      int(rate)
    } lines/s for ${seconds} s, rotated every ${everyMs / 1000} s`,
    method:
      "rename: `app.log` is renamed to `app.log.N` and a new empty `app.log` created (logrotate " +
      "`create`); the writer keeps writing to the renamed file for 50 ms more, as an application " +
      "does until it reopens its log, then switches. copytruncate: `app.log` is copied to " +
      "`app.log.N` and truncated to 0 while the writer keeps its O_APPEND descriptor (nothing " +
      "is written between the copy and the truncation, so every line exists in one of the " +
      "files). Lost = lines written but never received; doubled = received more than once.",
    columns: ["lines", "rotations", "lost", "doubled", "lost %"],
    rows,
    targets,
    notes: [],
    seconds: (performance.now() - started) / 1000,
  };
}

/** Writes `rate` lines/s to `path` for `seconds`, rotating it every `everyMs`. Returns the rotations done. */
async function rotatingWriter(
  path: string,
  scheme: Scheme,
  rate: number,
  seconds: number,
  everyMs: number,
): Promise<number> {
  const total = rate * seconds;
  const maker = new LineMaker(1000);
  let file = await Deno.open(path, { append: true });
  let old: { file: Deno.FsFile; until: number } | null = null;
  let seq = 0;
  let rotations = 0;
  const tickMs = 1;
  try {
    await paced(tickMs, seconds * 1000, (_tick, elapsed) => {
      if (old && elapsed >= old.until) {
        old.file.close();
        old = null;
        file = Deno.openSync(path, { append: true });
      }
      const due = Math.min(total, Math.floor((elapsed * rate) / 1000));
      const target = old ? old.file : file;
      while (seq < due) {
        const n = Math.min(1000, due - seq);
        writeAll(target, maker.make(seq, n));
        seq += n;
      }
      if (elapsed >= (rotations + 1) * everyMs && seq < total) {
        rotations++;
        const rotated = `${path}.${rotations}`;
        if (scheme === "rename") {
          Deno.renameSync(path, rotated);
          Deno.writeFileSync(path, new Uint8Array());
          // The application notices later (a SIGHUP), writing to the renamed file meanwhile.
          old = { file, until: elapsed + 50 };
        } else {
          Deno.copyFileSync(path, rotated);
          Deno.truncateSync(path, 0);
        }
      }
    });
    const target = old ? (old as { file: Deno.FsFile }).file : file;
    while (seq < total) {
      const n = Math.min(1000, total - seq);
      writeAll(target, maker.make(seq, n));
      seq += n;
    }
  } finally {
    if (old) (old as { file: Deno.FsFile }).file.close();
    try {
      file.close();
    } catch {
      // Already closed.
    }
  }
  return rotations;
}
