/**
 * Fan-out (src/sink/hub.ts): Hub.publish of one batch of 1,024 events to 1,
 * 100 and 1,000 subscribers (drop-oldest queues of 2,048 events, drained
 * outside the timing), and the SSE encoding of a batch (src/http/format.ts
 * batchBytes), for one event (the low-rate case: one frame per line) and for
 * a batch of 1,024: made once per batch (the first subscriber pays it), then
 * shared by every subscriber without line filters; a subscriber with a line
 * filter joins the frames of the lines it keeps.
 */
import { Hub, type Message } from "../src/sink/hub.ts";
import { Journal } from "../src/sink/journal.ts";
import { batchBytes } from "../src/http/format.ts";
import { type Event, FILE } from "../src/types.ts";
import { events } from "./harness/stage_fixtures.ts";

const journal = new Journal({ epoch: "bench", capacity: 1024 });
const one = events(1);
const many = events(1024);

/** `of` published as a new journal batch: nothing of it is encoded yet. */
function publish(of: readonly Event[]) {
  return journal.batch(of[0].source, of[0][FILE], of);
}

const message: Message = { type: "batch", batch: publish(many) };

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
      hub.publish(message);
      b.end();
      for (const s of subs) s.take();
    },
  });
}

for (const [label, of] of [["1 event", one], ["1,024 events", many]] as const) {
  Deno.bench({
    name: `batchBytes SSE, ${label}, first subscriber (encodes)`,
    group: `batchBytes, ${label}`,
    baseline: true,
    fn(b) {
      const fresh = publish(of);
      b.start();
      const bytes = batchBytes(fresh, "sse", null);
      b.end();
      if (bytes === null || bytes.length === 0) throw new Error("empty");
    },
  });

  const shared = publish(of);
  batchBytes(shared, "sse", null);
  Deno.bench({
    name: `batchBytes SSE, ${label}, every other subscriber (shared)`,
    group: `batchBytes, ${label}`,
    fn() {
      if (batchBytes(shared, "sse", null) === null) throw new Error("empty");
    },
  });

  // A grep that keeps every other line: the frames are made once, joined per subscriber.
  let n = 0;
  const keep = () => (n++ & 1) === 0;
  Deno.bench({
    name: `batchBytes SSE, ${label}, a subscriber with a line filter`,
    group: `batchBytes, ${label}`,
    fn() {
      if (batchBytes(shared, "sse", keep) === null && of.length > 1) {
        throw new Error("empty");
      }
    },
  });
}
