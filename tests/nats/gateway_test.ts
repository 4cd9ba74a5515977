/**
 * Gateways against a real nats-server (one node, on loopback): what their
 * hubs publish, with which ids, from which messages.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Gateway } from "../../src/nats/gateway.ts";
import type { StreamSettings } from "../../src/nats/settings.ts";
import { ensureStream } from "../../src/nats/stream.ts";
import { encodeBatch, subjectOf } from "../../src/nats/wire.ts";
import type { Message } from "../../src/sink/hub.ts";
import { END, type Event, FILE } from "../../src/types.ts";
import { Agent } from "../../src/nats/agent.ts";
import { Hub } from "../../src/sink/hub.ts";
import { Journal } from "../../src/sink/journal.ts";
import { NatsServers } from "../_fixtures/nats.ts";
import { waitFor } from "../_fixtures/wait.ts";

const STREAM: StreamSettings = {
  name: "tailcast",
  prefix: "tailcast",
  replicas: 1,
  maxAgeMs: 3600_000,
  maxBytes: 64 * 1024 * 1024,
  dedupeWindowMs: 120_000,
};

/** Publishes, as an agent of host h1 would, a batch of `path` whose events end at `ends`. */
async function publish(
  servers: NatsServers,
  items: { path: string; ends: number[] }[] | Uint8Array,
): Promise<void> {
  const nc = await connect({ servers: servers.nodes[0].url });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureStream(jsm, STREAM, () => {});
    const js = jetstream(nc);
    if (items instanceof Uint8Array) {
      await js.publish(`${STREAM.prefix}.events.other.x`, items);
      return;
    }
    for (const { path, ends } of items) {
      const subject = subjectOf(STREAM.prefix, "h1", path);
      const json = ends.map((end) =>
        JSON.stringify({
          id: `1.2:${end}`,
          source: `h1:${path}`,
          line: `${end}`,
        })
      );
      const ack = await js.publish(
        subject,
        encodeBatch({
          host: "h1",
          source: path,
          dev: 1,
          ino: 2,
          from: 0,
          to: ends.at(-1)!,
          ends,
          files: [],
        }, json),
      );
      nc.publish(`${STREAM.prefix}.stored.h1`, String(ack.seq));
    }
  } finally {
    await nc.close();
  }
}

function gateway(servers: NatsServers, said: string[] = []): Gateway {
  return new Gateway({
    link: {
      servers: [servers.nodes[0].url],
      user: null,
      password: null,
      token: null,
      creds: null,
    },
    stream: STREAM.name,
    prefix: STREAM.prefix,
    log: (line) => said.push(line),
  });
}

/** The ids of every line event a gateway's hub publishes. */
function ids(gw: Gateway): string[] {
  const out: string[] = [];
  const sub = gw.hub.subscribe({ capacity: 10_000, policy: "drop-oldest" });
  (async () => {
    for (let ms = await sub.next(); ms; ms = await sub.next()) {
      for (const m of ms as Message[]) {
        if (m.type !== "batch") continue;
        for (let i = 0; i < m.batch.events.length; i++) {
          out.push(m.batch.id(i));
        }
      }
    }
  })();
  return out;
}

Deno.test("Two gateways of one stream publish its messages in order, with the same ids", async () => {
  await using servers = await NatsServers.single();
  await publish(servers, []);
  const one = gateway(servers);
  const two = gateway(servers);
  try {
    const [r1, r2] = await Promise.all([one.ready, two.ready]);
    const a = ids(one);
    const b = ids(two);
    await publish(servers, [
      { path: "/a.log", ends: [3, 6] },
      { path: "/b.log", ends: [4] },
    ]);
    await waitFor(() => a.length === 3 && b.length === 3, "three lines each");
    const epoch = r1.journal.epoch;
    assertEquals(r2.journal.epoch, epoch);
    assertEquals(a, [`2.${epoch}.1.3`, `2.${epoch}.1.6`, `2.${epoch}.2.4`]);
    assertEquals(b, a);
  } finally {
    await Promise.all([one.stop(), two.stop()]);
  }
});

Deno.test("A gateway takes a message it saw published and its agent said was stored, without asking for it", async () => {
  await using servers = await NatsServers.single();
  await publish(servers, []);
  const gw = gateway(servers);
  const hub = new Hub();
  const sub = hub.subscribe({ capacity: 100, policy: "block" });
  const agent = new Agent(sub, {
    link: {
      servers: [servers.nodes[0].url],
      user: null,
      password: null,
      token: null,
      creds: null,
    },
    stream: STREAM,
    host: "h1",
    resumes: false,
    log: () => {},
  }, () => {});
  try {
    await gw.ready;
    const a = ids(gw);
    const journal = new Journal();
    const file = { dev: 1, ino: 2 };
    for (const end of [3, 6, 9]) {
      const event: Event = {
        id: "",
        source: "/a.log",
        offset: end - 3,
        line: "x",
        time: "t",
        [FILE]: file,
        [END]: end,
      };
      await hub.ready(1);
      hub.publish({
        type: "batch",
        batch: journal.batch("/a.log", file, [event]),
      });
      // Each line its own message.
      await waitFor(() => a.length === end / 3, `line ${end / 3}`);
    }
    assertEquals(gw.health().read, { seen: 3, fetched: 0 });
  } finally {
    hub.close();
    await agent.done;
    await gw.stop();
  }
});

Deno.test("A gateway started after the agent holds the newest messages: a backlog is served from them", async () => {
  await using servers = await NatsServers.single();
  await publish(servers, [
    { path: "/a.log", ends: [1, 2, 3] },
    { path: "/a.log", ends: [4] },
  ]);
  const gw = gateway(servers);
  try {
    const { journal } = await gw.ready;
    await waitFor(() => journal.head === 2, "the two messages read");
    const lines: string[] = [];
    for await (const step of journal.backlog!(2, () => true, journal.head)) {
      if (step.kind !== "batch") continue;
      const { batch, after } = step;
      for (let i = 0; i < batch.events.length; i++) {
        if (batch.events[i][END] > after) lines.push(batch.id(i));
      }
    }
    assertEquals(lines, [`2.${journal.epoch}.1.3`, `2.${journal.epoch}.2.4`]);
    assertEquals(gw.health().ok, true);
    assertEquals(gw.sources(), [{ path: "h1:/a.log", seq: 2 }]);
  } finally {
    await gw.stop();
  }
});

Deno.test("A gateway passes over a message that is not tailcast's, says so once, and reads on", async () => {
  await using servers = await NatsServers.single();
  await publish(servers, []);
  const said: string[] = [];
  const gw = gateway(servers, said);
  try {
    await gw.ready;
    const a = ids(gw);
    await publish(servers, new TextEncoder().encode("not ours"));
    await publish(servers, new TextEncoder().encode("not ours either"));
    await publish(servers, [{ path: "/a.log", ends: [3] }]);
    await waitFor(() => a.length === 1, "the line after them");
    const skipped = said.filter((l) => /skipped message/.test(l));
    assertEquals(skipped.length, 1, said.join("\n"));
    assertMatch(skipped[0], /skipped message 1: not a tailcast message/);
  } finally {
    await gw.stop();
  }
});
