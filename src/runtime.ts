/**
 * How tailcast is started: the V8 flags every way of running it passes (the
 * tasks in deno.json, the compiled binary, the tests and the bench), kept
 * here so they cannot drift apart (tests/runtime_test.ts checks deno.json).
 *
 * @module
 */
import { V8_FLAGS } from "./pattern.ts";

/**
 * V8's linear-time regex engine (see pattern.ts), and a young generation of
 * at most 8 MB per semi-space: without the bound V8 grows it to 32 MB under a
 * burst of lines, in every thread of the pool, and RSS with it, for little
 * gain in speed (docs/benchmarks.md).
 */
export const RUNTIME_V8_FLAGS = `${V8_FLAGS},--max-semi-space-size=8`;
