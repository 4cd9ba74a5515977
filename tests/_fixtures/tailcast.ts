/**
 * Runs the real entry point as a subprocess and collects what it prints.
 * `TAILCAST_ENTRY` selects the entry (default `main.ts`; e.g.
 * `dist/tailcast.js` to test the bundle), `TAILCAST_PERMS` the permission
 * flags (default `-A`, space-separated) and `TAILCAST_WORKERS` the threads
 * that serve subscribers (`--workers`; default: tailcast's, the cores).
 * It runs with `--unstable-net`, as `deno task start` and the binary do.
 */
import { fileURLToPath } from "node:url";
import { concat } from "@std/bytes/concat";
import { RUNTIME_V8_FLAGS } from "../../src/runtime.ts";
import { waitFor } from "./wait.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** `--workers` from TAILCAST_WORKERS, unless the test gives its own. */
function workers(args: readonly string[]): string[] {
  const n = Deno.env.get("TAILCAST_WORKERS");
  if (!n || args.some((a) => a.startsWith("--workers"))) return [];
  return ["--workers", n];
}

/** A tailcast subprocess with its stdout lines and stderr lines. */
export class TailcastProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  /** Complete stdout lines so far. */
  readonly stdout: string[] = [];
  /** Complete stderr lines so far. */
  readonly stderr: string[] = [];
  readonly #stdoutChunks: Uint8Array[] = [];
  readonly #reading: Promise<void>;
  #status: Deno.CommandStatus | null = null;

  constructor(
    args: readonly string[],
    options: {
      cwd?: string;
      env?: Record<string, string>;
      stdin?: "piped" | "null";
      /** Entry file (absolute, or relative to the repository). */
      entry?: string;
      /** Permission flags for `deno run`. */
      perms?: readonly string[];
      /** Run through this command prefix, e.g. `["setpriv", "--reuid=nobody", …]`. */
      prefix?: readonly string[];
      /** Start with V8's linear-time regex engine, as every task does. @default true */
      v8Flags?: boolean;
      /** Start with `--unstable-net` (threads sharing a port), as every task does. @default true */
      unstableNet?: boolean;
      /** Close stdout once this many lines came, as `| head -n N` does. */
      headLines?: number;
      /**
       * Read nothing from stdout until the process exits, as a reader that
       * stopped: the pipe fills and tailcast's writes block. What the pipe
       * held is read after the exit.
       */
      stdoutBlocked?: boolean;
    } = {},
  ) {
    const entry = options.entry ?? Deno.env.get("TAILCAST_ENTRY") ?? "main.ts";
    const perms = options.perms ??
      (Deno.env.get("TAILCAST_PERMS") ?? "-A").split(" ").filter(Boolean);
    const prefix = options.prefix ?? [];
    const deno = [
      Deno.execPath(),
      "run",
      ...(options.v8Flags === false ? [] : [`--v8-flags=${RUNTIME_V8_FLAGS}`]),
      ...(options.unstableNet === false ? [] : ["--unstable-net"]),
      ...perms,
      entry.startsWith("/") ? entry : ROOT + entry,
      ...workers(args),
      ...args,
    ];
    this.child = new Deno.Command(prefix[0] ?? deno[0], {
      args: prefix.length > 0 ? [...prefix.slice(1), ...deno] : deno.slice(1),
      cwd: options.cwd ?? ROOT,
      env: options.env,
      stdin: options.stdin ?? "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = () =>
      collect(
        this.child.stdout,
        this.stdout,
        this.#stdoutChunks,
        options.headLines,
      );
    this.#reading = Promise.all([
      options.stdoutBlocked ? this.child.status.then(stdout) : stdout(),
      collect(this.child.stderr, this.stderr),
    ]).then(() => {});
  }

  /** Everything written to stdout so far, byte for byte. */
  get stdoutBytes(): Uint8Array {
    return concat(this.#stdoutChunks);
  }

  /** Parsed NDJSON events from stdout. */
  get events(): Array<Record<string, unknown>> {
    return this.stdout.map((l) => JSON.parse(l));
  }

  /** Waits for a stderr line matching `pattern`; returns its match. */
  async waitForStderr(
    pattern: RegExp,
    timeoutMs = 10_000,
  ): Promise<RegExpMatchArray> {
    let found: RegExpMatchArray | null = null;
    await waitFor(
      () => {
        for (const line of this.stderr) {
          found = line.match(pattern);
          if (found) return true;
        }
        return this.#status !== null;
      },
      `stderr matching ${pattern} (stderr so far: ${
        JSON.stringify(this.stderr.slice(-5))
      })`,
      timeoutMs,
    );
    if (!found) {
      throw new Error(
        `tailcast exited before printing ${pattern}: ${this.stderr.join("\n")}`,
      );
    }
    return found;
  }

  /** The base URL printed at start-up (`http://host:port`). */
  async url(): Promise<string> {
    const m = await this.waitForStderr(/(http:\/\/[^/\s]+)\/events/);
    return m[1];
  }

  /** Waits until `count` stdout lines have arrived. */
  async waitForLines(count: number, timeoutMs = 20_000): Promise<void> {
    await waitFor(
      () => this.stdout.length >= count,
      `${count} stdout lines (have ${this.stdout.length}; stderr: ${
        JSON.stringify(this.stderr.slice(-3))
      })`,
      timeoutMs,
    );
  }

  /** Sends `signal` and waits for exit and for the output to be read. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    if (this.#status === null) {
      try {
        this.child.kill(signal);
      } catch {
        // Already exited.
      }
    }
    return await this.exited();
  }

  /** Waits for exit (and all output). */
  async exited(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    this.#status = status;
    await this.#reading;
    return status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
  }
}

async function collect(
  stream: ReadableStream<Uint8Array>,
  into: string[],
  raw: Uint8Array[] = [],
  head = Infinity,
): Promise<void> {
  let carry = "";
  const kept = stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        raw.push(chunk);
        controller.enqueue(chunk);
      },
    }),
  );
  for await (const text of kept.pipeThrough(new TextDecoderStream())) {
    const parts = (carry + text).split("\n");
    carry = parts.pop() ?? "";
    into.push(...parts);
    if (into.length >= head) {
      // Leaving the loop cancels the stream, which closes the pipe.
      into.splice(head);
      return;
    }
  }
  if (carry) into.push(carry);
}
