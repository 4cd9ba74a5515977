import { assert, assertEquals, assertThrows } from "@std/assert";
import type { Batch } from "../../src/sink/batch.ts";
import {
  DEFAULT_JOURNAL_CAPACITY,
  Journal,
  type ReplayStep,
} from "../../src/sink/journal.ts";
import {
  decodeId,
  MAX_ID_BYTES,
  pathHash,
  positionId,
} from "../../src/sink/cursor.ts";
import { eventId } from "../../src/stage/parse.ts";
import {
  type Alert,
  END,
  type Event,
  FILE,
  type FileId,
  type Notice,
  UNSTORED,
} from "../../src/types.ts";

const A = "/logs/a.log";
const B = "/logs/b.log";
const FA: FileId = { dev: 1, ino: 2 };
const FB: FileId = { dev: 1, ino: 3 };

/** Events of `source` in `file`, back to back from `from`, one per length in `sizes`. */
function events(
  source: string,
  file: FileId,
  from: number,
  sizes: number[],
): Event[] {
  let offset = from;
  return sizes.map((size) => {
    const end = offset + size;
    const e: Event = {
      id: eventId(file, end),
      source,
      offset,
      line: "x".repeat(Math.max(size - 1, 0)),
      time: "t",
      [FILE]: file,
      [END]: end,
    };
    offset = end;
    return e;
  });
}

/** A steady writer of one file: each call publishes the next batch. */
function writer(journal: Journal, source: string, file: FileId) {
  let at = 0;
  return (...sizes: number[]): Batch => {
    const batch = journal.batch(source, file, events(source, file, at, sizes));
    at = batch.events[batch.events.length - 1][END];
    return batch;
  };
}

const vanish = (source: string): { type: "notice"; notice: Notice } => ({
  type: "notice",
  notice: { kind: "vanish", source },
});

/**
 * A replay in brief: `<seq> <from>-<to>` for the events of a batch, whether
 * they are read back from the file (a range; ` unstored` when they cannot be)
 * or still in memory (a batch, past `after`); `message <seq> <kind>`;
 * `expired <seq>`.
 */
function brief(steps: Iterable<ReplayStep>): string[] {
  return [...steps].map((s) => {
    switch (s.kind) {
      case "range":
        return `${s.seq} ${s.from}-${s.to}${s.unstored ? " unstored" : ""}`;
      case "batch":
        return `${s.seq} ${s.after}-${s.batch.events.at(-1)![END]}`;
      case "message":
        return `message ${s.seq} ${
          s.message.type === "notice" ? s.message.notice.kind : "alert"
        }`;
      case "expired":
        return `expired ${s.seq}`;
    }
  });
}

/** Which steps of a replay are read from the files, which come from memory. */
function sources(steps: Iterable<ReplayStep>): string[] {
  return [...steps].map((s) => `${s.kind} ${s.seq}`);
}

Deno.test("Journal numbers entries from 1 and gives a batch's events ids 2.<epoch>.<seq>.<end> and their file entry", () => {
  const journal = new Journal({ epoch: "ep" });
  assertEquals([journal.head, journal.tail], [0, 1]);
  const a = writer(journal, A, FA);
  const first = a(2, 3);
  assertEquals(first.seq, 1);
  assertEquals([first.source, first.file], [A, FA]);
  const own = `~${pathHash(A)}.1.2.`;
  assertEquals(first.id(0), `2.ep.1.2${own}2`);
  assertEquals(first.id(1), `2.ep.1.5${own}5`);
  assertEquals(first.idAt(5), first.id(1));
  const second = a(36);
  assertEquals(second.seq, 2);
  assertEquals(second.id(0), `2.ep.2.15${own}15`);
  assertEquals(journal.head, 2);
});

Deno.test("Journal ids carry the published position of every other file while there are at most 7", () => {
  const journal = new Journal({ epoch: "e" });
  const files = Array.from({ length: 7 }, (_, i) => ({
    source: `/logs/${i}.log`,
    file: { dev: 9, ino: 100 + i },
  }));
  const writers = files.map((f) => writer(journal, f.source, f.file));
  writers.forEach((w, i) => w(10 + i));
  const last = writers[0](5);
  const decoded = decodeId(last.id(0));
  assertEquals(decoded.at, { epoch: "e", seq: 8, end: 15 });
  const want = new Map(
    files.map((f, i) => [
      pathHash(f.source),
      [{ file: f.file, offset: i === 0 ? 15 : 10 + i }],
    ]),
  );
  assertEquals(decoded.files, want);
  // Each event's own file entry is at that event's end.
  const two = writers[1](1, 2);
  assertEquals(decodeId(two.id(0)).files?.get(pathHash(files[1].source)), [
    { file: files[1].file, offset: 12 },
  ]);
  assertEquals(decodeId(two.id(1)).files?.get(pathHash(files[1].source)), [
    { file: files[1].file, offset: 14 },
  ]);
});

