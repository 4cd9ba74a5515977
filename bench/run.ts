/**
 * End-to-end benchmark: tailcast against GNU `tail -F` in the same run, on the
 * same file and the same writer, so results are ratios that survive a noisy
 * machine. The writer and the consumers run in this process: latency is
 * receive time minus write time on one clock (every line carries its sequence
 * number and write time).
 *
 *   deno task bench [--quick] [--write docs/benchmarks.md]
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const args = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean" },
    write: { type: "string" },
  },
});
const QUICK = args.values.quick ?? false;
const encoder = new TextEncoder();

interface Received {
  seqs: Uint8Array;
  count: number;
  dup: number;
  latencies: number[];
  last: number;
}

interface Subject {
  name: string;
  /** Starts following `path` from its end; resolves once it is ready to receive. */
  start(path: string, onLine: (text: string) => void): Promise<Running>;
}

interface Running {
  pid: number;
  stop(): Promise<void>;
}

/** Reads a byte stream as lines and hands each to `onLine`. */
async function lines(
  stream: ReadableStream<Uint8Array>,
  onLine: (text: string) => void,
): Promise<void> {
  let carry = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    const parts = (carry + text).split("\n");
    carry = parts.pop() ?? "";
    for (const p of parts) onLine(p);
  }
}

