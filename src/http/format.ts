/**
 * The wire formats of a subscriber's stream: SSE frames and NDJSON records,
 * built from hub messages.
 */
import type { Message } from "../sink/hub.ts";
import type { Event } from "../types.ts";

/**
 * The SSE wire format of a batch: one event per message, JSON data on one
 * line. `idOf` gives a line's `id:` (default: the event's own id); returning
 * null skips the line (already delivered).
 */
export function formatSse(
  messages: readonly Message[],
  idOf: (e: Event) => string | null = (e) => e.id,
): string {
  let out = "";
  for (const m of messages) {
    if (m.type === "line") {
      const id = idOf(m.event);
      if (id === null) continue;
      out += `event: line\nid: ${id}\ndata: ${
        m.json ?? JSON.stringify(m.event)
      }\n\n`;
    } else if (m.type === "dropped") {
      out += `event: gap\ndata: ${
        JSON.stringify({
          cause: "slow-subscriber",
          lines: m.count,
          message:
            `${m.count} events were dropped because this client read too slowly`,
        })
      }\n\n`;
    } else {
      const [kind, data] = m.type === "alert"
        ? ["alert", m.alert]
        : [m.notice.kind, m.notice];
      out += `event: ${kind}\ndata: ${JSON.stringify(data)}\n\n`;
    }
  }
  return out;
}

/** NDJSON for pipes: line events as on stdout, plus `{"type":"gap"}` records. */
export function formatNdjson(
  messages: readonly Message[],
  idOf: (e: Event) => string | null = (e) => e.id,
): string {
  let out = "";
  for (const m of messages) {
    if (m.type === "line") {
      if (idOf(m.event) !== null) {
        out += (m.json ?? JSON.stringify(m.event)) + "\n";
      }
    } else if (m.type === "dropped") {
      out += JSON.stringify({
        type: "gap",
        cause: "slow-subscriber",
        lines: m.count,
      }) + "\n";
    } else if (m.type === "alert") {
      out += JSON.stringify({ type: "alert", ...m.alert }) + "\n";
    }
  }
  return out;
}
