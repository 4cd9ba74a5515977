/**
 * The wire formats of a subscriber's stream: SSE frames and NDJSON records.
 *
 * A published batch's frames are the same for every subscriber (the ids are
 * journal positions, not per-subscriber cursors), so they are encoded once
 * and shared; a subscriber with line filters (grep, where, level) gets the
 * frames of the lines it keeps, joined from per-line frames also made once.
 */
import type { Message } from "../sink/hub.ts";
import type { Batch } from "../sink/journal.ts";
import { eventsText } from "../sink/json.ts";
import {
  type JsonLines,
  jsonLinesOf,
  jsonOf,
  ndjsonOf,
} from "../sink/ndjson.ts";
import type { Event } from "../types.ts";

const encoder = new TextEncoder();
const frameCache = new WeakMap<Batch, string[]>();
const bytesCache = new WeakMap<Batch, Uint8Array>();

/** How lines are written: SSE frames or NDJSON records. */
export type WireFormat = "sse" | "ndjson";

/** The SSE frame of each event of a batch, made once. */
function framesOf(batch: Batch): readonly string[] {
  let frames = frameCache.get(batch);
  if (!frames) {
    const json = jsonOf(batch);
    frames = new Array(json.length);
    for (let i = 0; i < json.length; i++) {
      frames[i] = `event: line\nid: ${batch.id(i)}\ndata: ${json[i]}\n\n`;
    }
    frameCache.set(batch, frames);
  }
  return frames;
}

/** The SSE bytes of a whole batch, made once (in one pass, unless the frames are made already). */
function sseOf(batch: Batch): Uint8Array {
  let bytes = bytesCache.get(batch);
  if (!bytes) {
    const frames = frameCache.get(batch);
    const lines = frames ? undefined : jsonLinesOf(batch);
    if (lines) {
      bytesCache.set(batch, bytes = framesFromLines(batch, lines));
      return bytes;
    }
    const text = frames ? frames.join("") : eventsText(
      batch.events,
      (i) => `event: line\nid: ${batch.id(i)}\ndata: `,
      "\n\n",
    );
    bytesCache.set(batch, bytes = encoder.encode(text));
  }
  return bytes;
}

/**
 * The SSE bytes of a batch whose JSON came as UTF-8 lines (from a NATS
 * stream): the lines are copied between the frames' ASCII parts, never
 * decoded.
 */
function framesFromLines(
  batch: Batch,
  { bytes, starts }: JsonLines,
): Uint8Array {
  const n = starts.length - 1;
  const heads: string[] = new Array(n);
  let size = 0;
  for (let i = 0; i < n; i++) {
    heads[i] = `event: line\nid: ${batch.id(i)}\ndata: `;
    size += heads[i].length + (starts[i + 1] - 1 - starts[i]) + 2;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < n; i++) {
    // Ids and field names are ASCII: one byte per character.
    at += encoder.encodeInto(heads[i], out.subarray(at)).written;
    const line = bytes.subarray(starts[i], starts[i + 1] - 1);
    out.set(line, at);
    at += line.length;
    out[at++] = 0x0a;
    out[at++] = 0x0a;
  }
  return out;
}

/**
 * The bytes a subscriber is sent for a batch: the shared bytes when it keeps
 * every line, else those of the lines `keep` accepts (null when none).
 */
export function batchBytes(
  batch: Batch,
  format: WireFormat,
  keep: ((e: Event) => boolean) | null,
): Uint8Array | null {
  if (keep === null) return format === "sse" ? sseOf(batch) : ndjsonOf(batch);
  const parts = format === "sse" ? framesOf(batch) : jsonOf(batch);
  let text = "";
  const events = batch.events;
  for (let i = 0; i < events.length; i++) {
    if (keep(events[i])) text += format === "sse" ? parts[i] : parts[i] + "\n";
  }
  return text === "" ? null : encoder.encode(text);
}

/** The SSE frame of one line event, with the id it is given (null: none). */
export function sseLine(json: string, id: string | null): string {
  return id === null
    ? `event: line\ndata: ${json}\n\n`
    : `event: line\nid: ${id}\ndata: ${json}\n\n`;
}

/** A frame that only moves the client's last event id (EventSource keeps it; nothing is dispatched). */
export function sseId(id: string): string {
  return `id: ${id}\n\n`;
}

/**
 * The frame of a notice or alert, with the id of its journal position when
 * it has one; NDJSON carries alerts only (notices go to stderr there).
 */
export function messageText(
  message: Exclude<Message, { type: "batch" }>,
  format: WireFormat,
  id: string | null,
): string {
  if (message.type === "alert") {
    return format === "sse"
      ? frame("alert", message.alert, id)
      : JSON.stringify({ type: "alert", ...message.alert }) + "\n";
  }
  return format === "sse" ? frame(message.notice.kind, message.notice, id) : "";
}

/** A gap: what this subscriber could not be given, and why. */
export function gapText(
  data: Record<string, unknown>,
  format: WireFormat,
): string {
  return format === "sse"
    ? frame("gap", data, null)
    : JSON.stringify({ type: "gap", ...data }) + "\n";
}

/** The gap a slow subscriber of standard input gets for the lines it lost (they are on no disk). */
export function stdinGap(lines: number, format: WireFormat): string {
  return gapText({
    cause: "slow-subscriber",
    source: "-",
    lines,
    message:
      `${lines} lines of standard input were dropped because this client read too slowly`,
  }, format);
}

function frame(event: string, data: unknown, id: string | null): string {
  return id === null
    ? `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
    : `event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;
}
