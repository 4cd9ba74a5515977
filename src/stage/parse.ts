/**
 * Parser: lines → events. Stamps the read time (once per batch), gives every
 * event its `id` (the cursor of its line's end), and parses the text in its
 * source's format (`fields`, `level`, `msg`, `logTime`; `parseError` when it
 * does not parse). The file and end offset ride along under symbol keys, so
 * nothing downstream parses an id back. It never throws on input: any line
 * makes an event. Notices pass through in order.
 */
import {
  CRLF,
  END,
  type Event,
  FILE,
  type FileId,
  isMark,
  LAST_LINE,
  type Line,
  type Mark,
  NOTICED,
} from "../types.ts";
import { LINE_MARK } from "../source/state.ts";
import { type Format, parseLine } from "./formats.ts";
import { batchLines } from "../source/queue.ts";

export interface ParseStreamOptions {
  /** The format of each source's lines. @default raw for every source */
  formatFor?: (source: string) => Format;
  /** Clock for the `time` field. @default () => new Date() */
  now?: () => Date;
  /** Lines queued on each side. @default QUEUE_LINES */
  highWaterMark?: number;
}

/** An event's fields before it is frozen into its final shape. */
type Building = {
  -readonly [K in keyof Event]: Event[K];
};

/**
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ParseStream } from "./parse.ts";
 * import type { Event } from "../types.ts";
 * const line = {
 *   source: "/x.log", file: { dev: 1, ino: 35 }, offset: 0, end: 3,
 *   text: "hi", noticed: 0,
 * };
 * const [[event]] = await Array.fromAsync(
 *   ReadableStream.from([[line]]).pipeThrough(new ParseStream()),
 * ) as Event[][];
 * assertEquals(event.line, "hi");
 * assertEquals(event.id, "1.z:3");
 * ```
 */
export class ParseStream
  extends TransformStream<Line[] | Mark, Event[] | Mark> {
  constructor(options: ParseStreamOptions = {}) {
    const now = options.now ?? (() => new Date());
    const hwm = options.highWaterMark;
    const formatFor = options.formatFor ?? null;
    super(
      {
        transform: (item, controller) => {
          if (isMark(item)) {
            controller.enqueue(item);
            return;
          }
          controller.enqueue(toEvents(item, now().toISOString(), formatFor));
        },
      },
      batchLines(hwm),
      batchLines(hwm),
    );
  }
}

/** The events of a batch of lines read at `time`. */
export function toEvents(
  lines: readonly Line[],
  time: string,
  formatFor: ((source: string) => Format) | null = null,
): Event[] {
  const events: Event[] = new Array(lines.length);
  let idOf: FileId | null = null;
  let prefix = "";
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    // Lines of a batch share their file: its part of the id is made once.
    if (l.file !== idOf) {
      idOf = l.file;
      prefix = idPrefix(l.file);
    }
    const e: Building = {
      id: prefix + l.end.toString(36),
      source: l.source,
      offset: l.offset,
      line: l.text,
      time,
      [NOTICED]: l.noticed,
      [FILE]: l.file,
      [END]: l.end,
    };
    if (l.truncated) e.truncated = true;
    if (l.partial) e.partial = true;
    if (l.invalidUtf8) e.invalidUtf8 = true;
    if (l.crlf) e[CRLF] = true;
    // A joined event: the state checks its last line after a restart.
    if (l.last !== undefined) e[LAST_LINE] = l.last.slice(0, LINE_MARK);
    const format = formatFor?.(l.source);
    if (format && format.kind !== "raw") {
      const parsed = parseLine(l.text, format);
      if (parsed.fields !== undefined) e.fields = parsed.fields;
      if (parsed.level !== undefined) e.level = parsed.level;
      if (parsed.msg !== undefined) e.msg = parsed.msg;
      if (parsed.logTime !== undefined) e.logTime = parsed.logTime;
      if (parsed.parseError !== undefined) e.parseError = parsed.parseError;
    }
    events[i] = e;
  }
  return events;
}

function idPrefix(file: FileId): string {
  return `${file.dev.toString(36)}.${file.ino.toString(36)}:`;
}

/** The `id` field of the event for the line ending at `end` in `file`. */
export function eventId(file: FileId, end: number): string {
  return idPrefix(file) + end.toString(36);
}
