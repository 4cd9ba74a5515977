/**
 * Fan-out (src/sink/hub.ts): Hub.publish of one batch of line messages to 1,
 * 100 and 1,000 subscribers (drop-oldest queues of 2,048, drained outside
 * the timing), and the SSE formatting each subscriber then does
 * (src/sink/sse.ts formatSse), for one event (the low-rate case: one frame
 * per line per subscriber) and for a batch of 1,024.
 */
import { Hub, type Message } from "../src/sink/hub.ts";
import { formatSse } from "../src/http/format.ts";
import { events } from "./harness/stage_fixtures.ts";

const batch: Message[] = events(1024).map((event) => ({ type: "line", event }));

for (const subscribers of [1, 100, 1000]) {
  const hub = new Hub();
  const subs = Array.from(
    { length: subscribers },
    () => hub.subscribe({ capacity: 2048, policy: "drop-oldest" }),
  );
  Deno.bench({
    name: `publish 1,024 lines to ${subscribers.toLocaleString("en-US")}`,
    group: "Hub.publish",
    baseline: subscribers === 1,
    fn(b) {
      b.start();
      hub.publish(batch);
      b.end();
      for (const s of subs) s.takeQueued();
    },
  });
}

Deno.bench({
  name: "formatSse, 1 event",
  group: "formatSse",
  baseline: true,
  fn() {
    if (formatSse(batch.slice(0, 1)).length === 0) throw new Error("empty");
  },
});

Deno.bench({
  name: "formatSse, 1,024 events",
  group: "formatSse",
  fn() {
    if (formatSse(batch).length === 0) throw new Error("empty");
  },
});
