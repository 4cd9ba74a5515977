import { assert, assertEquals, assertThrows } from "@std/assert";
import { batchBytes } from "../../src/http/format.ts";
import type { Batch } from "../../src/sink/batch.ts";
import type { Message } from "../../src/sink/hub.ts";
import { Journal, type ReplayStep } from "../../src/sink/journal.ts";
import { ndjsonOf } from "../../src/sink/ndjson.ts";
import { KnownFiles } from "../../src/source/known.ts";

import { eventId } from "../../src/stage/parse.ts";
import { Flow, fromWire, toWire, weightOf } from "../../src/pool/wire.ts";
import {
  type Alert,
  END,
  type Event,
  FILE,
  type FileId,
  UNSTORED,
} from "../../src/types.ts";

const A = "/logs/a.log";
const B = "/logs/b.log";
const FA: FileId = { dev: 1, ino: 2 };
const FB: FileId = { dev: 1, ino: 3 };

function events(
  source: string,
  file: FileId,
  from: number,
  lines: string[],
): Event[] {
  let offset = from;
  return lines.map((line, i) => {
    const end = offset + new TextEncoder().encode(line).length + 1;
    const e: Event = {
      id: eventId(file, end),
      source,
      offset,
      line,
      time: "t",
      ...(i === 1 ? { level: "error", fields: { level: "error", n: i } } : {}),
      [FILE]: file,
      [END]: end,
    };
    offset = end;
    return e;
  });
}

/** The message as a worker gets it: through the wire and a structured clone. */
function across(message: Message): Message {
  return fromWire(structuredClone(toWire(message)));
}

function copied(batch: Batch): Batch {
  const m = across({ type: "batch", batch });
  assert(m.type === "batch");
  return m.batch;
}

const text = (b: Uint8Array | null) =>
  b === null ? null : new TextDecoder().decode(b);

Deno.test("a batch sent to a worker has the reader's ids, frames, NDJSON, offsets and events", () => {
  const journal = new Journal({ epoch: "e" });
  journal.batch(B, FB, events(B, FB, 0, ["b"]));
  const batch = journal.batch(A, FA, events(A, FA, 7, ["héllo", "two", "x"]));
  const copy = copied(batch);
  assertEquals(
    [copy.seq, copy.source, copy.file, copy.count, copy.from, copy.to],
    [batch.seq, batch.source, batch.file, batch.count, batch.from, batch.to],
  );
  for (let i = 0; i < batch.count; i++) {
    assertEquals(copy.id(i), batch.id(i));
    assertEquals(copy.end(i), batch.end(i));
    // Parsed back from its JSON, with the parts the JSON does not carry.
    assertEquals(copy.event(i), batch.events[i]);
    assertEquals(copy.event(i)[END], batch.events[i][END]);
    assertEquals(copy.event(i)[FILE], FA);
  }
  assert(copy.id(0).includes("~"), "the ids carry the fallback entries");
  assertEquals(text(copy.frames.bytes), text(batch.frames.bytes));
  assertEquals(text(ndjsonOf(copy)), text(ndjsonOf(batch)));
  // Line filters and a resume inside the batch slice the same bytes.
  const errors = (e: Event) => e.level === "error";
  for (const format of ["sse", "ndjson"] as const) {
    assertEquals(
      text(batchBytes(copy, format, errors)),
      text(batchBytes(batch, format, errors)),
    );
    assertEquals(
      text(batchBytes(copy, format, null, batch.end(0))),
      text(batchBytes(batch, format, null, batch.end(0))),
    );
    assertEquals(batchBytes(copy, format, () => false), null);
  }
  assertEquals(weightOf(toWire({ type: "batch", batch })), 3);
});

Deno.test("standard input's batches stay standard input's across the wire", () => {
  const journal = new Journal({ epoch: "e", unstored: UNSTORED });
  const batch = journal.batch("-", UNSTORED, events("-", UNSTORED, 0, ["a"]));
  const copy = new Journal({ epoch: "e", unstored: UNSTORED });
  copy.copyBatch(copied(batch));
  assertEquals(copy.seam().size, 0);
  assertEquals(brief(copy.replay({ seq: 0, end: Infinity }, 1)), [
    "batch 1 after 0",
  ]);
});

/** Replay steps in short. */
function brief(steps: Iterable<ReplayStep>): string[] {
  return [...steps].map((s) =>
    s.kind === "batch"
      ? `batch ${s.seq} after ${s.after}`
      : s.kind === "range"
      ? `range ${s.seq} ${s.source} ${s.from}-${s.to}${
        s.unstored ? " unstored" : ""
      }`
      : s.kind === "message"
      ? `message ${s.seq} ${s.message.type}`
      : `expired ${s.seq}`
  );
}