function spawn(
  cmd: string,
  argv: string[],
  onLine: (t: string) => void,
  onErr?: (t: string) => void,
) {
  const child = new Deno.Command(cmd, {
    args: argv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = lines(child.stdout, onLine);
  const err = lines(child.stderr, onErr ?? (() => {}));
  return {
    child,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      await out;
      await err;
    },
  };
}

async function waitFor(check: () => boolean, ms: number, what: string) {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) {
      throw new Error(`bench: timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

const tailSubject: Subject = {
  name: "GNU tail -F",
  async start(path, onLine) {
    const p = spawn("tail", ["-n", "0", "-F", path], onLine);
    // tail has no ready signal; its inotify watch is set up within milliseconds.
    await new Promise((r) => setTimeout(r, 300));
    return { pid: p.child.pid, stop: p.stop };
  },
};

const tailcastStdout: Subject = {
  name: "tailcast --stdout",
  async start(path, onLine) {
    let ready = false;
    const p = spawn(
      Deno.execPath(),
      ["run", "-A", `${ROOT}main.ts`, "--no-server", path],
      onLine,
      (t) => {
        if (t.includes("following from byte")) {
          ready = true;
        }
      },
    );
    await waitFor(() => ready, 10_000, "tailcast to start");
    return { pid: p.child.pid, stop: p.stop };
  },
};

const tailcastSse: Subject = {
  name: "tailcast SSE (1 client)",
  async start(path, onLine) {
    let url = "";
    let ready = false;
    const p = spawn(
      Deno.execPath(),
      ["run", "-A", `${ROOT}main.ts`, "--port", "0", path],
      () => {},
      (t) => {
        const m = t.match(/(http:\/\/\S+)\/events/);
        if (m) {
          url = m[1];
        }
        if (t.includes("following from byte")) {
          ready = true;
        }
      },
    );
    await waitFor(() => url !== "" && ready, 10_000, "tailcast to listen");
    const abort = new AbortController();
    const res = await fetch(`${url}/events`, { signal: abort.signal });
    const reading = lines(res.body!, (t) => {
      if (t.startsWith("data: ")) onLine(t);
    }).catch(() => {});
    return {
      pid: p.child.pid,
      async stop() {
        // Stopping the server ends the stream (it sends `bye`); the abort is a backstop.
        await p.stop();
        const timer = setTimeout(() => abort.abort(), 2000);
        await reading;
        clearTimeout(timer);
      },
    };
  },
};

const LINE = /seq=(\d+) t=([\d.]+)/;

function receiver(total: number): { r: Received; onLine: (t: string) => void } {
  const r: Received = {
    seqs: new Uint8Array(total),
    count: 0,
    dup: 0,
    latencies: [],
    last: 0,
  };
  return {
    r,
    onLine(t) {
      const m = LINE.exec(t);
      if (!m) return;
      const seq = Number(m[1]);
      const now = performance.now();
      if (seq >= total) return;
      if (r.seqs[seq]) r.dup++;
      else {
        r.seqs[seq] = 1;
        r.count++;
      }
      r.latencies.push(now - Number(m[2]));
      r.last = now;
    },
  };
}

function line(seq: number): string {
  const head = `seq=${seq} t=${performance.now().toFixed(3)} `;
  return head + "x".repeat(Math.max(0, 119 - head.length)) + "\n";
}

async function rssPeak(pid: number, until: Promise<unknown>): Promise<number> {
  let peak = 0;
  let done = false;
  until.catch(() => {}).finally(() => (done = true));
  while (!done) {
    try {
      const status = await Deno.readTextFile(`/proc/${pid}/status`);
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      peak = Math.max(peak, kb);
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return peak / 1024;
}

function pct(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[
    Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))
  ];
}

interface Row {
  scenario: string;
  subject: string;
  cells: Record<string, string>;
}

/** Scenario 1: N lines written as fast as possible. */
async function append(subject: Subject, total: number): Promise<Row> {
  const dir = await Deno.makeTempDir({ prefix: "tailcast-bench-" });
  const path = `${dir}/app.log`;
  await Deno.writeTextFile(path, "");
  const { r, onLine } = receiver(total);
  const running = await subject.start(path, onLine);
  const file = await Deno.open(path, { append: true });
  const t0 = performance.now();
  let written = false;
  // Done when everything arrived, or nothing more came for 3 s after the writer finished.
  const delivered = waitFor(
    () =>
      r.count >= total ||
      (written && performance.now() - Math.max(r.last, t0) > 3000),
    180_000,
    `${subject.name} to deliver ${total} lines`,
  );
  const peak = rssPeak(running.pid, delivered);
  const batch = 1000;
  for (let s = 0; s < total; s += batch) {
    let text = "";
    for (let i = s; i < Math.min(total, s + batch); i++) text += line(i);
    await file.write(encoder.encode(text));
  }
  file.close();
  written = true;
  await delivered.catch(() => {});
  const seconds = (r.last - t0) / 1000;
  const mb = await peak;
  await running.stop();
  await Deno.remove(dir, { recursive: true });
  return {
    scenario: `append ${total.toLocaleString("en")} lines`,
    subject: subject.name,
    cells: {
      "lines/s": Math.round(r.count / seconds).toLocaleString("en"),
      "MB/s": ((r.count * 120) / seconds / 1e6).toFixed(1),
      missing: String(total - r.count),
      doubled: String(r.dup),
      "peak RSS MB": mb.toFixed(0),
    },
  };
}

/** Scenario 3: one line per ms; p50–max delay from write to receipt. */
async function latency(subject: Subject, seconds: number): Promise<Row> {
  const dir = await Deno.makeTempDir({ prefix: "tailcast-bench-" });
  const path = `${dir}/app.log`;
  await Deno.writeTextFile(path, "");
  const total = seconds * 1000;
  const { r, onLine } = receiver(total);
  const running = await subject.start(path, onLine);
  const file = await Deno.open(path, { append: true });
  const start = performance.now();
  let seq = 0;
  while (seq < total) {
    const due = Math.floor(performance.now() - start);
    while (seq < total && seq <= due) {
      await file.write(encoder.encode(line(seq++)));
    }
    await new Promise((res) => setTimeout(res, 1));
  }
  file.close();
  await waitFor(() => r.count >= total, 20_000, `${subject.name} latency run`)
    .catch(() => {});
  await running.stop();
  await Deno.remove(dir, { recursive: true });
  const l = r.latencies;
  return {
    scenario: `latency, 1 line/ms for ${seconds} s`,
    subject: subject.name,
    cells: {
      "p50 ms": pct(l, 50).toFixed(2),
      "p90 ms": pct(l, 90).toFixed(2),
      "p99 ms": pct(l, 99).toFixed(2),
      "p99.9 ms": pct(l, 99.9).toFixed(2),
      "max ms": Math.max(...l).toFixed(2),
      missing: String(total - r.count),
    },
  };
}

function table(rows: Row[]): string {
  const out: string[] = [];
  for (const scenario of [...new Set(rows.map((r) => r.scenario))]) {
    const group = rows.filter((r) => r.scenario === scenario);
    const cols = Object.keys(group[0].cells);
    out.push(`### ${scenario}`, "");
    out.push(`| subject | ${cols.join(" | ")} |`);
    out.push(`|---|${cols.map(() => "---").join("|")}|`);
    for (const r of group) {
      out.push(`| ${r.subject} | ${cols.map((c) => r.cells[c]).join(" | ")} |`);
    }
    out.push("");
  }
  return out.join("\n");
}

function ratios(rows: Row[]): string {
  const get = (scenario: string, subject: string, col: string) =>
    Number(
      rows.find((r) => r.scenario.startsWith(scenario) && r.subject === subject)
        ?.cells[col]?.replace(/,/g, ""),
    );
  const out: string[] = ["### Ratios against GNU tail -F (same run)", ""];
  const base = get("append", "GNU tail -F", "lines/s");
  for (const s of [tailcastStdout.name, tailcastSse.name]) {
    out.push(
      `- append throughput, ${s}: ${
        (get("append", s, "lines/s") / base).toFixed(2)
      }× tail -F (target ≥ 1.0×)`,
    );
  }
  const p99 = get("latency", "GNU tail -F", "p99 ms");
  for (const s of [tailcastStdout.name, tailcastSse.name]) {
    out.push(
      `- latency p99, ${s}: ${get("latency", s, "p99 ms").toFixed(2)} ms vs ${
        p99.toFixed(2)
      } ms (target ≤ tail -F + 0.5 ms)`,
    );
  }
  return out.join("\n") + "\n";
}

const subjects = [tailSubject, tailcastStdout, tailcastSse];
const rows: Row[] = [];
const total = QUICK ? 200_000 : 1_000_000;
for (const s of subjects) rows.push(await append(s, total));
for (const s of subjects) rows.push(await latency(s, QUICK ? 3 : 10));

const nproc = (await new Deno.Command("nproc").output()).stdout;
const mem = Math.round(Deno.systemMemoryInfo().total / 1024 ** 3);
const header = [
  `# tailcast benchmarks`,
  "",
  `Run on ${new Date().toISOString().slice(0, 10)}: ${
    new TextDecoder().decode(nproc).trim()
  } cores, ${mem} GiB, Deno ${Deno.version.deno}.`,
  `Command: \`deno task bench${QUICK ? " --quick" : ""}${
    args.values.write ? ` --write ${args.values.write}` : ""
  }\``,
  "",
].join("\n");
const report = header + "\n" + table(rows) + ratios(rows);
await Deno.stdout.write(encoder.encode(report));
if (args.values.write) await Deno.writeTextFile(args.values.write, report);
