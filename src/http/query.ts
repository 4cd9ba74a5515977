/**
 * The request of one `/events` subscriber: its query parameters (and
 * `Last-Event-ID`) checked and bounded into a typed selection, and the
 * predicates that apply it to messages.
 */
import { basename } from "node:path";
import { compileGlob, compilePattern, PatternError } from "../pattern.ts";
import { CursorError, type DecodedId, decodeId } from "../sink/cursor.ts";
import type { Message, Policy } from "../sink/hub.ts";
import type { Event, Notice } from "../types.ts";
import {
  compileWhere,
  WhereError,
  type WherePredicate,
} from "../stage/where.ts";

/** A request's choices, already validated. */
export interface SubscriberQuery {
  /** The `source=` glob: matched against the whole path, or the file name if it has no `/`. */
  readonly source: string | null;
  readonly sourceRegex: RegExp | null;
  readonly grep: RegExp | null;
  readonly policy: Policy;
  readonly format: "sse" | "ndjson";
  /** The cursor to resume from (`Last-Event-ID` or `?since=`). */
  readonly since: DecodedId | null;
  /** Last lines of each selected file to send first. */
  readonly backlog: number | null;
  /** `where=`: a predicate over the event's fields. */
  readonly where: WherePredicate | null;
  /** `level=`: the lowest level wanted (events without a level are left out). */
  readonly level: number | null;
  /** `type=alert`: alerts only. */
  readonly alertsOnly: boolean;
}

/** Levels from least to most severe: `level=warn` keeps warn, error, fatal. */
const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"];

/** Longest `grep=` accepted, in characters. */
export const MAX_GREP = 512;
/** Longest `where=` accepted, in characters. */
export const MAX_WHERE = 1024;
/** Longest `source=` accepted, in characters. */
export const MAX_SOURCE = 512;
/** Default `--max-backlog`: lines per file a `backlog=` may ask for. */
export const DEFAULT_MAX_BACKLOG = 10_000;

/** A request that cannot be served as asked: the route answers 400 with the message. */
export class QueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QueryError";
  }
}

/** The server's bounds on what one request may ask for. */
export interface QueryLimits {
  /** Lines per file `backlog=` may ask for. @default DEFAULT_MAX_BACKLOG */
  maxBacklog?: number;
}

/**
 * Validates the query parameters of `/events` (and `Last-Event-ID`). Every
 * pattern is compiled to run in linear time (see `../pattern.ts`); every
 * parameter has a bound, and a request beyond one is a QueryError naming it.
 */
