/**
 * Shapes shared by the stages of the pipeline (and one type guard):
 * follower → Chunk → line splitter → Line[] → parser → Event[] → sinks,
 * with Notices flowing in the same streams, in order.
 */

/** A file's identity: the inode it is, not the name it has. */
export interface FileId {
  /** Device number (`stat`'s `dev`). */
  readonly dev: number;
  /** Inode number (`stat`'s `ino`). */
  readonly ino: number;
}

/**
 * The identity of lines that are on no disk (standard input, a command's
 * output, an ingest ring in memory): they cannot be read back, so the journal
 * keeps no file position for them and a subscriber that falls behind them is
 * told how many it lost. Numbers no file has (where stat gives no inode, a
 * file is 0.0), so it is told apart by value (`sameFile`), also in a copy
 * (a pool worker's).
 */
export const UNSTORED: FileId = Object.freeze({ dev: -1, ino: -1 });

/**
 * A name in a source that is not a path (`exec:NAME`, `ingest:NAME`):
 * letters, digits, `.`, `_` and `-`, so it is safe in a path, a URL and a
 * metric label.
 */
export const SOURCE_NAME: RegExp = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Identities remembered per followed path (the current file and rotated ones still read). */
export const MAX_FILES_PER_SOURCE = 4;

/** One file's position: the bytes before `offset` were delivered. */
export interface FilePosition {
  /** The file, by identity. */
  readonly file: FileId;
  /** Bytes delivered from its start. */
  readonly offset: number;
}

/** Positions per followed path; per path, oldest identity first. */
export type ResumeCursor = Map<string, FilePosition[]>;

/**
 * A run of bytes read from one file at one byte offset. A follower emits
 * chunks of one file in offset order; `end` says no more bytes will come
 * for that file identity (it was rotated away or deleted and drained).
 * A chunk whose offset does not continue the previous chunk of the same
 * file means the follower restarted the file (truncation).
 */
export interface Chunk {
  /**
   * The source's name: the followed path, absolute, as the user named it;
   * `-` for standard input; `ingest:<name>` or `exec:<name>` for lines that
   * came over HTTP or from a command.
   */
  readonly source: string;
  /** The file the bytes were read from. */
  readonly file: FileId;
  /** Byte offset in the file of `bytes[0]`. */
  readonly offset: number;
  /** The bytes, as read. */
  readonly bytes: Uint8Array;
  /** Monotonic time (ms, `performance.now()`) the change was noticed. */
  readonly noticed: number;
  /** No more bytes will come for this file identity. */
  readonly end?: boolean;
}

/** One line as text, with its exact place in its file. */
export interface Line {
  /** The source's name, as in {@link Chunk.source}. */
  readonly source: string;
  /** The file the line is in. */
  readonly file: FileId;
  /** Byte offset of the first byte of the line. */
  readonly offset: number;
  /** Byte offset just past the line terminator: where the next line starts. */
  readonly end: number;
  /** The line's text without `\n` or `\r\n`, from at most `maxLineBytes` bytes. */
  readonly text: string;
  /** The line was longer than the cap; the rest of it was skipped. */
  readonly truncated?: true;
  /** The file ended (rotated away or deleted) before this line's newline came. */
  readonly partial?: true;
  /** The bytes were not valid UTF-8: U+FFFD stands where they were. */
  readonly invalidUtf8?: true;
  /** The line ended with `\r\n`. */
  readonly crlf?: true;
  /**
   * Lines joined into one (a multi-line event): the text of the last of
   * them, the one ending at `end`, which is what a restart finds there.
   */
  readonly last?: string;
  /** Monotonic time the change that brought it was noticed, as in {@link Chunk}. */
  readonly noticed: number;
}

/**
 * When the change that produced an event was noticed (`performance.now()`),
 * for the delay metric. A symbol key, so it never appears in the JSON.
 */
export const NOTICED: unique symbol = Symbol("noticed");

/** The file an event's line is in. A symbol key: it is not part of the JSON. */
export const FILE: unique symbol = Symbol("file");
/** Byte offset just past the event's line in its file. A symbol key, like {@link FILE}. */
export const END: unique symbol = Symbol("end");
/** The event's line ended with `\r\n` in its file. A symbol key, like {@link FILE}. */
export const CRLF: unique symbol = Symbol("crlf");
/**
 * A multi-line event: the start of its last line, the one ending at
 * {@link END}. The state keeps it to check, after a restart, that the file
 * still holds that line before the cursor. A symbol key, like {@link FILE}.
 */
export const LAST_LINE: unique symbol = Symbol("lastLine");

/** What a subscriber or stdout receives for every line. */
export interface Event {
  /** Cursor of the end of this line: `<dev>.<ino>:<end>` in base 36. */
  readonly id: string;
  /** The source's name: the followed path, `-`, `exec:NAME` or `ingest:NAME`. */
  readonly source: string;
  /** Byte offset of the line in its file. */
  readonly offset: number;
  /** The line's text, without its terminator. */
  readonly line: string;
  /** ISO time the line was read. */
  readonly time: string;
  /** The line was longer than `--max-line-bytes` and was cut there. */
  readonly truncated?: true;
  /** The line was not valid UTF-8: U+FFFD stands where the bad bytes were. */
  readonly invalidUtf8?: true;
  /** The file ended (rotated away or deleted) before the line's newline came. */
  readonly partial?: true;
  /** Fields parsed from the line (`--format json|logfmt|regex:…|auto`). */
  readonly fields?: Record<string, unknown>;
  /** Recognised level, lower-case: trace, debug, info, warn, error, fatal. */
  readonly level?: string;
  /** Recognised message (`msg`/`message`). */
  readonly msg?: string;
  /** Recognised time written in the line (`time`/`ts`/`timestamp`…). */
  readonly logTime?: string;
  /** Why the line could not be parsed in its format; it is still delivered. */
  readonly parseError?: string;
  /** See {@link NOTICED}. */
  readonly [NOTICED]?: number;
  /** See {@link FILE}. */
  readonly [FILE]: FileId;
  /** See {@link END}. */
  readonly [END]: number;
  /** See {@link CRLF}. */
  readonly [CRLF]?: true;
  /** See {@link LAST_LINE}. */
  readonly [LAST_LINE]?: string;
}

