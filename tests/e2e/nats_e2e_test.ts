/**
 * End to end for agents → NATS JetStream → gateways: real `nats-server`
 * processes (one node, or three clustered) on loopback, the real entry
 * point as agent and gateways, a writer process, and `curl -N` clients.
 * What every client received is compared with what the writer wrote: every
 * line exactly once, in order, whatever was killed on the way.
 *
 * Measurements (pauses) are printed on stderr as `[measured]`; nothing here
 * asserts a time.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { LogDir } from "../_fixtures/log_dir.ts";
import {
  freePort,
  makeCertificates,
  type NatsNode,
  NatsServers,
} from "../_fixtures/nats.ts";
import { sleep, WriterProcess } from "../_fixtures/restart.ts";
import { curl, CurlSse } from "../_fixtures/sse_client.ts";
import { TailcastProcess } from "../_fixtures/tailcast.ts";
import { waitFor } from "../_fixtures/wait.ts";

function note(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(`  [measured] ${text}\n`));
}

const SEQ = /"line":"seq=(\d+) /;

/** A curl client of a gateway that keeps the writer's sequence numbers it got, and when. */
class Reader {
  readonly seqs: number[] = [];
  /** The `gap` events it got (their data). */
  readonly gaps: string[] = [];
  readonly client: CurlSse;
  /** The longest time between two lines, ms (a pause seen by the client). */
  longestPause = 0;
  /** When the first and the last line came (`performance.now()`). */
  firstAt = 0;
  lastAt = 0;

  constructor(url: string, lastEventId?: string) {
    this.client = new CurlSse(`${url}/events`, {
      keep: false,
      dumpHeaders: false,
      headers: lastEventId ? { "Last-Event-ID": lastEventId } : {},
      onFrame: (f) => {
        if (f.event === "gap") this.gaps.push(f.data);
        if (f.event !== "line") return;
        const m = SEQ.exec(f.data);
        if (!m) return;
        this.seqs.push(Number(m[1]));
        if (this.lastAt > 0) {
          this.longestPause = Math.max(this.longestPause, f.at - this.lastAt);
        } else {
          this.firstAt = f.at;
        }
        this.lastAt = f.at;
      },
    });
  }

  get lastId(): string | null {
    return this.client.lastId;
  }

  /** Waits for `count` lines; false when they did not come in time (the assertion after says which are missing). */
  async until(
    count: number,
    what: string,
    timeoutMs = 60_000,
  ): Promise<boolean> {
    return await waitFor(
      () => this.seqs.length >= count,
      `${what}: ${count} lines (have ${this.seqs.length})`,
      timeoutMs,
    ).then(() => true, () => false);
  }
}

/** Time from the last line a client got on one gateway to its first on the next, ms. */
function resumedPause(before: Reader, after: Reader): number {
  return after.firstAt - before.lastAt;
}

/** Every line 0..written-1 exactly once, in order. */
function assertEveryLineOnce(
  seqs: readonly number[],
  written: number,
  what: string,
) {
  const wrong: string[] = [];
  for (let i = 0; i < Math.max(seqs.length, written) && wrong.length < 5; i++) {
    if (seqs[i] !== i) {
      wrong.push(`#${i}: ${seqs.slice(Math.max(0, i - 2), i + 3).join(",")}`);
    }
  }
  assertEquals(
    wrong,
    [],
    `${what}: ${seqs.length} lines for ${written} written; first differences`,
  );
}

/** A gateway process on a free port; resolves once it serves. */
async function gateway(
  servers: NatsServers,
  extra: {
    perms?: string[];
    port?: number;
    args?: string[];
    env?: Record<string, string>;
  } = {},
): Promise<{ tc: TailcastProcess; url: string }> {
  const tc = new TailcastProcess(
    [
      "--subscribe",
      servers.urls,
      "--port",
      String(extra.port ?? 0),
      ...extra.args ?? [],
    ],
    { perms: extra.perms, env: extra.env },
  );
  const url = await tc.url();
  return { tc, url };
}

/** An agent process publishing `log`; resolves once it is connected to NATS. */
async function agent(
  servers: NatsServers,
  log: string,
  args: string[],
  env?: Record<string, string>,
): Promise<TailcastProcess> {
  const tc = new TailcastProcess([
    "--publish",
    servers.urls,
    "--host-name",
    "web-1",
    "--no-server",
    ...args,
    log,
  ], { env });
  await tc.waitForStderr(/NATS: connected to/, 15_000);
  return tc;
}

