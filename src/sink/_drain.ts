/**
 * The loop both stdout sinks share: drain a `block` subscription into a byte
 * stream, one write per published batch, so a slow reader pauses the
 * followers instead of dropping lines.
 */
import type { Batch } from "./batch.ts";
import type { Message, Subscription } from "./hub.ts";

/** Batches only: rotation and other notices go to stderr, not into the data. */
export function isBatch(message: Message): boolean {
  return message.type === "batch";
}

/**
 * How a stdout sink ended: `ended` when its subscription did (the service
 * stopped), `closed` when the reader went away (EPIPE, as after `| head`).
 */
export type DrainEnd = "ended" | "closed";

/**
 * Writes `render` of every batch `sub` receives to `writable` until the
 * subscription ends, then closes the writer; `onWritten` is told each batch
 * once it is written. A closed reader (EPIPE) ends the sink, resolving
 * `closed`: what follows is the service's decision. Resolves once the last
 * write is done; rejects, the subscription closed, if a write fails otherwise.
 */
export async function drainBatches(
  sub: Subscription,
  writable: WritableStream<Uint8Array>,
  render: (batch: Batch) => Uint8Array,
  onWritten: (batch: Batch) => void,
): Promise<DrainEnd> {
  const writer = writable.getWriter();
  try {
    for (
      let messages = await sub.next();
      messages;
      messages = await sub.next()
    ) {
      for (const m of messages) {
        if (m.type !== "batch") continue;
        await writer.write(render(m.batch));
        onWritten(m.batch);
      }
    }
    await writer.close();
    return "ended";
  } catch (error) {
    sub.close();
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
    return "closed";
  } finally {
    writer.releaseLock();
  }
}
