/**
 * A command as a source (`--exec [name=]CMD`): what it writes to standard
 * output, as the lines of `exec:<name>`; each line it writes to standard
 * error, as a `stderr` notice. When it exits, whatever its status, it is
 * started again after a delay that doubles from `minDelayMs` up to
 * `maxDelayMs` (back to the shortest once a run lasted `stableMs`), and each
 * restart is a `restart` notice. A last line without a newline is flushed
 * (marked partial) when the run that wrote it ends.
 *
 * Its lines are on no disk, so they carry the UNSTORED identity: a
 * subscriber that falls behind them is told how many it lost. Reading waits
 * while the stream's queue is full, so a slow pipeline leaves the output in
 * the command's pipe and the command waits, as in `cmd | tailcast -`.
 *
 * Owns the running child: when the signal aborts it is sent SIGTERM, and
 * SIGKILL if it has not exited after `killAfterMs`; `done` resolves once it
 * has, and its pipes are closed.
 */
import { delay } from "@std/async/delay";
import { concat } from "@std/bytes/concat";
import { SourceError } from "../errors.ts";
import {
  type Chunk,
  type Notice,
  type NoticeSink,
  UNSTORED,
} from "../types.ts";

/** How a command source is run. */
export interface ExecOptions {
  /** The source's name, `exec:<name>`. */
  source: string;
  /** The program and its arguments. */
  argv: readonly string[];
  /** The flag as given, for error messages (`--exec journal=journalctl -f`). */
  flag: string;
  /** Stops it: the command is ended, the stream closed. */
  signal: AbortSignal;
  /** Told every notice as it happens (they are in `readable` too, in order). */
  notice?: NoticeSink;
  /** First delay before a restart, ms. @default 500 */
  minDelayMs?: number;
  /** Longest delay before a restart, ms. @default 30000 */
  maxDelayMs?: number;
  /** A run at least this long resets the delay to the shortest, ms. @default 10000 */
  stableMs?: number;
  /** How long a stopped command has after SIGTERM before SIGKILL, ms. @default 500 */
  killAfterMs?: number;
  /** Chunks and notices queued before reading pauses. @default 4 */
  highWaterMark?: number;
}

/** Bytes of a standard error line kept in its notice; the rest is cut. */
export const MAX_STDERR_LINE = 4096;

const NL = 0x0a;
const decoder = new TextDecoder();

/**
 * Refuses, with a SourceError naming the flag that would allow it, a
 * program Deno may not run.
 */
export async function checkRun(program: string, flag: string): Promise<void> {
  const { state } = await Deno.permissions.query({
    name: "run",
    command: program,
  });
  if (state !== "granted") throw runDenied(program, flag);
}

function runDenied(program: string, flag: string): SourceError {
  return new SourceError(
    flag,
    `Cannot run "${program}" for ${flag}: Deno run permission denied (run with --allow-run=${program}; a compiled binary must be built with it)`,
  );
}

/**
 * One command source: `readable` yields its output as chunks and its
 * standard error lines and restarts as notices; `done` resolves once the
 * command has ended and its pipes are closed, after the signal aborted.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ExecSource } from "./exec.ts";
 * import { type Chunk, isMark } from "../types.ts";
 * const abort = new AbortController();
 * const exec = await ExecSource.start({
 *   source: "exec:echo", argv: ["echo", "hello"], flag: "--exec echo hello",
 *   signal: abort.signal,
 * });
 * const reader = exec.readable.getReader();
 * let value = (await reader.read()).value;
 * while (value && isMark(value)) value = (await reader.read()).value;
 * assertEquals(new TextDecoder().decode((value as Chunk).bytes), "hello\n");
 * abort.abort();
 * while (!(await reader.read()).done);
 * await exec.done;
 * ```
 */
