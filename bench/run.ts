/**
 * End-to-end benchmark: tailcast against GNU `tail -F` in the same run, on
 * the same writer, so results are ratios that survive a noisy machine.
 *
 *   deno task bench [--quick] [--only NAME[,NAME]] [--write docs/benchmarks.md]
 *                   [--profile DIR] [--note TEXT]
 *
 * Scenarios: append, backfill, latency, rotation (tail -F, tailcast --stdout,
 * tailcast SSE), fanout and stalled (SSE), scaling (`--workers 1` and 2),
 * nats (agents → NATS JetStream → gateways: throughput, latency, fan-out
 * over two gateways, failover),
 * micro (`deno bench` of the hot stages). The writer and every consumer run in this process: latency is
 * receive time minus write time on one clock. Each scenario is bounded in
 * time, and its processes and temporary files are cleaned up whatever
 * happens. Prints a Markdown report; `--write FILE` also writes it there.
 */
import { parseArgs } from "node:util";
import type { Options, Section } from "./harness/common.ts";
import { errorText, failedTarget } from "./harness/common.ts";
import { fanout, stalled } from "./harness/fanout_scenarios.ts";
import {
  append,
  backfill,
  latency,
  rotation,
} from "./harness/follow_scenarios.ts";
import {
  natsFailover,
  natsFanout,
  natsPipeline,
} from "./harness/nats_scenarios.ts";
import { closeAll, commandText, say } from "./harness/proc.ts";
import { scaling } from "./harness/scaling.ts";
import { loadAverage, machine, render } from "./harness/report.ts";
import { ROOT } from "./harness/subjects.ts";

const SCENARIOS: Record<
  string,
  (o: Options) => Promise<Section | Section[]>
> = {
  append,
  backfill,
  latency,
  rotation,
  fanout,
  stalled,
  scaling,
  nats: async (o) => [
    await natsPipeline(o),
    await natsFanout(o),
    await natsFailover(o),
  ],
};
const NAMES = [...Object.keys(SCENARIOS), "micro"];

const USAGE =
  `usage: deno task bench [--quick] [--only NAME[,NAME…]] [--write FILE] [--profile DIR] [--note TEXT]
  --quick         smaller, shorter runs (~1–2 min): a smoke test
  --only NAMES    run only these: ${NAMES.join(", ")}
  --write FILE    also write the report to FILE (e.g. docs/benchmarks.md)
  --profile DIR   write a V8 CPU profile of every tailcast run into DIR
                  (read them with: deno run -A bench/profile_top.ts DIR/*.cpuprofile)
  --note TEXT     a line for the report (e.g. what else was running)`;

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        quick: { type: "boolean", default: false },
        only: { type: "string" },
        write: { type: "string" },
        profile: { type: "string" },
        note: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    say(`bench: ${errorText(error)}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    say(USAGE);
    return 0;
  }
  const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean) ??
    NAMES;
  const unknown = only.filter((n) => !NAMES.includes(n));
  if (unknown.length > 0) {
    say(
      `bench: unknown scenario ${unknown.join(", ")}; use ${NAMES.join(", ")}`,
    );
    return 2;
  }
  if (values.profile) await Deno.mkdir(values.profile, { recursive: true });

  const startedAt = new Date();
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(0)} s`;
  const options: Options = {
    quick: values.quick,
    cpuProfDir: values.profile ?? null,
    log: (line) => say(`bench [${elapsed()}] ${line}`),
  };
  const loadBefore = loadAverage();
  const sections: Section[] = [];
  for (const name of NAMES) {
    if (name === "micro" || !only.includes(name)) continue;
    try {
      sections.push(...[await SCENARIOS[name](options)].flat());
    } catch (error) {
      // A scenario that failed as a whole still gets its place in the report.
      options.log(`${name} failed: ${errorText(error)}`);
      sections.push({
        id: name,
        title: name,
        method: "",
        columns: ["error"],
        rows: [{
          subject: name,
          cells: {},
          error: errorText(error),
          verdict: "MISSED",
        }],
        targets: [failedTarget(name, name, error)],
        notes: [],
        seconds: 0,
      });
    }
  }
  let micro: string | null = null;
  if (only.includes("micro") && (!values.quick || values.only)) {
    options.log("micro: deno bench bench/");
    micro = await commandText(
      Deno.execPath(),
      ["bench", "-A", "--no-check", `${ROOT}bench/`],
      { NO_COLOR: "1" },
    );
  }
  const command = ["deno task bench", ...Deno.args.map(quote)].join(" ");
  const report = await render(
    sections,
    {
      command,
      startedAt,
      seconds: (performance.now() - t0) / 1000,
      loadBefore,
      loadAfter: loadAverage(),
      note: values.note ?? null,
      quick: values.quick,
    },
    await machine(),
    micro,
  );
  await Deno.stdout.write(new TextEncoder().encode(report));
  if (values.write) {
    await Deno.writeTextFile(values.write, report);
    options.log(`wrote ${values.write}`);
  }
  return 0;
}

function quote(arg: string): string {
  return /^[\w./,=:-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

const stop = async () => {
  say("bench: interrupted; stopping children and removing temporary files");
  await closeAll();
  Deno.exit(130);
};
// A straggler of a scenario that already timed out must not end the run.
globalThis.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  say(`bench: ignored a late failure: ${errorText(e.reason)}`);
});
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
let code = 1;
try {
  code = await main();
} catch (error) {
  say(`bench: ${error instanceof Error ? error.stack : error}`);
} finally {
  await closeAll();
}
Deno.exit(code);
