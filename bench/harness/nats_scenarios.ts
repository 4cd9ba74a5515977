/**
 * Scenario 7: agents → NATS JetStream → gateways. Real `nats-server`
 * processes (tests/_fixtures/nats.ts: one node, or three clustered with the
 * stream on 3 replicas), the agent (`--publish`) following the bench's file,
 * gateways (`--subscribe`) and SSE subscribers in this process, so latency
 * is receive time minus write time on one clock.
 *
 * - throughput and latency: agent → one node → gateway → one subscriber;
 * - fan-out: 1,000 subscribers split over two gateways at 100 lines/s,
 *   against one tailcast serving 1,000 itself, in the same run;
 * - failover: the pause subscribers see when the stream leader is killed
 *   (3 nodes), and when their gateway is killed and they come back to the
 *   other one with their last id (`?since=`).
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { NatsServers } from "../../tests/_fixtures/nats.ts";
import {
  cpuSeconds,
  errorText,
  failedTarget,
  fixed,
  int,
  ms,
  type Options,
  probeUntil,
  type Row,
  type Section,
  settle,
  type TargetResult,
  type Verdict,
} from "./common.ts";
import { connectAll, Fan, fanRun } from "./fanout_scenarios.ts";
import { writeAllLines } from "./follow_scenarios.ts";
import {
  Latencies,
  LINE_BYTES,
  LineMaker,
  OrderedTally,
  type RecordSink,
  Scanner,
  SetTally,
  writeAll,
} from "./lines.ts";
import { paced } from "./pacer.ts";
import { bounded, type Child, type Scope, sleep, waitFor } from "./proc.ts";
import {
  rawSseConnect,
  type SseClient,
  startServer,
  tailcastArgs,
} from "./subjects.ts";

const verdict = (ok: boolean): Verdict => ok ? "met" : "MISSED";

/** nats-server processes that stop with the scope. */
async function natsServers(scope: Scope, cluster: boolean) {
  const servers = cluster
    ? await NatsServers.cluster()
    : await NatsServers.single();
  scope.defer(() => servers[Symbol.asyncDispose]());
  return servers;
}

/** Starts an agent following `path` (no HTTP); resolves once it is connected to NATS. */
async function startAgent(
  scope: Scope,
  o: Options,
  servers: NatsServers,
  path: string,
  extra: string[] = [],
): Promise<Child> {
  const child = scope.spawn(
    Deno.execPath(),
    tailcastArgs([
      "--publish",
      servers.urls,
      "--host-name",
      "bench",
      "--no-server",
      "--from",
      "end",
      ...extra,
      path,
    ], o.cpuProfDir),
  );
  await waitFor(
    () => child.stderr.some((l) => /NATS: connected/.test(l)),
    20_000,
    `the agent to connect (stderr: ${child.stderr.slice(-3).join(" | ")})`,
  );
  return child;
}

interface Gateway {
  readonly child: Child;
  readonly base: string;
}

/** Starts a gateway on a free port; resolves once it serves. */
async function startGateway(
  scope: Scope,
  o: Options,
  servers: NatsServers,
): Promise<Gateway> {
  const child = scope.spawn(
    Deno.execPath(),
    tailcastArgs([
      "--subscribe",
      servers.urls,
      "--port",
      "0",
      "--max-clients",
      "20000",
      "--max-clients-per-ip",
      "20000",
    ], o.cpuProfDir),
  );
  let base = "";
  await waitFor(
    () => {
      for (const line of child.stderr) {
        const m = /serving (http:\/\/\S+)\/events/.exec(line);
        if (m) base = m[1];
      }
      return base !== "";
    },
    30_000,
    `the gateway to serve (stderr: ${child.stderr.slice(-3).join(" | ")})`,
  );
  return { child, base };
}

/** An empty `app.log` in a temporary directory. */
async function logFile(scope: Scope): Promise<string> {
  const path = `${await scope.tempDir()}/app.log`;
  await Deno.writeFile(path, new Uint8Array());
  return path;
}

// ---------------------------------------------------------------------------
// 7a. throughput and latency through one node

interface Pipeline {
  agent: Child;
  gateway: Gateway;
  nats: number;
}

function cpu(p: Pipeline): number[] {
  return [
    cpuSeconds(p.agent.pid),
    cpuSeconds(p.gateway.child.pid),
    cpuSeconds(p.nats),
  ];
}

