/**
 * Line splitter: bytes of followed files → lines of text with exact byte
 * offsets, one batch per chunk.
 *
 * A chunk's whole lines are decoded at once (one `TextDecoder` call per
 * chunk, not per line): in ASCII text a character is a byte, so the lines
 * are cut out of the decoded text at the offsets of its newlines; in other
 * valid UTF-8 the byte offsets come from a native scan of the bytes. Only a
 * chunk with invalid UTF-8 is decoded line by line, to flag the lines that
 * hold it. Each file identity has its own carry (the bytes of a line whose
 * newline has not come yet), capped at `maxLineBytes`: a longer line is cut,
 * flagged `truncated`, and the rest of it is skipped, so memory stays bounded
 * whatever the input. A chunk that does not continue its file's previous
 * chunk means the follower restarted the file (truncation): the carry is
 * dropped and reported.
 *
 * Notices pass through in order, so a rotation or truncation never overtakes
 * the lines read before it; bytes it skips become `gap` notices in the
 * stream, just before the lines of their chunk.
 */
import { fileKey } from "../source/identity.ts";
import { type Chunk, isMark, type Line, type Mark } from "../types.ts";
import { batchLines, chunkBytes } from "../source/queue.ts";

export interface LineStreamOptions {
  /** Longest line kept, in bytes, without its terminator. @default 1048576 */
  maxLineBytes?: number;
  /** Told about bytes that were skipped: the rest of an over-long line, or a carry lost to a restart (also a `gap` notice in the stream). */
  onSkip?: (skip: SkippedBytes) => void;
  /** Bytes of chunks queued on the writable side. @default QUEUE_BYTES */
  writableHighWaterMark?: number;
  /** Lines queued on the readable side. @default QUEUE_LINES */
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

const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * `bytes` as text, and whether they were valid UTF-8 (U+FFFD replaces what
 * was not). The lenient decoder is 2× (UTF-8) to 11× (ASCII) faster than
 * the fatal one here (`bench/lines_bench.ts`), and its text holds U+FFFD only
 * where the bytes were invalid or spelled U+FFFD: only such text is decoded
 * again strictly to tell which.
 */
function decode(bytes: Uint8Array): { text: string; invalid: boolean } {
  const text = lenient.decode(bytes);
  if (!text.includes("\uFFFD")) return { text, invalid: false };
  try {
    strict.decode(bytes);
    return { text, invalid: false };
  } catch {
    return { text, invalid: true };
  }
}

/**
 * Splits chunks into lines on `\n`, removing a `\r` before it.
 *
 * @example Offsets of each line
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LineStream } from "./lines.ts";
 * import type { Line } from "../types.ts";
 * const file = { dev: 1, ino: 2 };
 * const bytes = new TextEncoder().encode("a\r\nbc\nhalf");
 * const batches = await Array.fromAsync(
 *   ReadableStream.from([{ source: "/x", file, offset: 0, bytes, noticed: 0 }])
 *     .pipeThrough(new LineStream()),
 * );
 * const lines = batches.flat() as Line[];
 * assertEquals(lines.map((l) => [l.text, l.offset, l.end]), [["a", 0, 3], ["bc", 3, 6]]);
 * ```
 */
export class LineStream extends TransformStream<Chunk | Mark, Line[] | Mark> {
  readonly #max: number;
  readonly #onSkip: (skip: SkippedBytes) => void;
  readonly #carries = new Map<string, Carry>();
  /** Skips of the chunk being split, to go out as notices before its lines. */
  #skips: SkippedBytes[] = [];

