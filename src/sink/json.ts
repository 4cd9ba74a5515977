/**
 * The JSON of an event, as stdout's NDJSON and SSE `data:` carry it: the same
 * text `JSON.stringify` makes, built by hand for the usual shape (no parsed
 * fields), where only the line needs escaping and the source is escaped once
 * per batch.
 */
import type { Event } from "../types.ts";

/** The JSON of each event, in order. */
export function eventsJson(events: readonly Event[]): string[] {
  const out: string[] = new Array(events.length);
  let source: string | null = null;
  let quoted = "";
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (e.source !== source) {
      source = e.source;
      quoted = JSON.stringify(source);
    }
    out[i] = eventJson(e, quoted);
  }
  return out;
}

const encoder = new TextEncoder();
/** Where texts are encoded before their bytes are copied out; grows as needed, reused. */
let scratch = new Uint8Array(1 << 20);

/**
 * Events whose text is joined and encoded in one call: few enough that the
 * text stays far below V8's large-object size, many enough that the cost of
 * a call is shared.
 */
const GROUP = 128;

/**
 * A character of a line that `JSON.stringify` escapes, or a surrogate (a
 * lone one is escaped; a pair is left to `JSON.stringify` too, to be sure).
 */
// deno-lint-ignore no-control-regex -- control characters are what JSON escapes
const ESCAPE = /["\\\x00-\x1f\ud800-\udfff]/;

/** Slots of an event's pieces (see {@link putEvent}). */
const SLOTS = 10;
/**
 * The pieces of a group's text, reused from one group to the next: every
 * event fills its {@link SLOTS} slots (`""` where it has nothing), so the
 * array is never resized, and it is emptied after each join, so it keeps no
 * line alive.
 */
const pieces: (string | number)[] = new Array(GROUP * SLOTS).fill("");
/** Where each event's piece (and its JSON) starts in its group's text. */
const starts = new Uint32Array(GROUP + 1);
const jsonStarts = new Uint32Array(GROUP);

/**
 * The UTF-8 bytes of the JSON of every event, each between `before(i)` and
 * `after`, in one new buffer. The text of a group of events is joined from
 * its pieces (no string per event, no string of the whole batch) and
 * encoded with one call. With `marks`, where each piece starts (`at`, one
 * more entry for the end) and where its JSON starts (`json`) are written
 * into them: in ASCII text they are the text's offsets; a group that is not
 * ASCII is encoded again event by event to find them.
 */
export function eventsBytes(
  events: readonly Event[],
  before: ((i: number) => string) | null,
  after: string,
  marks?: { readonly at: Uint32Array; readonly json: Uint32Array },
): Uint8Array {
  let at = 0;
  let source: string | null = null;
  let middle = "";
  const ends = flagEnds(after);
  for (let first = 0; first < events.length; first += GROUP) {
    const last = Math.min(first + GROUP, events.length);
    let chars = 0;
    for (let i = first; i < last; i++) {
      const e = events[i];
      if (e.source !== source) {
        source = e.source;
        middle = `","source":${JSON.stringify(source)},"offset":`;
      }
      const slot = (i - first) * SLOTS;
      pieces[slot] = before === null ? "" : before(i);
      putEvent(e, slot, middle, ends);
      if (marks) {
        starts[i - first] = chars;
        jsonStarts[i - first] = chars + (pieces[slot] as string).length;
        for (let k = slot; k < slot + SLOTS; k++) {
          const p = pieces[k];
          chars += typeof p === "string" ? p.length : digits(p);
        }
      }
    }
    if (marks) starts[last - first] = chars;
    const text = pieces.join("");
    pieces.fill("");
    room(at, text.length * 3);
    const written = encoder.encodeInto(text, scratch.subarray(at)).written;
    if (marks) {
      if (written === text.length) {
        for (let i = first; i <= last; i++) {
          marks.at[i] = at + starts[i - first];
          if (i < last) marks.json[i] = at + jsonStarts[i - first];
        }
      } else {
        encodeOneByOne(events, first, last, at, before, ends, marks);
      }
    }
    at += written;
  }
  if (marks) marks.at[events.length] = at;
  return scratch.slice(0, at);
}

/** Events `first` to `last` of a group that is not ASCII, encoded alone at `at` to mark where each starts. */
function encodeOneByOne(
  events: readonly Event[],
  first: number,
  last: number,
  at: number,
  before: ((i: number) => string) | null,
  ends: readonly string[],
  marks: { readonly at: Uint32Array; readonly json: Uint32Array },
): void {
  for (let i = first; i < last; i++) {
    const e = events[i];
    marks.at[i] = at;
    if (before !== null) {
      at += encoder.encodeInto(before(i), scratch.subarray(at)).written;
    }
    marks.json[i] = at;
    putEvent(e, 0, `","source":${JSON.stringify(e.source)},"offset":`, ends);
    const text = pieces.slice(1, SLOTS).join("");
    pieces.fill("", 0, SLOTS);
    at += encoder.encodeInto(text, scratch.subarray(at)).written;
  }
}

/** Makes room for `bytes` more bytes at `at` in the scratch buffer. */
function room(at: number, bytes: number): void {
  if (scratch.length - at >= bytes) return;
  const bigger = new Uint8Array(Math.max(scratch.length * 2, at + bytes));
  bigger.set(scratch.subarray(0, at));
  scratch = bigger;
}

/**
 * Slots 1 to 9 of an event's pieces from `slot` on: its JSON, then
 * `after`. `middle` is what comes between its id and its offset.
 */
function putEvent(
  e: Event,
  slot: number,
  middle: string,
  ends: readonly string[],
): void {
  if (
    e.fields !== undefined || e.level !== undefined || e.msg !== undefined ||
    e.logTime !== undefined || e.parseError !== undefined
  ) {
    pieces[slot + 1] = JSON.stringify(e);
    for (let k = 2; k < SLOTS - 1; k++) pieces[slot + k] = "";
    pieces[slot + SLOTS - 1] = ends[8];
    return;
  }
  // Key order as JSON.stringify gives it: the order the parser sets them in.
  pieces[slot + 1] = '{"id":"';
  pieces[slot + 2] = e.id;
  pieces[slot + 3] = middle;
  pieces[slot + 4] = e.offset;
  const plain = !ESCAPE.test(e.line);
  pieces[slot + 5] = plain ? ',"line":"' : ',"line":';
  pieces[slot + 6] = plain ? e.line : JSON.stringify(e.line);
  pieces[slot + 7] = plain ? '","time":"' : ',"time":"';
  pieces[slot + 8] = e.time;
  pieces[slot + 9] = ends[
    (e.truncated ? 1 : 0) | (e.partial ? 2 : 0) | (e.invalidUtf8 ? 4 : 0)
  ];
}

/**
 * The end of an event's JSON after its time, by flags (bit 0 truncated, 1
 * partial, 2 invalidUtf8), then `after`; entry 8 is `after` alone.
 */
function flagEnds(after: string): string[] {
  const out: string[] = new Array(9);
  for (let f = 0; f < 8; f++) {
    out[f] = '"' + (f & 1 ? ',"truncated":true' : "") +
      (f & 2 ? ',"partial":true' : "") + (f & 4 ? ',"invalidUtf8":true' : "") +
      "}" + after;
  }
  out[8] = after;
  return out;
}

/** Characters of a number as `join` writes it (offsets: whole, not negative). */
function digits(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) return String(n).length;
  let d = 1;
  for (let p = 10; p <= n; p *= 10) d++;
  return d;
}

