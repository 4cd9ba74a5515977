/**
 * The agent and its chains against a real nats-server (one node, on
 * loopback): what is stored, when cursors move, what a restart publishes.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Agent, type AgentOptions } from "../../src/nats/agent.ts";
import { Chain } from "../../src/nats/chain.ts";
import { Link } from "../../src/nats/link.ts";
import type { StreamSettings } from "../../src/nats/settings.ts";
import { ensureStream } from "../../src/nats/stream.ts";
import {
  type BatchHeader,
  decodeMessage,
  subjectOf,
} from "../../src/nats/wire.ts";
import { Hub } from "../../src/sink/hub.ts";
import type { Batch } from "../../src/sink/batch.ts";
import { Journal } from "../../src/sink/journal.ts";
import { eventId } from "../../src/stage/parse.ts";
import {
  END,
  type Event,
  FILE,
  type FileId,
  type Notice,
} from "../../src/types.ts";
import { NatsServers } from "../_fixtures/nats.ts";
import { track, waitFor } from "../_fixtures/wait.ts";

const A = "/logs/a.log";
const FA: FileId = { dev: 7, ino: 42 };
const HOST = "web-1";

const STREAM: StreamSettings = {
  name: "tailcast",
  prefix: "tailcast",
  replicas: 1,
  maxAgeMs: 3600_000,
  maxBytes: 64 * 1024 * 1024,
  dedupeWindowMs: 120_000,
};

/** Events of `source` in `file` ending at each of `ends` (line "e<end>"). */
function events(source: string, file: FileId, ends: number[], from = 0) {
  let offset = from;
  return ends.map((end) => {
    const e: Event = {
      id: eventId(file, end),
      source,
      offset,
      line: `e${end}`,
      time: "t",
      [FILE]: file,
      [END]: end,
    };
    offset = end;
    return e;
  });
}

function options(servers: NatsServers, resumes = true): AgentOptions {
  return {
    link: {
      servers: [servers.nodes[0].url],
      user: null,
      password: null,
      token: null,
      creds: null,
    },
    stream: STREAM,
    host: HOST,
    resumes,
    log: () => {},
  };
}

/** An agent draining a hub of its own; `acked` lists the journal seqs of batches stored. */
function startAgent(servers: NatsServers, resumes = true, capacity = 1000) {
  const hub = new Hub();
  const sub = hub.subscribe({ capacity, policy: "block" });
  const acked: number[] = [];
  const agent = new Agent(
    sub,
    options(servers, resumes),
    (b: Batch) => acked.push(b.seq),
  );
  return {
    hub,
    agent,
    acked,
    journal: new Journal(),
    async stop() {
      hub.close();
      await agent.done;
    },
  };
}