async function streamLeader(
  servers: NatsServers,
  name: string,
): Promise<NatsNode> {
  const nc = await connect({
    servers: servers.nodes.filter((n) => n.running).map((n) => n.url),
  });
  try {
    const jsm = await jetstreamManager(nc);
    let leader: string | undefined;
    await waitFor(
      async () => {
        leader = (await jsm.streams.info(name).catch(() => null))?.cluster
          ?.leader;
        return leader !== undefined;
      },
      `a leader for the stream ${name}`,
      20_000,
    );
    return servers.nodes.find((n) => n.name === leader)!;
  } finally {
    await nc.close();
  }
}

Deno.test("NATS, one node: agent → two gateways → curl; kill -9 the agent under load and restart nats-server on its store: every line once, in order, on both", async () => {
  await using servers = await NatsServers.single();
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  const state = dir.file("state.json");
  // An agent reads from the start what its state does not know: what the
  // stream holds already is not published again.
  const agentArgs = ["--state", state, "--from", "start"];
  let tc = await agent(servers, log, agentArgs);
  const g1 = await gateway(servers);
  await using _g1 = g1.tc;
  const g2 = await gateway(servers);
  await using _g2 = g2.tc;
  const r1 = new Reader(g1.url);
  await using _c1 = r1.client;
  const r2 = new Reader(g2.url);
  await using _c2 = r2.client;
  await r1.client.connected();
  await r2.client.connected();

  await using writer = new WriterProcess([
    "--path",
    log,
    "--rate",
    "5000",
    "--seconds",
    "9",
  ]);
  try {
    // The agent is killed three times while lines come in; the node once.
    for (let k = 0; k < 3; k++) {
      await sleep(1200);
      await tc.stop("SIGKILL");
      await sleep(200);
      tc = await agent(servers, log, agentArgs);
    }
    await sleep(800);
    const node = servers.nodes[0];
    await node.kill();
    await sleep(300);
    await node.start();
    const { written } = await writer.result();
    await r1.until(written, "gateway 1's client");
    await r2.until(written, "gateway 2's client");
    // Anything late would show as a line too many.
    await sleep(300);
    assertEveryLineOnce(r1.seqs, written, "gateway 1");
    assertEveryLineOnce(r2.seqs, written, "gateway 2");
    note(
      `one node: ${written} lines, 3 agent kills, 1 nats-server restart; longest pause seen by a client ${
        Math.round(Math.max(r1.longestPause, r2.longestPause))
      } ms`,
    );
  } finally {
    await tc.stop("SIGKILL");
  }
});

Deno.test("NATS, three nodes with 3 replicas: kill the stream leader at 20,000 lines/s, then a gateway; its client resumes on the other with Last-Event-ID: every line once", async () => {
  await using servers = await NatsServers.cluster();
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  await using tc = await agent(servers, log, ["--replicas", "3"]);
  const a = await gateway(servers);
  await using gatewayA = a.tc;
  const b = await gateway(servers);
  await using _b = b.tc;
  const onA = new Reader(a.url);
  await using _ca = onA.client;
  const onB = new Reader(b.url);
  await using _cb = onB.client;
  await onA.client.connected();
  await onB.client.connected();
  const leader = await streamLeader(servers, "tailcast");

  await using writer = new WriterProcess([
    "--path",
    log,
    "--rate",
    "20000",
    "--seconds",
    "14",
  ]);
  let writing = true;
  const finished = writer.result().finally(() => writing = false);
  assert(
    await onB.until(20_000, "lines before the leader is killed", 30_000),
    "gateway B's client got lines",
  );
  await leader.kill();
  const killedAt = onB.seqs.length;
  assert(
    await onB.until(killedAt + 5_000, "lines after the leader was killed"),
    "lines came after the leader was killed",
  );
  // Gateway A dies while lines still come; its client comes to B with the
  // last id it got.
  assert(
    writing,
    `the writer still writes when gateway A is killed (agent: ${
      tc.stderr.join(" | ")
    }; gateway B: ${b.tc.stderr.join(" | ")})`,
  );
  await gatewayA.stop("SIGKILL");
  await onA.client.exited();
  const lastId = onA.lastId;
  assert(lastId !== null, "the client on gateway A got ids");
  const resumed = new Reader(b.url, lastId);
  await using _cr = resumed.client;
  const { written } = await finished;
  assert(onA.seqs.length < written, "gateway A died before the last line");
  await onB.until(written, "gateway B's client");
  await resumed.until(written - onA.seqs.length, "the resumed client");
  await sleep(300);
  assertEveryLineOnce(onB.seqs, written, "gateway B");
  assertEveryLineOnce(
    [...onA.seqs, ...resumed.seqs],
    written,
    "the client of gateway A, then resumed on B",
  );
  assertEquals(resumed.gaps, [], "the resumed client is told of no gap");
  note(
    `cluster: ${written} lines at 20,000/s; the leader (${leader.name}) killed: longest pause on gateway B ${
      Math.round(onB.longestPause)
    } ms; gateway A killed after ${onA.seqs.length} lines, its client resumed on B (pause ${
      Math.round(resumed.client.frameCount > 0 ? resumedPause(onA, resumed) : 0)
    } ms)`,
  );
});

