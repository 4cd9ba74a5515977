import { assert, assertEquals, assertThrows } from "@std/assert";
import { Hub, type Message, Subscription } from "../../src/sink/hub.ts";
import { Journal } from "../../src/sink/journal.ts";
import {
  END,
  type Event,
  FILE,
  type FileId,
  UNSTORED,
} from "../../src/types.ts";
import { settle, track } from "../_fixtures/wait.ts";

const FILE_ID: FileId = { dev: 1, ino: 2 };
const STDIN: FileId = UNSTORED;

/** A notice message numbered `n` (its seq). */
function msg(n: number): Message {
  return {
    type: "notice",
    seq: n,
    id: `2.e.${n.toString(36)}.0`,
    notice: { kind: "vanish", source: `/${n}` },
  };
}

const journal = new Journal({ epoch: "e", unstored: STDIN });
let offset = 0;

/** A batch message of `size` events of `source` (stdin's when source is "-"). */
function batch(size: number, source = "/logs/app.log"): Message {
  const file = source === "-" ? STDIN : FILE_ID;
  const events: Event[] = Array.from({ length: size }, () => {
    const e: Event = {
      id: "",
      source,
      offset,
      line: "x",
      time: "",
      [FILE]: file,
      [END]: offset + 2,
    };
    offset += 2;
    return e;
  });
  return { type: "batch", batch: journal.batch(source, file, events) };
}

/** What each message is, in brief: `n` for notice n, `b<seq>x<events>` for a batch. */
function names(messages: readonly Message[] | null): string[] | null {
  if (messages === null) return null;
  return messages.map((m) =>
    m.type === "batch"
      ? `b${m.batch.seq}x${m.batch.events.length}`
      : m.type === "notice"
      ? String(m.seq)
      : `alert ${m.seq}`
  );
}

const seqOf = (m: Message): number => m.type === "batch" ? m.batch.seq : m.seq;

Deno.test("Hub delivers published messages in order", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  hub.publish(msg(1));
  const b = batch(3);
  hub.publish(b);
  hub.publish(msg(2));
  const got = await sub.next();
  assertEquals(got?.length, 3);
  assertEquals(names(got), ["1", names([b])![0], "2"]);
  // The very batch published: shared by every subscriber, not copied.
  assert(got![1] === b);
  assertEquals(sub.depth, 0);
  hub.close();
});

Deno.test("Hub shares one batch object between all its subscribers", () => {
  const hub = new Hub();
  const subs = [1, 2, 3].map(() =>
    hub.subscribe({ capacity: 8, policy: "drop-oldest" })
  );
  const b = batch(2);
  hub.publish(b);
  for (const sub of subs) {
    const [m] = sub.take();
    assert(m.type === "batch" && b.type === "batch" && m.batch === b.batch);
  }
  hub.close();
});

Deno.test("Hub.publish never waits: it returns nothing to await, whatever the subscribers", () => {
  const hub = new Hub();
  hub.subscribe({ capacity: 1, policy: "drop-oldest" });
  hub.subscribe({ capacity: 1, policy: "disconnect" });
  const block = hub.subscribe({ capacity: 100, policy: "block" });
  // Nobody reads: a thousand publishes all return at once.
  for (let i = 0; i < 1000; i++) {
    const result: unknown = hub.publish(i % 2 ? msg(i) : batch(1));
    assertEquals(result, undefined, "publish returned something to await");
    if (block.depth >= 100) block.take();
  }
  hub.close();
});

Deno.test("Subscription counts its capacity in events: a batch weighs its events, a notice one", () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 10, policy: "disconnect" });
  hub.publish(batch(4));
  hub.publish(msg(1));
  hub.publish(batch(5));
  assertEquals(sub.depth, 10);
  assertEquals(sub.reason, null);
  hub.publish(msg(2));
  assertEquals(sub.reason, "queue-full");
  hub.close();
});

Deno.test("Subscription drop-oldest keeps the newest messages and reports what it dropped, once", () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 6, policy: "drop-oldest" });
  const first = batch(3);
  const second = batch(2);
  hub.publish(first);
  hub.publish(msg(100));
  hub.publish(second);
  assertEquals(sub.overflow(), null, "nothing was dropped yet");
  const third = batch(4);
  hub.publish(third);
  // 3 + 1 + 2 + 4 = 10 > 6: the oldest batch and the notice go (4 events).
  assertEquals(sub.depth, 6);
  assertEquals(sub.dropped, 4);
  assertEquals(sub.overflow(), { count: 4, unstored: 0 });
  assertEquals(sub.overflow(), null, "the count was reset");
  assertEquals(sub.take().map(seqOf), [seqOf(second), seqOf(third)]);
  hub.publish(msg(101));
  assertEquals(names(sub.take()), ["101"]);
  assertEquals(sub.dropped, 4, "the lifetime total stays");
  assertEquals(sub.reason, null);
  hub.close();
});