function cpuCells(before: number[], after: number[], seconds: number) {
  const share = (i: number) =>
    `${int(100 * (after[i] - before[i]) / seconds)} %`;
  return {
    "agent CPU": share(0),
    "gateway CPU": share(1),
    "nats-server CPU": share(2),
  };
}

export async function natsPipeline(o: Options): Promise<Section> {
  const started = performance.now();
  const total = o.quick ? 400_000 : 2_000_000;
  const seconds = o.quick ? 3 : 10;
  const rows: Row[] = [];
  const targets: TargetResult[] = [];
  const notes: string[] = [];
  // The same latency run on one tailcast serving the file itself, for scale:
  // on a busy machine both move.
  o.log("nats: latency at 1,000 lines/s, one tailcast for comparison");
  try {
    await bounded("one tailcast latency", 120_000, async (scope) => {
      const path = await logFile(scope);
      const server = await startServer(scope, { paths: [path], from: "end" });
      const r = await latencyRun(scope, server.base, path, seconds);
      rows.push({
        subject: "one tailcast (no NATS), 1,000 lines/s: latency",
        cells: {
          "p50 ms": ms(r.s.p50),
          "p99 ms": ms(r.s.p99),
          "p99.9 ms": ms(r.s.p999),
          "max ms": ms(r.s.max),
          missing: int(r.missing),
          doubled: int(r.doubled),
        },
        target: "baseline",
      });
    });
  } catch (error) {
    rows.push({ subject: "one tailcast", cells: {}, error: errorText(error) });
  }
  try {
    await bounded("nats pipeline", 300_000, async (scope) => {
      const servers = await natsServers(scope, false);
      const path = await logFile(scope);
      const p: Pipeline = {
        agent: await startAgent(scope, o, servers, path),
        gateway: await startGateway(scope, o, servers),
        nats: servers.nodes[0].pid!,
      };
      // Latency first, on a quiet pipeline: 1 line per ms.
      o.log("nats: latency at 1,000 lines/s");
      let c0 = cpu(p);
      let t0 = performance.now();
      const r = await latencyRun(scope, p.gateway.base, path, seconds);
      const latSeconds = (performance.now() - t0) / 1000;
      const s = r.s;
      const latOk = s.p99 <= 20 && r.missing === 0 && r.doubled === 0;
      rows.push({
        subject: "1,000 lines/s (1 per ms): latency",
        cells: {
          "p50 ms": ms(s.p50),
          "p99 ms": ms(s.p99),
          "p99.9 ms": ms(s.p999),
          "max ms": ms(s.max),
          missing: int(r.missing),
          doubled: int(r.doubled),
          ...cpuCells(c0, cpu(p), latSeconds),
        },
        target: "p99 ≤ 20 ms",
        verdict: verdict(latOk),
      });
      targets.push({
        id: "nats",
        target:
          "NATS, agent → one node → gateway → one subscriber at 1,000 lines/s: p99 ≤ 20 ms",
        measured: `p99 ${ms(s.p99)} ms (p50 ${ms(s.p50)}, p99.9 ${
          ms(s.p999)
        }), ${int(r.missing)} missing`,
        verdict: verdict(latOk),
      });

      o.log(`nats: ${int(total)} lines as fast as possible`);
      const tally = new SetTally(total);
      const fast = await connect1(scope, p.gateway.base, tally);
      await probeUntil(path, () => fast.probes > 0, "the gateway");
      c0 = cpu(p);
      t0 = performance.now();
      await writeAllLines(path, total);
      const written = (performance.now() - t0) / 1000;
      await settle(
        () => tally.unique >= total,
        () => tally.last,
        5000,
        200_000,
      );
      const took = (tally.last - t0) / 1000;
      const rate = tally.unique / took;
      const missing = total - tally.unique;
      const rateOk = rate >= 200_000 && missing === 0 && tally.dup === 0;
      rows.push({
        subject: `${int(total)} lines, as fast as possible: throughput`,
        cells: {
          "lines/s": int(rate),
          "MB/s": fixed((rate * LINE_BYTES) / 1e6, 1),
          "all delivered s": fixed(took, 2),
          "writer done s": fixed(written, 2),
          missing: int(missing),
          doubled: int(tally.dup),
          ...cpuCells(c0, cpu(p), took),
        },
        target: "≥ 200,000 lines/s",
        verdict: verdict(rateOk),
      });
      targets.push({
        id: "nats",
        target:
          "NATS, agent → one node → gateway → one subscriber: ≥ 200,000 lines/s sustained",
        measured: `${int(rate)} lines/s (${int(total)} lines in ${
          fixed(took, 2)
        } s), ${int(missing)} missing, ${int(tally.dup)} doubled`,
        verdict: verdict(rateOk),
      });
      await fast.cancel();
    });
  } catch (error) {
    rows.push({ subject: "pipeline", cells: {}, error: errorText(error) });
    targets.push(
      failedTarget("nats", "NATS pipeline: throughput and latency", error),
    );
  }
  return {
    id: "nats",
    title:
      "7. NATS: agent → JetStream (one node) → gateway → one SSE subscriber",
    method:
      "One `nats-server` (JetStream, file store) on loopback; the agent (`tailcast --publish " +
      "--no-server`) follows the bench's file, a gateway (`tailcast --subscribe`) serves the " +
      "stream, one raw HTTP subscriber in this process reads it. Latency: one line per ms " +
      `for ${seconds} s, stamped before its write(2) and when its SSE frame arrives. ` +
      `Throughput: ${
        int(total)
      } lines of ${LINE_BYTES} B in 1,000-line writes, ` +
      "lines/s from the first write to the last line received. CPU is each process's time " +
      "over the run's wall time (100 % = one of the 2 cores); all of them share the machine " +
      "with this process.",
    columns: [
      "lines/s",
      "MB/s",
      "all delivered s",
      "writer done s",
      "p50 ms",
      "p99 ms",
      "p99.9 ms",
      "max ms",
      "missing",
      "doubled",
      "agent CPU",
      "gateway CPU",
      "nats-server CPU",
    ],
    rows,
    targets,
    notes,
    seconds: (performance.now() - started) / 1000,
  };
}

