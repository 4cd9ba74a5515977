/**
 * Line splitter: bytes of followed files → lines with exact byte offsets.
 *
 * Each file identity has its own carry (the bytes of a line whose newline has
 * not come yet), capped at `maxLineBytes`: a longer line is cut, flagged
 * `truncated`, and the rest of it is skipped, so memory stays bounded whatever
 * the input. A chunk that does not continue its file's previous chunk means the
 * follower restarted the file (truncation): the carry is dropped and reported.
 */
import { fileKey } from "../source/identity.ts";
import type { Chunk, Line } from "../types.ts";

export interface LineStreamOptions {
  /** Longest line kept, in bytes, without its terminator. @default 1048576 */
  maxLineBytes?: number;
  /** Told about bytes that were skipped: the rest of an over-long line, or a carry lost to a restart. */
  onSkip?: (skip: SkippedBytes) => void;
  /** Batches queued on the writable side. @default 4 */
  writableHighWaterMark?: number;
  /** Batches queued on the readable side. @default 4 */
  readableHighWaterMark?: number;
}

/** Bytes the splitter could not turn into (all of) a line. */
export interface SkippedBytes {
  readonly source: string;
  readonly offset: number;
  readonly bytes: number;
  readonly cause: "line-too-long" | "file-restarted";
}

interface Carry {
  /** Offset of the first byte of the pending line. */
  start: number;
  /** Offset the next chunk of this file must start at. */
  expected: number;
  parts: Uint8Array[];
  length: number;
  /** Bytes of the pending line dropped beyond the cap. */
  dropped: number;
  /** The last byte of the pending line, kept or dropped: a `\r` there ends a CRLF. */
  lastByte: number | undefined;
}

const NL = 0x0a;
const CR = 0x0d;

/**
 * Splits chunks into lines on `\n`, removing a `\r` before it.
 *
 * @example Offsets of each line
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LineStream } from "./lines.ts";
 * const file = { dev: 1, ino: 2 };
 * const bytes = new TextEncoder().encode("a\r\nbc\nhalf");
 * const batches = await Array.fromAsync(
 *   ReadableStream.from([{ source: "/x", file, offset: 0, bytes, noticed: 0 }])
 *     .pipeThrough(new LineStream()),
 * );
 * assertEquals(batches.flat().map((l) => [l.offset, l.end]), [[0, 3], [3, 6]]);
 * ```
 */
export class LineStream extends TransformStream<Chunk, Line[]> {
  readonly #max: number;
  readonly #onSkip: (skip: SkippedBytes) => void;
  readonly #carries = new Map<string, Carry>();

  constructor(options: LineStreamOptions = {}) {
    const max = options.maxLineBytes ?? 1024 * 1024;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(
        `Cannot split lines with maxLineBytes ${max}: use a whole number of at least 1`,
      );
    }
    super(
      { transform: (chunk, controller) => this.#split(chunk, controller) },
      new CountQueuingStrategy({
        highWaterMark: options.writableHighWaterMark ?? 4,
      }),
      new CountQueuingStrategy({
        highWaterMark: options.readableHighWaterMark ?? 4,
      }),
    );
    this.#max = max;
    this.#onSkip = options.onSkip ?? (() => {});
  }

  #split(
    chunk: Chunk,
    controller: TransformStreamDefaultController<Line[]>,
  ): void {
    const key = fileKey(chunk.source, chunk.file);
    let carry = this.#carries.get(key);
    if (carry && carry.expected !== chunk.offset) {
      const lost = carry.length + carry.dropped;
      if (lost > 0) {
        this.#onSkip({
          source: chunk.source,
          offset: carry.start,
          bytes: lost,
          cause: "file-restarted",
        });
      }
      carry = undefined;
    }
    carry ??= {
      start: chunk.offset,
      expected: chunk.offset,
      parts: [],
      length: 0,
      dropped: 0,
      lastByte: undefined,
    };
    const out: Line[] = [];
    const { bytes } = chunk;
    let from = 0;
    while (from < bytes.length) {
      const nl = bytes.indexOf(NL, from);
      if (nl === -1) break;
      const end = chunk.offset + nl + 1;
      out.push(this.#line(chunk, carry, bytes.subarray(from, nl), end, false));
      carry.start = end;
      from = nl + 1;
    }
    if (from < bytes.length) this.#keep(carry, bytes.subarray(from));
    carry.expected = chunk.offset + bytes.length;
    if (chunk.end) {
      if (carry.length + carry.dropped > 0) {
        out.push(
          this.#line(chunk, carry, new Uint8Array(0), carry.expected, true),
        );
      }
      this.#carries.delete(key);
    } else {
      this.#carries.set(key, carry);
    }
    if (out.length > 0) controller.enqueue(out);
  }

  /** Keeps the tail of a line whose newline has not come, up to the cap (+1 for a `\r`). */
  #keep(carry: Carry, tail: Uint8Array): void {
    const room = Math.max(this.#max + 1 - carry.length, 0);
    const kept = Math.min(room, tail.length);
    if (kept > 0) {
      carry.parts.push(tail.slice(0, kept));
      carry.length += kept;
    }
    carry.dropped += tail.length - kept;
    carry.lastByte = tail[tail.length - 1];
  }

  #line(
    chunk: Chunk,
    carry: Carry,
    last: Uint8Array,
    end: number,
    partial: boolean,
  ): Line {
    // Whole length of the line as written, terminator excluded.
    let total = carry.length + carry.dropped + last.length;
    const lastByte = last.length > 0 ? last[last.length - 1] : carry.lastByte;
    const crlf = !partial && lastByte === CR;
    if (crlf) total -= 1;
    const keep = Math.min(total, this.#max);
    let bytes: Uint8Array;
    if (carry.length === 0) {
      bytes = last.subarray(0, keep);
    } else {
      bytes = new Uint8Array(keep);
      let at = 0;
      for (const part of carry.parts) {
        if (at >= keep) break;
        const n = Math.min(part.length, keep - at);
        bytes.set(n === part.length ? part : part.subarray(0, n), at);
        at += n;
      }
      if (at < keep) bytes.set(last.subarray(0, keep - at), at);
    }
    const truncated = total > this.#max;
    if (truncated) {
      this.#onSkip({
        source: chunk.source,
        offset: carry.start,
        bytes: total - this.#max,
        cause: "line-too-long",
      });
    }
    const line: Line = {
      source: chunk.source,
      file: chunk.file,
      offset: carry.start,
      end,
      bytes,
      noticed: chunk.noticed,
      ...(truncated ? { truncated: true } : {}),
      ...(partial ? { partial: true } : {}),
    };
    carry.parts = [];
    carry.length = 0;
    carry.dropped = 0;
    carry.lastByte = undefined;
    return line;
  }
}