/** Every message of the stream, decoded, in order. */
async function stored(servers: NatsServers): Promise<BatchHeader[]> {
  const nc = await connect({ servers: servers.nodes[0].url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(STREAM.name);
    const out: BatchHeader[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(STREAM.name, { seq });
      const { header } = decodeMessage(m!.data);
      if (header.kind === "batch") out.push(header);
    }
    return out;
  } finally {
    await nc.close();
  }
}

Deno.test("Agent stores what the hub publishes and moves a batch's cursor only once JetStream stored it", async () => {
  await using servers = await NatsServers.single();
  const run = startAgent(servers);
  const batch = run.journal.batch(A, FA, events(A, FA, [3, 6]));
  run.hub.publish({ type: "batch", batch });
  await waitFor(() => run.acked.length === 1, "the batch stored");
  assertEquals(run.acked, [batch.seq]);
  assertEquals(run.agent.health().ok, true);
  await run.stop();
  const [message] = await stored(servers);
  assertEquals(
    { ...message, v: undefined },
    {
      v: undefined,
      kind: "batch",
      host: HOST,
      source: A,
      dev: 7,
      ino: 42,
      from: 0,
      to: 6,
      ends: [3, 6],
      files: [[7, 42, 6]],
    },
  );
});

Deno.test("Agent takes nothing while NATS is unreachable, says so in its health, and stores it all once NATS is back", async () => {
  await using servers = await NatsServers.single();
  const node = servers.nodes[0];
  await node.stop();
  const run = startAgent(servers, true, 2);
  const batch = run.journal.batch(A, FA, events(A, FA, [3, 6]));
  run.hub.publish({ type: "batch", batch });
  // The queue is full: the dispatcher (the files' reader) waits.
  const ready = track(run.hub.ready(1));
  await waitFor(
    () => run.agent.health().link.problem !== null,
    "the agent to say NATS cannot be reached",
  );
  const health = run.agent.health();
  assertEquals(health.ok, false);
  assertMatch(health.link.problem!, /cannot connect to nats:\/\/127\.0\.0\.1/);
  assertEquals(health.pending, 2);
  assertEquals(run.acked, []);
  assertEquals(ready.settled(), false);
  await node.start();
  await waitFor(() => run.acked.length === 1, "the batch stored", 15_000);
  await waitFor(ready.settled, "room for the dispatcher");
  assertEquals(run.agent.health().ok, true);
  await run.stop();
});

Deno.test("A restarted agent that resumed from its state file does not publish again what the stream holds", async () => {
  await using servers = await NatsServers.single();
  const first = startAgent(servers);
  first.hub.publish({
    type: "batch",
    batch: first.journal.batch(A, FA, events(A, FA, [5, 10])),
  });
  await waitFor(() => first.acked.length === 1, "the first run's batch");
  await first.stop();
  // The state file's cursor was older (saved before the ack): the next run
  // reads again from byte 0, in other batches.
  const second = startAgent(servers, true);
  second.hub.publish({
    type: "batch",
    batch: second.journal.batch(A, FA, events(A, FA, [5])),
  });
  second.hub.publish({
    type: "batch",
    batch: second.journal.batch(A, FA, events(A, FA, [10, 15], 5)),
  });
  await waitFor(() => second.acked.length === 2, "the second run's batches");
  await second.stop();
  assertEquals((await stored(servers)).map((m) => m.ends), [[5, 10], [15]]);
  // Without a state file a run publishes what it reads (it starts where
  // --from says, and what it reads is new to it).
  const fresh = startAgent(servers, false);
  fresh.hub.publish({
    type: "batch",
    batch: fresh.journal.batch(A, FA, events(A, FA, [5])),
  });
  await waitFor(() => fresh.acked.length === 1, "the fresh run's batch");
  await fresh.stop();
  assertEquals((await stored(servers)).map((m) => m.ends), [[5, 10], [15], [
    5,
  ]]);
});

Deno.test("A truncation makes a resumed agent publish a file's lines from byte 0 again", async () => {
  await using servers = await NatsServers.single();
  const first = startAgent(servers);
  first.hub.publish({
    type: "batch",
    batch: first.journal.batch(A, FA, events(A, FA, [5, 10])),
  });
  await waitFor(() => first.acked.length === 1, "the first run's batch");
  await first.stop();
  const second = startAgent(servers, true);
  const truncated: Notice = {
    kind: "truncate",
    source: A,
    offset: 10,
    size: 0,
  };
  const { seq, id } = second.journal.message({
    type: "notice",
    notice: truncated,
  });
  second.hub.publish({ type: "notice", seq, id, notice: truncated });
  second.hub.publish({
    type: "batch",
    batch: second.journal.batch(A, FA, events(A, FA, [4, 8])),
  });
  await waitFor(() => second.acked.length === 1, "the new content stored");
  await second.stop();
  assertEquals((await stored(servers)).map((m) => m.ends), [[5, 10], [4, 8]]);
});

/** A chain on a real stream, with hooks into what it does. */
async function chainOn(
  servers: NatsServers,
  js: (real: JetStreamClient) => JetStreamClient,
  maxPayload = 1024 * 1024,
) {
  const nc: NatsConnection = await connect({ servers: servers.nodes[0].url });
  const jsm: JetStreamManager = await jetstreamManager(nc);
  await ensureStream(jsm, STREAM, () => {});
  const link = new Link(options(servers).link, "test", () => {});
  const acked: number[] = [];
  const duplicates: boolean[] = [];
  const abort = new AbortController();
  const chain = new Chain(subjectOf(STREAM.prefix, HOST, A), {
    js: js(jetstream(nc)),
    jsm,
    link,
    stream: STREAM.name,
    host: HOST,
    resumes: true,
    maxPayload,
    signal: abort.signal,
    acked: (b) => acked.push(b.seq),
    stored: (_, __, ___, duplicate) => duplicates.push(duplicate),
    failed: () => {},
    ensure: () => Promise.resolve(),
    released: () => {},
  });
  return {
    chain,
    acked,
    duplicates,
    journal: new Journal(),
    async [Symbol.asyncDispose]() {
      abort.abort();
      await chain.idle;
      await nc.close();
    },
  };
}

Deno.test("Chain stores a message once when JetStream's answer is lost: the retry carries the same id and comes back duplicate", async () => {
  await using servers = await NatsServers.single();
  let lost = 1;
  await using c = await chainOn(servers, (real) =>
    ({
      ...real,
      publish: async (...args: Parameters<JetStreamClient["publish"]>) => {
        const ack = await real.publish(...args);
        if (lost-- > 0) throw new Error("timeout");
        return ack;
      },
    }) as JetStreamClient);
  const batch = c.journal.batch(A, FA, events(A, FA, [3, 6]));
  c.chain.push({ type: "batch", batch });
  await waitFor(() => c.acked.length === 1, "the batch acknowledged");
  assertEquals(c.duplicates, [true]);
  assertEquals((await stored(servers)).map((m) => m.ends), [[3, 6]]);
});

Deno.test("Chain cuts an event longer than one message may be, and flags it truncated", async () => {
  await using servers = await NatsServers.single();
  await using c = await chainOn(servers, (real) => real, 64 * 1024);
  const [long] = events(A, FA, [200_001]);
  const batch = c.journal.batch(A, FA, [{
    ...long,
    line: "x".repeat(200_000),
  }]);
  c.chain.push({ type: "batch", batch });
  await waitFor(() => c.acked.length === 1, "the batch acknowledged");
  const nc = await connect({ servers: servers.nodes[0].url });
  try {
    const jsm = await jetstreamManager(nc);
    const m = await jsm.streams.getMessage(STREAM.name, {
      last_by_subj: subjectOf(STREAM.prefix, HOST, A),
    });
    assert(m!.data.length < 64 * 1024, `${m!.data.length} bytes`);
    const { bytes, starts } = decodeMessage(m!.data).lines!;
    const event = JSON.parse(
      new TextDecoder().decode(bytes.subarray(starts[0], starts[1] - 1)),
    );
    assertEquals(event.truncated, true);
    assertEquals(event.source, `${HOST}:${A}`);
    assert(event.line.length < 64 * 1024 && event.line.length > 1000);
  } finally {
    await nc.close();
  }
});