/** One line per ms for `seconds` s to `path`, read by one subscriber of `base`. */
async function latencyRun(
  scope: Scope,
  base: string,
  path: string,
  seconds: number,
) {
  const ticks = seconds * 1000;
  const lat = new Latencies(ticks);
  const tally = new OrderedTally(lat);
  const client = await connect1(scope, base, tally);
  await probeUntil(path, () => client.probes > 0, base);
  const file = await Deno.open(path, { append: true });
  const maker = new LineMaker(1);
  try {
    await paced(1, ticks, (i) => writeAll(file, maker.make(i, 1)));
  } finally {
    file.close();
  }
  await settle(() => tally.unique >= ticks, () => tally.last, 3000, 30_000);
  await client.cancel();
  return {
    s: lat.summary(),
    missing: ticks - tally.unique,
    doubled: tally.dup,
  };
}

/** One raw SSE subscriber of `base`, its records into `sink`; cancelled with the scope. */
async function connect1(
  scope: Scope,
  base: string,
  sink: RecordSink,
  path = "/events",
): Promise<SseClient & { probes: number; scanner: Scanner }> {
  const scanner = new Scanner(sink);
  const client = await rawSseConnect(
    base,
    path,
    (c, now) => scanner.push(c, now),
    64 * 1024,
  );
  scope.defer(() => client.cancel());
  return {
    ...client,
    scanner,
    get probes() {
      return scanner.probes;
    },
  };
}

// ---------------------------------------------------------------------------
// 7b. fan-out over two gateways

