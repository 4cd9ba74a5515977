import { assert, assertEquals, assertThrows } from "@std/assert";
import { Merge } from "../../src/source/merge.ts";
import { settle, track, waitFor } from "../_fixtures/wait.ts";

/** An infinite source that counts how often it is pulled and whether it was cancelled. */
function counting(): {
  stream: ReadableStream<number>;
  pulls: () => number;
  cancelled: () => boolean;
} {
  let pulls = 0;
  let cancelled = false;
  const stream = new ReadableStream<number>({
    pull(controller) {
      pulls++;
      controller.enqueue(pulls);
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, pulls: () => pulls, cancelled: () => cancelled };
}

/** A source fed by hand. */
function manual(): {
  stream: ReadableStream<number>;
  controller: ReadableStreamDefaultController<number>;
  cancelled: () => boolean;
} {
  let controller!: ReadableStreamDefaultController<number>;
  let cancelled = false;
  const stream = new ReadableStream<number>({
    start(c) {
      controller = c;
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, controller, cancelled: () => cancelled };
}

Deno.test("Merge pulls a fast infinite source only a bounded number of times while nobody reads", async () => {
  const merge = new Merge<number>({ highWaterMark: 4 });
  const sources = [counting(), counting(), counting()];
  for (const s of sources) merge.add(s.stream);
  await settle(20);
  const total = () => sources.reduce((n, s) => n + s.pulls(), 0);
  const idle = total();
  // 4 queued on the output, plus at most a couple buffered per source.
  assert(idle >= 4 && idle <= 4 + 3 * 3, `pulled ${idle} times`);
  await settle(20);
  assertEquals(total(), idle, "kept pulling without a reader");

  const reader = merge.readable.getReader();
  for (let i = 0; i < 50; i++) await reader.read();
  await settle(5);
  assert(total() <= 50 + 4 + 3 * 3, `pulled ${total()} times for 50 reads`);
  await reader.cancel();
  await waitFor(() => sources.every((s) => s.cancelled()), "inputs cancelled");
});

Deno.test("Merge delivers one input's values in order", async () => {
  const merge = new Merge<number>();
  merge.add(ReadableStream.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]));
  merge.close();
  assertEquals(await Array.fromAsync(merge.readable), [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
  ]);
});

Deno.test("Merge merges inputs added while it runs", async () => {
  const merge = new Merge<string>();
  merge.add(ReadableStream.from(["a1", "a2"]));
  const reader = merge.readable.getReader();
  assertEquals(
    [(await reader.read()).value, (await reader.read()).value],
    ["a1", "a2"],
  );
  merge.add(ReadableStream.from(["b1", "b2"]));
  merge.add(ReadableStream.from(["c1"]));
  merge.close();
  const rest: string[] = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    rest.push(r.value);
  }
  assertEquals(rest.sort(), ["b1", "b2", "c1"]);
  assertThrows(() => merge.add(ReadableStream.from(["late"])), TypeError);
});

Deno.test("Merge close() ends the output only after every input has ended", async () => {
  const merge = new Merge<number>();
  const input = manual();
  merge.add(input.stream);
  merge.close();
  const reader = merge.readable.getReader();
  const first = reader.read();
  await settle(10);
  assertEquals(track(first).settled(), false);
  input.controller.enqueue(7);
  assertEquals(await first, { done: false, value: 7 });
  const second = reader.read();
  const secondState = track(second);
  await settle(10);
  assertEquals(secondState.settled(), false, "ended while an input was open");
  input.controller.close();
  assertEquals(await second, { done: true, value: undefined });
});

Deno.test("Merge close() with no inputs ends the output at once", async () => {
  const merge = new Merge<number>();
  merge.close();
  assertEquals(await Array.fromAsync(merge.readable), []);
});

Deno.test("Merge cancel stops inputs that are waiting for room", async () => {
  const merge = new Merge<number>({ highWaterMark: 2 });
  const a = counting();
  const b = counting();
  merge.add(a.stream);
  merge.add(b.stream);
  const reader = merge.readable.getReader();
  await reader.read();
  await settle(10);
  await reader.cancel();
  await waitFor(() => a.cancelled() && b.cancelled(), "both inputs cancelled");
  const pulls = a.pulls() + b.pulls();
  await settle(10);
  assertEquals(a.pulls() + b.pulls(), pulls, "pulled after cancel");
});

Deno.test("Merge cancel stops an idle input whose read is pending", async () => {
  const merge = new Merge<number>();
  const input = manual();
  merge.add(input.stream);
  const reader = merge.readable.getReader();
  const pending = reader.read();
  await settle(10);
  await reader.cancel();
  assertEquals(await pending, { done: true, value: undefined });
  // A follower waiting for its file to change must be told to stop now, not
  // at its next chunk.
  await waitFor(input.cancelled, "the idle input to be cancelled", 1000);
});

Deno.test("Merge does not throw when an input yields a value after the output was cancelled", async () => {
  const rejections: unknown[] = [];
  const onRejection = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    rejections.push(e.reason);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  try {
    const merge = new Merge<number>();
    const input = manual();
    merge.add(input.stream);
    const reader = merge.readable.getReader();
    const pending = reader.read();
    await settle(10);
    await reader.cancel();
    await pending;
    // The input had a read outstanding; its answer arrives after the cancel.
    try {
      input.controller.enqueue(1);
      input.controller.close();
    } catch {
      // Cancelled already: fine.
    }
    await settle(10);
    assertEquals(rejections.map(String), []);
  } finally {
    globalThis.removeEventListener("unhandledrejection", onRejection);
  }
});
