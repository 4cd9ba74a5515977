/**
 * NDJSON sink: one JSON object per line event, written to a byte stream
 * (stdout). It drains a `block` subscription, so when stdout is slow the
 * hub's dispatcher waits and the followers stop reading: nothing is dropped.
 */
import type { Event } from "../types.ts";
import type { Message, Subscription } from "./hub.ts";

const encoder = new TextEncoder();

/** Lines only: rotation and other notices go to stderr, not into the data. */
export function isLine(message: Message): boolean {
  return message.type === "line";
}

/**
 * Writes everything `sub` receives to `writable` until the subscription ends,
 * then closes the writer. Resolves once the last write is done.
 */
export async function writeNdjson(
  sub: Subscription,
  writable: WritableStream<Uint8Array>,
  onWritten: (events: readonly Event[]) => void = () => {},
): Promise<void> {
  const writer = writable.getWriter();
  try {
    for (let batch = await sub.next(); batch; batch = await sub.next()) {
      const events: Event[] = [];
      let text = "";
      for (const m of batch) {
        if (m.type !== "line") continue;
        events.push(m.event);
        text += (m.json ?? JSON.stringify(m.event)) + "\n";
      }
      if (events.length > 0) {
        await writer.write(encoder.encode(text));
        onWritten(events);
      }
    }
    await writer.close();
  } catch (error) {
    sub.close();
    // A closed stdout (EPIPE) ends this sink, not the service.
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  } finally {
    writer.releaseLock();
  }
}
