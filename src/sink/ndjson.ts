/**
 * NDJSON: one JSON object per event. For stdout, a sink that drains a
 * `block` subscription, so when stdout is slow the dispatcher waits and the
 * followers stop reading: nothing is dropped. A batch's NDJSON bytes are made
 * once and shared with every subscriber that asked for NDJSON.
 */
import { drainBatches, type DrainEnd } from "./_drain.ts";
import type { Subscription } from "./hub.ts";
import type { Batch } from "./journal.ts";
import { eventsBytes, eventsJson } from "./json.ts";

const encoder = new TextEncoder();
const jsonCache = new WeakMap<Batch, string[]>();
const bytesCache = new WeakMap<Batch, Uint8Array>();

/** The JSON of each event of `batch`, made once. */
export function jsonOf(batch: Batch): readonly string[] {
  let json = jsonCache.get(batch);
  if (!json) jsonCache.set(batch, json = eventsJson(batch.events));
  return json;
}

/** The NDJSON bytes of a whole batch, made once. */
export function ndjsonOf(batch: Batch): Uint8Array {
  let bytes = bytesCache.get(batch);
  if (!bytes) {
    const json = jsonCache.get(batch);
    bytes = json
      ? encoder.encode(json.join("\n") + "\n")
      : eventsBytes(batch.events, null, "\n");
    bytesCache.set(batch, bytes);
  }
  return bytes;
}

/**
 * Writes every batch `sub` receives to `writable` as NDJSON until the
 * subscription ends, then closes the writer. Resolves once the last write
 * is done, saying how the sink ended (`closed`: its reader went away).
 */
export function writeNdjson(
  sub: Subscription,
  writable: WritableStream<Uint8Array>,
  onWritten: (batch: Batch) => void = () => {},
): Promise<DrainEnd> {
  return drainBatches(sub, writable, ndjsonOf, onWritten);
}
