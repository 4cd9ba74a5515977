/**
 * Helpers for restart tests (`--state`): the writer fixture as a separate
 * process, a seeded random source, and reading the `seq=<n>` lines a
 * tailcast run printed (a run killed with SIGKILL may leave half a line).
 */
import { assertEquals, assertNotEquals } from "@std/assert";
import { ROOT, type TailcastProcess } from "./tailcast.ts";
import { parseSeq } from "./writer.ts";
import { mulberry32 } from "./random.ts";

/** Kill moments are reproducible from the seed. */
export const seeded = mulberry32;

const WRITER = ROOT + "tests/_fixtures/writer.ts";
const decoder = new TextDecoder();

/** `tests/_fixtures/writer.ts` as its own process. */
export class WriterProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly #output: Promise<Deno.CommandOutput>;

  constructor(args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", WRITER, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#output = this.child.output();
  }

  /** Waits for the writer to end; how many lines it wrote. */
  async result(): Promise<{ written: number; rotations: number }> {
    const out = await this.#output;
    assertEquals(out.code, 0, `writer failed: ${decoder.decode(out.stderr)}`);
    return JSON.parse(decoder.decode(out.stdout));
  }

  /** Stops the writer (SIGTERM, after its current batch); how many lines it wrote. */
  stop(): Promise<{ written: number; rotations: number }> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Already ended.
    }
    return this.result();
  }

  /** Freezes the writer (SIGSTOP) until {@link resume}. */
  pause(): void {
    this.child.kill("SIGSTOP");
  }

  resume(): void {
    this.child.kill("SIGCONT");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGCONT");
      this.child.kill("SIGKILL");
    } catch {
      // Already ended.
    }
    await this.#output.catch(() => {});
  }
}

/** One NDJSON line event as tailcast prints it. */
export interface PrintedEvent {
  id: string;
  source: string;
  offset: number;
  line: string;
}

/**
 * The events of a run's stdout. Only the very last line of a run that was
 * killed may be cut short (its write was interrupted); it was then not
 * delivered, so its cursor did not move past it, and it is left out.
 */
export function printed(tc: TailcastProcess, killed: boolean): PrintedEvent[] {
  const out: PrintedEvent[] = [];
  tc.stdout.forEach((text, i) => {
    try {
      out.push(JSON.parse(text));
    } catch (error) {
      if (killed && i === tc.stdout.length - 1) return;
      throw new Error(`stdout line ${i} is not JSON: ${text}`, {
        cause: error,
      });
    }
  });
  return out;
}

/** The writer's sequence numbers in a run's output, in order (every line must be a writer line). */
export function seqs(events: readonly PrintedEvent[]): number[] {
  return events.map((e) => {
    const seq = parseSeq(e.line);
    assertNotEquals(seq, null, `not a writer line: ${JSON.stringify(e)}`);
    return seq!;
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