Deno.test("Journal ids drop the file entries once more than 7 positions are known", () => {
  const journal = new Journal({ epoch: "e" });
  for (let i = 0; i < 8; i++) {
    journal.batch(
      `/logs/${i}.log`,
      { dev: 1, ino: i },
      events(
        `/logs/${i}.log`,
        { dev: 1, ino: i },
        0,
        [3],
      ),
    );
  }
  const batch = journal.batch(A, FA, events(A, FA, 0, [4]));
  assertEquals(batch.id(0), positionId("e", 9, 4));
  assertEquals(decodeId(batch.id(0)), {
    at: { epoch: "e", seq: 9, end: 4 },
    files: null,
  });
});

Deno.test("Journal ids stay within 256 bytes with 1,000 followed files", () => {
  const journal = new Journal();
  const ids: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const source = `/var/log/service-${i}/${"deep/".repeat(10)}app.log`;
    const file = { dev: 2049, ino: 1_000_000 + i };
    const batch = journal.batch(
      source,
      file,
      events(source, file, 9_000_000_000, [100, 200]),
    );
    ids.push(batch.id(0), batch.id(1));
    if (i % 100 === 0) ids.push(journal.message(vanish(source)).id);
  }
  for (const id of ids) {
    assert(
      new TextEncoder().encode(id).length <= MAX_ID_BYTES,
      `${id.length}: ${id}`,
    );
    // Every id the journal gives can be read back.
    decodeId(id);
  }
  assertEquals(decodeId(ids.at(-1)!).files, null);
});

Deno.test("Journal ids stay within 256 bytes even when 7 entries of huge numbers would not fit", () => {
  const huge = Number.MAX_SAFE_INTEGER;
  const journal = new Journal({ epoch: "zzzzzzzzzzzz" });
  for (let i = 0; i < 7; i++) {
    const source = `/logs/${i}.log`;
    const file = { dev: huge - i, ino: huge - i };
    journal.batch(source, file, events(source, file, huge - 10, [5]));
  }
  const file = { dev: huge, ino: huge - 1 };
  const last = journal.batch(A, file, events(A, file, huge - 10, [10]));
  const { id } = journal.message(vanish(A));
  for (const text of [last.id(0), last.idAt(huge), id]) {
    assert(text.length <= MAX_ID_BYTES, `${text.length}: ${text}`);
    decodeId(text);
  }
});

Deno.test("Journal message ids name the message's entry at end 0 and carry the file entries", () => {
  const journal = new Journal({ epoch: "e" });
  writer(journal, A, FA)(4);
  const { seq, id } = journal.message(vanish(A));
  assertEquals(seq, 2);
  assertEquals(id, `${positionId("e", 2, 0)}~${pathHash(A)}.1.2.4`);
  const alert: Alert = {
    rule: "r",
    kind: "threshold",
    message: "m",
    window: "1m",
    time: "t",
  };
  assertEquals(journal.message({ type: "alert", alert }).seq, 3);
});

Deno.test("Journal replays from the middle of a batch: the rest of it after end, then the entries after", () => {
  const journal = new Journal({ epoch: "e" });
  const a = writer(journal, A, FA);
  a(2, 2, 2);
  a(3);
  assertEquals(brief(journal.replay({ seq: 1, end: 2 }, journal.head)), [
    "1 2-6",
    "2 6-9",
  ]);
  assertEquals(brief(journal.replay({ seq: 1, end: 4 }, journal.head)), [
    "1 4-6",
    "2 6-9",
  ]);
  // From the last event of a batch: nothing of it is left.
  assertEquals(brief(journal.replay({ seq: 1, end: 6 }, journal.head)), [
    "2 6-9",
  ]);
  assertEquals(brief(journal.replay({ seq: 2, end: 9 }, journal.head)), []);
  // Once only the newest batch is in memory, an older one is a byte range of its file.
  const small = new Journal({ epoch: "e", recent: 1 });
  const w = writer(small, A, FA);
  w(2, 2, 2);
  w(3);
  const [step] = small.replay({ seq: 1, end: 2 }, 1);
  assertEquals(step, {
    kind: "range",
    seq: 1,
    source: A,
    file: FA,
    from: 2,
    to: 6,
    lines: 3,
    unstored: false,
  });
});

