/**
 * Parser: lines of bytes → events. Decodes UTF-8 (invalid sequences become
 * U+FFFD and the event is flagged), stamps the read time, gives every event
 * its cursor id, and parses the text in its source's format (`fields`,
 * `level`, `msg`, `logTime`; `parseError` when it does not parse). It never
 * throws on input: any bytes make an event.
 */
import {
  END,
  type Event,
  FILE,
  type FileId,
  LAST_LINE,
  type Line,
  NOTICED,
} from "../types.ts";
import { LINE_MARK } from "../source/state.ts";
import { type Format, parseLine } from "./formats.ts";

/** Bytes enough for the LINE_MARK characters the state keeps, whatever their UTF-8 length. */
const MARK_BYTES = LINE_MARK * 4;

export interface ParseStreamOptions {
  /** The format of each source's lines. @default raw for every source */
  formatFor?: (source: string) => Format;
  /** Clock for the `time` field. @default () => new Date() */
  now?: () => Date;
  /** Batches queued on each side. @default 4 */
  highWaterMark?: number;
}

/**
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ParseStream } from "./parse.ts";
 * const line = {
 *   source: "/x.log", file: { dev: 1, ino: 35 }, offset: 0, end: 3,
 *   bytes: new TextEncoder().encode("hi"), noticed: 0,
 * };
 * const [[event]] = await Array.fromAsync(
 *   ReadableStream.from([[line]]).pipeThrough(new ParseStream()),
 * );
 * assertEquals(event.line, "hi");
 * assertEquals(event.id, "1.z:3");
 * ```
 */
export class ParseStream extends TransformStream<Line[], Event[]> {
  constructor(options: ParseStreamOptions = {}) {
    const now = options.now ?? (() => new Date());
    const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    const lenient = new TextDecoder("utf-8", { ignoreBOM: true });
    const hwm = options.highWaterMark ?? 4;
    const formatFor = options.formatFor ?? null;
    super(
      {
        transform: (lines, controller) => {
          const time = now().toISOString();
          const events: Event[] = new Array(lines.length);
          for (let i = 0; i < lines.length; i++) {
            const l = lines[i];
            let text: string;
            let invalid = false;
            try {
              text = strict.decode(l.bytes);
            } catch {
              text = lenient.decode(l.bytes);
              invalid = true;
            }
            const format = formatFor?.(l.source);
            const parsed = format && format.kind !== "raw"
              ? parseLine(text, format)
              : null;
            events[i] = {
              id: eventId(l.file, l.end),
              source: l.source,
              offset: l.offset,
              line: text,
              time,
              ...(l.truncated ? { truncated: true } : {}),
              ...(l.partial ? { partial: true } : {}),
              ...(invalid ? { invalidUtf8: true } : {}),
              ...parsed,
              [NOTICED]: l.noticed,
              [FILE]: l.file,
              [END]: l.end,
              ...(l.last
                ? {
                  [LAST_LINE]: lenient.decode(l.last.subarray(0, MARK_BYTES))
                    .slice(0, LINE_MARK),
                }
                : {}),
            };
          }
          controller.enqueue(events);
        },
      },
      new CountQueuingStrategy({ highWaterMark: hwm }),
      new CountQueuingStrategy({ highWaterMark: hwm }),
    );
  }
}

/** The `id` field of the event for the line ending at `end` in `file`. */
export function eventId(file: FileId, end: number): string {
  return `${file.dev.toString(36)}.${file.ino.toString(36)}:${
    end.toString(36)
  }`;
}