/** An event as its JSON is written (stdout, SSE `data:`): without the symbol-keyed parts. */
export type EventJson = Omit<
  Event,
  typeof NOTICED | typeof FILE | typeof END | typeof CRLF | typeof LAST_LINE
>;

/** Something noteworthy that is not a line: rotation, truncation, loss, errors. */
export type Notice =
  | {
    readonly kind: "appear";
    readonly source: string;
    readonly file: FileId;
    readonly from: number;
  }
  | {
    readonly kind: "rotate";
    readonly source: string;
    readonly how: "renamed" | "deleted" | "replaced";
  }
  | {
    readonly kind: "truncate";
    readonly source: string;
    readonly offset: number;
    readonly size: number;
    /** The rotated copy the unread rest was recovered from (copytruncate). */
    readonly copy?: string;
    readonly recovered?: number;
  }
  | {
    readonly kind: "gap";
    readonly source: string;
    readonly offset: number;
    readonly bytes: number;
    readonly cause: string;
  }
  | { readonly kind: "vanish"; readonly source: string }
  | {
    readonly kind: "error";
    readonly source: string;
    readonly message: string;
  }
  | {
    readonly kind: "mode";
    readonly mode: WatchMode;
    readonly reason: string;
  }
  | {
    /** A command source (`--exec`) exited and is started again after `delayMs`. */
    readonly kind: "restart";
    readonly source: string;
    /** Its exit status, null when a signal ended it. */
    readonly code: number | null;
    readonly signal: string | null;
    /** Restarts so far, this one included. */
    readonly restarts: number;
    readonly delayMs: number;
  }
  | {
    /** A line a command source wrote to its standard error. */
    readonly kind: "stderr";
    readonly source: string;
    readonly line: string;
  };

/** How followers are woken: filesystem events, or stat polling only. */
export type WatchMode = "events" | "polling";

/**
 * A mark in the stages' streams: the events of `source` up to here are
 * complete (a replay puts one after each range it reads, where the live
 * pipeline had published them).
 */
export interface Flush {
  /** What the mark is. */
  readonly kind: "flush";
  /** The source whose events are complete up to here. */
  readonly source: string;
}

/**
 * A value carried through the stages untouched, in order with the data: a
 * replay marks where each of its ranges starts with one.
 */
export interface Carry {
  /** What the mark is. */
  readonly kind: "carry";
  /** The value, as given. */
  readonly value: unknown;
}

/** What flows between the data in the pipeline's streams: notices, flush marks, carried values. */
export type Mark = Notice | Flush | Carry;

/** Whether an item of the pipeline's streams is a mark (the others are data). */
export function isMark(item: object): item is Mark {
  return "kind" in item;
}

/** Receives notices; the service decides where they go (stderr, SSE, metrics). */
export type NoticeSink = (notice: Notice) => void;

/** Where a file that exists when tailcast starts is read from. */
export type StartAt =
  | { readonly kind: "start" }
  | { readonly kind: "end" }
  /** The last `count` lines (`tail -n N`). */
  | { readonly kind: "lines"; readonly count: number }
  /** From line `line`, counted from 1 (`tail -n +N`). */
  | { readonly kind: "fromLine"; readonly line: number }
  /** The last `count` bytes (`tail -c N`). */
  | { readonly kind: "bytes"; readonly count: number }
  /** From byte `byte`, counted from 1 (`tail -c +N`). */
  | { readonly kind: "fromByte"; readonly byte: number };

/** The kinds of alert rule. */
export type AlertKind = "threshold" | "rate" | "deadman";

/** One alert: what the engine reports when a rule fires. */
export interface Alert {
  /** The name of the rule that fired. */
  readonly rule: string;
  /** What kind of rule it is. */
  readonly kind: AlertKind;
  /** One line for a human, e.g. `errors: 10 lines matching level=error within 1m`. */
  readonly message: string;
  /** Matching lines counted (threshold, rate). */
  readonly count?: number;
  /** The rule's window (or silence), e.g. `1m`, `1m30s`. */
  readonly window: string;
  /** The source of the line that tripped the rule, or the silent source. */
  readonly source?: string;
  /** ISO time it fired. */
  readonly time: string;
}

/** What applies to the events of the files a pattern names. */
export interface SourceRules {
  /** The path or glob, as given. */
  readonly pattern: string;
  /** `raw`, `json`, `logfmt`, `auto` or `regex:<pattern>`. */
  readonly format: string;
  /** A line matching `start` begins an event (at most `maxBytes`; flushed after `flushMs` without a new line); null: one line per event. */
  readonly multiline: {
    readonly start: string;
    readonly maxBytes?: number;
    readonly flushMs?: number;
  } | null;
  /** Keep only lines matching one of these regexes (all lines when empty). */
  readonly include: readonly string[];
  /** Drop lines matching any of these regexes. */
  readonly exclude: readonly string[];
  /** A `--where` expression events must match; null for none. */
  readonly where: string | null;
}
