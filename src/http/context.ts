/**
 * `GET /context?source=<followed path>&id=<event id>&lines=N`: the lines
 * around one event, for the viewer's "show in context" on a filtered line.
 *
 * Answers JSON `{source, id, before, event, after}` with up to N events on
 * each side (default 20, at most 200), made by the same stages as the live
 * events (formats, multi-line, the global filters). Per-subscriber filters do
 * not apply: the point is to see what the filter hid.
 *
 * The client names nothing it could use to read an arbitrary file: `source`
 * must be a path tailcast follows now, and the file is found by the identity
 * in the id (`<dev>.<ino>:<end>`) among the files tailcast followed there
 * (known.ts), never by a name from the request. Each side reads at most a
 * fixed window of bytes, so a request costs a bounded amount of work.
 */
import { readAt } from "../source/bytes.ts";
import { fileId, sameFile } from "../source/identity.ts";
import type { KnownFiles } from "../source/known.ts";
import { locate } from "../source/replay.ts";
import { LineStream } from "../stage/lines.ts";
import { ParseStream } from "../stage/parse.ts";
import {
  type Chunk,
  END,
  type Event,
  type FileId,
  isMark,
  type Mark,
} from "../types.ts";

/** Lines on each side when the request names none. */
export const DEFAULT_CONTEXT_LINES = 20;
/** Lines on each side at most. */
export const MAX_CONTEXT_LINES = 200;
/** Bytes read before the event's end at most: the event's own line (the default line cap is 1 MiB) and its context. */
export const BEFORE_BYTES = 2 * 1024 * 1024;
/** Bytes read after the event at most. */
export const AFTER_BYTES = 1024 * 1024;

const NL = 0x0a;

export interface ContextOptions {
  /** The paths followed now. */
  sources: () => readonly string[];
  /** The files tailcast followed under each path: the only ones read. */
  known: KnownFiles;
  /** Chunks → events through the live stages. @default raw lines, unparsed */
  events?: (
    chunks: ReadableStream<Chunk | Mark>,
  ) => ReadableStream<Event[] | Mark>;
}

/** What `/context` answers. */
export interface ContextAnswer {
  readonly source: string;
  readonly id: string;
  readonly before: Event[];
  readonly event: Event;
  readonly after: Event[];
}

