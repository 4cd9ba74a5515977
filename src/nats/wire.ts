/**
 * The messages agents publish to a NATS JetStream stream and gateways read:
 * their subjects, their ids, and their bytes. One place for the format, so
 * the two roles cannot disagree.
 *
 * Subjects: `<prefix>.events.<host>.<source>` for what one followed path
 * produced (its lines and notices), `<prefix>.events.<host>._` for what
 * belongs to the host (alerts, the watch mode). `<host>` is the host name
 * made safe for a subject token (letters, digits and `-` kept, every other
 * byte written `_XX`), `<source>` 16 hex digits of the SHA-256 of the path.
 * Beside them, not stored: `<prefix>.stored.<host>`, `<sequence> <message
 * id>` of each message stored for the host's agent (gateways wake up on it,
 * and take the message they saw published instead of asking for it).
 *
 * Payload (version 1): one line of JSON, the header, then for a batch the
 * JSON of each event on its own line, as `../sink/json.ts` writes it, its
 * `source` already `<host>:<path>`:
 *
 *     {"v":1,"kind":"batch","host":"web1","source":"/var/log/app.log",
 *      "dev":2049,"ino":1234,"from":0,"to":200,"ends":[100,200],
 *      "files":[[2049,1234,200]]}
 *     {"id":"1kh.ya:2s","source":"web1:/var/log/app.log","offset":0,…}
 *     {"id":"1kh.ya:5k","source":"web1:/var/log/app.log","offset":100,…}
 *
 * `from`/`to` is the byte range of the file the events cover, `ends` each
 * event's end offset (its place in the file, and in its SSE id), and
 * `files` where every file of this subject is published to once this
 * message is stored: the last message of a subject tells a restarted agent
 * what it need not publish again. A notice or alert is the header alone,
 * with `notice` or `alert` in it.
 *
 * Message id (`Nats-Msg-Id`): host, source, file identity and byte range,
 * plus the subject sequence the publish expects to follow
 * (`Nats-Expected-Last-Subject-Sequence`): a retry sends the same id and is
 * stored once; a file truncated and written again over the same range is a
 * new message, since it follows another one.
 */
import { createHash } from "node:crypto";
import { pathHash } from "../sink/cursor.ts";
import type { JsonLines } from "../sink/batch.ts";
import type { Alert, FileId, Notice } from "../types.ts";

/** The version of the payload format this tailcast writes and reads. */
export const WIRE_VERSION = 1;

/** Where a file of a subject is published to: `[dev, ino, end]`. */
export type FileEnd = readonly [number, number, number];

/** The header of a message of events of one file. */
export interface BatchHeader {
  /** The format's version. */
  readonly v: number;
  /** What the message holds. */
  readonly kind: "batch";
  /** The agent's host name. */
  readonly host: string;
  /** The followed path on the agent. */
  readonly source: string;
  /** The file's identity: device. */
  readonly dev: number;
  /** The file's identity: inode. */
  readonly ino: number;
  /** The byte range of the file the events cover. */
  readonly from: number;
  /** Where the range ends: the last event's end. */
  readonly to: number;
  /** Each event's end offset, in order. */
  readonly ends: readonly number[];
  /** Where every file of the subject is published to, with this message. */
  readonly files: readonly FileEnd[];
}

/** The header of a notice (its `source` is the followed path; null for the watch mode). */
export interface NoticeHeader {
  /** The format's version. */
  readonly v: number;
  /** What the message holds. */
  readonly kind: "notice";
  /** The agent's host name. */
  readonly host: string;
  /** The notice, as the agent's pipeline made it. */
  readonly notice: Notice;
  /** Where every file of the subject is published to (empty after a truncation). */
  readonly files: readonly FileEnd[];
}

/** The header of an alert. */
export interface AlertHeader {
  /** The format's version. */
  readonly v: number;
  /** What the message holds. */
  readonly kind: "alert";
  /** The agent's host name. */
  readonly host: string;
  /** The alert, as the agent's engine made it. */
  readonly alert: Alert;
  /** Where every file of the subject is published to. */
  readonly files: readonly FileEnd[];
}

/** The header of any message. */
export type Header = BatchHeader | NoticeHeader | AlertHeader;

/**
 * A message as read: its header, and for a batch the JSON of its events as
 * UTF-8 lines, not decoded (subscribers are sent them as they are).
 */
export interface WireMessage {
  /** What it is. */
  readonly header: Header;
  /** A batch's events; null for a notice or alert. */
  readonly lines: JsonLines | null;
}

