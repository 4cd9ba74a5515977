/**
 * What the fuzz tests share: seeded runs, and the one check they all make,
 * that a function returns or throws its own error class, never another.
 */
import type fc from "fast-check";
import { AssertionError } from "@std/assert";

/**
 * The seed of every run, so a failure reproduces: fast-check's report gives
 * the seed and the path of the shrunk case. `FUZZ_SEED=N` explores others.
 */
export const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20260301);

/** fast-check parameters: `numRuns` cases from {@link SEED}. */
export function runs(numRuns: number): fc.Parameters<unknown> {
  return { seed: SEED, numRuns };
}

/** Longest one call may take: well past any linear run, far short of a hang. */
export const SLOW_MS = 500;

/**
 * Calls `fn`: its result, or the error it threw when that is an `expected`.
 * Any other error, or a call slower than {@link SLOW_MS}, fails the case.
 */
export function returnsOrThrows<T, E extends Error>(
  // deno-lint-ignore no-explicit-any
  expected: new (...args: any[]) => E,
  fn: () => T,
  input: unknown,
): { value: T } | { error: E } {
  const started = performance.now();
  let outcome: { value: T } | { error: E };
  try {
    outcome = { value: fn() };
  } catch (error) {
    if (!(error instanceof expected)) {
      throw new AssertionError(
        `Expected only ${expected.name} but got ${
          error instanceof Error ? error.stack : String(error)
        }\non ${show(input)}`,
      );
    }
    outcome = { error };
  }
  const took = performance.now() - started;
  if (took > SLOW_MS) {
    throw new AssertionError(`Took ${took.toFixed(0)} ms on ${show(input)}`);
  }
  return outcome;
}

/** `value` for a failure message, cut short. */
export function show(value: unknown): string {
  const text = typeof value === "string"
    ? JSON.stringify(value)
    : Deno.inspect(value, { depth: 6, iterableLimit: 20 });
  return text.length > 300 ? `${text.slice(0, 300)}… (${text.length})` : text;
}
