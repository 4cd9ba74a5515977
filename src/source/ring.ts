/**
 * Ingest ring: the lines posted to one ingest name kept in memory until the
 * pipeline reads them, when there is no spool directory (`--ingest` without
 * `--spool`). Bounded: it holds at most `capacity` bytes not read yet; the
 * oldest posts are dropped to make room for a new one, and what was dropped
 * becomes a `gap` notice (cause `ingest-memory-full`) in the stream, where
 * the dropped lines would have been. Lines still held when tailcast stops
 * are lost, and so is everything across a restart: the spool is the durable
 * way.
 *
 * Its lines are on no disk, so they carry the UNSTORED identity (a
 * subscriber that falls behind them is told how many it lost). Offsets count
 * the bytes posted, dropped ones included.
 */
import { type Chunk, type Notice, UNSTORED } from "../types.ts";

/** The name and the bound of one ring. */
export interface IngestRingOptions {
  /** The source's name, `ingest:<name>`. */
  source: string;
  /** Bytes held at most. */
  capacity: number;
  /** Stops it: it takes no more, and its stream ends. */
  signal: AbortSignal;
  /** Chunks queued in the stream before the ring keeps the rest. @default 4 */
  highWaterMark?: number;
}

/** The ring was stopped: it takes no more lines. */
export class RingClosed extends Error {
  constructor() {
    super("tailcast is shutting down");
    this.name = "RingClosed";
  }
}

/**
 * One name's lines in memory: `append` to hold them, `readable` yields them
 * as chunks (and gaps), `done` once stopped.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { IngestRing } from "./ring.ts";
 * import type { Chunk } from "../types.ts";
 * const abort = new AbortController();
 * const ring = new IngestRing({ source: "ingest:web", capacity: 1024, signal: abort.signal });
 * ring.append(new TextEncoder().encode("hello\n"));
 * const reader = ring.readable.getReader();
 * const chunk = (await reader.read()).value as Chunk;
 * assertEquals(new TextDecoder().decode(chunk.bytes), "hello\n");
 * abort.abort();
 * while (!(await reader.read()).done);
 * await ring.done;
 * ```
 */
export class IngestRing {
  /** Its lines as chunks, with its notices in order. */
  readonly readable: ReadableStream<Chunk | Notice>;
  /** Resolves once it stopped and closed what it owns. */
  readonly done: Promise<void>;
  readonly #source: string;
  readonly #capacity: number;
  readonly #held: Uint8Array[] = [];
  #bytes = 0;
  /** Offset of the first byte held (or of the next posted, when none is). */
  #offset = 0;
  /** Bytes dropped since the last chunk, from `#dropFrom`. */
  #dropped = 0;
  #dropFrom = 0;
  #wake: (() => void) | null = null;
  #closed = false;
  readonly #ended = Promise.withResolvers<void>();

  constructor(options: IngestRingOptions) {
    this.#source = options.source;
    this.#capacity = options.capacity;
    const { signal } = options;
    const onAbort = () => this.#close();
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) this.#close();
    this.done = this.#ended.promise.then(() =>
      signal.removeEventListener("abort", onAbort)
    );
    this.readable = new ReadableStream<Chunk | Notice>({
      pull: (controller) => this.#pull(controller),
      cancel: () => this.#close(),
    }, new CountQueuingStrategy({ highWaterMark: options.highWaterMark ?? 4 }));
  }

  /** Bytes posted and not read yet. */
  get held(): number {
    return this.#bytes;
  }

  /**
   * Holds `bytes` (whole lines) until they are read, dropping the oldest
   * posts held to make room. Throws RingClosed once stopped.
   */
  append(bytes: Uint8Array): void {
    if (this.#closed) throw new RingClosed();
    this.#held.push(bytes);
    this.#bytes += bytes.length;
    while (this.#bytes > this.#capacity && this.#held.length > 1) {
      const oldest = this.#held.shift()!;
      if (this.#dropped === 0) this.#dropFrom = this.#offset;
      this.#dropped += oldest.length;
      this.#offset += oldest.length;
      this.#bytes -= oldest.length;
    }
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async #pull(
    controller: ReadableStreamDefaultController<Chunk | Notice>,
  ): Promise<void> {
    while (this.#held.length === 0 && this.#dropped === 0 && !this.#closed) {
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    if (this.#dropped > 0) {
      controller.enqueue({
        kind: "gap",
        source: this.#source,
        offset: this.#dropFrom,
        bytes: this.#dropped,
        cause: "ingest-memory-full",
      });
      this.#dropped = 0;
    }
    if (this.#closed) {
      controller.close();
      this.#ended.resolve();
      return;
    }
    const bytes = this.#held.shift();
    if (bytes === undefined) return;
    this.#bytes -= bytes.length;
    controller.enqueue({
      source: this.#source,
      file: UNSTORED,
      offset: this.#offset,
      bytes,
      noticed: performance.now(),
    });
    this.#offset += bytes.length;
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const wake = this.#wake;
    this.#wake = null;
    if (wake) wake();
    else queueMicrotask(() => this.#ended.resolve());
  }
}