Deno.test("NATS gateway runs with --allow-net only (no read, write, env or sys) and serves the HTTP API: source, grep, where, level, backlog, NDJSON, /healthz, /metrics, /sources", async () => {
  await using servers = await NatsServers.single();
  await using dir = await LogDir.create();
  const log = dir.file("app.log");
  await using tc = await agent(servers, log, ["--format", "json"]);
  const port = freePort();
  const g = await gateway(servers, {
    port,
    perms: [
      "--no-prompt",
      `--allow-net=${servers.allowNet},127.0.0.1:${port}`,
    ],
  });
  await using _g = g.tc;
  const query = {
    all: "",
    source: "?source=app.log",
    otherSource: "?source=web-2:*",
    level: "?level=warn",
    where: "?where=n%3E%3D2",
    grep: "?grep=%22n%22:3",
  };
  const clients = Object.fromEntries(
    Object.entries(query).map((
      [k, q],
    ) => [k, new CurlSse(`${g.url}/events${q}`, { dumpHeaders: false })]),
  );
  try {
    for (const c of Object.values(clients)) await c.connected();
    await dir.append(
      "app.log",
      '{"level":"info","msg":"a","n":1}\n{"level":"error","msg":"b","n":2}\n{"level":"warn","msg":"c","n":3}\n',
    );
    await clients.all.until((c) => c.lineEvents().length === 3, "3 lines");
    const ns = (name: string) =>
      clients[name].lineEvents<{ fields: { n: number } }>().map((e) =>
        e.fields.n
      );
    const all = clients.all.lineEvents<{ source: string }>();
    assertEquals(all.map((e) => e.source), Array(3).fill(`web-1:${log}`));
    await clients.grep.until((c) => c.lineEvents().length === 1, "grep");
    assertEquals(ns("source"), [1, 2, 3]);
    assertEquals(ns("level"), [2, 3]);
    assertEquals(ns("where"), [2, 3]);
    assertEquals(ns("grep"), [3]);
    assertEquals(ns("otherSource"), []);
    // A backlog comes from the lines the gateway holds, then live, as NDJSON.
    await using backlog = new CurlSse(
      `${g.url}/events?backlog=2&format=ndjson`,
      { ndjson: true, dumpHeaders: false },
    );
    await backlog.until((c) => c.frames.length === 2, "the backlog");
    assertEquals(
      backlog.frames.map((f) => JSON.parse(f.data).fields.n),
      [2, 3],
    );
  } finally {
    for (const c of Object.values(clients)) await c.stop();
  }
  const health = JSON.parse((await curl(`${g.url}/healthz`)).body);
  assertEquals(health.status, "ok");
  assertEquals(health.nats.role, "gateway");
  assertEquals(health.nats.lag, 0);
  const metrics = (await curl(`${g.url}/metrics`)).body;
  assertMatch(metrics, /^tailcast_nats_connected 1$/m);
  assertMatch(metrics, /^tailcast_nats_events_total\{result="read"\} 3$/m);
  const sources = JSON.parse((await curl(`${g.url}/sources`)).body);
  assertEquals(sources.sources.map((s: { path: string }) => s.path), [
    `web-1:${log}`,
  ]);
  assertEquals(
    g.tc.stderr.filter((l) => /permission|NotCapable/i.test(l)),
    [],
  );
  await tc.stop();
});