export async function natsFanout(o: Options): Promise<Section> {
  const started = performance.now();
  const seconds = o.quick ? 4 : 10;
  const subscribers = 1000;
  const rate = 100;
  const rows: Row[] = [];
  const targets: TargetResult[] = [];
  let single: number = NaN;
  o.log(`nats fan-out: one tailcast, ${subscribers} × ${rate} lines/s`);
  try {
    const r = await fanRun(
      o,
      { subscribers, rate, client: "raw" },
      subscribers,
      seconds,
    );
    single = r.lat.p99;
    rows.push({
      subject: `one tailcast, ${int(subscribers)} subscribers`,
      cells: {
        "p50 ms": ms(r.lat.p50),
        "p99 ms": ms(r.lat.p99),
        "p99.9 ms": ms(r.lat.p999),
        "max ms": ms(r.lat.max),
        missing: int(r.expected - r.delivered),
        doubled: int(r.dup),
      },
      target: "baseline",
    });
  } catch (error) {
    rows.push({
      subject: `one tailcast, ${int(subscribers)} subscribers`,
      cells: {},
      error: errorText(error),
    });
  }
  o.log(`nats fan-out: two gateways, ${subscribers} × ${rate} lines/s`);
  try {
    await bounded("nats fan-out", (seconds + 180) * 1000, async (scope) => {
      const servers = await natsServers(scope, false);
      const path = await logFile(scope);
      await startAgent(scope, o, servers, path);
      const gateways = [
        await startGateway(scope, o, servers),
        await startGateway(scope, o, servers),
      ];
      const total = rate * seconds;
      const lat = new Latencies(subscribers * (total + 8));
      const fan = new Fan([lat], Infinity);
      const halves = await Promise.all(
        gateways.map((g) =>
          connectAll(g.base, subscribers / 2, fan, "raw", scope)
        ),
      );
      const scanners = halves.flatMap((h) => h.scanners);
      await probeUntil(
        path,
        () => scanners.every((s) => s.probes > 0),
        `all ${subscribers} subscribers`,
        60_000,
      );
      await sleep(200);
      const file = await Deno.open(path, { append: true });
      const maker = new LineMaker(1);
      let seq = 0;
      try {
        await paced(1000 / rate, total, () => {
          writeAll(file, maker.make(seq++, 1));
        });
      } finally {
        file.close();
      }
      const expected = total * subscribers;
      await settle(() => fan.unique >= expected, () => fan.last, 3000, 60_000);
      const s = lat.summary();
      const ratio = s.p99 / single;
      const ok = ratio <= 2 && fan.unique === expected && fan.dup === 0;
      rows.push({
        subject: `two gateways, ${int(subscribers / 2)} subscribers each`,
        cells: {
          "p50 ms": ms(s.p50),
          "p99 ms": ms(s.p99),
          "p99.9 ms": ms(s.p999),
          "max ms": ms(s.max),
          missing: int(expected - fan.unique),
          doubled: int(fan.dup),
          "p99 × one tailcast": `${fixed(ratio)}×`,
        },
        target: "p99 ≤ 2× one tailcast's",
        verdict: verdict(ok),
      });
      targets.push({
        id: "nats-fanout",
        target:
          "NATS, 1,000 subscribers over two gateways at 100 lines/s: p99 ≤ 2× one tailcast serving them",
        measured: `p99 ${ms(s.p99)} ms against ${ms(single)} ms (${
          fixed(ratio)
        }×)${
          fan.unique === expected
            ? ""
            : `, ${int(expected - fan.unique)} missing`
        }`,
        verdict: verdict(ok),
      });
    });
  } catch (error) {
    rows.push({
      subject: "two gateways",
      cells: {},
      error: errorText(error),
      verdict: "MISSED",
    });
    targets.push(
      failedTarget(
        "nats-fanout",
        "NATS, 1,000 subscribers over two gateways at 100 lines/s: p99 ≤ 2× one tailcast serving them",
        error,
      ),
    );
  }
  return {
    id: "nats-fanout",
    title: `7b. NATS fan-out: ${
      int(subscribers)
    } subscribers at ${rate} lines/s, over two gateways and from one tailcast, ${seconds} s each`,
    method:
      "The same subscribers (raw HTTP clients in this process) and the same paced writer as " +
      "scenario 5: first one tailcast serving all of them from the file, then an agent " +
      "publishing to one `nats-server` and two gateways serving half of them each. " +
      "Percentiles are over every (subscriber, line) delivery.",
    columns: [
      "p50 ms",
      "p99 ms",
      "p99.9 ms",
      "max ms",
      "missing",
      "doubled",
      "p99 × one tailcast",
    ],
    rows,
    targets,
    notes: [],
    seconds: (performance.now() - started) / 1000,
  };
}

// ---------------------------------------------------------------------------
// 7c. failover in a cluster

/** The `id:` of the last SSE frame seen in a stream of chunks. */
class LastId {
  id: string | null = null;
  #carry = "";
  readonly #decoder = new TextDecoder();

