/**
 * Multi-line events: a line matching `start` begins an event, and the lines
 * after it that do not match (stack frames, indented continuations) are
 * joined to it with `\n`. Each file identity has at most one pending event,
 * capped at `maxBytes`: beyond it the event is cut, flagged `truncated`, and
 * the rest of its lines are dropped, so memory stays bounded.
 *
 * A pending event is emitted when the next start line of its file comes, when
 * its file ends (a `partial` line) or restarts (a line that does not continue
 * it), after `flushMs` without a new line of its file, and at the end of the
 * stream. Lines before a file's first start line pass through on their own.
 * A flush mark (a replay puts one where the live pipeline had published
 * everything) first emits its source's pending events; other marks pass
 * through.
 */
import { stateless } from "../pattern.ts";
import { fileKey } from "../source/identity.ts";
import { isMark, type Line, type Mark } from "../types.ts";
import { batchLines } from "../source/queue.ts";

/** How one source's lines are joined. */
export interface MultilineRule {
  /** A line that matches begins an event. Flags `g` and `y` are ignored. */
  readonly start: RegExp;
  /** Longest event kept, in bytes, joining `\n`s included. @default 1048576 */
  readonly maxBytes?: number;
  /**
   * Time (ms) a pending event waits for a next line of its file before it is
   * emitted. `Infinity` waits for the next start line or the end of the stream.
   * @default 1000
   */
  readonly flushMs?: number;
}

export interface MultilineStreamOptions {
  /** A line that matches begins an event (required without `ruleFor`). */
  start?: RegExp;
  /**
   * The rule of each source, when sources differ; null lets that source's
   * lines pass unjoined. Overrides `start` for every line; a rule without
   * `maxBytes` or `flushMs` takes the stream's. Its values must be valid
   * (the config checks them); they are not checked per line.
   */
  ruleFor?: (source: string) => MultilineRule | null;
  /** Longest event kept, in bytes, joining `\n`s included. @default 1048576 */
  maxBytes?: number;
  /**
   * Time (ms) a pending event waits for a next line of its file before it is
   * emitted. `Infinity` waits for the next start line or the end of the stream.
   * @default 1000
   */
  flushMs?: number;
  /**
   * Aborting stops the flush timers for good: pending events then wait for
   * the next start line of their file or the end of the stream.
   */
  signal?: AbortSignal;
  /** Lines queued on each side. @default QUEUE_LINES */
  highWaterMark?: number;
}