  constructor(options: LineStreamOptions = {}) {
    const max = options.maxLineBytes ?? 1024 * 1024;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(
        `Cannot split lines with maxLineBytes ${max}: use a whole number of at least 1`,
      );
    }
    super(
      {
        transform: (item, controller) => {
          if (isMark(item)) controller.enqueue(item);
          else this.#split(item, controller);
        },
      },
      chunkBytes(options.writableHighWaterMark),
      batchLines(options.readableHighWaterMark),
    );
    this.#max = max;
    const told = options.onSkip ?? (() => {});
    this.#onSkip = (skip) => {
      told(skip);
      this.#skips.push(skip);
    };
  }

  #split(
    chunk: Chunk,
    controller: TransformStreamDefaultController<Line[] | Mark>,
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
    const first = bytes.indexOf(NL);
    const last = first === -1 ? -1 : bytes.lastIndexOf(NL);
    let from = 0;
    if (first !== -1 && carry.length + carry.dropped > 0) {
      // The line the carry began ends in this chunk.
      out.push(this.#carried(chunk, carry, bytes.subarray(0, first), first));
      from = first + 1;
    }
    if (last >= from) {
      this.#whole(chunk, bytes.subarray(from, last + 1), from, out);
      from = last + 1;
      carry.start = chunk.offset + from;
    }
    if (from < bytes.length) this.#keep(carry, bytes.subarray(from));
    carry.expected = chunk.offset + bytes.length;
    if (chunk.end) {
      if (carry.length + carry.dropped > 0) {
        out.push(
          this.#carried(
            chunk,
            carry,
            new Uint8Array(0),
            bytes.length - 1,
            true,
          ),
        );
      }
      this.#carries.delete(key);
    } else {
      this.#carries.set(key, carry);
    }
    for (const s of this.#skips) {
      const gap: Mark = {
        kind: "gap",
        source: s.source,
        offset: s.offset,
        bytes: s.bytes,
        cause: s.cause,
      };
      controller.enqueue(gap);
    }
    this.#skips = [];
    if (out.length > 0) controller.enqueue(out);
  }

  /**
   * The lines of `region`, which starts at `at` in the chunk and is whole
   * lines (it ends with a newline): decoded once, cut at its newlines.
   */
  #whole(chunk: Chunk, region: Uint8Array, at: number, out: Line[]): void {
    const base = chunk.offset + at;
    const { text, invalid } = decode(region);
    if (invalid) {
      this.#oneByOne(chunk, region, base, out);
      return;
    }
    const ascii = text.length === region.length;
    let t = 0;
    let b = 0;
    while (t < text.length) {
      const tn = text.indexOf("\n", t);
      const bn = ascii ? tn : region.indexOf(NL, b);
      const bytes = bn - b;
      if (bytes > this.#max) {
        out.push(
          this.#cut(chunk, region.subarray(b, bn), base + b, base + bn + 1),
        );
      } else {
        const crlf = tn > t && text.charCodeAt(tn - 1) === CR;
        out.push(
          line(
            chunk,
            base + b,
            base + bn + 1,
            text.slice(t, crlf ? tn - 1 : tn),
            {
              crlf,
            },
          ),
        );
      }
      t = tn + 1;
      b = bn + 1;
    }
  }

  /** Whole lines of a region that is not valid UTF-8: each line decoded alone, so only its own bytes are flagged. */
  #oneByOne(chunk: Chunk, region: Uint8Array, base: number, out: Line[]): void {
    let b = 0;
    while (b < region.length) {
      const bn = region.indexOf(NL, b);
      const bytes = region.subarray(b, bn);
      if (bytes.length > this.#max) {
        out.push(this.#cut(chunk, bytes, base + b, base + bn + 1));
      } else {
        const crlf = bytes.length > 0 && bytes[bytes.length - 1] === CR;
        const { text, invalid } = decode(
          crlf ? bytes.subarray(0, bytes.length - 1) : bytes,
        );
        out.push(line(chunk, base + b, base + bn + 1, text, { crlf, invalid }));
      }
      b = bn + 1;
    }
  }

  /** A whole line longer than the cap, within one chunk: its first bytes, flagged. */
  #cut(chunk: Chunk, bytes: Uint8Array, offset: number, end: number): Line {
    let length = bytes.length;
    const crlf = bytes[length - 1] === CR;
    if (crlf) length--;
    if (length <= this.#max) {
      const { text, invalid } = decode(bytes.subarray(0, length));
      return line(chunk, offset, end, text, { crlf, invalid });
    }
    this.#onSkip({
      source: chunk.source,
      offset,
      bytes: length - this.#max,
      cause: "line-too-long",
    });
    const { text, invalid } = decode(bytes.subarray(0, this.#max));
    return line(chunk, offset, end, text, { truncated: true, invalid, crlf });
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

  /**
   * The line the carry began, ending with `last` (the bytes of this chunk
   * before its newline at `nl`), or the carry alone when the file ended.
   */
  #carried(
    chunk: Chunk,
    carry: Carry,
    last: Uint8Array,
    nl: number,
    partial = false,
  ): Line {
    // Whole length of the line as written, terminator excluded.
    let total = carry.length + carry.dropped + last.length;
    const lastByte = last.length > 0 ? last[last.length - 1] : carry.lastByte;
    const crlf = !partial && lastByte === CR;
    if (crlf) total -= 1;
    const keep = Math.min(total, this.#max);
    const bytes = new Uint8Array(keep);
    let at = 0;
    for (const part of carry.parts) {
      if (at >= keep) break;
      const n = Math.min(part.length, keep - at);
      bytes.set(n === part.length ? part : part.subarray(0, n), at);
      at += n;
    }
    if (at < keep) bytes.set(last.subarray(0, keep - at), at);
    const truncated = total > this.#max;
    if (truncated) {
      this.#onSkip({
        source: chunk.source,
        offset: carry.start,
        bytes: total - this.#max,
        cause: "line-too-long",
      });
    }
    const { text, invalid } = decode(bytes);
    const end = partial ? carry.expected : chunk.offset + nl + 1;
    const out = line(chunk, carry.start, end, text, {
      crlf,
      invalid,
      truncated,
      partial,
    });
    carry.start = end;
    carry.parts = [];
    carry.length = 0;
    carry.dropped = 0;
    carry.lastByte = undefined;
    return out;
  }
}

function line(
  chunk: Chunk,
  offset: number,
  end: number,
  text: string,
  flags: {
    crlf?: boolean;
    invalid?: boolean;
    truncated?: boolean;
    partial?: boolean;
  },
): Line {
  // Flags are absent rather than false: most lines have none.
  const out: {
    source: string;
    file: Chunk["file"];
    offset: number;
    end: number;
    text: string;
    noticed: number;
    truncated?: true;
    partial?: true;
    invalidUtf8?: true;
    crlf?: true;
  } = {
    source: chunk.source,
    file: chunk.file,
    offset,
    end,
    text,
    noticed: chunk.noticed,
  };
  if (flags.truncated) out.truncated = true;
  if (flags.partial) out.partial = true;
  if (flags.invalid) out.invalidUtf8 = true;
  if (flags.crlf) out.crlf = true;
  return out;
}
