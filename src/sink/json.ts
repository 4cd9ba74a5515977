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

/**
 * The JSON of every event, each between `before` and `after` (built as one
 * text in one pass: no string per event is kept).
 */
export function eventsText(
  events: readonly Event[],
  before: (i: number) => string,
  after: string,
): string {
  let out = "";
  let source: string | null = null;
  let quoted = "";
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (e.source !== source) {
      source = e.source;
      quoted = JSON.stringify(source);
    }
    out += before(i) + eventJson(e, quoted) + after;
  }
  return out;
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