Deno.test("NATS: a client resuming from a line the stream no longer holds gets a gap, then what is new", async () => {
  await using servers = await NatsServers.single();
  await using dir = await LogDir.create();
  await using tc = await agent(servers, dir.file("app.log"), []);
  const first = await gateway(servers);
  await using _first = first.tc;
  const before = new Reader(first.url);
  await using _b = before.client;
  await before.client.connected();
  await dir.append("app.log", "seq=0 x\nseq=1 x\n");
  assert(await before.until(2, "two lines", 10_000));
  const id = before.lastId!;
  // The stream's limits removed them (a purge does the same, at once).
  const nc = await connect({ servers: servers.nodes[0].url });
  try {
    await (await jetstreamManager(nc)).streams.purge("tailcast");
  } finally {
    await nc.close();
  }
  // A gateway that never held them: it has only the stream to go by.
  const second = await gateway(servers);
  await using _second = second.tc;
  await using after = new CurlSse(`${second.url}/events`, {
    headers: { "Last-Event-ID": id },
    dumpHeaders: false,
  });
  await after.until((c) => c.named("gap").length === 1, "a gap");
  assertMatch(JSON.parse(after.named("gap")[0].data).cause, /resume-expired/);
  await dir.append("app.log", "seq=2 x\n");
  await after.until((c) => c.lineEvents().length === 1, "the new line");
  assertEquals(
    after.lineEvents<{ line: string }>().map((e) => e.line),
    ["seq=2 x"],
  );
  await tc.stop();
});

Deno.test("NATS over TLS with a user and password: a wrong password is said on stderr and /healthz, the right one publishes and serves", async () => {
  await using dir = await LogDir.create();
  const certs = await makeCertificates(dir.path);
  await using servers = await NatsServers.single({
    tls: certs,
    auth: { user: { name: "agent", password: "s3cret" } },
  });
  // Deno's TLS trusts the CA given with DENO_CERT (or --cert).
  const env = { DENO_CERT: certs.ca };
  const log = dir.file("app.log");
  await using refused = new TailcastProcess([
    "--publish",
    servers.urls,
    "--host-name",
    "web-1",
    "--nats-user",
    "agent",
    "--nats-password",
    "wrong",
    "--port",
    "0",
    log,
  ], { env });
  const url = await refused.url();
  await refused.waitForStderr(/NATS: cannot connect to tls:.*[Aa]uthorization/);
  const health = JSON.parse((await curl(`${url}/healthz`)).body);
  assertEquals(health.status, "degraded");
  assertEquals(health.nats.ok, false);
  assert(
    /[Aa]uthorization/.test(health.nats.link.problem),
    health.nats.link.problem,
  );
  await refused.stop();

  await using tc = await agent(
    servers,
    log,
    ["--nats-user", "agent"],
    { ...env, TAILCAST_NATS_PASSWORD: "s3cret" },
  );
  const g = await gateway(servers, {
    args: ["--nats-user", "agent", "--nats-password", "s3cret"],
    env,
  });
  await using _g = g.tc;
  const reader = new Reader(g.url);
  await using _c = reader.client;
  await reader.client.connected();
  await dir.append("app.log", "seq=0 x\n");
  assert(await reader.until(1, "a line over TLS", 10_000), "a line over TLS");
  assertEquals(reader.seqs, [0]);
  await tc.stop();
});

Deno.test("NATS with a .creds file (operator mode): the agent and the gateway log in with it", async () => {
  await using servers = await NatsServers.single({ operator: true });
  await using dir = await LogDir.create();
  const creds = ["--nats-creds", servers.creds!];
  await using tc = await agent(servers, dir.file("app.log"), creds);
  const g = await gateway(servers, { args: creds });
  await using _g = g.tc;
  const reader = new Reader(g.url);
  await using _c = reader.client;
  await reader.client.connected();
  await dir.append("app.log", "seq=0 x\n");
  assert(await reader.until(1, "a line", 10_000), "a line with creds");
  assertEquals(reader.seqs, [0]);
  await tc.stop();
});