interface Pending {
  /** Bytes this event may take, from its source's rule. */
  readonly max: number;
  /** Its source's flush time. */
  readonly flushMs: number;
  readonly first: Line;
  /** The last line joined or dropped: gives `end`, `noticed` and `partial`. */
  last: Line;
  /** The text of the event as kept: the first line (capped), then each continuation. */
  readonly parts: string[];
  /** UTF-8 bytes of the event as kept, joining `\n`s included. */
  length: number;
  truncated: boolean;
  invalid: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const encoder = new TextEncoder();

/** UTF-8 bytes a line took in its file, terminator excluded. */
function bytesOf(line: Line): number {
  if (line.truncated) return encoder.encode(line.text).length;
  return line.end - line.offset - (line.partial ? 0 : line.crlf ? 2 : 1);
}

/** The longest start of `text` that fits in `room` UTF-8 bytes, and its bytes. */
function fit(text: string, room: number): { text: string; bytes: number } {
  const { read, written } = encoder.encodeInto(text, new Uint8Array(room));
  return { text: text.slice(0, read), bytes: written };
}

/**
 * @example A Java stack trace becomes one event
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MultilineStream } from "./multiline.ts";
 * import type { Line } from "../types.ts";
 * const file = { dev: 1, ino: 2 };
 * let offset = 0;
 * const lines = ["Exception in thread \"main\" java.lang.Error", "\tat A.b(A.java:1)", "next"]
 *   .map((text) => {
 *     const line = { source: "/x", file, offset, end: offset + text.length + 1, text, noticed: 0 };
 *     offset = line.end;
 *     return line;
 *   });
 * const batches = await Array.fromAsync(
 *   ReadableStream.from([lines]).pipeThrough(new MultilineStream({ start: /^\S/ })),
 * );
 * const events = batches.flat() as Line[];
 * assertEquals(events.map((e) => [e.offset, e.end]), [[0, 61], [61, 66]]);
 * assertEquals(events[0].text, "Exception in thread \"main\" java.lang.Error\n\tat A.b(A.java:1)");
 * ```
 */
export class MultilineStream
  extends TransformStream<Line[] | Mark, Line[] | Mark> {
  readonly #rule: MultilineRule | null;
  readonly #ruleFor: ((source: string) => MultilineRule | null) | null;
  /** Stateless copies of the rules' start patterns. */
  readonly #starts = new WeakMap<RegExp, RegExp>();
  readonly #max: number;
  readonly #flushMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #pending = new Map<string, Pending>();
  #controller: TransformStreamDefaultController<Line[] | Mark> | undefined;
  #timersOff = false;
  #closed = false;

  constructor(options: MultilineStreamOptions) {
    const start = options?.start;
    if (!(start instanceof RegExp) && typeof options?.ruleFor !== "function") {
      throw new TypeError(
        `Cannot join lines without a start pattern: pass start as a RegExp, such as /^\\S/, or ruleFor`,
      );
    }
    const max = options.maxBytes ?? 1024 * 1024;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(
        `Cannot join lines with maxBytes ${max}: use a whole number of at least 1`,
      );
    }
    const flushMs = options.flushMs ?? 1000;
    if (typeof flushMs !== "number" || !(flushMs >= 0)) {
      throw new RangeError(
        `Cannot join lines with flushMs ${flushMs}: use a number of milliseconds of at least 0, or Infinity`,
      );
    }
    const hwm = options.highWaterMark;
    super(
      {
        transform: (item, controller) => {
          // Kept for the flush timers, which enqueue outside `transform`.
          this.#controller = controller;
          if (isMark(item)) this.#notice(item, controller);
          else this.#join(item, controller);
        },
        flush: (controller) => this.#flushAll(controller),
        cancel: () => this.#stop(),
      },
      batchLines(hwm),
      batchLines(hwm),
    );
    this.#rule = start instanceof RegExp ? { start } : null;
    this.#ruleFor = options.ruleFor ?? null;
    this.#max = max;
    this.#flushMs = flushMs;
    this.#signal = options.signal;
    if (this.#signal?.aborted) {
      this.#timersOff = true;
    } else {
      this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  #onAbort = (): void => {
    this.#timersOff = true;
    for (const pending of this.#pending.values()) clearTimeout(pending.timer);
  };

  /** A flush mark first emits its source's pending events; every mark then passes on. */
  #notice(
    notice: Mark,
    controller: TransformStreamDefaultController<Line[] | Mark>,
  ): void {
    if (notice.kind === "flush") {
      const out: Line[] = [];
      for (const [key, pending] of [...this.#pending]) {
        if (pending.first.source === notice.source) {
          out.push(this.#emit(key, pending));
        }
      }
      if (out.length > 0) controller.enqueue(out);
    }
    controller.enqueue(notice);
  }

  #join(
    lines: Line[],
    controller: TransformStreamDefaultController<Line[] | Mark>,
  ): void {
    const out: Line[] = [];
    const touched = new Set<string>();
    for (const line of lines) {
      const rule = this.#ruleFor ? this.#ruleFor(line.source) : this.#rule;
      if (rule === null) {
        out.push(line);
        continue;
      }
      const key = fileKey(line.source, line.file);
      let pending = this.#pending.get(key);
      // A line that does not continue the pending event: the file restarted.
      if (pending && pending.last.end !== line.offset) {
        out.push(this.#emit(key, pending));
        pending = undefined;
      }
      if (this.#startOf(rule).test(line.text)) {
        if (pending) out.push(this.#emit(key, pending));
        pending = this.#begin(line, rule);
        this.#pending.set(key, pending);
      } else if (pending) {
        this.#append(pending, line);
      } else {
        out.push(line);
        continue;
      }
      if (line.partial) {
        // The file ended: nothing more will join this event.
        out.push(this.#emit(key, pending));
      } else {
        touched.add(key);
      }
    }
    if (out.length > 0) controller.enqueue(out);
    for (const key of touched) {
      const pending = this.#pending.get(key);
      if (pending) this.#arm(key, pending);
    }
  }

  /** The rule's start pattern, made stateless once. */
  #startOf(rule: MultilineRule): RegExp {
    let start = this.#starts.get(rule.start);
    if (!start) {
      // A stateful (g or y) pattern would skip matches between lines.
      start = stateless(rule.start);
      this.#starts.set(rule.start, start);
    }
    return start;
  }

  #begin(line: Line, rule: MultilineRule): Pending {
    const max = rule.maxBytes ?? this.#max;
    const whole = bytesOf(line);
    const head = whole <= max
      ? { text: line.text, bytes: whole }
      : fit(line.text, max);
    const cut = whole > max;
    return {
      max,
      flushMs: rule.flushMs ?? this.#flushMs,
      first: line,
      last: line,
      parts: [head.text],
      // Once cut, nothing more is kept: the count says full.
      length: cut ? max : head.bytes,
      truncated: (line.truncated ?? false) || cut,
      invalid: line.invalidUtf8 ?? false,
      timer: undefined,
    };
  }

  #append(pending: Pending, line: Line): void {
    pending.last = line;
    if (line.truncated) pending.truncated = true;
    if (line.invalidUtf8) pending.invalid = true;
    const room = pending.max - pending.length;
    const need = 1 + bytesOf(line);
    if (need <= room) {
      pending.parts.push(line.text);
      pending.length += need;
      return;
    }
    // Cut: keep what fits (a lone `\n` is not worth keeping), drop the rest.
    pending.truncated = true;
    if (room > 1) {
      pending.parts.push(fit(line.text, room - 1).text);
    }
    pending.length = pending.max;
  }

  /** Removes the pending event of `key` and makes its line. */
  #emit(key: string, pending: Pending): Line {
    clearTimeout(pending.timer);
    this.#pending.delete(key);
    const { first, last } = pending;
    const out: {
      source: string;
      file: Line["file"];
      offset: number;
      end: number;
      text: string;
      noticed: number;
      truncated?: true;
      partial?: true;
      invalidUtf8?: true;
      crlf?: true;
      last?: string;
    } = {
      source: first.source,
      file: first.file,
      offset: first.offset,
      end: last.end,
      text: pending.parts.length === 1
        ? pending.parts[0]
        : pending.parts.join("\n"),
      noticed: last.noticed,
    };
    if (pending.truncated) out.truncated = true;
    if (last.partial) out.partial = true;
    if (pending.invalid) out.invalidUtf8 = true;
    if (last.crlf) out.crlf = true;
    // What a restart finds before the cursor: the last line as it is in the file.
    if (last !== first) out.last = last.last ?? last.text;
    return out;
  }

  #arm(key: string, pending: Pending): void {
    clearTimeout(pending.timer);
    pending.timer = undefined;
    if (this.#timersOff || this.#closed || pending.flushMs === Infinity) {
      return;
    }
    pending.timer = setTimeout(
      () => this.#expire(key, pending),
      pending.flushMs,
    );
  }

  #expire(key: string, pending: Pending): void {
    pending.timer = undefined;
    if (this.#closed || this.#pending.get(key) !== pending) return;
    const event = this.#emit(key, pending);
    try {
      this.#controller?.enqueue([event]);
    } catch {
      // The stream was closed or errored meanwhile.
    }
  }

  #flushAll(
    controller: TransformStreamDefaultController<Line[] | Mark>,
  ): void {
    const out: Line[] = [];
    for (const [key, pending] of [...this.#pending]) {
      out.push(this.#emit(key, pending));
    }
    this.#stop();
    if (out.length > 0) controller.enqueue(out);
  }

  /** Clears every timer and forgets pending events: nothing runs after this. */
  #stop(): void {
    this.#closed = true;
    for (const pending of this.#pending.values()) clearTimeout(pending.timer);
    this.#pending.clear();
    this.#signal?.removeEventListener("abort", this.#onAbort);
  }
}