Deno.test("Journal replays the newest batches from memory, as the very batches published", () => {
  // Room for 4 events: the batches of seq 3 and 4 (1 + 3 events) stay.
  const journal = new Journal({ epoch: "e", recent: 4 });
  const a = writer(journal, A, FA);
  a(1, 1);
  a(1);
  const third = a(2);
  const fourth = a(1, 1, 1);
  const steps = [...journal.replay({ seq: 1, end: 1 }, journal.head)];
  assertEquals(sources(steps), ["range 1", "range 2", "batch 3", "batch 4"]);
  assertEquals(brief(steps), ["1 1-2", "2 2-3", "3 3-5", "4 5-8"]);
  const [, , m3, m4] = steps;
  assert(m3.kind === "batch" && m3.batch === third);
  assert(m4.kind === "batch" && m4.batch === fourth);
  // From the middle of a batch in memory: `after` says where to go on from.
  const [mid] = journal.replay({ seq: 4, end: 6 }, journal.head);
  assert(mid.kind === "batch" && mid.batch === fourth);
  assertEquals(mid.after, 6);
  assertEquals(
    mid.batch.events.filter((e) => e[END] > mid.after).map((e) => e[END]),
    [7, 8],
  );
});

Deno.test("Journal replays messages in order between the ranges, up to until", () => {
  const journal = new Journal({ epoch: "e" });
  const a = writer(journal, A, FA);
  const b = writer(journal, B, FB);
  a(2);
  const rotate: Notice = { kind: "rotate", source: A, how: "renamed" };
  journal.message({ type: "notice", notice: rotate });
  b(5);
  const alert: Alert = {
    rule: "errors",
    kind: "rate",
    message: "too many",
    window: "1m",
    time: "t",
  };
  journal.message({ type: "alert", alert });
  a(3);
  b(1);
  assertEquals(brief(journal.replay({ seq: 1, end: 2 }, journal.head)), [
    "message 2 rotate",
    "3 0-5",
    "message 4 alert",
    "5 2-5",
    "6 5-6",
  ]);
  // What a message step carries is what was published.
  const steps = [...journal.replay({ seq: 1, end: 2 }, 4)];
  assertEquals(steps.length, 3);
  assertEquals(steps[0], {
    kind: "message",
    seq: 2,
    message: { type: "notice", notice: rotate },
  });
  assertEquals(steps[2], {
    kind: "message",
    seq: 4,
    message: { type: "alert", alert },
  });
  // From a message's own position (end 0): the entries after it.
  assertEquals(brief(journal.replay({ seq: 2, end: 0 }, 3)), ["3 0-5"]);
});

Deno.test("Journal replays every entry after position 0 while none has left the window", () => {
  // A subscriber that came before anything was published is at seq 0.
  const journal = new Journal({ epoch: "e", capacity: 4 });
  const a = writer(journal, A, FA);
  a(2);
  a(3);
  assert(journal.holds("e", 0));
  assertEquals(brief(journal.replay({ seq: 0, end: Infinity }, journal.head)), [
    "1 0-2",
    "2 2-5",
  ]);
});

Deno.test("Journal keeps a ring of capacity entries: older ones are gone, and a replay behind them is told expired", () => {
  const journal = new Journal({ epoch: "e", capacity: 4 });
  const a = writer(journal, A, FA);
  for (let i = 0; i < 10; i++) {
    if (i === 6) journal.message(vanish(A));
    else a(1 + i);
  }
  assertEquals([journal.head, journal.tail], [10, 7]);
  // The entries still kept come back intact after the ring wrapped.
  const after7 = brief(journal.replay({ seq: 7, end: Infinity }, journal.head));
  assertEquals(after7, ["8 21-29", "9 29-38", "10 38-48"]);
  assertEquals(brief(journal.replay({ seq: 8, end: 25 }, journal.head)), [
    "8 25-29",
    "9 29-38",
    "10 38-48",
  ]);
  // Behind the window: one expired step, and nothing after it.
  assertEquals(brief(journal.replay({ seq: 3, end: 6 }, journal.head)), [
    "expired 3",
  ]);
  assertEquals(
    [journal.holds("e", 5), journal.holds("e", 6), journal.holds("e", 10)],
    [false, true, true],
  );
  assertEquals(journal.holds("e", 11), false, "not yet published");
  assertEquals(journal.holds("other", 8), false, "another process's journal");
});