export function parseQuery(
  url: URL,
  accept: string | null,
  lastEventId: string | null = null,
  limits: QueryLimits = {},
): SubscriberQuery {
  const q = url.searchParams;
  const sinceText = lastEventId || q.get("since") || null;
  let since: DecodedId | null = null;
  if (sinceText !== null) {
    try {
      since = decodeId(sinceText);
    } catch (error) {
      if (error instanceof CursorError) throw new QueryError(error.message);
      throw error;
    }
  }
  const maxBacklog = limits.maxBacklog ?? DEFAULT_MAX_BACKLOG;
  const backlogText = q.get("backlog");
  let backlog: number | null = null;
  if (backlogText !== null && backlogText !== "") {
    backlog = /^\d{1,15}$/.test(backlogText) ? Number(backlogText) : NaN;
    if (Number.isNaN(backlog)) {
      throw new QueryError(
        `Invalid backlog ${
          JSON.stringify(backlogText.slice(0, 64))
        }: use a whole number of lines, e.g. backlog=100`,
      );
    }
    if (backlog > maxBacklog) {
      throw new QueryError(
        `Invalid backlog ${backlog}: this server sends at most ${maxBacklog} lines per file (its --max-backlog)`,
      );
    }
  }
  let grep: RegExp | null = null;
  const grepText = q.get("grep");
  if (grepText !== null && grepText !== "") {
    try {
      grep = compilePattern(grepText, { what: "grep", maxLength: MAX_GREP });
    } catch (error) {
      if (error instanceof PatternError) throw new QueryError(error.message);
      throw error;
    }
  }
  const policy = q.get("policy") ?? "drop-oldest";
  if (policy !== "drop-oldest" && policy !== "disconnect") {
    throw new QueryError(
      `Invalid policy ${
        JSON.stringify(policy)
      }: use drop-oldest (default) or disconnect`,
    );
  }
  const format = q.get("format");
  if (format !== null && format !== "sse" && format !== "ndjson") {
    throw new QueryError(
      `Invalid format ${JSON.stringify(format)}: use sse or ndjson`,
    );
  }
  const wantsNdjson = format === "ndjson" ||
    (format === null && (accept ?? "").includes("application/x-ndjson"));
  const sourceText = q.get("source");
  const source = sourceText === null || sourceText === "" ? null : sourceText;
  let sourceRegex: RegExp | null = null;
  if (source !== null) {
    try {
      sourceRegex = compileGlob(source, {
        what: "source",
        maxLength: MAX_SOURCE,
      });
    } catch (error) {
      if (error instanceof PatternError) throw new QueryError(error.message);
      throw error;
    }
  }
  let where: WherePredicate | null = null;
  const whereText = q.get("where");
  if (whereText !== null && whereText !== "") {
    if (whereText.length > MAX_WHERE) {
      throw new QueryError(
        `Invalid where: the expression is ${whereText.length} characters long; the limit is ${MAX_WHERE}`,
      );
    }
    try {
      where = compileWhere(whereText);
    } catch (error) {
      if (error instanceof WhereError) {
        throw new QueryError(
          `Invalid where ${JSON.stringify(whereText)} at column ${
            error.position + 1
          }: ${error.reason}`,
        );
      }
      throw error;
    }
  }
  const levelText = q.get("level");
  let level: number | null = null;
  if (levelText !== null && levelText !== "") {
    level = LEVELS.indexOf(levelText.toLowerCase());
    if (level === -1) {
      throw new QueryError(
        `Invalid level ${JSON.stringify(levelText)}: use one of ${
          LEVELS.join(", ")
        } (events at that level or above)`,
      );
    }
  }
  const type = q.get("type");
  if (type !== null && type !== "" && type !== "alert" && type !== "all") {
    throw new QueryError(
      `Invalid type ${JSON.stringify(type)}: use alert (alerts only) or all`,
    );
  }
  return {
    source,
    sourceRegex,
    grep,
    policy,
    format: wantsNdjson ? "ndjson" : "sse",
    since,
    backlog,
    where,
    level,
    alertsOnly: type === "alert",
  };
}

/** Paths whose answer a selection remembers; past it, the memory starts again. */
const MAX_CACHED_PATHS = 4096;

/**
 * Whether a followed path is in a subscriber's selection. The glob runs
 * once per path, not per line: the answer is remembered (boundedly).
 */
export function selectsSource(
  query: SubscriberQuery,
): (source: string) => boolean {
  const { source, sourceRegex } = query;
  if (source === null || sourceRegex === null) return () => true;
  const byName = !source.includes("/");
  const known = new Map<string, boolean>();
  return (path) => {
    let yes = known.get(path);
    if (yes === undefined) {
      yes = path === source ||
        sourceRegex.test(byName ? basename(path) : path);
      if (known.size >= MAX_CACHED_PATHS) known.clear();
      known.set(path, yes);
    }
    return yes;
  };
}

/**
 * A subscriber's test of each line event (grep, where, level), or null when
 * it has none and takes whole batches.
 */
export function lineFilter(
  query: SubscriberQuery,
): ((e: Event) => boolean) | null {
  const { grep, where, level } = query;
  if (grep === null && where === null && level === null) return null;
  return (e) =>
    (grep === null || grep.test(e.line)) &&
    (where === null || where(e)) &&
    (level === null ||
      (e.level !== undefined && LEVELS.indexOf(e.level) >= level));
}

/**
 * Whether a published message is for a subscriber that asked for `query`:
 * cheap enough for `publish` (a batch is one source, tested once per path).
 */
export function selects(query: SubscriberQuery): (m: Message) => boolean {
  const inSource = selectsSource(query);
  return (m) => {
    if (m.type === "alert") return true;
    if (query.alertsOnly) return false;
    if (m.type === "batch") return inSource(m.batch.source);
    if (query.format !== "sse") return false;
    const from = sourceOf(m.notice);
    return query.source === null || (from !== null && inSource(from));
  };
}

function sourceOf(n: Notice): string | null {
  return n.kind === "mode" ? null : n.source;
}
