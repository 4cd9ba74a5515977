import { assertEquals, assertThrows } from "@std/assert";
import { Hub, type Message, Subscription } from "../../src/sink/hub.ts";
import { settle, track } from "../_fixtures/wait.ts";

function msg(n: number): Message {
  return { type: "notice", notice: { kind: "vanish", source: `/${n}` } };
}

/** The numbers of the messages built by {@link msg}; `dropped` as `-count`. */
function numbers(messages: readonly Message[] | null): number[] | null {
  if (messages === null) return null;
  return messages.map((m) =>
    m.type === "dropped"
      ? -m.count
      : m.type === "notice" && m.notice.kind === "vanish"
      ? Number(m.notice.source.slice(1))
      : NaN
  );
}

Deno.test("Hub delivers published messages in order", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  hub.publish([msg(1), msg(2)]);
  hub.publish([msg(3)]);
  assertEquals(numbers(await sub.next()), [1, 2, 3]);
  assertEquals(sub.depth, 0);
  hub.close();
});

Deno.test("Subscription drop-oldest keeps the newest capacity messages and says how many were dropped", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 3, policy: "drop-oldest" });
  hub.publish([1, 2, 3, 4, 5, 6, 7].map(msg));
  assertEquals(sub.depth, 3);
  assertEquals(sub.dropped, 4);
  // One `dropped` message with the count, then the newest three.
  assertEquals(numbers(await sub.next()), [-4, 5, 6, 7]);
  hub.publish([msg(8)]);
  assertEquals(numbers(await sub.next()), [8], "the count was reset");
  assertEquals(sub.dropped, 4, "the lifetime total stays");
  assertEquals(sub.reason, null);
  hub.close();
});

Deno.test("Subscription next(max) takes at most max messages, oldest first", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 4, policy: "drop-oldest" });
  hub.publish([1, 2, 3, 4, 5].map(msg));
  assertEquals(numbers(await sub.next(2)), [-1, 2, 3]);
  assertEquals(numbers(await sub.next(2)), [4, 5]);
  // The ring wraps around correctly.
  hub.publish([6, 7, 8].map(msg));
  assertEquals(numbers(await sub.next()), [6, 7, 8]);
  hub.close();
});

Deno.test("Subscription disconnect ends with reason queue-full when its queue overflows", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 2, policy: "disconnect" });
  const other = hub.subscribe({ capacity: 10, policy: "drop-oldest" });
  hub.publish([1, 2, 3].map(msg));
  assertEquals(sub.reason, "queue-full");
  assertEquals(hub.size, 1);
  // What was queued can still be taken, then it ends.
  assertEquals(numbers(await sub.next()), [1, 2]);
  assertEquals(await sub.next(), null);
  assertEquals(numbers(await other.next()), [1, 2, 3]);
  hub.close();
});

Deno.test("Hub.ready waits until a blocking subscriber has room; publish never awaits", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 2, policy: "block" });
  hub.subscribe({ capacity: 1, policy: "drop-oldest" });
  await hub.ready(2);
  const result: unknown = hub.publish([msg(1), msg(2)]);
  assertEquals(result, undefined, "publish returned something to await");
  const ready = hub.ready(1);
  const state = track(ready);
  await settle();
  assertEquals(state.settled(), false, "ready() while the queue is full");
  // Publishing to a full blocking subscriber without ready() is a bug in the caller.
  assertThrows(() => hub.publish([msg(3)]), RangeError);
  assertEquals(numbers(await sub.next(1)), [1]);
  await ready;
  // More than the capacity: waits for an empty queue.
  const all = hub.ready(5);
  const allState = track(all);
  await settle();
  assertEquals(allState.settled(), false);
  await sub.next();
  await all;
  hub.close();
});

Deno.test("Hub.ready returns when the blocking subscriber ends", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 1, policy: "block" });
  hub.publish([msg(1)]);
  const ready = hub.ready(1);
  sub.close();
  await ready;
  assertEquals(hub.size, 0);
});

