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

/**
 * The JSON of a batch's events as UTF-8 lines, as a batch read back from a
 * NATS stream carries it: event `i` is `bytes[starts[i], starts[i + 1] - 1)`
 * (each line's newline, the last one's implied, between them).
 */
export interface JsonLines {
  readonly bytes: Uint8Array;
  readonly starts: readonly number[];
}

const linesCache = new WeakMap<Batch, JsonLines>();
const decoder = new TextDecoder();

/**
 * Gives `batch` the JSON its events already have, as UTF-8 lines (a batch
 * read back from a NATS stream: its agent made it), so it is not made
 * again: NDJSON and SSE are framed from these bytes as they are.
 */
export function shareJsonLines(batch: Batch, lines: JsonLines): void {
  linesCache.set(batch, lines);
}

/** The JSON lines `batch` came with, if any. */
export function jsonLinesOf(batch: Batch): JsonLines | undefined {
  return linesCache.get(batch);
}

/** The JSON of each event of `batch`, made (or decoded from its lines) once. */
export function jsonOf(batch: Batch): readonly string[] {
  let json = jsonCache.get(batch);
  if (!json) {
    const lines = linesCache.get(batch);
    json = lines ? decodeLines(lines) : eventsJson(batch.events);
    jsonCache.set(batch, json);
  }
  return json;
}

function decodeLines({ bytes, starts }: JsonLines): string[] {
  const out: string[] = new Array(starts.length - 1);
  for (let i = 0; i < out.length; i++) {
    out[i] = decoder.decode(bytes.subarray(starts[i], starts[i + 1] - 1));
  }
  return out;
}

/** The NDJSON bytes of a whole batch, made once. */
export function ndjsonOf(batch: Batch): Uint8Array {
  let bytes = bytesCache.get(batch);
  if (!bytes) {
    const lines = linesCache.get(batch);
    const json = jsonCache.get(batch);
    if (lines) {
      bytes = new Uint8Array(lines.bytes.length + 1);
      bytes.set(lines.bytes);
      bytes[lines.bytes.length] = 0x0a;
    } else {
      bytes = encoder.encode(
        json
          ? json.join("\n") + "\n"
          : eventsText(batch.events, () => "", "\n"),
      );
    }
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
