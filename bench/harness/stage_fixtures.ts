/**
 * Inputs for the micro-benchmarks: 1 MiB of benchmark lines as follower
 * chunks (256 KiB reads, lines cut across chunk boundaries as in real
 * reads), the same lines as the splitter's output (decoded text), events as
 * the parser makes them, and events published as journal batches.
 */
import { LINE_BYTES, LineMaker } from "./lines.ts";
import type { Batch } from "../../src/sink/batch.ts";
import { Journal } from "../../src/sink/journal.ts";
import { toEvents } from "../../src/stage/parse.ts";
import type { Chunk, Event, Line } from "../../src/types.ts";

export const SOURCE = "/var/log/app.log";
export const FILE = { dev: 2049, ino: 1_234_567 };
export const MIB = 1024 * 1024;
export const READ_BYTES = 256 * 1024;

/** `bytes` bytes of benchmark lines (the last one may be cut). */
export function lineBytes(bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const maker = new LineMaker(1000);
  for (let at = 0, seq = 0; at < bytes; seq += 1000) {
    const block = maker.make(seq, 1000, 1_000_000);
    const n = Math.min(block.length, bytes - at);
    out.set(block.subarray(0, n), at);
    at += n;
  }
  return out;
}

/** 1 MiB as the follower hands it on: 256 KiB chunks at consecutive offsets. */
export function chunks(total = MIB): Chunk[] {
  const bytes = lineBytes(total);
  const out: Chunk[] = [];
  for (let at = 0; at < total; at += READ_BYTES) {
    out.push({
      source: SOURCE,
      file: FILE,
      offset: at,
      bytes: bytes.subarray(at, Math.min(total, at + READ_BYTES)),
      noticed: 0,
    });
  }
  return out;
}

const decoder = new TextDecoder();

/** Whole lines of 1 MiB, in batches as the splitter emits them (one per chunk). */
export function lineBatches(total = MIB): Line[][] {
  const whole = Math.floor(total / LINE_BYTES);
  const bytes = lineBytes(whole * LINE_BYTES);
  const batches: Line[][] = [];
  let batch: Line[] = [];
  for (let i = 0; i < whole; i++) {
    const offset = i * LINE_BYTES;
    batch.push({
      source: SOURCE,
      file: FILE,
      offset,
      end: offset + LINE_BYTES,
      text: decoder.decode(bytes.subarray(offset, offset + LINE_BYTES - 1)),
      noticed: 0,
    });
    if (offset + LINE_BYTES >= (batches.length + 1) * READ_BYTES) {
      batches.push(batch);
      batch = [];
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** `n` events as the parser makes them (raw format, one read time). */
export function events(n: number): Event[] {
  const time = new Date(0).toISOString();
  const lines = lineBatches(Math.ceil(n / 8) * 8 * LINE_BYTES + LINE_BYTES)
    .flat().slice(0, n);
  return toEvents(lines, time);
}

/** `n` events published as one journal batch, as the dispatcher publishes a file's run. */
export function batch(
  n: number,
  journal = new Journal({ epoch: "bench" }),
): Batch {
  return journal.batch(SOURCE, FILE, events(n));
}

/** Drains a stream, keeping nothing. */
export const sink = () => new WritableStream<unknown>({ write() {} });
