import { assertEquals } from "@std/assert";
import { type ReadFrom, StreamLog } from "../../src/nats/log.ts";
import { encodeBatch, encodeMessage } from "../../src/nats/wire.ts";
import type { ReplayStep } from "../../src/sink/journal.ts";
import { ndjsonOf } from "../../src/sink/ndjson.ts";
import { END } from "../../src/types.ts";

const encoder = new TextEncoder();

/** A batch message of `path` on host h1 whose events end at `ends` (lines "<path>@<end>"). */
function batch(path: string, ends: number[], ino = 2): Uint8Array {
  let from = ends[0] - 1;
  const json = ends.map((end) => {
    const offset = from;
    from = end;
    return JSON.stringify({
      id: `1.${ino}:${end.toString(36)}`,
      source: `h1:${path}`,
      offset,
      line: `${path}@${end}`,
      time: "t",
    });
  });
  return encodeBatch({
    host: "h1",
    source: path,
    dev: 1,
    ino,
    from: ends[0] - 1,
    to: ends.at(-1)!,
    ends,
    files: [[1, ino, ends.at(-1)!]],
  }, json);
}

function notice(path: string): Uint8Array {
  return encodeMessage({
    host: "h1",
    notice: { kind: "rotate", source: path, how: "renamed" },
    files: [],
  });
}

/** A stream of messages by sequence; sequences in `lost` were removed by its limits. */
function stream(
  messages: Map<number, Uint8Array>,
  lost = new Set<number>(),
): { read: ReadFrom; asked: [number, number][] } {
  const asked: [number, number][] = [];
  const read: ReadFrom = async function* (start, until) {
    asked.push([start, until]);
    for (let seq = start; seq <= until; seq++) {
      if (lost.has(seq) || !messages.has(seq)) continue;
      yield { seq, data: messages.get(seq)! };
    }
  };
  return { read, asked };
}

/** What a replay's steps are, in short: `b<seq>>after:<lines>`, `m<seq>`, `x<seq>`. */
async function steps(
  replay: Iterable<ReplayStep> | AsyncIterable<ReplayStep>,
): Promise<string[]> {
  const out: string[] = [];
  for await (const s of replay) {
    if (s.kind === "batch") {
      const lines = s.batch.events.filter((e) => e[END] > s.after).map((e) =>
        e.line
      );
      out.push(`b${s.seq}:${lines.join(",")}`);
    } else if (s.kind === "message") {
      out.push(`m${s.seq}`);
    } else {
      out.push(`${s.kind}${s.seq}`);
    }
  }
  return out;
}

function log(
  read: ReadFrom = stream(new Map()).read,
  memory = 100,
  skipped?: (seq: number, why: string) => void,
): StreamLog {
  return new StreamLog({ epoch: "ep", first: 1, memory, read, skipped });
}

Deno.test("StreamLog gives events the ids 2.<epoch>.<seq>.<end> and the host's name: the same on every gateway of the stream", () => {
  const data = batch("/a.log", [3, 6]);
  const one = log();
  const two = log();
  const a = one.append(1, data);
  const b = two.append(1, data);
  if (a?.type !== "batch" || b?.type !== "batch") throw new Error("a batch");
  assertEquals([a.batch.id(0), a.batch.id(1)], ["2.ep.1.3", "2.ep.1.6"]);
  assertEquals([b.batch.id(0), b.batch.id(1)], ["2.ep.1.3", "2.ep.1.6"]);
  assertEquals(a.batch.source, "h1:/a.log");
  assertEquals(a.batch.events.map((e) => [e.line, e[END]]), [
    ["/a.log@3", 3],
    ["/a.log@6", 6],
  ]);
  // The JSON the agent made is what subscribers are sent; an event is read
  // from it when something looks into it (a grep, a where).
  const json = new TextDecoder().decode(data).split("\n")[1];
  const { bytes, at, json: starts } = a.batch.frames;
  assertEquals(
    new TextDecoder().decode(bytes.subarray(starts[0], at[1] - 2)),
    json,
  );
  assertEquals(
    new TextDecoder().decode(ndjsonOf(a.batch)),
    new TextDecoder().decode(data).split("\n").slice(1).join("\n") + "\n",
  );
  assertEquals(JSON.stringify(a.batch.events[0]), json);
  assertEquals(a.batch.events[0].offset, 2);
  const n = one.append(2, notice("/a.log"));
  assertEquals(n?.type === "notice" && n.id, "2.ep.2.0");
  assertEquals(
    n?.type === "notice" && n.notice.kind === "rotate" && n.notice.source,
    "h1:/a.log",
  );
  assertEquals(one.head, 2);
});

Deno.test("StreamLog replays from memory the rest of the batch a position is in, then what follows", async () => {
  const l = log();
  l.append(1, batch("/a.log", [3, 6, 9]));
  l.append(2, notice("/a.log"));
  l.append(3, batch("/b.log", [2, 4], 3));
  assertEquals(await steps(l.replay({ seq: 1, end: 3 }, 3)), [
    "b1:/a.log@6,/a.log@9",
    "m2",
    "b3:/b.log@2,/b.log@4",
  ]);
  // Up to a point only.
  assertEquals(await steps(l.replay({ seq: 1, end: 9 }, 2)), ["m2"]);
});

