/**
 * NDJSON: one JSON object per event. For stdout, a sink that drains a
 * `block` subscription, so when stdout is slow the dispatcher waits and the
 * followers stop reading: nothing is dropped. A batch's NDJSON bytes are made
 * once and shared with every subscriber that asked for NDJSON.
 */
import { drainBatches, type DrainEnd } from "./_drain.ts";
import type { Subscription } from "./hub.ts";
import type { Batch } from "./batch.ts";
import { eventsBytes } from "./json.ts";

const bytesCache = new WeakMap<Batch, Uint8Array>();

/**
 * The NDJSON bytes of a whole batch, made once: encoded from its events, or
 * copied out of its SSE frames when those were made already (or the batch
 * came to a worker as frames).
 */
export function ndjsonOf(batch: Batch): Uint8Array {
  let bytes = bytesCache.get(batch);
  if (!bytes) {
    bytes = batch.encoded
      ? ndjsonOfFrames(batch, null)!
      : eventsBytes(batch.events, null, "\n");
    bytesCache.set(batch, bytes);
  }
  return bytes;
}

/**
 * The NDJSON of the events of `batch` that `pick` accepts (all when null),
 * sliced from its SSE frames; null when none is.
 */
export function ndjsonOfFrames(
  batch: Batch,
  pick: ((i: number) => boolean) | null,
): Uint8Array | null {
  const { bytes, at, json } = batch.frames;
  let size = 0;
  for (let i = 0; i < batch.count; i++) {
    if (pick === null || pick(i)) size += at[i + 1] - 2 - json[i] + 1;
  }
  if (size === 0) return null;
  const out = new Uint8Array(size);
  let o = 0;
  for (let i = 0; i < batch.count; i++) {
    if (pick !== null && !pick(i)) continue;
    const part = bytes.subarray(json[i], at[i + 1] - 2);
    out.set(part, o);
    o += part.length;
    out[o++] = 0x0a;
  }
  return out;
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