Deno.test("Subscription drop-oldest counts the dropped lines on no disk (standard input) apart", () => {
  const hub = new Hub();
  const sub = hub.subscribe({
    capacity: 5,
    policy: "drop-oldest",
    unstored: STDIN,
  });
  hub.publish(batch(2, "-"));
  hub.publish(batch(1));
  hub.publish(batch(2, "-"));
  hub.publish(batch(5));
  assertEquals(sub.overflow(), { count: 5, unstored: 4 });
  // Without the identity of lines on no disk, a subscriber counts them as any other lines.
  const other = hub.subscribe({ capacity: 1, policy: "drop-oldest" });
  hub.publish(batch(1, "-"));
  hub.publish(batch(1));
  assertEquals(other.overflow(), { count: 1, unstored: 0 });
  hub.close();
});

Deno.test("Subscription takes a batch larger than its capacity into an empty queue", () => {
  const hub = new Hub();
  const drop = hub.subscribe({ capacity: 4, policy: "drop-oldest" });
  const disconnect = hub.subscribe({ capacity: 4, policy: "disconnect" });
  const block = hub.subscribe({ capacity: 4, policy: "block" });
  const big = batch(10);
  hub.publish(big);
  for (const sub of [drop, disconnect, block]) {
    assertEquals(sub.depth, 10, sub.policy);
    assertEquals(sub.reason, null, sub.policy);
    assertEquals(sub.take().map(seqOf), [seqOf(big)], sub.policy);
  }
  // Into a queue that is not empty, drop-oldest makes room by dropping
  // everything before it; disconnect ends the subscription.
  block.close();
  hub.publish(msg(1));
  hub.publish(batch(10));
  assertEquals(drop.overflow(), { count: 1, unstored: 0 });
  assertEquals(drop.depth, 10);
  assertEquals(disconnect.reason, "queue-full");
  hub.close();
});

Deno.test("Subscription disconnect ends with reason queue-full when its queue overflows", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 2, policy: "disconnect" });
  const other = hub.subscribe({ capacity: 10, policy: "drop-oldest" });
  for (const n of [1, 2, 3]) hub.publish(msg(n));
  assertEquals(sub.reason, "queue-full");
  assertEquals(hub.size, 1);
  assertEquals(sub.dropped, 0, "it drops nothing: it ends");
  // What was queued can still be taken, then it ends.
  assertEquals(names(await sub.next()), ["1", "2"]);
  assertEquals(await sub.next(), null);
  assertEquals(names(await other.next()), ["1", "2", "3"]);
  // Nothing more is queued once it ended.
  hub.publish(msg(4));
  assertEquals(sub.take(), []);
  hub.close();
});

Deno.test("Subscription take() returns everything queued, oldest first, without waiting", () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 100, policy: "drop-oldest" });
  assertEquals(sub.take(), []);
  // Past the ring's first size, and around it after takes.
  for (let round = 0; round < 5; round++) {
    const want: string[] = [];
    for (let i = 0; i < 3 + round * 7; i++) {
      hub.publish(msg(round * 100 + i));
      want.push(String(round * 100 + i));
    }
    assertEquals(names(sub.take()), want);
    assertEquals(sub.depth, 0);
  }
  hub.close();
});

Deno.test("Subscription.whenReady fires synchronously inside the publish that brings a message", () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  let calls = 0;
  let taken: string[] | null = null;
  sub.whenReady(() => {
    calls++;
    // The message is already there: a consumer can take it right here.
    taken = names(sub.take());
  });
  assertEquals(calls, 0, "nothing to be ready for yet");
  hub.publish(msg(1));
  assertEquals(calls, 1, "not called within publish");
  assertEquals(taken, ["1"]);
  // Once only: the next publish does not call it again.
  hub.publish(msg(2));
  assertEquals(calls, 1);
  hub.close();
});

Deno.test("Subscription.whenReady fires at once when something is queued or the subscription ended already", () => {
  const hub = new Hub();
  const queued = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  hub.publish(msg(1));
  let fired = 0;
  queued.whenReady(() => fired++);
  assertEquals(fired, 1);
  const ended = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  ended.close();
  ended.whenReady(() => fired++);
  assertEquals(fired, 2);
  // A waiting one is called by close, by a poke, and not by what it does not accept.
  const waiting = hub.subscribe({
    capacity: 8,
    policy: "drop-oldest",
    accept: (m) => m.type === "batch",
  });
  waiting.whenReady(() => fired++);
  hub.publish(msg(2));
  assertEquals(fired, 2, "a rejected message woke it");
  waiting.poke();
  assertEquals(fired, 3);
  waiting.whenReady(() => fired++);
  waiting.close();
  assertEquals(fired, 4);
  hub.close();
});

