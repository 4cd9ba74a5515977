/**
 * NDJSON sink: one JSON object per line event, written to a byte stream
 * (stdout). It drains a `block` subscription, so when stdout is slow the
 * hub's dispatcher waits and the followers stop reading: nothing is dropped.
 */
import type { Event } from "../types.ts";
import { type DrainEnd, drainLines } from "./_drain.ts";
import type { Message, Subscription } from "./hub.ts";

const encoder = new TextEncoder();

/** Lines only: rotation and other notices go to stderr, not into the data. */
export function isLine(message: Message): boolean {
  return message.type === "line";
}

/**
 * Writes everything `sub` receives to `writable` until the subscription ends,
 * then closes the writer. Resolves once the last write is done, saying how
 * the sink ended (`closed`: its reader went away).
 */
export function writeNdjson(
  sub: Subscription,
  writable: WritableStream<Uint8Array>,
  onWritten: (events: readonly Event[]) => void = () => {},
): Promise<DrainEnd> {
  return drainLines(sub, writable, (lines) => {
    let text = "";
    for (const m of lines) text += (m.json ?? JSON.stringify(m.event)) + "\n";
    return encoder.encode(text);
  }, onWritten);
}
