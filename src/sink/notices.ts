/**
 * Notices as one line of text each, for stderr, in the spirit of tail -F's
 * status messages.
 */
import type { Notice } from "../types.ts";

/** One line, no newline, prefixed `tailcast:`. */
export function formatNotice(n: Notice): string {
  switch (n.kind) {
    case "appear":
      return `tailcast: ${n.source}: following from byte ${n.from}`;
    case "rotate":
      return n.how === "deleted"
        ? `tailcast: ${n.source}: deleted; reading what is left of it, then waiting for a new file`
        : `tailcast: ${n.source}: rotated (${n.how}); draining the old file, then following the new one`;
    case "truncate":
      return n.copy
        ? `tailcast: ${n.source}: truncated from ${n.offset} to ${n.size} bytes (copytruncate); read the ${n.recovered} unread bytes from its copy ${n.copy} (lines written between the copy and the truncation, if any, are in neither file); reading again from byte 0`
        : `tailcast: ${n.source}: truncated from ${n.offset} to ${n.size} bytes; no copy of it was found, so bytes written after byte ${n.offset} before the truncation (if any) are lost; reading again from byte 0`;
    case "gap":
      return `tailcast: ${n.source}: skipped ${n.bytes} bytes at byte ${n.offset} (${n.cause})`;
    case "vanish":
      return `tailcast: ${n.source}: no such file; waiting for it to appear`;
    case "error":
      return `tailcast: ${n.source}: ${n.message}`;
    case "mode":
      return `tailcast: ${
        n.mode === "polling" ? "polling" : "watching"
      }: ${n.reason}`;
    case "restart":
      return `tailcast: ${n.source}: exited (${
        n.code === null ? `signal ${n.signal}` : `status ${n.code}`
      }); starting it again in ${seconds(n.delayMs)} (restart ${n.restarts})`;
    case "stderr":
      return `tailcast: ${n.source}: stderr: ${n.line}`;
    default: {
      const never: never = n;
      return `tailcast: ${JSON.stringify(never)}`;
    }
  }
}

/** A delay in words: `0.5 s`, `30 s`. */
function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}
