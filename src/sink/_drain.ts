/**
 * The loop both stdout sinks share: drain a `block` subscription into a byte
 * stream, one write per batch, so a slow reader pauses the followers instead
 * of dropping lines.
 */
import type { Event } from "../types.ts";
import type { Message, Subscription } from "./hub.ts";

/** A message that carries a line. */
export type LineMessage = Extract<Message, { type: "line" }>;

/**
 * Writes `render` of every batch of lines `sub` receives to `writable` until
 * the subscription ends, then closes the writer; `onWritten` is told each
 * batch once it is written. A closed reader (EPIPE) ends the sink, not the
 * service. Resolves once the last write is done.
 */
export async function drainLines(
  sub: Subscription,
  writable: WritableStream<Uint8Array>,
  render: (lines: readonly LineMessage[]) => Uint8Array,
  onWritten: (events: readonly Event[]) => void,
): Promise<void> {
  const writer = writable.getWriter();
  try {
    for (let batch = await sub.next(); batch; batch = await sub.next()) {
      const lines = batch.filter((m): m is LineMessage => m.type === "line");
      if (lines.length > 0) {
        await writer.write(render(lines));
        onWritten(lines.map((m) => m.event));
      }
    }
    await writer.close();
  } catch (error) {
    sub.close();
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  } finally {
    writer.releaseLock();
  }
}