  push(chunk: Uint8Array): void {
    const text = this.#carry + this.#decoder.decode(chunk, { stream: true });
    const end = text.lastIndexOf("\n\n");
    if (end === -1) {
      this.#carry = text;
      return;
    }
    // The frames that are whole: the last `id:` among them.
    const ids = [...text.slice(0, end).matchAll(/(?:^|\n)id: ([^\n]*)/g)];
    if (ids.length > 0) this.id = ids[ids.length - 1][1];
    this.#carry = text.slice(end + 2);
  }
}

/** A subscriber that keeps its order, its longest pause and its last id. */
class Watcher implements RecordSink {
  readonly seqs: number[] = [];
  longest = 0;
  longestAt = NaN;
  last = NaN;
  first = NaN;
  readonly ids = new LastId();

  record(seq: number, _written: number, now: number): void {
    if (!Number.isNaN(this.last) && now - this.last > this.longest) {
      this.longest = now - this.last;
      this.longestAt = now;
    }
    if (Number.isNaN(this.first)) this.first = now;
    this.last = now;
    this.seqs.push(seq);
  }
}

/** Every line 0..total-1 exactly once, in order: the count of what is wrong. */
function wrongOf(seqs: readonly number[], total: number) {
  let missing = 0;
  let doubled = 0;
  let next = 0;
  for (const s of seqs) {
    if (s === next) next++;
    else if (s < next) doubled++;
    else {
      missing += s - next;
      next = s + 1;
    }
  }
  missing += Math.max(0, total - next);
  return { missing, doubled };
}

async function watch(
  scope: Scope,
  base: string,
  w: Watcher,
  since: string | null = null,
): Promise<SseClient & { scanner: Scanner }> {
  const scanner = new Scanner(w);
  const client = await rawSseConnect(
    base,
    since === null ? "/events" : `/events?since=${encodeURIComponent(since)}`,
    (c, now) => {
      w.ids.push(c);
      scanner.push(c, now);
    },
    64 * 1024,
  );
  scope.defer(() => client.cancel());
  return { ...client, scanner };
}

