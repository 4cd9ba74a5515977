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
 * How a stdout sink ended: `ended` when its subscription did (the service
 * stopped), `closed` when the reader went away (EPIPE, as after `| head`).
 */
export type DrainEnd = "ended" | "closed";

/**
 * Writes `render` of every batch of lines `sub` receives to `writable` until
 * the subscription ends, then closes the writer; `onWritten` is told each
 * batch once it is written. A closed reader (EPIPE) ends the sink, resolving
 * `closed`: what follows is the service's decision. Resolves once the last
 * write is done; rejects, the subscription closed, if a write fails otherwise.
 */
export async function drainLines(
  sub: Subscription,
  writable: WritableStream<Uint8Array>,
  render: (lines: readonly LineMessage[]) => Uint8Array,
  onWritten: (events: readonly Event[]) => void,
): Promise<DrainEnd> {
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
    return "ended";
  } catch (error) {
    sub.close();
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
    return "closed";
  } finally {
    writer.releaseLock();
  }
}