/** A payload that is not a message of this format; the reader skips it and says so. */
export class WireError extends Error {
  /** `message` says what is wrong with the payload. */
  constructor(message: string) {
    super(message);
    this.name = "WireError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * A subject token for `text`: letters, digits and `-` as they are, every
 * other UTF-8 byte as `_XX` (so `_` is `_5F`): distinct names stay distinct.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { subjectToken } from "./wire.ts";
 * assertEquals(subjectToken("web-1.example.com"), "web-1_2Eexample_2Ecom");
 * ```
 */
export function subjectToken(text: string): string {
  let out = "";
  for (const byte of encoder.encode(text)) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(c)
      ? c
      : "_" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** The subject token of a followed path: 16 hex digits of its SHA-256. */
export function sourceToken(path: string): string {
  return createHash("sha256").update(path).digest("hex").slice(0, 16);
}

/** The subject of what `source` (a followed path, or null for the host itself) of `host` produces. */
export function subjectOf(
  prefix: string,
  host: string,
  source: string | null,
): string {
  return `${prefix}.events.${subjectToken(host)}.${
    source === null ? "_" : sourceToken(source)
  }`;
}

/** The subjects a stream of `prefix` holds. */
export function streamSubjects(prefix: string): string {
  return `${prefix}.events.>`;
}

/**
 * Where `host`'s agent says (core NATS, not stored) the sequence and id of
 * each message JetStream stored for it: gateways wake up on it.
 */
export function storedSubject(prefix: string, host: string): string {
  return `${prefix}.stored.${subjectToken(host)}`;
}

/** What a gateway listens on for the agents' {@link storedSubject}. */
export function storedSubjects(prefix: string): string {
  return `${prefix}.stored.>`;
}

/** How a gateway names a source of `host`: `<host>:<path>`. */
export function hostSource(host: string, source: string): string {
  return `${host}:${source}`;
}

/**
 * The message id of a publish to `subject` that follows subject sequence
 * `after`: of a batch of `file` over bytes [from, to), or of a notice or
 * alert (no range).
 */
export function messageId(
  subject: string,
  after: number,
  range: { file: FileId; from: number; to: number } | null,
): string {
  const what = range === null
    ? "m"
    : `${range.file.dev.toString(36)}.${range.file.ino.toString(36)}.${
      range.from.toString(36)
    }.${range.to.toString(36)}`;
  return `${subject}.${what}@${after.toString(36)}`;
}

/**
 * The epoch of a stream's SSE ids: its name and creation time, hashed, so
 * an id means the same on every gateway, and nothing once the stream was
 * deleted and made again.
 */
export function streamEpoch(name: string, created: string): string {
  return pathHash(`${name}@${created}`);
}

/** The payload of a batch: its header line and the events' JSON, one per line. */
export function encodeBatch(
  header: Omit<BatchHeader, "v" | "kind">,
  json: readonly string[],
): Uint8Array {
  const head = JSON.stringify({ v: WIRE_VERSION, kind: "batch", ...header });
  return encoder.encode(head + "\n" + json.join("\n"));
}

/** The payload of a notice or alert. */
export function encodeMessage(
  header:
    | Omit<NoticeHeader, "v" | "kind">
    | Omit<AlertHeader, "v" | "kind">,
): Uint8Array {
  const kind = "notice" in header ? "notice" : "alert";
  return encoder.encode(JSON.stringify({ v: WIRE_VERSION, kind, ...header }));
}

/**
 * Reads a payload.
 *
 * @throws {WireError} when it is not a message of a version this tailcast reads.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeMessage, encodeBatch } from "./wire.ts";
 * const bytes = encodeBatch({
 *   host: "web1", source: "/a.log", dev: 1, ino: 2, from: 0, to: 3,
 *   ends: [3], files: [[1, 2, 3]],
 * }, ['{"id":"1.2:3","source":"web1:/a.log"}']);
 * const { header, lines } = decodeMessage(bytes);
 * assertEquals(header.kind === "batch" && header.ends, [3]);
 * assertEquals(lines?.starts.length, 2);
 * ```
 */
export function decodeMessage(bytes: Uint8Array): WireMessage {
  const nl = bytes.indexOf(NL);
  let header: Header;
  try {
    header = JSON.parse(
      decoder.decode(nl === -1 ? bytes : bytes.subarray(0, nl)),
    );
  } catch {
    throw new WireError("not a tailcast message: its header is not JSON");
  }
  if (typeof header !== "object" || header === null) {
    throw new WireError("not a tailcast message: no header");
  }
  if (header.v !== WIRE_VERSION) {
    throw new WireError(
      `a message of format ${
        JSON.stringify(header.v)
      }, and this tailcast reads ${WIRE_VERSION} (upgrade the gateway)`,
    );
  }
  if (typeof header.host !== "string" || !Array.isArray(header.files)) {
    throw new WireError("a message without host or files");
  }
  if (header.kind === "batch") {
    const lines = nl === -1 ? null : linesOf(bytes.subarray(nl + 1));
    if (
      typeof header.source !== "string" || !Array.isArray(header.ends) ||
      lines === null || header.ends.length !== lines.starts.length - 1
    ) {
      throw new WireError(
        "a batch whose events do not match its header",
      );
    }
    return { header, lines };
  }
  if (
    (header.kind === "notice" && typeof header.notice === "object") ||
    (header.kind === "alert" && typeof header.alert === "object")
  ) {
    return { header, lines: null };
  }
  throw new WireError(
    `a message of kind ${JSON.stringify((header as Header).kind)}`,
  );
}

const NL = 0x0a;

/** Where each line of `bytes` starts (and one past the end, as if it ended with a newline). */
function linesOf(bytes: Uint8Array): JsonLines {
  const starts = [0];
  for (let at = bytes.indexOf(NL); at !== -1; at = bytes.indexOf(NL, at + 1)) {
    starts.push(at + 1);
  }
  starts.push(bytes.length + 1);
  return { bytes, starts };
}