Deno.test("StreamLog reads from the stream what memory no longer holds, then goes on from memory", async () => {
  const messages = new Map<number, Uint8Array>();
  for (let seq = 1; seq <= 5; seq++) {
    messages.set(seq, batch("/a.log", [seq * 10]));
  }
  const s = stream(messages);
  const l = log(s.read, 2);
  for (let seq = 1; seq <= 5; seq++) l.append(seq, messages.get(seq)!);
  assertEquals(await steps(l.replay({ seq: 1, end: 10 }, 5)), [
    "b2:/a.log@20",
    "b3:/a.log@30",
    "b4:/a.log@40",
    "b5:/a.log@50",
  ]);
  // Memory holds the last two: the stream was asked for the message the
  // position is in (what is left of it), then for 2 and 3.
  assertEquals(s.asked, [[1, 1], [2, 3]]);
});

Deno.test("StreamLog ends a replay with expired where the stream lost messages (its age or size limit)", async () => {
  const messages = new Map<number, Uint8Array>();
  for (let seq = 1; seq <= 5; seq++) {
    messages.set(seq, batch("/a.log", [seq * 10]));
  }
  const l = log(stream(messages, new Set([2])).read, 1);
  for (let seq = 1; seq <= 5; seq++) l.append(seq, messages.get(seq)!);
  assertEquals(await steps(l.replay({ seq: 1, end: 10 }, 5)), ["expired2"]);
  // Now known: a position before it is not held.
  assertEquals(l.holds("ep", 1, 10), false);
  assertEquals(l.holds("ep", 3, 30), true);
});

Deno.test("StreamLog holds positions of its epoch up to its head, and is ahead of those the stream has but it has not read", () => {
  const l = log();
  l.startAt(1);
  l.heard(1, 10);
  l.append(1, batch("/a.log", [3]));
  l.append(2, batch("/a.log", [6]));
  assertEquals(l.holds("ep", 2, 6), true);
  assertEquals(l.holds("ep", 0, Infinity), true);
  assertEquals(l.holds("other", 2, 6), false);
  assertEquals(l.holds("ep", 3, 0), false);
  assertEquals(l.ahead("ep", 3), true);
  assertEquals(l.ahead("ep", 10), true);
  // Not heard of (wake-ups lost in a failover): sequences only grow.
  assertEquals(l.ahead("ep", 11), true);
  assertEquals(l.ahead("ep", 2), false);
  assertEquals(l.ahead("other", 3), false);
  assertEquals(l.seam().size, 0);
});

Deno.test("StreamLog reaches what it heard of, else what the stream says it holds; a stream it cannot ask is taken at its word", async () => {
  let last: number | Error = 12;
  const l = new StreamLog({
    epoch: "ep",
    first: 1,
    memory: 100,
    read: stream(new Map()).read,
    lastOfStream: () =>
      last instanceof Error ? Promise.reject(last) : Promise.resolve(last),
  });
  l.heard(1, 10);
  assertEquals(await l.reaches(10), true);
  assertEquals(await l.reaches(12), true);
  assertEquals(l.last, 12);
  assertEquals(await l.reaches(13), false);
  // Clients that come at once share one question.
  let asked = 0;
  const counting = new StreamLog({
    epoch: "ep",
    first: 1,
    memory: 100,
    read: stream(new Map()).read,
    lastOfStream: () => {
      asked++;
      return Promise.resolve(20);
    },
  });
  assertEquals(
    await Promise.all([counting.reaches(15), counting.reaches(25)]),
    [true, false],
  );
  assertEquals(asked, 1);
  last = new Error("no leader");
  assertEquals(await l.reaches(13), true);
  assertEquals(await log().reaches(1), false);
});

Deno.test("StreamLog's backlog is the last N events of each selected source in memory, in order", async () => {
  const l = log();
  l.append(1, batch("/a.log", [1, 2, 3]));
  l.append(2, batch("/b.log", [1, 2], 3));
  l.append(3, notice("/a.log"));
  l.append(4, batch("/a.log", [4, 5]));
  l.append(5, batch("/c.log", [1], 4));
  assertEquals(
    await steps(l.backlog(3, (source) => source !== "h1:/c.log", 5)),
    ["b1:/a.log@3", "b2:/b.log@1,/b.log@2", "b4:/a.log@4,/a.log@5"],
  );
  // Up to a point.
  assertEquals(
    await steps(l.backlog(1, () => true, 2)),
    ["b1:/a.log@3", "b2:/b.log@2"],
  );
});

Deno.test("StreamLog skips a message that is not one of ours, says why, and moves on", () => {
  const said: string[] = [];
  const l = log(undefined, 100, (seq, why) => said.push(`${seq}: ${why}`));
  assertEquals(l.append(1, encoder.encode("not ours")), null);
  assertEquals(l.head, 1);
  assertEquals(said.length, 1);
  assertEquals(/^1: not a tailcast message/.test(said[0]), true, said[0]);
});

Deno.test("StreamLog never parses a line's JSON back to keep, replay or backlog a message (only a line filter does)", async () => {
  // Lines that are not JSON: parsing any of them would throw.
  const opaque = (ends: number[]) =>
    encodeBatch({
      host: "h1",
      source: "/a.log",
      dev: 1,
      ino: 2,
      from: ends[0] - 1,
      to: ends.at(-1)!,
      ends,
      files: [[1, 2, ends.at(-1)!]],
    }, ends.map((end) => `not json ${end}`));
  const l = log();
  for (let seq = 1; seq <= 4; seq++) {
    l.append(seq, opaque([seq * 10, seq * 10 + 1]));
  }
  const seqs: string[] = [];
  for await (const s of l.replay({ seq: 3, end: 30 }, 4)) {
    if (s.kind === "batch") seqs.push(`${s.seq}>${s.after}`);
  }
  assertEquals(seqs, ["3>30", "4>-1"]);
  const backlog = [...l.backlog(3, () => true, 4)].map((s) =>
    s.kind === "batch" ? `${s.seq}>${s.after}` : s.kind
  );
  assertEquals(backlog, ["3>30", "4>-1"]);
});
