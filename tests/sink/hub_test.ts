import assert from "node:assert/strict";
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
  assert.deepEqual(numbers(await sub.next()), [1, 2, 3]);
  assert.equal(sub.depth, 0);
  hub.close();
});

Deno.test("Subscription drop-oldest keeps the newest capacity messages and says how many were dropped", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 3, policy: "drop-oldest" });
  hub.publish([1, 2, 3, 4, 5, 6, 7].map(msg));
  assert.equal(sub.depth, 3);
  assert.equal(sub.dropped, 4);
  // One `dropped` message with the count, then the newest three.
  assert.deepEqual(numbers(await sub.next()), [-4, 5, 6, 7]);
  hub.publish([msg(8)]);
  assert.deepEqual(numbers(await sub.next()), [8], "the count was reset");
  assert.equal(sub.dropped, 4, "the lifetime total stays");
  assert.equal(sub.reason, null);
  hub.close();
});

Deno.test("Subscription next(max) takes at most max messages, oldest first", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 4, policy: "drop-oldest" });
  hub.publish([1, 2, 3, 4, 5].map(msg));
  assert.deepEqual(numbers(await sub.next(2)), [-1, 2, 3]);
  assert.deepEqual(numbers(await sub.next(2)), [4, 5]);
  // The ring wraps around correctly.
  hub.publish([6, 7, 8].map(msg));
  assert.deepEqual(numbers(await sub.next()), [6, 7, 8]);
  hub.close();
});

Deno.test("Subscription disconnect ends with reason queue-full when its queue overflows", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 2, policy: "disconnect" });
  const other = hub.subscribe({ capacity: 10, policy: "drop-oldest" });
  hub.publish([1, 2, 3].map(msg));
  assert.equal(sub.reason, "queue-full");
  assert.equal(hub.size, 1);
  // What was queued can still be taken, then it ends.
  assert.deepEqual(numbers(await sub.next()), [1, 2]);
  assert.equal(await sub.next(), null);
  assert.deepEqual(numbers(await other.next()), [1, 2, 3]);
  hub.close();
});

Deno.test("Hub.ready waits until a blocking subscriber has room; publish never awaits", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 2, policy: "block" });
  hub.subscribe({ capacity: 1, policy: "drop-oldest" });
  await hub.ready(2);
  const result: unknown = hub.publish([msg(1), msg(2)]);
  assert.equal(result, undefined, "publish returned something to await");
  const ready = hub.ready(1);
  const state = track(ready);
  await settle();
  assert.equal(state.settled(), false, "ready() while the queue is full");
  // Publishing to a full blocking subscriber without ready() is a bug in the caller.
  assert.throws(() => hub.publish([msg(3)]), RangeError);
  assert.deepEqual(numbers(await sub.next(1)), [1]);
  await ready;
  // More than the capacity: waits for an empty queue.
  const all = hub.ready(5);
  const allState = track(all);
  await settle();
  assert.equal(allState.settled(), false);
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
  assert.equal(hub.size, 0);
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
  assert.deepEqual(got, [...Array(1000).keys()]);
  assert.equal(fast.dropped, 0);
  assert.equal(maxDepth, capacity);
  assert.equal(stalled.depth, capacity);
  assert.equal(stalled.dropped, 1000 - capacity);
  hub.close();
});

Deno.test("Subscription close() lets next() drain what is queued, then returns null", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  hub.publish([msg(1), msg(2)]);
  sub.close();
  assert.equal(sub.reason, "unsubscribed");
  assert.equal(hub.size, 0);
  hub.publish([msg(3)]);
  assert.deepEqual(numbers(await sub.next()), [1, 2]);
  assert.equal(await sub.next(), null);
  assert.equal(await sub.next(), null);
});

Deno.test("Subscription close() resolves a waiting next() with null", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  const waiting = sub.next();
  await settle();
  hub.close();
  assert.equal(await waiting, null);
  assert.equal(sub.reason, "shutdown");
});

Deno.test("Hub.close() ends every subscription with shutdown, and later ones at once", async () => {
  const hub = new Hub();
  const a = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  const b = hub.subscribe({ capacity: 8, policy: "block" });
  hub.publish([msg(1)]);
  hub.close();
  assert.equal(hub.size, 0);
  assert.deepEqual([a.reason, b.reason], ["shutdown", "shutdown"]);
  assert.deepEqual(numbers(await a.next()), [1]);
  assert.equal(await a.next(), null);
  const late = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  assert.equal(late.reason, "shutdown");
  assert.equal(hub.size, 0);
  assert.equal(await late.next(), null);
});

Deno.test("Subscription poke() makes a waiting next() return an empty batch", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  const waiting = sub.next();
  await settle();
  sub.poke();
  assert.deepEqual(await waiting, []);
  // A poke before next() is remembered once.
  sub.poke();
  assert.deepEqual(await sub.next(), []);
  const again = sub.next();
  const state = track(again);
  await settle();
  assert.equal(state.settled(), false, "the poke was used twice");
  hub.publish([msg(1)]);
  assert.deepEqual(numbers(await again), [1]);
  hub.close();
});

Deno.test("Subscription poke() does not hide queued messages", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  hub.publish([msg(1)]);
  sub.poke();
  assert.deepEqual(numbers(await sub.next()), [1]);
  hub.close();
  assert.equal(await sub.next(), null);
});

Deno.test("Subscription unsubscribe removes it from hub.size", () => {
  const hub = new Hub();
  const a = hub.subscribe({ capacity: 1, policy: "drop-oldest" });
  const b = hub.subscribe({ capacity: 1, policy: "disconnect" });
  assert.equal(hub.size, 2);
  assert.deepEqual([...hub.subscriptions], [a, b]);
  a.close();
  a.close();
  assert.equal(hub.size, 1);
  assert.deepEqual([...hub.subscriptions], [b]);
  b.close();
  assert.equal(hub.size, 0);
});

Deno.test("Subscription rejects a capacity below 1 with RangeError", () => {
  const hub = new Hub();
  for (const capacity of [0, -1, 1.5, NaN]) {
    assert.throws(
      () => hub.subscribe({ capacity, policy: "drop-oldest" }),
      RangeError,
    );
  }
  assert.equal(hub.size, 0);
  assert.throws(
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
  assert.equal(even.reason, null);
  assert.deepEqual(numbers(await even.next()), [2, 4]);
  hub.close();
});
