/**
 * `--pid`: when a process has ended, seen through /proc (the binary may read
 * files but not run or signal processes, so there is no `kill -0`). A process
 * is known by its start time as well as its PID, so a PID reused by a new
 * process is not taken for it, and a zombie counts as ended.
 */
import { delay } from "@std/async/delay";
import { ConfigError } from "./errors.ts";

/**
 * A process found at start-up, to stop when it ends.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { WatchedProcess } from "./pid.ts";
 * if (Deno.build.os === "linux") {
 *   const self = await WatchedProcess.find(Deno.pid);
 *   assertEquals(await self.ended(), false);
 * }
 * ```
 */
export class WatchedProcess {
  readonly pid: number;
  /** Its start time in /proc; null when it was not running at start-up. */
  readonly #started: string | null;

  private constructor(pid: number, started: string | null) {
    this.pid = pid;
    this.#started = started;
  }

  /** Looks process `pid` up. Throws ConfigError where processes cannot be seen. */
  static async find(pid: number): Promise<WatchedProcess> {
    const cannot = `Cannot watch --pid ${pid}`;
    if (Deno.build.os !== "linux") {
      throw new ConfigError(
        "--pid",
        `${cannot} on ${Deno.build.os}: tailcast sees processes through /proc, which only Linux has`,
      );
    }
    try {
      return new WatchedProcess(pid, await startTime(pid));
    } catch (error) {
      throw new ConfigError(
        "--pid",
        error instanceof Deno.errors.NotCapable
          ? `${cannot}: Deno read permission denied for /proc (run with --allow-read=/proc)`
          : `${cannot}: ${error instanceof Error ? error.message : error}`,
      );
    }
  }

  /** Whether it has ended: gone, a zombie, or its PID now names another process. */
  async ended(): Promise<boolean> {
    if (this.#started === null) return true;
    try {
      return await startTime(this.pid) !== this.#started;
    } catch {
      // Cannot tell now (it may be exiting while read): the next check will.
      return false;
    }
  }

  /** Resolves true once it has ended, checking every `intervalMs`; false if `signal` aborts first. */
  async waitForEnd(intervalMs: number, signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      if (await this.ended()) return true;
      try {
        await delay(intervalMs, { signal });
      } catch {
        return false;
      }
    }
    return false;
  }
}

/** Field 22 of /proc/PID/stat, when the process started; null if it is gone or a zombie. */
async function startTime(pid: number): Promise<string | null> {
  let stat: string;
  try {
    stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
  // Field 2, the command, is in parentheses and may hold spaces and ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  return state === "Z" || state === "X" ? null : fields[19];
}
