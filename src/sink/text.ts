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
import { CRLF } from "../types.ts";
import { drainBatches, type DrainEnd } from "./_drain.ts";
import type { Batch } from "./batch.ts";
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
 * import { Hub } from "./hub.ts";
 * import { Journal } from "./journal.ts";
 * import { writeText } from "./text.ts";
 * import { END, FILE } from "../types.ts";
 * const hub = new Hub();
 * const sub = hub.subscribe({ capacity: 8, policy: "block" });
 * const file = { dev: 1, ino: 2 };
 * const event = {
 *   id: "1.2:6", source: "/a.log", offset: 0, line: "hello", time: "",
 *   [FILE]: file, [END]: 6,
 * };
 * hub.publish({ type: "batch", batch: new Journal().batch("/a.log", file, [event]) });
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
  onWritten: (batch: Batch) => void = () => {},
): Promise<DrainEnd> {
  const name = options.name ?? ((source: string) => source);
  let last: string | null = null;
  return drainBatches(sub, writable, (batch) => {
    let text = "";
    if (options.headers && batch.source !== last) {
      text += `${last === null ? "" : "\n"}==> ${name(batch.source)} <==\n`;
    }
    last = batch.source;
    for (const event of batch.events) {
      const paint = options.color && event.level !== undefined
        ? COLORS[event.level]
        : undefined;
      text += (paint ? paint(event.line) : event.line) +
        (event[CRLF] ? "\r\n" : "\n");
    }
    return encoder.encode(text);
  }, onWritten);
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
