/**
 * NDJSON: one JSON object per event. For stdout, a sink that drains a
 * `block` subscription, so when stdout is slow the dispatcher waits and the
 * followers stop reading: nothing is dropped. A batch's NDJSON bytes are made
 * once and shared with every subscriber that asked for NDJSON.
 */
import { drainBatches, type DrainEnd } from "./_drain.ts";
import type { Subscription } from "./hub.ts";
import type { Batch } from "./journal.ts";
import { eventsJson, eventsText } from "./json.ts";

const encoder = new TextEncoder();
const jsonCache = new WeakMap<Batch, string[]>();
const bytesCache = new WeakMap<Batch, Uint8Array>();

/** The JSON of each event of `batch`, made once. */
export function jsonOf(batch: Batch): readonly string[] {
  let json = jsonCache.get(batch);
  if (!json) jsonCache.set(batch, json = eventsJson(batch.events));
  return json;
}

/**
 * Gives `batch` the JSON its events already have (a batch read back from a
 * NATS stream carries the JSON its agent made), so it is not made again.
 */
export function shareJson(batch: Batch, json: readonly string[]): void {
  jsonCache.set(batch, json as string[]);
}

/** The JSON of `batch`'s events if it is made already, else undefined. */
export function madeJson(batch: Batch): readonly string[] | undefined {
  return jsonCache.get(batch);
}

/** The NDJSON bytes of a whole batch, made once. */
export function ndjsonOf(batch: Batch): Uint8Array {
  let bytes = bytesCache.get(batch);
  if (!bytes) {
    const json = jsonCache.get(batch);
    bytes = encoder.encode(
      json ? json.join("\n") + "\n" : eventsText(batch.events, () => "", "\n"),
    );
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
