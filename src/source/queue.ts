/**
 * How much the pipeline's streams queue, in what costs memory: bytes for
 * streams of chunks, lines for streams of batches (a mark counts as one).
 *
 * Each queue holds about one read's worth. Every stage runs on one thread,
 * so a deeper queue does not make it faster; it only keeps more objects alive
 * long enough for V8 to promote them to the old generation, whose growth
 * between full collections is most of tailcast's peak memory under a burst
 * (bench/limits.md, "memory"). A queue takes one item even past its mark, so
 * a batch larger than the mark still moves, alone.
 *
 * @module
 */
import type { Chunk } from "../types.ts";

/** Bytes a stream of chunks queues before its producer waits: one full read. */
export const QUEUE_BYTES = 256 * 1024;

/** Lines a stream of batches queues before its producer waits. */
export const QUEUE_LINES = 1024;

/**
 * A strategy counting the bytes of the chunks queued (anything else, such as
 * a notice, counts as one byte).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { chunkBytes } from "./queue.ts";
 * const strategy = chunkBytes(8);
 * assertEquals(strategy.size!({ kind: "vanish", source: "/a" }), 1);
 * const gap = { kind: "gap", source: "/a", offset: 0, bytes: 99, cause: "x" };
 * assertEquals(strategy.size!(gap), 1);
 * ```
 */
export function chunkBytes<T extends object>(
  highWaterMark: number = QUEUE_BYTES,
): QueuingStrategy<T> {
  return {
    highWaterMark,
    size: (item) => isChunk(item) ? Math.max(item.bytes.length, 1) : 1,
  };
}

// A `gap` notice has a `bytes` field too: a count, not bytes.
function isChunk(item: object): item is Chunk {
  return (item as Partial<Chunk>).bytes instanceof Uint8Array;
}

/**
 * A strategy counting the lines (or events) of the batches queued; a mark
 * counts as one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { batchLines } from "./queue.ts";
 * assertEquals(batchLines(4).size!([1, 2, 3]), 3);
 * ```
 */
export function batchLines<T>(
  highWaterMark: number = QUEUE_LINES,
): QueuingStrategy<T> {
  return {
    highWaterMark,
    size: (item) => Array.isArray(item) ? Math.max(item.length, 1) : 1,
  };
}
