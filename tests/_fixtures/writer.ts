/**
 * A log writer for end-to-end tests, run as its own process:
 *
 *     deno run -A tests/_fixtures/writer.ts --path P [--rate N] [--seconds S]
 *       [--count C] [--rotate rename|copytruncate|none] [--rotate-every-ms M]
 *       [--reopen-on-rotate]
 *
 * Writes lines `seq=<n> xxx…` of exactly {@link LINE_BYTES} bytes (newline
 * included), numbered from 0, through one O_APPEND handle, one write call per
 * batch, so a rotation never falls inside a line.
 *
 * - `--rate N`: N lines per second, written in batches on every ~1 ms tick
 *   (what is due since the start); without it, as fast as possible.
 * - `--seconds S` / `--count C`: stop after S seconds or C lines, whichever
 *   comes first. Without either, it writes until SIGTERM or SIGINT, which
 *   also stop it early (cleanly, after the current batch).
 * - `--rotate rename`: every M ms, `rename(P, P.<k>)` with k = 1, 2, … (no
 *   file is ever overwritten or deleted), then reopen P with create+append.
 *   With `--reopen-delay-ms D`, it keeps writing to the renamed file for D ms
 *   before it reopens P, like a daemon that reopens its log on SIGHUP.
 * - `--rotate copytruncate`: every M ms, copy P to `P.<k>`, then truncate P to
 *   0 bytes, keeping the O_APPEND handle (like logrotate's copytruncate).
 * - `--reopen-on-rotate`: every few ms, stat P; when it names a file other
 *   than the open one (someone else, e.g. logrotate `create`, rotated it),
 *   reopen P. While P does not exist it keeps writing to the open file and
 *   never creates P itself, so it cannot race logrotate's `create`.
 *
 * At the end it prints `{"written": n, "rotations": k}` on stdout and exits 0
 * (`rotations` counts its own rotations plus the reopens it detected).
 */
import { parseArgs } from "node:util";

/** Bytes per line, newline included. */
export const LINE_BYTES = 100;

/** The text of line `seq` without its newline. */
export function lineText(seq: number): string {
  const head = `seq=${seq} `;
  return head + "x".repeat(LINE_BYTES - 1 - head.length);
}

/** The sequence number of a line the writer wrote, or null if it is not one. */
export function parseSeq(line: string): number | null {
  const m = /^seq=(\d+) x+$/.exec(line);
  return m && line.length === LINE_BYTES - 1 ? Number(m[1]) : null;
}

type Rotate = "rename" | "copytruncate" | "none";

interface Options {
  path: string;
  rate: number | null;
  seconds: number | null;
  count: number | null;
  rotate: Rotate;
  rotateEveryMs: number;
  reopenDelayMs: number;
  reopenOnRotate: boolean;
}

function fail(message: string): never {
  Deno.stderr.writeSync(new TextEncoder().encode(`writer: ${message}\n`));
  Deno.exit(2);
}

function number(name: string, value: string | undefined): number | null {
  if (value === undefined) return null;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) fail(`bad --${name} ${value}`);
  return n;
}

function parse(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      path: { type: "string" },
      rate: { type: "string" },
      seconds: { type: "string" },
      count: { type: "string" },
      rotate: { type: "string", default: "none" },
      "rotate-every-ms": { type: "string", default: "500" },
      "reopen-delay-ms": { type: "string", default: "0" },
      "reopen-on-rotate": { type: "boolean", default: false },
    },
    strict: true,
  });
  if (!values.path) fail("--path is required");
  const rotate = values.rotate;
  if (rotate !== "rename" && rotate !== "copytruncate" && rotate !== "none") {
    fail(`bad --rotate ${rotate}`);
  }
  const rate = number("rate", values.rate);
  return {
    path: values.path,
    rate: rate === 0 ? null : rate,
    seconds: number("seconds", values.seconds),
    count: number("count", values.count),
    rotate,
    rotateEveryMs: number("rotate-every-ms", values["rotate-every-ms"]) ?? 500,
    reopenDelayMs: number("reopen-delay-ms", values["reopen-delay-ms"]) ?? 0,
    reopenOnRotate: values["reopen-on-rotate"],
  };
}

const encoder = new TextEncoder();

function batch(from: number, n: number): Uint8Array {
  let text = "";
  for (let i = 0; i < n; i++) text += lineText(from + i) + "\n";
  return encoder.encode(text);
}

function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let at = 0;
  while (at < bytes.length) at += file.writeSync(bytes.subarray(at));
}

function open(path: string): Deno.FsFile {
  return Deno.openSync(path, { append: true, create: true });
}

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 1));
}

async function run(
  o: Options,
): Promise<{ written: number; rotations: number }> {
  let stop = false;
  const onSignal = () => {
    stop = true;
  };
  Deno.addSignalListener("SIGTERM", onSignal);
  Deno.addSignalListener("SIGINT", onSignal);

  let file = open(o.path);
  let ino = file.statSync().ino;
  let written = 0;
  let rotations = 0;
  let suffix = 0;
  const start = performance.now();
  let nextRotate = start + o.rotateEveryMs;
  let nextReopenCheck = start;
  /** When the renamed file is to be replaced by a new P (rename with a delay). */
  let reopenAt: number | null = null;
  const limit = o.count ?? Infinity;
  const endAt = o.seconds === null ? Infinity : start + o.seconds * 1000;
  // As fast as possible: big batches, with a turn of the event loop between
  // them so signals are seen.
  const fastBatch = 1000;

  while (!stop && written < limit) {
    const now = performance.now();
    const last = now >= endAt;

    if (
      !last && o.rotate !== "none" && reopenAt === null && now >= nextRotate
    ) {
      nextRotate = now + o.rotateEveryMs;
      suffix++;
      rotations++;
      if (o.rotate === "rename") {
        Deno.renameSync(o.path, `${o.path}.${suffix}`);
        reopenAt = now + o.reopenDelayMs;
      } else {
        Deno.copyFileSync(o.path, `${o.path}.${suffix}`);
        Deno.truncateSync(o.path, 0);
      }
    }

    if (reopenAt !== null && now >= reopenAt) {
      reopenAt = null;
      const old = file;
      file = open(o.path);
      old.close();
    }

    if (!last && o.reopenOnRotate && now >= nextReopenCheck) {
      nextReopenCheck = now + 3;
      let current: number | null = null;
      try {
        current = Deno.statSync(o.path).ino;
      } catch {
        current = null; // Renamed away, not yet recreated: keep writing.
      }
      if (current !== null && current !== ino) {
        const old = file;
        file = open(o.path);
        ino = file.statSync().ino;
        old.close();
        rotations++;
      }
    }

    let due: number;
    if (o.rate === null) {
      due = fastBatch;
    } else {
      const elapsed = Math.min(now, endAt) - start;
      due = Math.floor(elapsed * o.rate / 1000) - written;
    }
    due = Math.min(due, limit - written);
    if (due > 0) {
      writeAll(file, batch(written, due));
      written += due;
    }
    if (last) break;
    if (o.rate !== null || written % (fastBatch * 20) === 0) await tick();
  }

  file.close();
  Deno.removeSignalListener("SIGTERM", onSignal);
  Deno.removeSignalListener("SIGINT", onSignal);
  return { written, rotations };
}

if (import.meta.main) {
  const result = await run(parse(Deno.args));
  await Deno.stdout.write(encoder.encode(JSON.stringify(result) + "\n"));
}
