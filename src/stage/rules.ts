/**
 * Per-source rules: which format, multiline pattern and filters apply to the
 * events of a followed file. Compiled once at start-up (a bad regex, format
 * or where-expression is a ConfigError naming the flag or key), looked up by
 * source path with a bounded cache. The first rule whose pattern matches the
 * path applies; the command line's own rule (pattern "") matches every path.
 */
import { isAbsolute, resolve } from "node:path";
import { ConfigError } from "../errors.ts";
import {
  compileGlob,
  compilePattern,
  isGlob,
  PatternError,
} from "../pattern.ts";
import type { Event, SourceRules } from "../types.ts";
import { compileWhere, WhereError, type WherePredicate } from "./where.ts";
import { eventFilter } from "./filter.ts";
import { type Format, FormatError, parseFormat } from "./formats.ts";

/** What applies to one source, compiled. */
export interface Compiled {
  readonly format: Format;
  readonly multiline: {
    readonly start: RegExp;
    readonly maxBytes?: number;
    readonly flushMs?: number;
  } | null;
  /** True when the event passes this source's include/exclude/where. */
  readonly keep: (e: Event) => boolean;
  /** Whether `keep` keeps every event (the source has no filter). */
  readonly keepsAll: boolean;
}

interface Entry {
  readonly matches: (path: string) => boolean;
  readonly compiled: Compiled;
}

/** Cached lookups at most (one per followed file). */
const MAX_CACHED = 10_000;

/** The rules of a run, by source path. */
export class RuleBook {
  readonly #entries: Entry[];
  readonly #cache = new Map<string, Compiled>();
  readonly #fallback: Compiled;

  /** Compiles `rules`; `cwd` resolves relative patterns. Throws ConfigError. */
  constructor(rules: readonly SourceRules[], cwd: string) {
    this.#entries = rules.map((r, i) => {
      const where = r.pattern === "" ? "" : `sources[${i}].`;
      return {
        matches: matcher(r.pattern, cwd, `${where}path`),
        compiled: compile(r, where),
      };
    });
    this.#fallback = {
      format: { kind: "raw" },
      multiline: null,
      keep: () => true,
      keepsAll: true,
    };
  }

  /** Whether any source joins lines into multi-line events. */
  get multiline(): boolean {
    return this.#entries.some((e) => e.compiled.multiline !== null);
  }

  /** Whether no source has a filter of its own. */
  get keepsAll(): boolean {
    return this.#entries.every((e) => e.compiled.keepsAll);
  }

  /** Whether every format is raw (the parser then only decodes). */
  get raw(): boolean {
    return this.#entries.every((e) => e.compiled.format.kind === "raw");
  }

  /** The rules of the first pattern matching `source`. */
  forSource(source: string): Compiled {
    let c = this.#cache.get(source);
    if (c) return c;
    c = this.#entries.find((e) => e.matches(source))?.compiled ??
      this.#fallback;
    if (this.#cache.size >= MAX_CACHED) this.#cache.clear();
    this.#cache.set(source, c);
    return c;
  }
}

function matcher(
  pattern: string,
  cwd: string,
  flag: string,
): (path: string) => boolean {
  if (pattern === "") return () => true;
  if (pattern === "-") return (p) => p === "-";
  const path = isAbsolute(pattern) ? resolve(pattern) : resolve(cwd, pattern);
  if (!isGlob(path)) return (p) => p === path;
  let regex: RegExp;
  try {
    regex = compileGlob(path, { what: flag });
  } catch (error) {
    if (error instanceof PatternError) {
      throw new ConfigError(flag, error.message);
    }
    throw error;
  }
  return (p) => regex.test(p);
}

/** Compiles a regex from the command line or the config file; `flag` names it in errors. */
export function regex(text: string, flag: string): RegExp {
  try {
    return compilePattern(text, { what: flag });
  } catch (error) {
    if (error instanceof PatternError) {
      throw new ConfigError(flag, error.message);
    }
    throw error;
  }
}

/** Compiles a where-expression; `flag` names it in errors. */
export function where(text: string, flag: string): WherePredicate {
  try {
    return compileWhere(text);
  } catch (error) {
    if (error instanceof WhereError) {
      throw new ConfigError(
        flag,
        `Invalid ${flag} ${JSON.stringify(text)} at column ${
          error.position + 1
        }: ${error.reason}`,
      );
    }
    throw error;
  }
}

function compile(r: SourceRules, at: string): Compiled {
  const flag = (name: string) => at === "" ? `--${name}` : `${at}${name}`;
  let format: Format;
  try {
    format = parseFormat(r.format);
  } catch (error) {
    if (error instanceof FormatError) {
      throw new ConfigError(flag("format"), error.message);
    }
    throw error;
  }
  const include = r.include.map((t) => regex(t, flag("include")));
  const exclude = r.exclude.map((t) => regex(t, flag("exclude")));
  const predicate = r.where === null
    ? undefined
    : where(r.where, flag("where"));
  const keepsAll = include.length === 0 && exclude.length === 0 &&
    !predicate;
  return {
    format,
    multiline: r.multiline === null ? null : {
      ...r.multiline,
      start: regex(
        r.multiline.start,
        at === "" ? "--multiline-start" : `${at}multiline.start`,
      ),
    },
    keep: keepsAll
      ? () => true
      : eventFilter({ include, exclude, where: predicate }),
    keepsAll,
  };
}