/**
 * The JSON of one event; `quotedSource` is its source as a JSON string when
 * the caller has it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { eventJson } from "./json.ts";
 * import { END, FILE } from "../types.ts";
 * const e = {
 *   id: "1.2:9", source: "/a.log", offset: 0, line: 'say "hi"', time: "t",
 *   truncated: true as const, [FILE]: { dev: 1, ino: 2 }, [END]: 9,
 * };
 * assertEquals(eventJson(e), JSON.stringify(e));
 * ```
 */
export function eventJson(
  e: Event,
  quotedSource = JSON.stringify(e.source),
): string {
  return hasParsedParts(e) ? JSON.stringify(e) : plainJson(e, quotedSource);
}

/**
 * The JSON of one event as if its source were `source` (an agent names
 * what it publishes with its host); `quotedSource` is `source` as a JSON
 * string when the caller has it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { eventJsonAs } from "./json.ts";
 * import { END, FILE } from "../types.ts";
 * const e = {
 *   id: "1.2:3", source: "/a.log", offset: 0, line: "hi", time: "t",
 *   [FILE]: { dev: 1, ino: 2 }, [END]: 3,
 * };
 * assertEquals(JSON.parse(eventJsonAs(e, "web1:/a.log")).source, "web1:/a.log");
 * ```
 */
export function eventJsonAs(
  e: Event,
  source: string,
  quotedSource = JSON.stringify(source),
): string {
  return hasParsedParts(e)
    ? JSON.stringify({ ...e, source })
    : plainJson(e, quotedSource);
}

/** Whether the event has parts only JSON.stringify writes (parsed fields). */
function hasParsedParts(e: Event): boolean {
  return e.fields !== undefined || e.level !== undefined ||
    e.msg !== undefined || e.logTime !== undefined ||
    e.parseError !== undefined;
}

/** The JSON of an event without parsed parts, built by hand. */
function plainJson(e: Event, quotedSource: string): string {
  // Key order as JSON.stringify gives it: the order the parser sets them in.
  let out =
    `{"id":"${e.id}","source":${quotedSource},"offset":${e.offset},"line":${
      JSON.stringify(e.line)
    },"time":"${e.time}"`;
  if (e.truncated) out += `,"truncated":true`;
  if (e.partial) out += `,"partial":true`;
  if (e.invalidUtf8) out += `,"invalidUtf8":true`;
  return out + "}";
}