Deno.test("Journal ends a replay with expired when the entries it has not reached leave the window meanwhile", () => {
  const journal = new Journal({ epoch: "e", capacity: 4 });
  const a = writer(journal, A, FA);
  a(1);
  a(1);
  a(1);
  const steps = journal.replay({ seq: 1, end: 1 }, journal.head);
  assertEquals(brief([steps.next().value as ReplayStep]), ["2 1-2"]);
  // The replay is slow (it reads files): four more entries are published.
  for (let i = 0; i < 4; i++) a(1);
  assertEquals(brief(steps), ["expired 3"]);
});

Deno.test("Journal forgets nothing still named: a file's range replays after many wraps", () => {
  const journal = new Journal({ epoch: "e", capacity: 3 });
  const a = writer(journal, A, FA);
  const b = writer(journal, B, FB);
  for (let i = 0; i < 50; i++) {
    a(1);
    b(2);
  }
  assertEquals(brief(journal.replay({ seq: 98, end: 98 }, journal.head)), [
    "99 49-50",
    "100 98-100",
  ]);
  const c = writer(journal, "/logs/c.log", { dev: 1, ino: 9 });
  c(1);
  c(1);
  c(1);
  // A and B left the window entirely; C's entries still replay.
  assertEquals(brief(journal.replay({ seq: 101, end: 1 }, journal.head)), [
    "102 1-2",
    "103 2-3",
  ]);
});

Deno.test("Journal: standard input's batches are not positions, carry no file entries, and replay as unstored ranges once out of memory", () => {
  const stdin: FileId = UNSTORED;
  const journal = new Journal({ epoch: "e", unstored: stdin, recent: 1 });
  const a = writer(journal, A, FA);
  a(4);
  const piped = journal.batch("-", stdin, events("-", stdin, 0, [2, 3]));
  assertEquals(piped.id(1), positionId("e", 2, 5));
  assertEquals(decodeId(piped.id(1)).files, null);
  assertEquals([...journal.seam().keys()], [A]);
  assertEquals(journal.positions.count, 1);
  a(1);
  // Its bytes are on no disk: the step says so, and the route tells the client.
  assertEquals(brief(journal.replay({ seq: 1, end: 4 }, journal.head)), [
    "2 0-5 unstored",
    "3 4-5",
  ]);
  // A copy of the identity (as a pool worker gets it) is standard input too.
  const copy = journal.batch("-", { ...stdin }, events("-", stdin, 5, [1]));
  assertEquals(decodeId(copy.id(0)).files, null);
  assertEquals(journal.positions.count, 1);
  // A file with no inode (0.0 where stat gives none) is not standard input.
  const lookalike = { dev: 0, ino: 0 };
  journal.batch("/logs/zero.log", lookalike, events(B, lookalike, 0, [1]));
  assertEquals(journal.positions.count, 2);
});

Deno.test("Journal seam is a copy of the published positions of the selected paths", () => {
  const journal = new Journal({ epoch: "e" });
  writer(journal, A, FA)(5);
  writer(journal, B, FB)(7);
  journal.message({
    type: "notice",
    notice: { kind: "appear", source: "/logs/new.log", file: FA, from: 30 },
  });
  assertEquals(
    journal.seam(),
    new Map([
      [A, [{ file: FA, offset: 5 }]],
      [B, [{ file: FB, offset: 7 }]],
      ["/logs/new.log", [{ file: FA, offset: 30 }]],
    ]),
  );
  const onlyB = journal.seam((source) => source === B);
  assertEquals(onlyB, new Map([[B, [{ file: FB, offset: 7 }]]]));
  // A copy: publishing more does not move a seam already taken.
  writer(journal, B, FB)(1);
  assertEquals(onlyB.get(B), [{ file: FB, offset: 7 }]);
});

Deno.test("Journal rejects a capacity below 1 and defaults to a large one", () => {
  for (const capacity of [0, -1, 1.5, NaN]) {
    assertThrows(() => new Journal({ capacity }), RangeError);
  }
  assertEquals(new Journal().capacity, DEFAULT_JOURNAL_CAPACITY);
  // Two processes do not share an epoch.
  assert(new Journal().epoch !== new Journal().epoch);
});
