/**
 * Batch: what tailcast publishes, one file's events in order, with the wire
 * forms every sink shares. The journal numbers it; its SSE ids, frames and
 * NDJSON are made once, for stdout and every subscriber.
 *
 * A batch is made from events (the reader's pipeline); in a worker of the
 * pool, from the encoded frames the reader sent (see pool/wire.ts); in a
 * NATS gateway, from the JSON lines its agent published. The ids come with
 * it, the end offsets as numbers, and an event object is parsed back from
 * its JSON only when a subscriber's line filter needs its fields.
 */
import { END, type Event, FILE, type FileId } from "../types.ts";
import { eventsBytes } from "./json.ts";

/**
 * A batch's SSE frames (`event: line`, `id:`, `data:` and the event's
 * JSON), back to back in one buffer, with where each one and its JSON
 * start: a subscriber that keeps some of the lines is sent slices of it.
 */
export interface Frames {
  readonly bytes: Uint8Array;
  /** Where frame `i` starts; entry `count` is the end of the last one. */
  readonly at: Uint32Array;
  /** Where the JSON of event `i` starts; it ends two bytes (`\n\n`) before frame `i + 1`. */
  readonly json: Uint32Array;
}

/** How a batch's ids are made: `prefix + end`, or with the fallback file entries. */
export interface IdParts {
  /** `2.<epoch>.<seq>.` */
  readonly prefix: string;
  /** File entries of every other file, or null when the ids carry none. */
  readonly others: string | null;
  /** This file's entry up to its offset, or null as `others`. */
  readonly own: string | null;
}

/** A batch as a worker receives it: frames and numbers, no event objects. */
export interface EncodedEvents {
  readonly frames: Frames;
  /** End offset of each event's line. */
  readonly ends: Float64Array;
  /** Offset of the first event's line. */
  readonly from: number;
}

/**
 * The JSON of a batch's events as UTF-8 lines, as a batch read back from a
 * NATS stream carries it: event `i` is `bytes[starts[i], starts[i + 1] - 1)`
 * (each line's newline, the last one's implied, between them).
 */
export interface JsonLines {
  readonly bytes: Uint8Array;
  readonly starts: readonly number[];
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** The SSE id of the position just past byte `end`, from a batch's id parts. */
function idText(ids: IdParts, end: number): string {
  const e36 = end.toString(36);
  return ids.others === null
    ? ids.prefix + e36
    : `${ids.prefix}${e36}${ids.others}${ids.own}${e36}`;
}

export class Batch {
  /** The journal sequence number. */
  readonly seq: number;
  readonly source: string;
  readonly file: FileId;
  /** Events in it. */
  readonly count: number;
  /** Byte offset of the first event's line. */
  readonly from: number;
  readonly ids: IdParts;
  #events: (Event | undefined)[] | readonly Event[] | null;
  readonly #ends: Float64Array | null;
  #frames: Frames | null;
  #idList: string[] | null = null;

  /** @internal Made by the journal ({@link Journal.batch}) or a pool worker. */
  constructor(
    seq: number,
    source: string,
    file: FileId,
    events: readonly Event[] | EncodedEvents,
    ids: IdParts,
  ) {
    this.seq = seq;
    this.source = source;
    this.file = file;
    this.ids = ids;
    if (Array.isArray(events)) {
      const list = events as readonly Event[];
      this.#events = list;
      this.#ends = null;
      this.#frames = null;
      this.count = list.length;
      this.from = list[0].offset;
    } else {
      const encoded = events as EncodedEvents;
      this.#events = null;
      this.#ends = encoded.ends;
      this.#frames = encoded.frames;
      this.count = encoded.ends.length;
      this.from = encoded.from;
    }
  }

  /**
   * A batch whose events' JSON came made, as UTF-8 lines (read back from a
   * NATS stream): its frames are built around those bytes, never decoded;
   * an event is parsed from its JSON only when a line filter looks into it.
   */
  static fromJsonLines(
    seq: number,
    source: string,
    file: FileId,
    from: number,
    ends: readonly number[],
    ids: IdParts,
    lines: JsonLines,
  ): Batch {
    const n = ends.length;
    const heads: string[] = new Array(n);
    let size = 0;
    for (let i = 0; i < n; i++) {
      heads[i] = `event: line\nid: ${idText(ids, ends[i])}\ndata: `;
      size += heads[i].length + (lines.starts[i + 1] - 1 - lines.starts[i]) +
        2;
    }
    const bytes = new Uint8Array(size);
    const at = new Uint32Array(n + 1);
    const json = new Uint32Array(n);
    let o = 0;
    for (let i = 0; i < n; i++) {
      at[i] = o;
      // Ids and field names are ASCII: one byte per character.
      o += encoder.encodeInto(heads[i], bytes.subarray(o)).written;
      json[i] = o;
      const line = lines.bytes.subarray(
        lines.starts[i],
        lines.starts[i + 1] - 1,
      );
      bytes.set(line, o);
      o += line.length;
      bytes[o++] = 0x0a;
      bytes[o++] = 0x0a;
    }
    at[n] = o;
    return new Batch(seq, source, file, {
      frames: { bytes, at, json },
      ends: Float64Array.from(ends),
      from,
    }, ids);
  }

  /** Byte offset just past event `i`'s line. */
  end(i: number): number {
    return this.#ends === null
      ? (this.#events as Event[])[i][END]
      : this.#ends[i];
  }

  /** Byte offset just past the last event's line. */
  get to(): number {
    return this.end(this.count - 1);
  }

  /** Event `i` (parsed back from its JSON in a worker, once). */
  event(i: number): Event {
    if (this.#ends === null) return (this.#events as Event[])[i];
    const list = (this.#events ??= new Array(this.count)) as (
      | Event
      | undefined
    )[];
    let e = list[i];
    if (e === undefined) {
      const f = this.#frames!;
      const json = f.bytes.subarray(f.json[i], f.at[i + 1] - 2);
      e = list[i] = {
        ...JSON.parse(decoder.decode(json)),
        [FILE]: this.file,
        [END]: this.#ends[i],
      } as Event;
    }
    return e;
  }

  /** Every event, in order. */
  get events(): readonly Event[] {
    if (this.#ends === null) return this.#events as readonly Event[];
    const out: Event[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.event(i);
    return out;
  }

  /** The SSE frames of every event, made once. */
  get frames(): Frames {
    if (this.#frames === null) {
      const at = new Uint32Array(this.count + 1);
      const json = new Uint32Array(this.count);
      const bytes = eventsBytes(
        this.#events as readonly Event[],
        (i) => `event: line\nid: ${this.id(i)}\ndata: `,
        "\n\n",
        { at, json },
      );
      this.#frames = { bytes, at, json };
    }
    return this.#frames;
  }

  /** Whether the frames were made (or came with the batch). */
  get encoded(): boolean {
    return this.#frames !== null;
  }

  /** The SSE id of event `i`: the cursor just past it. */
  id(i: number): string {
    if (this.#idList === null) {
      const ids: string[] = new Array(this.count);
      for (let k = 0; k < this.count; k++) ids[k] = this.idAt(this.end(k));
      this.#idList = ids;
    }
    return this.#idList[i];
  }

  /** The SSE id of the position just past byte `end` of this batch's file. */
  idAt(end: number): string {
    return idText(this.ids, end);
  }
}
