/**
 * What the reader's thread and the pool's workers tell each other, and how
 * a published batch travels: its encoded SSE frames, its end offsets as
 * numbers and its id parts, so a worker serves the very bytes and ids the
 * reader made, without parsing or encoding anything again.
 *
 * Flow control is one shared counter per worker ({@link Flow}): the events
 * it has taken into its hub. The reader sends no more than a window ahead
 * of it; no lock, no message back per batch.
 */
import { concat } from "@std/bytes/concat";
import type { Config } from "../config.ts";
import { Batch, type IdParts } from "../sink/batch.ts";
import type { Message } from "../sink/hub.ts";
import type { KnownChange } from "../source/known.ts";
import type { Verdict } from "../http/guard.ts";
import type { FileId } from "../types.ts";

/** A published batch as it travels to a worker. */
export interface WireBatch {
  readonly type: "batch";
  readonly seq: number;
  readonly source: string;
  readonly file: FileId;
  readonly ids: IdParts;
  readonly from: number;
  readonly ends: Float64Array;
  readonly bytes: Uint8Array;
  readonly at: Uint32Array;
  readonly json: Uint32Array;
}

/** A hub message as it travels: batches as {@link WireBatch}, notices and alerts as they are. */
export type WireMessage = WireBatch | Exclude<Message, { type: "batch" }>;

/** The message's wire form (a batch's frames are made here if nobody made them yet). */
export function toWire(message: Message): WireMessage {
  if (message.type !== "batch") return message;
  const b = message.batch;
  const ends = new Float64Array(b.count);
  for (let i = 0; i < b.count; i++) ends[i] = b.end(i);
  const { bytes, at, json } = b.frames;
  return {
    type: "batch",
    seq: b.seq,
    source: b.source,
    file: b.file,
    ids: b.ids,
    from: b.from,
    ends,
    bytes,
    at,
    json,
  };
}

/** The hub message a wire message stands for. */
export function fromWire(wire: WireMessage): Message {
  if (wire.type !== "batch") return wire;
  const file = { dev: wire.file.dev, ino: wire.file.ino };
  return {
    type: "batch",
    batch: new Batch(wire.seq, wire.source, file, {
      frames: { bytes: wire.bytes, at: wire.at, json: wire.json },
      ends: wire.ends,
      from: wire.from,
    }, wire.ids),
  };
}

/** Events a message counts for in a queue and in the flow window. */
export function weightOf(message: WireMessage | Message): number {
  if (message.type !== "batch") return 1;
  return "batch" in message ? message.batch.count : message.ends.length;
}

/** What a worker is started with. */
export interface WorkerInit {
  readonly type: "init";
  readonly index: number;
  readonly config: Config;
  readonly cwd: string;
  readonly version: string;
  /** The reader's journal: its epoch and size, and its head when the pool attached. */
  readonly epoch: string;
  readonly capacity: number;
  readonly recent: number;
  readonly head: number;
  readonly maxClients: number;
  readonly flow: SharedArrayBuffer;
  /** What the reader knew of the files when the pool attached. */
  readonly known: readonly KnownChange[];
}

/** A request forwarded to the reader (every route but `/events`). */
export interface WireRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: [string, string][];
  readonly body: Uint8Array<ArrayBuffer> | null;
  readonly client: string;
}

/** The reader's answer to a forwarded request. */
export interface WireResponse {
  readonly status: number;
  readonly headers: [string, string][];
  readonly body: Uint8Array<ArrayBuffer> | null;
}

/** The reader's thread to a worker. */
export type ToWorker =
  | WorkerInit
  | { readonly type: "publish"; readonly messages: WireMessage[] }
  | { readonly type: "known"; readonly change: KnownChange }
  | { readonly type: "listen"; readonly port: number }
  | { readonly type: "verdict"; readonly id: number; readonly verdict: Verdict }
  | {
    readonly type: "response";
    readonly id: number;
    readonly response: WireResponse;
  }
  | { readonly type: "gauges"; readonly id: number }
  | { readonly type: "close"; readonly graceMs: number };

/** A worker to the reader's thread. */
export type FromWorker =
  | { readonly type: "listening" }
  | { readonly type: "failed"; readonly message: string }
  | { readonly type: "take"; readonly id: number; readonly client: string }
  | { readonly type: "give"; readonly client: string }
  | {
    readonly type: "request";
    readonly id: number;
    readonly request: WireRequest;
  }
  | {
    readonly type: "gauges";
    readonly id: number;
    readonly clients: number;
    readonly depths: number[];
  }
  | { readonly type: "dropped"; readonly count: number }
  | { readonly type: "closed" };

/**
 * How far each worker is: the events it has taken into its hub, counted
 * modulo 2^32 in shared memory. The reader adds what it sends; the
 * difference is what is in flight.
 */
export class Flow {
  readonly #done: Int32Array;
  readonly #sent: Int32Array;

  /** Shared memory for `workers` counters. */
  static memory(workers: number): SharedArrayBuffer {
    return new SharedArrayBuffer(4 * Math.max(1, workers));
  }

  constructor(memory: SharedArrayBuffer) {
    this.#done = new Int32Array(memory);
    this.#sent = new Int32Array(this.#done.length);
  }

  /** The reader sent worker `i` messages of `weight` events. */
  sent(i: number, weight: number): void {
    this.#sent[i] = (this.#sent[i] + weight) | 0;
  }

  /** Events sent to worker `i` it has not taken yet. */
  inFlight(i: number): number {
    return (this.#sent[i] - Atomics.load(this.#done, i)) | 0;
  }

  /** Resolves once worker `i` took more, or after a while (it may have stopped). */
  async progress(i: number): Promise<void> {
    const wait = Atomics.waitAsync(
      this.#done,
      i,
      Atomics.load(this.#done, i),
      100,
    );
    if (wait.async) await wait.value;
  }

  /** Worker `i` took messages of `weight` events. */
  took(i: number, weight: number): void {
    Atomics.add(this.#done, i, weight);
    Atomics.notify(this.#done, i);
  }
}

/** A request or response body, whole, or null when it has more than `max` bytes. */
export async function readAtMost(
  body: ReadableStream<Uint8Array>,
  max: number,
): Promise<Uint8Array<ArrayBuffer> | null> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const part of body) {
    size += part.length;
    if (size > max) return null;
    parts.push(part);
  }
  return concat(parts) as Uint8Array<ArrayBuffer>;
}