Deno.test("Subscription.whenReady takes a pending poke once", () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  sub.poke();
  let fired = 0;
  sub.whenReady(() => fired++);
  assertEquals(fired, 1);
  sub.whenReady(() => fired++);
  assertEquals(fired, 1, "the poke was used twice");
  hub.publish(msg(1));
  assertEquals(fired, 2);
  hub.close();
});

Deno.test("Hub.ready waits until a blocking subscriber has room; publishing to a full one is a caller's bug", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 4, policy: "block" });
  hub.subscribe({ capacity: 1, policy: "drop-oldest" });
  await hub.ready(4);
  hub.publish(batch(3));
  const ready = hub.ready(2);
  const state = track(ready);
  await settle();
  assertEquals(state.settled(), false, "ready() while the queue is too full");
  assertThrows(() => hub.publish(batch(2)), RangeError, "Hub.ready()");
  // One event fits: that needs no wait.
  await hub.ready(1);
  sub.take();
  await ready;
  // More than the capacity: waits for an empty queue.
  hub.publish(msg(1));
  const all = hub.ready(50);
  const allState = track(all);
  await settle();
  assertEquals(allState.settled(), false);
  await sub.next();
  await all;
  hub.close();
});

Deno.test("a full blocking subscriber still takes notices and alerts, which nobody waits to publish", () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 2, policy: "block" });
  hub.publish(batch(2));
  hub.publish(msg(1));
  hub.publish(msg(2));
  assertEquals(sub.take().map((m) => m.type), ["batch", "notice", "notice"]);
  assertEquals(sub.overflow(), null);
  hub.close();
});

Deno.test("Hub.ready returns when the blocking subscriber ends", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 1, policy: "block" });
  hub.publish(msg(1));
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
  const published: number[] = [];
  const got: number[] = [];
  let maxDepth = 0;
  for (let n = 0; n < 100; n++) {
    const m = n % 3 === 0 ? msg(n) : batch(1 + (n % 5));
    published.push(seqOf(m));
    hub.publish(m);
    maxDepth = Math.max(maxDepth, stalled.depth);
    got.push(...(await fast.next())!.map(seqOf));
  }
  assertEquals(got, published);
  assertEquals(fast.dropped, 0);
  assert(maxDepth <= capacity, `the stalled queue held ${maxDepth} events`);
  assert(stalled.dropped > 0);
  assertEquals(stalled.overflow()?.count, stalled.dropped);
  hub.close();
});

Deno.test("Hub tells onDrop how many events each drop cost", () => {
  const drops: number[] = [];
  const hub = new Hub({ onDrop: (n) => drops.push(n) });
  hub.subscribe({ capacity: 3, policy: "drop-oldest" });
  hub.publish(batch(2));
  hub.publish(msg(1));
  hub.publish(batch(3));
  assertEquals(drops, [2, 1]);
  hub.close();
});

Deno.test("Subscription close() lets next() drain what is queued, then returns null", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  hub.publish(msg(1));
  hub.publish(msg(2));
  sub.close();
  assertEquals(sub.reason, "unsubscribed");
  assertEquals(hub.size, 0);
  hub.publish(msg(3));
  assertEquals(names(await sub.next()), ["1", "2"]);
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

Deno.test("Subscription next() waits for a publish", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  const waiting = sub.next();
  const state = track(waiting);
  await settle();
  assertEquals(state.settled(), false);
  hub.publish(msg(1));
  assertEquals(names(await waiting), ["1"]);
  hub.close();
});

Deno.test("Hub.close() ends every subscription with shutdown, and later ones at once", async () => {
  const hub = new Hub();
  const a = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  const b = hub.subscribe({ capacity: 8, policy: "block" });
  hub.publish(msg(1));
  hub.close();
  assertEquals(hub.size, 0);
  assertEquals([a.reason, b.reason], ["shutdown", "shutdown"]);
  assertEquals(names(await a.next()), ["1"]);
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
  hub.publish(msg(1));
  assertEquals(names(await again), ["1"]);
  hub.close();
});

Deno.test("Subscription poke() does not hide queued messages", async () => {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 8, policy: "drop-oldest" });
  hub.publish(msg(1));
  sub.poke();
  assertEquals(names(await sub.next()), ["1"]);
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
  const seen: Message[] = [];
  const even = hub.subscribe({
    capacity: 2,
    policy: "disconnect",
    accept: (m) => {
      seen.push(m);
      return m.type === "notice" && m.seq % 2 === 0;
    },
  });
  for (const n of [1, 2, 3, 4, 5]) hub.publish(msg(n));
  hub.publish(batch(7));
  // Rejected messages take no room: 3 odd ones and a batch did not overflow capacity 2.
  assertEquals(even.reason, null);
  assertEquals(names(await even.next()), ["2", "4"]);
  // Asked once per message.
  assertEquals(seen.length, 6);
  hub.close();
});
