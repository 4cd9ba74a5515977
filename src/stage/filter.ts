/**
 * Filter: batches of events → the same batches without the events the user
 * does not want. `--include`/`--exclude` patterns test the raw line; a
 * `--where` predicate (see `../where.ts`) tests parsed fields. A batch left
 * empty is dropped rather than passed on.
 */
import { stateless } from "../pattern.ts";
import type { Mark } from "../types.ts";
import type { Filterable } from "./where.ts";
import { batchLines } from "../source/queue.ts";

export type { Filterable } from "./where.ts";

/** Which events to keep; every part that is given must agree. */
export interface EventFilterOptions<T extends Filterable = Filterable> {
  /** Keep only lines that match at least one. Empty or absent: keep all lines. */
  include?: readonly RegExp[];
  /** Drop lines that match any. */
  exclude?: readonly RegExp[];
  /** Keep only events for which this is true (for example from `compileWhere`). */
  where?: (event: T) => boolean;
}

export interface FilterStreamOptions<T extends Filterable = Filterable>
  extends EventFilterOptions<T> {
  /** Lines queued on each side. @default QUEUE_LINES */
  highWaterMark?: number;
}

/**
 * One predicate for all of `options`: the line matches some include (when
 * there are any) and no exclude, and `where` holds. With no options every
 * event is kept. Patterns with the `g` or `y` flag are copied without it, so
 * testing one line does not move where the next test starts.
 *
 * @example Per-subscriber filtering
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { eventFilter } from "./filter.ts";
 * const keep = eventFilter({ include: [/error/i], exclude: [/healthz/] });
 * assertEquals(keep({ source: "/x.log", line: "ERROR db down" }), true);
 * assertEquals(keep({ source: "/x.log", line: "error GET /healthz" }), false);
 * assertEquals(keep({ source: "/x.log", line: "info ok" }), false);
 * ```
 */
export function eventFilter<T extends Filterable>(
  options: EventFilterOptions<T> = {},
): (event: T) => boolean {
  const include = (options.include ?? []).map(stateless);
  const exclude = (options.exclude ?? []).map(stateless);
  const where = options.where;
  // Loops, not `some`: no closure per event.
  return (event) => {
    const line = event.line;
    if (include.length > 0) {
      let found = false;
      for (let i = 0; i < include.length && !found; i++) {
        found = include[i].test(line);
      }
      if (!found) return false;
    }
    for (let i = 0; i < exclude.length; i++) {
      if (exclude[i].test(line)) return false;
    }
    return where === undefined || where(event);
  };
}

/**
 * Keeps the events of each batch that pass {@link eventFilter}, in order.
 * A batch where every event passes is passed on as is; one where none does
 * is not passed on at all; notices pass through. An exception thrown by
 * `where` errors the stream.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FilterStream } from "./filter.ts";
 * import { compileWhere } from "./where.ts";
 * const e = (line: string, level: string) => ({ source: "/x.log", line, level });
 * const batches = await Array.fromAsync(
 *   ReadableStream.from([[e("a", "info"), e("b", "error")], [e("c", "debug")]])
 *     .pipeThrough(new FilterStream({ where: compileWhere("level=error") })),
 * ) as { line: string }[][];
 * assertEquals(batches.map((b) => b.map((x) => x.line)), [["b"]]);
 * ```
 */
export class FilterStream<T extends Filterable>
  extends TransformStream<T[] | Mark, T[] | Mark> {
  constructor(options: FilterStreamOptions<T> = {}) {
    const keep = eventFilter(options);
    const hwm = options.highWaterMark;
    super(
      {
        transform: (batch, controller) => {
          if (!Array.isArray(batch)) {
            controller.enqueue(batch);
            return;
          }
          const kept = batch.filter(keep);
          if (kept.length === 0) return;
          controller.enqueue(kept.length === batch.length ? batch : kept);
        },
      },
      batchLines(hwm),
      batchLines(hwm),
    );
  }
}