/** A request that cannot be answered: its status and message. */
class ContextProblem extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * The `/context` handler.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { contextHandler } from "./context.ts";
 * import { KnownFiles } from "../source/known.ts";
 * const context = contextHandler({
 *   sources: () => ["/var/log/app.log"],
 *   known: new KnownFiles(),
 * });
 * const res = await context(
 *   new Request("http://x/context?source=/etc/passwd&id=1.2:3"),
 * );
 * assertEquals(res.status, 400);
 * ```
 */
export function contextHandler(
  options: ContextOptions,
): (request: Request) => Promise<Response> {
  const events = options.events ?? rawEvents;
  return async (request) => {
    try {
      const answer = await around(
        new URL(request.url).searchParams,
        options.sources(),
        options.known,
        events,
      );
      return new Response(JSON.stringify(answer), {
        headers: {
          "content-type": "application/json; charset=utf-8",
          "cache-control": "no-cache",
        },
      });
    } catch (error) {
      if (error instanceof ContextProblem) {
        return new Response(error.message + "\n", {
          status: error.status,
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
      throw error;
    }
  };
}

async function around(
  q: URLSearchParams,
  followed: readonly string[],
  known: KnownFiles,
  events: NonNullable<ContextOptions["events"]>,
): Promise<ContextAnswer> {
  const source = q.get("source") ?? "";
  const id = q.get("id") ?? "";
  const linesText = q.get("lines") ?? "";
  if (source === "" || id === "") {
    throw new ContextProblem(
      400,
      "Missing source or id: use /context?source=<followed path>&id=<event id>&lines=N",
    );
  }
  if (!followed.includes(source)) {
    throw new ContextProblem(
      400,
      `Invalid source ${
        JSON.stringify(source.slice(0, 256))
      }: not a file tailcast follows (see /sources)`,
    );
  }
  let lines = DEFAULT_CONTEXT_LINES;
  if (linesText !== "") {
    lines = /^\d{1,3}$/.test(linesText) ? Number(linesText) : NaN;
    if (!(lines <= MAX_CONTEXT_LINES)) {
      throw new ContextProblem(
        400,
        `Invalid lines ${
          JSON.stringify(linesText.slice(0, 32))
        }: use a whole number from 0 to ${MAX_CONTEXT_LINES}`,
      );
    }
  }
  const at = id.length > 64 ? null : parseEventId(id);
  if (at === null) {
    throw new ContextProblem(
      400,
      `Invalid id ${
        JSON.stringify(id.slice(0, 64))
      }: use the id field of an event from ${source}`,
    );
  }
  const found = await locate(source, at.file, known);
  if (!found) {
    throw new ContextProblem(
      404,
      `The file of event ${id} is no longer under ${source} or its rotated siblings`,
    );
  }
  const end = at.offset;
  using file = await Deno.open(found.path, { read: true });
  const info = await file.stat();
  // The name may have moved to another file since it was located.
  if (!sameFile(fileId(info), at.file) || end < 1 || end > info.size) {
    throw new ContextProblem(
      404,
      `No line ends at event ${id} in ${source}: the file was replaced or truncated`,
    );
  }
  const from = Math.max(0, end - BEFORE_BYTES);
  const before = await readAt(file, from, end - from);
  if (before.length < end - from) {
    throw new ContextProblem(
      404,
      `No line ends at event ${id} in ${source}: the file was truncated`,
    );
  }
  const terminated = before[before.length - 1] === NL;
  // An unterminated line can only be an event when nothing follows it (a
  // partial last line of a rotated file).
  if (!terminated && end !== info.size) {
    throw new ContextProblem(
      404,
      `No line ends at event ${id} in ${source}: the file was rewritten`,
    );
  }
  const start = lineStarts(before, from, lines + 1);
  if (start === null) {
    throw new ContextProblem(
      413,
      `The line of event ${id} is longer than ${BEFORE_BYTES} bytes: no context is shown for it`,
    );
  }
  let after: Uint8Array = new Uint8Array(0);
  if (terminated && lines > 0) {
    const tail = await readAt(
      file,
      end,
      Math.min(AFTER_BYTES, info.size - end),
    );
    after = tail.subarray(0, lineEnds(tail, lines));
  }
  const bytes = new Uint8Array(end - start + after.length);
  bytes.set(before.subarray(start - from));
  bytes.set(after, end - start);
  const chunk: Chunk = {
    source,
    file: at.file,
    offset: start,
    bytes,
    noticed: performance.now(),
    // Lets a partial last line out of the line splitter.
    end: !terminated,
  };
  const all: Event[] = [];
  for await (const item of events(ReadableStream.from([chunk]))) {
    if (!isMark(item)) all.push(...item);
  }
  const k = all.findIndex((e) => e[END] === end);
  if (k === -1) {
    throw new ContextProblem(
      404,
      `No event ends at ${id} in ${source} (the line is filtered out on the server)`,
    );
  }
  return {
    source,
    id,
    before: all.slice(Math.max(0, k - lines), k),
    event: all[k],
    after: all.slice(k + 1, k + 1 + lines),
  };
}

/**
 * Where the last `count` lines of `bytes` (which ends at a line end) begin,
 * as a file offset; null when the first of them does not begin in the window.
 */
function lineStarts(
  bytes: Uint8Array,
  from: number,
  count: number,
): number | null {
  let seen = 0;
  for (
    let i = bytes.lastIndexOf(NL, bytes.length - 2);
    i >= 0;
    i = i > 0 ? bytes.lastIndexOf(NL, i - 1) : -1
  ) {
    if (++seen === count) return from + i + 1;
  }
  if (from === 0) return 0;
  // The window starts mid-line: begin after its first newline, if the
  // event's own line begins after it.
  const first = bytes.indexOf(NL);
  return first >= 0 && first < bytes.length - 1 ? from + first + 1 : null;
}

/** How many bytes of `bytes` hold its first `count` whole lines (fewer if it has fewer). */
function lineEnds(bytes: Uint8Array, count: number): number {
  let at = 0;
  for (let n = 0; n < count; n++) {
    const nl = bytes.indexOf(NL, at);
    if (nl === -1) break;
    at = nl + 1;
  }
  return at;
}

function rawEvents(
  chunks: ReadableStream<Chunk | Mark>,
): ReadableStream<Event[] | Mark> {
  return chunks.pipeThrough(new LineStream()).pipeThrough(new ParseStream());
}

/** The file and end offset an event's `id` field names (`<dev>.<ino>:<end>`, base 36), or null. */
function parseEventId(id: string): { file: FileId; offset: number } | null {
  const m = /^([0-9a-z]{1,11})\.([0-9a-z]{1,11}):([0-9a-z]{1,11})$/.exec(id);
  if (!m) return null;
  const [dev, ino, offset] = [m[1], m[2], m[3]].map((x) => parseInt(x, 36));
  if (![dev, ino, offset].every(Number.isSafeInteger)) return null;
  return { file: { dev, ino }, offset };
}
