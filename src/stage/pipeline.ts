/**
 * The stages from chunks to events, composed: line splitting, multi-line
 * joining, parsing, filtering, with every source's rules. The live pipeline,
 * every replay for a resuming subscriber and `/context` go through the same
 * stages, in the reader's thread or a pool worker's, so an event replayed is
 * the event published.
 */
import type { Chunk, Event, Line, Mark, SourceRules } from "../types.ts";
import { END } from "../types.ts";
import { eventFilter, FilterStream } from "./filter.ts";
import { LineStream } from "./lines.ts";
import { MultilineStream } from "./multiline.ts";
import { ParseStream } from "./parse.ts";
import { regex, RuleBook, where } from "./rules.ts";

/** What the stages are made from: the run's rules and filters. */
export interface StageOptions {
  readonly sources: readonly SourceRules[];
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  readonly where: string | null;
  readonly maxLineBytes: number;
  /** Resolves the sources' relative patterns. */
  readonly cwd: string;
}

/** What the live pipeline counts as events pass (a replay counts nothing). */
export interface StageCounts {
  parseError(source: string): void;
  /** A line a filter dropped: its bytes, terminator included. */
  filtered(source: string, bytes: number): void;
}

export class Stages {
  readonly rules: RuleBook;
  readonly #keep: (e: Event) => boolean;
  /** Whether no filter of the command line or of a source applies. */
  readonly #keepsAll: boolean;
  readonly #maxLineBytes: number;

  /** Compiles the rules and filters; a bad one is a ConfigError naming its flag. */
  constructor(options: StageOptions) {
    this.rules = new RuleBook(options.sources, options.cwd);
    const include = options.include.map((t) => regex(t, "--include"));
    const exclude = options.exclude.map((t) => regex(t, "--exclude"));
    const predicate = options.where === null
      ? undefined
      : where(options.where, "--where");
    this.#keep = eventFilter({ include, exclude, where: predicate });
    this.#keepsAll = include.length === 0 && exclude.length === 0 &&
      predicate === undefined && this.rules.keepsAll;
    this.#maxLineBytes = options.maxLineBytes;
  }

  /** Chunks (and marks, kept in order) to events that pass the filters. */
  events(
    chunks: ReadableStream<Chunk | Mark>,
    counts?: StageCounts,
  ): ReadableStream<Event[] | Mark> {
    const rules = this.rules;
    let lines: ReadableStream<Line[] | Mark> = chunks.pipeThrough(
      new LineStream({ maxLineBytes: this.#maxLineBytes }),
    );
    if (rules.multiline) {
      lines = lines.pipeThrough(
        new MultilineStream({
          ruleFor: (source) => rules.forSource(source).multiline,
        }),
      );
    }
    const keepAll = this.#keep;
    const keep = counts
      ? (e: Event) => {
        if (e.parseError !== undefined) counts.parseError(e.source);
        const kept = keepAll(e) && rules.forSource(e.source).keep(e);
        if (!kept) counts.filtered(e.source, e[END] - e.offset);
        return kept;
      }
      : (e: Event) => keepAll(e) && rules.forSource(e.source).keep(e);
    const events = lines.pipeThrough(
      new ParseStream({
        formatFor: rules.raw
          ? undefined
          : (source) => rules.forSource(source).format,
      }),
    );
    // Raw lines with no filter: nothing to drop, no parse error to count.
    if (rules.raw && this.#keepsAll) return events;
    return events.pipeThrough(new FilterStream({ where: keep }));
  }
}
