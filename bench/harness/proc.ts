/**
 * Processes, files and time bounds for the end-to-end benchmark.
 *
 * Every child process and temporary directory belongs to a {@link Scope};
 * closing the scope kills what is still running (SIGTERM, then SIGKILL) and
 * removes the directories, whether the scenario finished, failed or timed
 * out. {@link closeAll} is the backstop for a signal to the harness itself.
 */

const encoder = new TextEncoder();

/** Writes one line to stderr (the lint config forbids console.*). */
export function say(text: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(text + "\n"));
  } catch {
    // stderr is gone.
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves once `check()` is true; throws after `ms`. */
export async function waitFor(
  check: () => boolean,
  ms: number,
  what: string,
  every = 5,
): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    }
    await sleep(every);
  }
}

/** A running child: its stdout handed to `onChunk` as it arrives, its stderr kept. */
export interface Child {
  readonly pid: number;
  readonly process: Deno.ChildProcess;
  /** Bytes read from its stdout so far. */
  readonly stdoutBytes: () => number;
  /** The stderr lines seen so far (the last 200). */
  readonly stderr: string[];
  /** Resolves when stdout and stderr have ended and the process exited. */
  readonly finished: Promise<Deno.CommandStatus>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it is gone. */
  stop(graceMs?: number): Promise<Deno.CommandStatus>;
}

export interface SpawnOptions {
  onChunk?: (chunk: Uint8Array, now: number) => void;
  onStderrLine?: (line: string) => void;
  env?: Record<string, string>;
}

const scopes = new Set<Scope>();

/** What one scenario run owns: children, temporary directories, other cleanups. */
export class Scope {
  readonly #children = new Set<Child>();
  readonly #dirs: string[] = [];
  readonly #cleanups: (() => Promise<void> | void)[] = [];
  #closed = false;

  constructor() {
    scopes.add(this);
  }

  async tempDir(): Promise<string> {
    const dir = await Deno.makeTempDir({ prefix: "tailcast-bench-" });
    this.#dirs.push(dir);
    return dir;
  }

  /** Runs `fn` when the scope closes (last registered, first run). */
  defer(fn: () => Promise<void> | void): void {
    this.#cleanups.push(fn);
  }

  spawn(cmd: string, args: string[], options: SpawnOptions = {}): Child {
    if (this.#closed) throw new Error("bench: spawn in a closed scope");
    const process = new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: options.env,
    }).spawn();
    let bytes = 0;
    const stderr: string[] = [];
    const onChunk = options.onChunk;
    const out = (async () => {
      const reader = process.stdout.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          bytes += value.length;
          onChunk?.(value, performance.now());
        }
      } catch {
        // The pipe broke: the process is gone.
      } finally {
        reader.releaseLock();
      }
    })();
    const err = (async () => {
      let carry = "";
      const decoder = new TextDecoder();
      try {
        for await (const chunk of process.stderr) {
          const parts = (carry + decoder.decode(chunk, { stream: true }))
            .split("\n");
          carry = parts.pop() ?? "";
          for (const line of parts) {
            stderr.push(line);
            if (stderr.length > 200) stderr.shift();
            options.onStderrLine?.(line);
          }
        }
      } catch {
        // The pipe broke: the process is gone.
      }
      if (carry) stderr.push(carry);
    })();
    const finished = (async () => {
      const status = await process.status;
      await out;
      await err;
      return status;
    })();
    const child: Child = {
      pid: process.pid,
      process,
      stdoutBytes: () => bytes,
      stderr,
      finished,
      stop: async (graceMs = 3000) => {
        signal(process, "SIGTERM");
        const timer = setTimeout(() => signal(process, "SIGKILL"), graceMs);
        try {
          return await finished;
        } finally {
          clearTimeout(timer);
          this.#children.delete(child);
        }
      },
    };
    this.#children.add(child);
    return child;
  }

  /** Stops every child still running, runs the cleanups, removes the directories. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#children].map((c) => c.stop(2000)));
    for (const fn of this.#cleanups.reverse()) {
      try {
        await fn();
      } catch (error) {
        say(`bench: cleanup failed: ${error}`);
      }
    }
    for (const dir of this.#dirs) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
    scopes.delete(this);
  }
}

function signal(p: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    p.kill(sig);
  } catch {
    // Already exited.
  }
}

/** Closes every open scope (on SIGINT/SIGTERM to the harness). */
export async function closeAll(): Promise<void> {
  await Promise.all([...scopes].map((s) => s.close()));
}

/** Runs `fn` in a fresh scope bounded by `ms`; the scope is closed whatever happens. */
export async function bounded<T>(
  what: string,
  ms: number,
  fn: (scope: Scope) => Promise<T>,
): Promise<T> {
  const scope = new Scope();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: exceeded its ${ms / 1000} s bound`)),
      ms,
    );
  });
  try {
    return await Promise.race([fn(scope), timeout]);
  } finally {
    clearTimeout(timer);
    await scope.close();
  }
}

/** Resident set size of `pid` in MiB, or NaN once it is gone. */
export function rssMiB(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; keeps the peak. */
export class RssSampler {
  peak = 0;
  last = NaN;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(readonly pid: number, everyMs = 50) {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  #sample(): void {
    const mb = rssMiB(this.pid);
    if (!Number.isNaN(mb)) {
      this.last = mb;
      if (mb > this.peak) this.peak = mb;
    }
  }

  /** Takes one more sample and stops. */
  stop(): { peak: number; last: number } {
    this.#sample();
    clearInterval(this.#timer);
    return { peak: this.peak, last: this.last };
  }
}

/** Soft and hard open-file limits of this process. */
export function fdLimits(): { soft: number; hard: number } {
  const limits = Deno.readTextFileSync(`/proc/${Deno.pid}/limits`);
  const m = /Max open files\s+(\S+)\s+(\S+)/.exec(limits);
  const n = (s: string | undefined) =>
    s === undefined || s === "unlimited" ? Infinity : Number(s);
  return { soft: n(m?.[1]), hard: n(m?.[2]) };
}

/**
 * Raises this process's open-file limit to `want` (or as far as the hard
 * limit allows, which only a privileged process can raise) with `prlimit`.
 * Returns the soft limit now in force.
 */
export async function raiseFdLimit(want: number): Promise<number> {
  const { soft, hard } = fdLimits();
  if (soft >= want) return soft;
  const tryLimit = async (n: number) => {
    try {
      const out = await new Deno.Command("prlimit", {
        args: [`--pid=${Deno.pid}`, `--nofile=${n}:${Math.max(n, hard)}`],
        stdout: "null",
        stderr: "null",
      }).output();
      return out.success;
    } catch {
      return false;
    }
  };
  if (!await tryLimit(want) && hard !== Infinity && hard > soft) {
    await tryLimit(hard);
  }
  return fdLimits().soft;
}

/** Output of a command, trimmed; "" if it cannot run. */
export async function commandText(
  cmd: string,
  args: string[],
  env?: Record<string, string>,
): Promise<string> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      env,
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim();
  } catch {
    return "";
  }
}