Deno.test("Hub gives a fast subscriber everything while a stalled one holds at most its capacity", async () => {
  const hub = new Hub();
  const capacity = 16;
  const stalled = hub.subscribe({ capacity, policy: "drop-oldest" });
  const fast = hub.subscribe({ capacity, policy: "drop-oldest" });
  const got: number[] = [];
  let maxDepth = 0;
  for (let n = 0; n < 1000; n += 10) {
    hub.publish([...Array(10).keys()].map((i) => msg(n + i)));
    maxDepth = Math.max(maxDepth, stalled.depth);
    got.push(...numbers(await fast.next())!);
  }
  assertEquals(got, [...Array(1000).keys()]);
  assertEquals(fast.dropped, 0);
  assertEquals(maxDepth, capacity);
  assertEquals(stalled.depth, capacity);
  assertEquals(stalled.dropped, 1000 - capacity);
  hub.close();
});

Deno.test("Subscription close() lets next() drain what is queued, then returns null", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  hub.publish([msg(1), msg(2)]);
  sub.close();
  assertEquals(sub.reason, "unsubscribed");
  assertEquals(hub.size, 0);
  hub.publish([msg(3)]);
  assertEquals(numbers(await sub.next()), [1, 2]);
  assertEquals(await sub.next(), null);
  assertEquals(await sub.next(), null);
});

Deno.test("Subscription close() resolves a waiting next() with null", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  const waiting = sub.next();
  await settle();
  hub.close();
  assertEquals(await waiting, null);
  assertEquals(sub.reason, "shutdown");
});

Deno.test("Hub.close() ends every subscription with shutdown, and later ones at once", async () => {
  const hub = new Hub();
  const a = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  const b = hub.subscribe({ capacity: 8, policy: "block" });
  hub.publish([msg(1)]);
  hub.close();
  assertEquals(hub.size, 0);
  assertEquals([a.reason, b.reason], ["shutdown", "shutdown"]);
  assertEquals(numbers(await a.next()), [1]);
  assertEquals(await a.next(), null);
  const late = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  assertEquals(late.reason, "shutdown");
  assertEquals(hub.size, 0);
  assertEquals(await late.next(), null);
});

Deno.test("Subscription poke() makes a waiting next() return an empty batch", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  const waiting = sub.next();
  await settle();
  sub.poke();
  assertEquals(await waiting, []);
  // A poke before next() is remembered once.
  sub.poke();
  assertEquals(await sub.next(), []);
  const again = sub.next();
  const state = track(again);
  await settle();
  assertEquals(state.settled(), false, "the poke was used twice");
  hub.publish([msg(1)]);
  assertEquals(numbers(await again), [1]);
  hub.close();
});

Deno.test("Subscription poke() does not hide queued messages", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  hub.publish([msg(1)]);
  sub.poke();
  assertEquals(numbers(await sub.next()), [1]);
  hub.close();
  assertEquals(await sub.next(), null);
});

Deno.test("Subscription unsubscribe removes it from hub.size", () => {
  const hub = new Hub();
  const a = hub.subscribe({ capacity: 1, policy: "drop-oldest" });
  const b = hub.subscribe({ capacity: 1, policy: "disconnect" });
  assertEquals(hub.size, 2);
  assertEquals([...hub.subscriptions], [a, b]);
  a.close();
  a.close();
  assertEquals(hub.size, 1);
  assertEquals([...hub.subscriptions], [b]);
  b.close();
  assertEquals(hub.size, 0);
});

Deno.test("Subscription rejects a capacity below 1 with RangeError", () => {
  const hub = new Hub();
  for (const capacity of [0, -1, 1.5, NaN]) {
    assertThrows(
      () => hub.subscribe({ capacity, policy: "drop-oldest" }),
      RangeError,
    );
  }
  assertEquals(hub.size, 0);
  assertThrows(
    () => new Subscription({ capacity: 0, policy: "block" }, () => {}),
    RangeError,
  );
});

Deno.test("Subscription accept filter decides what is queued", async () => {
  const hub = new Hub();
  const even = hub.subscribe({
    capacity: 2,
    policy: "disconnect",
    accept: (m) => (numbers([m])![0] % 2) === 0,
  });
  hub.publish([1, 2, 3, 4, 5].map(msg));
  // Rejected messages take no room: 3 odd ones did not overflow capacity 2.
  assertEquals(even.reason, null);
  assertEquals(numbers(await even.next()), [2, 4]);
  hub.close();
});
