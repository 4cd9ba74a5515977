/**
 * The wire formats of a subscriber's stream: SSE frames and NDJSON records.
 *
 * A published batch's frames are the same for every subscriber (the ids are
 * journal positions, not per-subscriber cursors), so they are encoded once
 * and shared; a subscriber with line filters (grep, where, level) gets the
 * frames of the lines it keeps, joined from per-line frames also made once.
 */
import { concat } from "@std/bytes/concat";
import type { Message } from "../sink/hub.ts";
import type { Batch } from "../sink/batch.ts";
import { ndjsonOf, ndjsonOfFrames } from "../sink/ndjson.ts";
import type { Event } from "../types.ts";

/** How lines are written: SSE frames or NDJSON records. */
export type WireFormat = "sse" | "ndjson";

/**
 * The bytes a subscriber is sent for a batch: the shared bytes when it keeps
 * every line, else slices of them, those of the lines past byte `after`
 * that `keep` accepts (null when none).
 */
export function batchBytes(
  batch: Batch,
  format: WireFormat,
  keep: ((e: Event) => boolean) | null,
  after = -1,
): Uint8Array | null {
  const whole = after < batch.end(0);
  if (keep === null && whole) {
    return format === "sse" ? batch.frames.bytes : ndjsonOf(batch);
  }
  const pick = (i: number) =>
    batch.end(i) > after && (keep === null || keep(batch.event(i)));
  if (format === "ndjson") return ndjsonOfFrames(batch, pick);
  const { bytes, at } = batch.frames;
  const parts: Uint8Array[] = [];
  let size = 0;
  for (let i = 0; i < batch.count; i++) {
    if (!pick(i)) continue;
    const part = bytes.subarray(at[i], at[i + 1]);
    parts.push(part);
    size += part.length;
  }
  if (size === 0) return null;
  return parts.length === 1 ? parts[0] : concat(parts);
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

/**
 * The gap a slow subscriber gets for lines it lost that are on no disk
 * (standard input, a command's output, an ingest ring).
 */
export function unstoredGap(
  source: string,
  lines: number,
  format: WireFormat,
): string {
  const what = source === "-" ? "standard input" : source;
  return gapText({
    cause: "slow-subscriber",
    source,
    lines,
    message:
      `${lines} lines of ${what} were dropped because this client read too slowly`,
  }, format);
}

function frame(event: string, data: unknown, id: string | null): string {
  return id === null
    ? `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
    : `event: ${event}\nid: ${id}\ndata: ${JSON.stringify(data)}\n\n`;
}
