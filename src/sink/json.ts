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
 * The UTF-8 bytes of the JSON of every event, each between `before(i)` and
 * `after`: encoded piece by piece into one buffer (no text of the whole
 * batch is ever built, which costs more than the encoding). With `marks`,
 * where each piece starts (`at`, one more entry for the end) and where its
 * JSON starts (`json`) are written into them.
 */
export function eventsBytes(
  events: readonly Event[],
  before: ((i: number) => string) | null,
  after: string,
  marks?: { readonly at: Uint32Array; readonly json: Uint32Array },
): Uint8Array {
  let at = 0;
  let source: string | null = null;
  let quoted = "";
  const put = (text: string) => {
    // UTF-8 takes at most three bytes per UTF-16 unit.
    if (scratch.length - at < text.length * 3) {
      const bigger = new Uint8Array(
        Math.max(scratch.length * 2, at + text.length * 3),
      );
      bigger.set(scratch.subarray(0, at));
      scratch = bigger;
    }
    at += encoder.encodeInto(text, scratch.subarray(at)).written;
  };
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (e.source !== source) {
      source = e.source;
      quoted = JSON.stringify(source);
    }
    if (marks) {
      marks.at[i] = at;
      if (before !== null) put(before(i));
      marks.json[i] = at;
      put(eventJson(e, quoted) + after);
    } else {
      put(
        before === null
          ? eventJson(e, quoted) + after
          : before(i) + eventJson(e, quoted) + after,
      );
    }
  }
  if (marks) marks.at[events.length] = at;
  return scratch.slice(0, at);
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
  if (
    e.fields !== undefined || e.level !== undefined || e.msg !== undefined ||
    e.logTime !== undefined || e.parseError !== undefined
  ) {
    return JSON.stringify(e);
  }
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
