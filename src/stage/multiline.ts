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
 */
import { stateless } from "../pattern.ts";
import { fileKey } from "../source/identity.ts";
import type { Line } from "../types.ts";

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
  /** Batches queued on each side. @default 4 */
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
  /** Copies of continuation lines, each preceded by a `\n`, as kept. */
  readonly parts: Uint8Array[];
  /** Bytes of the event as kept: first line (capped) plus parts. */
  length: number;
  /** Bytes of the first line kept. */
  readonly head: number;
  truncated: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const NEWLINE = new Uint8Array([0x0a]);

/**
 * @example A Java stack trace becomes one event
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { MultilineStream } from "./multiline.ts";
 * const file = { dev: 1, ino: 2 };
 * let offset = 0;
 * const lines = ["Exception in thread \"main\" java.lang.Error", "\tat A.b(A.java:1)", "next"]
 *   .map((text) => {
 *     const bytes = new TextEncoder().encode(text);
 *     const line = { source: "/x", file, offset, end: offset + bytes.length + 1, bytes, noticed: 0 };
 *     offset = line.end;
 *     return line;
 *   });
 * const batches = await Array.fromAsync(
 *   ReadableStream.from([lines]).pipeThrough(new MultilineStream({ start: /^\S/ })),
 * );
 * const events = batches.flat();
 * assertEquals(events.map((e) => [e.offset, e.end]), [[0, 61], [61, 66]]);
 * assertEquals(
 *   new TextDecoder().decode(events[0].bytes),
 *   "Exception in thread \"main\" java.lang.Error\n\tat A.b(A.java:1)",
 * );
 * ```
 */
export class MultilineStream extends TransformStream<Line[], Line[]> {
  readonly #rule: MultilineRule | null;
  readonly #ruleFor: ((source: string) => MultilineRule | null) | null;
  /** Stateless copies of the rules' start patterns. */
  readonly #starts = new WeakMap<RegExp, RegExp>();
  readonly #max: number;
  readonly #flushMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  readonly #pending = new Map<string, Pending>();
  #controller: TransformStreamDefaultController<Line[]> | undefined;
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
    const hwm = options.highWaterMark ?? 4;
    super(
      {
        transform: (lines, controller) => {
          // Kept for the flush timers, which enqueue outside `transform`.
          this.#controller = controller;
          this.#join(lines, controller);
        },
        flush: (controller) => this.#flushAll(controller),
        cancel: () => this.#stop(),
      },
      new CountQueuingStrategy({ highWaterMark: hwm }),
      new CountQueuingStrategy({ highWaterMark: hwm }),
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

  #join(
    lines: Line[],
    controller: TransformStreamDefaultController<Line[]>,
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
      if (this.#startOf(rule).test(this.#decoder.decode(line.bytes))) {
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
    const head = Math.min(line.bytes.length, max);
    return {
      max,
      flushMs: rule.flushMs ?? this.#flushMs,
      first: line,
      last: line,
      parts: [],
      length: head,
      head,
      truncated: (line.truncated ?? false) || head < line.bytes.length,
      timer: undefined,
    };
  }

  #append(pending: Pending, line: Line): void {
    pending.last = line;
    if (line.truncated) pending.truncated = true;
    const room = pending.max - pending.length;
    const need = 1 + line.bytes.length;
    if (need <= room) {
      pending.parts.push(NEWLINE, line.bytes.slice());
      pending.length += need;
      return;
    }
    // Cut: keep what fits (a lone `\n` is not worth keeping), drop the rest.
    pending.truncated = true;
    if (room > 1) {
      pending.parts.push(NEWLINE, line.bytes.slice(0, room - 1));
      pending.length += room;
    }
  }

  /** Removes the pending event of `key` and makes its line. */
  #emit(key: string, pending: Pending): Line {
    clearTimeout(pending.timer);
    this.#pending.delete(key);
    const { first, last } = pending;
    let bytes: Uint8Array;
    if (pending.parts.length === 0) {
      bytes = pending.head === first.bytes.length
        ? first.bytes
        : first.bytes.subarray(0, pending.head);
    } else {
      bytes = new Uint8Array(pending.length);
      bytes.set(first.bytes.subarray(0, pending.head), 0);
      let at = pending.head;
      for (const part of pending.parts) {
        bytes.set(part, at);
        at += part.length;
      }
    }
    return {
      source: first.source,
      file: first.file,
      offset: first.offset,
      end: last.end,
      bytes,
      noticed: last.noticed,
      ...(pending.truncated ? { truncated: true } : {}),
      ...(last.partial ? { partial: true } : {}),
      ...(last !== first ? { last: last.bytes } : {}),
    };
  }

  #arm(key: string, pending: Pending): void {
    clearTimeout(pending.timer);
    pending.timer = undefined;
    if (this.#timersOff || this.#closed || pending.flushMs === Infinity) return;
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

  #flushAll(controller: TransformStreamDefaultController<Line[]>): void {
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
