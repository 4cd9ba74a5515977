/**
 * Text sink: the lines as they are in the file, for a terminal, the way
 * `tail` prints them: `==> name <==` headers when the file changes, colours
 * by level on a terminal. Like the NDJSON sink it drains a `block`
 * subscription, so a slow terminal pauses reading instead of dropping.
 *
 * Events carry the decoded line, so a line that is not valid UTF-8 is printed
 * with U+FFFD where its bad bytes were (its event says `invalidUtf8`). A last
 * line without newline is held until its newline comes, as for every sink;
 * one left in a file rotated away (`partial`) is printed with a newline.
 */
import { isAbsolute, relative } from "node:path";
import { dim, red, yellow } from "@std/fmt/colors";
import { parsePattern } from "../source/discover.ts";
import { END, type Event } from "../types.ts";
import { type DrainEnd, drainLines } from "./_drain.ts";
import type { Subscription } from "./hub.ts";

export interface TextOptions {
  /** Print tail's `==> name <==` header whenever the lines' file changes. */
  readonly headers: boolean;
  /** Colour lines by their level (error red, warn yellow, debug dim). */
  readonly color: boolean;
  /** The name a header shows for a source. @default the source */
  readonly name?: (source: string) => string;
}

const encoder = new TextEncoder();

const COLORS: Readonly<Record<string, (text: string) => string>> = {
  fatal: red,
  error: red,
  warn: yellow,
  debug: dim,
  trace: dim,
};

/**
 * Writes every line `sub` receives to `writable` as text until the
 * subscription ends, then closes the writer; resolves as the NDJSON sink
 * does.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { eventId } from "../stage/parse.ts";
 * import { END, FILE } from "../types.ts";
 * import { Hub } from "./hub.ts";
 * import { writeText } from "./text.ts";
 * const hub = new Hub();
 * const sub = hub.subscribe({ capacity: 8, policy: "block" });
 * const file = { dev: 1, ino: 2 };
 * hub.publish([{ type: "line", event: {
 *   id: eventId(file, 6), source: "/a.log", offset: 0, line: "hello", time: "",
 *   [FILE]: file, [END]: 6,
 * } }]);
 * hub.close();
 * const out: Uint8Array[] = [];
 * await writeText(sub, new WritableStream({ write: (b) => void out.push(b) }), {
 *   headers: true, color: false,
 * });
 * assertEquals(new TextDecoder().decode(out[0]), "==> /a.log <==\nhello\n");
 * ```
 */
export function writeText(
  sub: Subscription,
  writable: WritableStream<Uint8Array>,
  options: TextOptions,
  onWritten: (events: readonly Event[]) => void = () => {},
): Promise<DrainEnd> {
  const name = options.name ?? ((source: string) => source);
  let last: string | null = null;
  return drainLines(sub, writable, (lines) => {
    let text = "";
    for (const { event } of lines) {
      if (options.headers && event.source !== last) {
        text += `${last === null ? "" : "\n"}==> ${name(event.source)} <==\n`;
      }
      last = event.source;
      const paint = options.color && event.level !== undefined
        ? COLORS[event.level]
        : undefined;
      text += (paint ? paint(event.line) : event.line) + terminator(event);
    }
    return encoder.encode(text);
  }, onWritten);
}

/**
 * `\r\n` for a line that ended so in the file, else `\n`. The event has the
 * line without its terminator; the bytes it took in the file (from its
 * offset to the end its id names) are the text's plus one or two.
 */
function terminator(event: Event): string {
  const took = event[END] - event.offset;
  // Below this the line surely ended with \n alone (UTF-8 is never shorter).
  if (
    took < event.line.length + 2 || event.truncated || event.invalidUtf8 ||
    event.partial
  ) {
    return "\n";
  }
  return took === encoder.encode(event.line).length + 2 ? "\r\n" : "\n";
}

/**
 * Header names as tail shows them: a path as it was typed; a file a glob
 * matched relative to the working directory if the glob was relative;
 * `standard input` for `-`.
 */
export function headerNames(
  paths: readonly string[],
  cwd: string,
): (source: string) => string {
  const patterns = paths.filter((p) => p !== "-").map((p) =>
    parsePattern(p, cwd)
  );
  return (source) => {
    if (source === "-") return "standard input";
    const pattern = patterns.find((p) =>
      p.regex ? p.regex.test(source) : p.path === source
    );
    if (!pattern) return source;
    if (!pattern.glob) return pattern.arg;
    return isAbsolute(pattern.arg) ? source : relative(cwd, source);
  };
}