export async function natsFailover(o: Options): Promise<Section> {
  const started = performance.now();
  const rate = 2000;
  const seconds = o.quick ? 14 : 20;
  const rows: Row[] = [];
  const targets: TargetResult[] = [];
  const notes: string[] = [];
  try {
    await bounded("nats failover", (seconds + 180) * 1000, async (scope) => {
      const servers = await natsServers(scope, true);
      const path = await logFile(scope);
      await startAgent(scope, o, servers, path, ["--replicas", "3"]);
      const a = await startGateway(scope, o, servers);
      const b = await startGateway(scope, o, servers);
      const onA = new Watcher();
      const onB = new Watcher();
      const ca = await watch(scope, a.base, onA);
      const cb = await watch(scope, b.base, onB);
      const leader = await streamLeader(servers);
      await probeUntil(
        path,
        () => ca.scanner.probes > 0 && cb.scanner.probes > 0,
        "the gateways",
        60_000,
      );
      const total = rate * seconds;
      const file = await Deno.open(path, { append: true });
      const maker = new LineMaker(2);
      let seq = 0;
      let leaderKilledAt = NaN;
      let afterKill = -1;
      let recoveredAt = NaN;
      let gatewayKilledAt = NaN;
      const resumed = new Watcher();
      let resumedAt = NaN;
      const events: Promise<void>[] = [];
      try {
        await paced(1, seconds * 1000, (i) => {
          const n = Math.min(rate / 1000, total - seq);
          writeAll(file, maker.make(seq, n));
          seq += n;
          if (i === 3000) {
            leaderKilledAt = performance.now();
            afterKill = seq;
            events.push(leader.kill());
          }
          // Lines written after the leader died come again: 2 s later the
          // gateway is killed, so the two pauses are measured apart.
          if (
            Number.isNaN(recoveredAt) && afterKill >= 0 &&
            (onB.seqs.at(-1) ?? -1) >= afterKill
          ) {
            recoveredAt = performance.now();
          }
          if (
            Number.isNaN(gatewayKilledAt) &&
            performance.now() - recoveredAt > 2000
          ) {
            gatewayKilledAt = performance.now();
            events.push((async () => {
              a.child.process.kill("SIGKILL");
              await ca.done;
              // As an EventSource would, without its retry: delay.
              resumedAt = performance.now();
              await watch(scope, b.base, resumed, onA.ids.id);
            })());
          }
        });
      } finally {
        file.close();
      }
      await Promise.all(events);
      if (Number.isNaN(gatewayKilledAt)) {
        throw new Error(
          "the lines did not come back within the run after the leader was killed",
        );
      }
      await settle(
        () =>
          onB.seqs.length >= total &&
          onA.seqs.length + resumed.seqs.length >= total,
        () => Math.max(onB.last, resumed.last),
        5000,
        60_000,
      );
      const b1 = wrongOf(onB.seqs, total);
      const a1 = wrongOf([...onA.seqs, ...resumed.seqs], total);
      const leaderPause = onB.longestAt > leaderKilledAt ? onB.longest : NaN;
      const gatewayPause = resumed.first - onA.last;
      const clean = b1.missing + b1.doubled + a1.missing + a1.doubled === 0;
      rows.push({
        subject:
          `stream leader (${leader.name}) killed: clients of both gateways`,
        cells: {
          "pause ms": ms(leaderPause),
          "from the kill, ms": ms(onB.longestAt - leaderKilledAt),
          lines: int(total),
          missing: int(b1.missing),
          doubled: int(b1.doubled),
        },
        target: "reported; 0 lost, 0 doubled",
        verdict: verdict(b1.missing + b1.doubled === 0),
      });
      rows.push({
        subject:
          "its gateway killed: a client comes back to the other with its last id",
        cells: {
          "pause ms": ms(gatewayPause),
          "from the kill, ms": ms(resumed.first - gatewayKilledAt),
          lines: int(total),
          missing: int(a1.missing),
          doubled: int(a1.doubled),
        },
        target: "reported; 0 lost, 0 doubled",
        verdict: verdict(a1.missing + a1.doubled === 0),
      });
      notes.push(
        `The client of the killed gateway reconnects as soon as its stream ends (${
          ms(resumedAt - gatewayKilledAt)
        } ms after the kill here); a browser's EventSource waits the \`retry:\` tailcast sends (2,000 ms) first.`,
      );
      targets.push({
        id: "nats-failover",
        target:
          "NATS, 3 nodes: pause seen by clients when the stream leader is killed, and when their gateway is; 0 lost, 0 doubled",
        measured: `leader: ${ms(leaderPause)} ms; gateway: ${
          ms(gatewayPause)
        } ms; ${
          clean
            ? "0 lost, 0 doubled"
            : `${a1.missing + b1.missing} lost, ${
              a1.doubled + b1.doubled
            } doubled`
        }`,
        verdict: verdict(clean),
      });
    });
  } catch (error) {
    rows.push({ subject: "failover", cells: {}, error: errorText(error) });
    targets.push(
      failedTarget("nats-failover", "NATS, 3 nodes: pauses on failover", error),
    );
  }
  return {
    id: "nats-failover",
    title: `7c. NATS failover: 3 nodes, stream on 3 replicas, ${
      int(rate)
    } lines/s for ${seconds} s`,
    method:
      "Three `nats-server` processes clustered on loopback; one agent (`--replicas 3`), two " +
      "gateways, one subscriber on each. After 3 s the stream's leader is killed (SIGKILL); " +
      "then the first gateway is killed and its subscriber connects to the " +
      "second with `?since=` its last id, 2 s after the lines came back from the first kill. " +
      "A pause is the longest time between two lines a " +
      "subscriber received (for the moved one: from its last line on the killed gateway to " +
      "its first on the other). Every subscriber's lines are checked: each once, in order.",
    columns: ["pause ms", "from the kill, ms", "lines", "missing", "doubled"],
    rows,
    targets,
    notes,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The node that leads the stream now (asked until there is one). */
async function streamLeader(servers: NatsServers) {
  const nc = await connect({ servers: servers.nodes.map((n) => n.url) });
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    let leader: string | undefined;
    for (let i = 0; i < 300 && leader === undefined; i++) {
      leader = (await jsm.streams.info("tailcast").catch(() => null))?.cluster
        ?.leader;
      if (leader === undefined) await sleep(100);
    }
    const node = servers.nodes.find((n) => n.name === leader);
    if (!node) throw new Error("the stream has no leader after 30 s");
    return node;
  } finally {
    await nc.close();
  }
}