Deno.test("a worker's copy of the journal replays, holds and seams as the reader's", () => {
  const reader = new Journal({ epoch: "e", capacity: 6, recent: 4 });
  const copy = new Journal({ epoch: "e", capacity: 6, recent: 4 });
  const messages: Message[] = [];
  const publish = (m: Message) => {
    messages.push(m);
    const c = across(m);
    if (c.type === "batch") copy.copyBatch(c.batch);
    else {
      copy.copyMessage(
        c.seq,
        c.type === "alert"
          ? { type: "alert", alert: c.alert }
          : { type: "notice", notice: c.notice },
      );
    }
  };
  const notice = {
    kind: "appear" as const,
    source: A,
    file: FA,
    from: 0,
  };
  const n = reader.message({ type: "notice", notice });
  publish({ type: "notice", ...n, notice });
  let at = 0;
  for (let k = 0; k < 7; k++) {
    const batch = reader.batch(A, FA, events(A, FA, at, ["a", "bb"]));
    at = batch.to;
    publish({ type: "batch", batch });
  }
  const alert: Alert = {
    rule: "r",
    kind: "threshold",
    message: "m",
    count: 1,
    window: "1m",
    time: "t",
  };
  const m = reader.message({ type: "alert", alert });
  publish({ type: "alert", ...m, alert });
  assertEquals(copy.head, reader.head);
  assertEquals(copy.tail, reader.tail);
  for (let seq = 0; seq <= reader.head; seq++) {
    for (const end of [0, 2, 5, Infinity]) {
      assertEquals(
        copy.holds("e", seq, end),
        reader.holds("e", seq, end),
        `holds ${seq}/${end}`,
      );
      if (!reader.holds("e", seq, end)) continue;
      assertEquals(
        brief(copy.replay({ seq, end }, copy.head)),
        brief(reader.replay({ seq, end }, reader.head)),
        `replay after ${seq}/${end}`,
      );
    }
  }
  assertEquals(copy.seam(), reader.seam());
  // Entries are copied in order, or not at all.
  reader.batch(A, FA, events(A, FA, at, ["z"]));
  const skipped = reader.batch(A, FA, events(A, FA, at + 2, ["z"]));
  assertThrows(() => copy.copyBatch(skipped), RangeError, "in order");
  assertThrows(
    () => copy.copyMessage(reader.head + 5, { type: "notice", notice }),
    RangeError,
    "in order",
  );
});

Deno.test("a journal copy started after entries of the reader's does not claim to hold them", () => {
  const copy = new Journal({ epoch: "e", start: 5 });
  assertEquals(copy.head, 5);
  assertEquals(copy.tail, 6);
  assert(copy.holds("e", 5), "what came after its start is its own");
  assert(!copy.holds("e", 4), "entry 5 came before it");
  assert(!copy.holds("e", 5, 3), "the rest of entry 5 came before it");
});

Deno.test("known files: a copy fed the changes knows what the original knows", () => {
  const known = new KnownFiles();
  known.add(A, FA, 0);
  known.head(A, FA, new TextEncoder().encode("first line\n"));
  const copy = new KnownFiles();
  for (const change of known.changes()) copy.apply(structuredClone(change));
  const later: Parameters<KnownFiles["apply"]>[0][] = [];
  known.onChange = (change) => later.push(structuredClone(change));
  known.add(B, FB, 9);
  known.head(B, FB, new TextEncoder().encode("b"));
  for (const change of later) copy.apply(change);
  for (const source of [A, B]) {
    assertEquals(copy.of(source), known.of(source));
  }
  assert(copy.matches(A, FA, new TextEncoder().encode("first line\nmore")));
  assert(!copy.matches(A, FA, new TextEncoder().encode("other")));
});

Deno.test("Flow: in flight is what was sent and not taken, across the 32-bit wrap", async () => {
  const memory = Flow.memory(2);
  const reader = new Flow(memory);
  const worker = new Flow(memory);
  reader.sent(1, 10);
  assertEquals([reader.inFlight(0), reader.inFlight(1)], [0, 10]);
  worker.took(1, 4);
  assertEquals(reader.inFlight(1), 6);
  // Near the wrap: counters are modulo 2^32, their difference is not.
  reader.sent(0, 2 ** 31 - 1);
  worker.took(0, 2 ** 31 - 1);
  reader.sent(0, 5);
  assertEquals(reader.inFlight(0), 5);
  worker.took(0, 5);
  assertEquals(reader.inFlight(0), 0);
  // progress() resolves when the worker takes more. (A wait on shared
  // memory does not keep the event loop alive: the timer does.)
  const waiting = reader.progress(1);
  const timer = setTimeout(() => worker.took(1, 6), 10);
  const alive = setTimeout(() => {}, 1000);
  await waiting;
  clearTimeout(timer);
  clearTimeout(alive);
  assertEquals(reader.inFlight(1), 0);
});