export class ExecSource {
  /** Its lines as chunks, with its notices in order. */
  readonly readable: ReadableStream<Chunk | Notice>;
  /** Resolves once it stopped and closed what it owns. */
  readonly done: Promise<void>;
  readonly #options: ExecOptions;
  readonly #observe: NoticeSink;
  #controller!: ReadableStreamDefaultController<Chunk | Notice>;
  #demand: PromiseWithResolvers<void> | null = null;
  #child: Deno.ChildProcess | null = null;
  /** The running child's pipes, cancelled when stopping. */
  #pipes: ReadableStreamDefaultReader<unknown>[] = [];
  #offset = 0;
  #stopped = false;

  private constructor(options: ExecOptions, first: Deno.ChildProcess) {
    this.#options = options;
    this.#observe = options.notice ?? (() => {});
    this.readable = new ReadableStream<Chunk | Notice>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => this.#satisfy(),
        cancel: () => this.#stop(),
      },
      new CountQueuingStrategy({ highWaterMark: options.highWaterMark ?? 4 }),
    );
    const onAbort = () => this.#stop();
    options.signal.addEventListener("abort", onAbort, { once: true });
    this.done = this.#run(first).finally(() =>
      options.signal.removeEventListener("abort", onAbort)
    );
  }

  /**
   * Checks that the program may be run and starts it. Throws SourceError
   * naming the flag when Deno may not run it or it cannot be started.
   */
  static async start(options: ExecOptions): Promise<ExecSource> {
    const program = options.argv[0];
    await checkRun(program, options.flag);
    let child: Deno.ChildProcess;
    try {
      child = spawn(options.argv);
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) {
        throw runDenied(program, options.flag);
      }
      throw new SourceError(
        options.flag,
        `Cannot run "${program}" for ${options.flag}: ${whyNot(error)}`,
      );
    }
    return new ExecSource(options, child);
  }

  async #run(first: Deno.ChildProcess): Promise<void> {
    const min = this.#options.minDelayMs ?? 500;
    const max = this.#options.maxDelayMs ?? 30_000;
    const stable = this.#options.stableMs ?? 10_000;
    // Not @std/async's retry: that retries a call until it succeeds; this
    // restarts a command forever and starts over once a run went well.
    let wait = min;
    let restarts = 0;
    let child: Deno.ChildProcess | null = first;
    try {
      for (;;) {
        const started = performance.now();
        let ended: Deno.CommandStatus | null = null;
        // Read even when stopped meanwhile: the child must be ended and awaited.
        if (child) {
          ended = await this.#read(child);
          child = null;
        }
        this.#flush();
        if (this.#stopped) break;
        if (performance.now() - started >= stable) wait = min;
        if (ended) {
          restarts++;
          this.#notice({
            kind: "restart",
            source: this.#options.source,
            code: ended.signal === null ? ended.code : null,
            signal: ended.signal,
            restarts,
            delayMs: wait,
          });
        }
        try {
          await delay(wait, { signal: this.#options.signal });
        } catch {
          break;
        }
        wait = Math.min(max, wait * 2);
        try {
          child = spawn(this.#options.argv);
        } catch (error) {
          this.#notice({
            kind: "error",
            source: this.#options.source,
            message: `cannot start "${this.#options.argv[0]}" again: ${
              whyNot(error)
            }; trying again in ${Math.round(wait / 100) / 10} s`,
          });
        }
      }
    } finally {
      this.#stopped = true;
      try {
        this.#controller.close();
      } catch {
        // Already closed or cancelled by the consumer.
      }
    }
  }

  /**
   * One run: its output read to the end of both pipes, then its exit status.
   * A child of the command that keeps the pipes open keeps the run going.
   */
  async #read(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
    this.#child = child;
    const out = child.stdout.getReader();
    const err = child.stderr.getReader();
    this.#pipes = [out, err];
    // Stopped while it was being started: it must not run on.
    if (this.#stopped) this.#stop();
    let killer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.all([this.#stdout(out), this.#stderr(err)]);
      if (this.#stopped) {
        killer = setTimeout(
          () => kill(child, "SIGKILL"),
          this.#options.killAfterMs ?? 500,
        );
      }
      return await child.status;
    } finally {
      clearTimeout(killer);
      this.#child = null;
      this.#pipes = [];
    }
  }

  async #stdout(
    reader: ReadableStreamDefaultReader<Uint8Array>,
  ): Promise<void> {
    try {
      while (!this.#stopped) {
        await this.#room();
        if (this.#stopped) break;
        const { done, value } = await reader.read();
        if (done) break;
        this.#controller.enqueue({
          source: this.#options.source,
          file: UNSTORED,
          offset: this.#offset,
          bytes: value,
          noticed: performance.now(),
        });
        this.#offset += value.length;
      }
    } catch {
      // The pipe broke: the run is over, its status says why.
    } finally {
      await reader.cancel().catch(() => {});
    }
  }

  /**
   * Standard error, line by line, each line a notice (its first
   * {@link MAX_STDERR_LINE} bytes). Not @std/streams' CappedDelimiterStream:
   * it waits for `limit` bytes or the end before it yields, so a live
   * command's lines would be held back.
   */
  async #stderr(
    reader: ReadableStreamDefaultReader<Uint8Array>,
  ): Promise<void> {
    let parts: Uint8Array[] = [];
    let length = 0;
    let cut = false;
    const line = async () => {
      let text = decoder.decode(concat(parts));
      if (!cut && text.endsWith("\r")) text = text.slice(0, -1);
      parts = [];
      length = 0;
      if (cut) text += "…";
      cut = false;
      await this.#room();
      if (this.#stopped) return;
      this.#notice({
        kind: "stderr",
        source: this.#options.source,
        line: text,
      });
    };
    try {
      while (!this.#stopped) {
        const { done, value } = await reader.read();
        if (done) break;
        for (let from = 0; from < value.length;) {
          const nl = value.indexOf(NL, from);
          const end = nl === -1 ? value.length : nl;
          const keep = Math.min(end - from, MAX_STDERR_LINE - length);
          if (keep > 0) {
            parts.push(value.slice(from, from + keep));
            length += keep;
          }
          if (end - from > keep) cut = true;
          if (nl === -1) break;
          await line();
          from = nl + 1;
        }
      }
      if (length > 0 || cut) await line();
    } catch {
      // The pipe broke: the run is over.
    } finally {
      await reader.cancel().catch(() => {});
    }
  }

  /** The run ended: a last line without newline is complete now. */
  #flush(): void {
    try {
      this.#controller.enqueue({
        source: this.#options.source,
        file: UNSTORED,
        offset: this.#offset,
        bytes: new Uint8Array(0),
        noticed: performance.now(),
        end: true,
      });
    } catch {
      // The consumer is gone.
    }
  }

  async #room(): Promise<void> {
    while (!this.#stopped && (this.#controller.desiredSize ?? 0) <= 0) {
      this.#demand ??= Promise.withResolvers<void>();
      await this.#demand.promise;
    }
  }

  #satisfy(): void {
    const demand = this.#demand;
    this.#demand = null;
    demand?.resolve();
  }

  #stop(): void {
    this.#stopped = true;
    if (this.#child) kill(this.#child, "SIGTERM");
    // A child of the command may hold the pipes open: stop reading them.
    for (const pipe of this.#pipes) pipe.cancel().catch(() => {});
    this.#satisfy();
  }

  #notice(notice: Notice): void {
    this.#observe(notice);
    try {
      this.#controller.enqueue(notice);
    } catch {
      // The consumer is gone.
    }
  }
}

function spawn(argv: readonly string[]): Deno.ChildProcess {
  return new Deno.Command(argv[0], {
    args: argv.slice(1),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

function kill(child: Deno.ChildProcess, signal: Deno.Signal): void {
  try {
    child.kill(signal);
  } catch {
    // It has exited already.
  }
}

/** Why a program could not be started, in words a user can act on. */
function whyNot(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) {
    return "no such program (check its name, or give its full path)";
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return "permission denied by the operating system (is it executable by this user?)";
  }
  return error instanceof Error ? error.message : String(error);
}
