/**
 * Top functions of a V8 CPU profile (`deno run --cpu-prof`), by self time
 * and by total (inclusive) time, with file:line.
 *
 *   deno run -A bench/profile_top.ts PROFILE.cpuprofile [--top 25] [--filter src/]
 *
 * `deno task bench --profile DIR` writes one profile per tailcast run into DIR.
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Entry {
  key: string;
  self: number;
  total: number;
}

const ROOT = fileURLToPath(new URL("../", import.meta.url));

function label(f: CallFrame): string {
  const name = f.functionName || "(anonymous)";
  if (!f.url) return name;
  let where = f.url.startsWith("file://") ? fileURLToPath(f.url) : f.url;
  if (where.startsWith(ROOT)) where = where.slice(ROOT.length);
  where = where.replace(/^.*\/node_modules\/\.deno\//, "npm:");
  // V8 line numbers are 0-based.
  return `${name} ${where}:${f.lineNumber + 1}`;
}

/** Self and inclusive time (ms) per function, busiest first. */
export function summarize(profile: Profile): {
  entries: Entry[];
  totalMs: number;
  idleMs: number;
} {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let totalMs = 0;
  let idleMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(profile.samples[i]);
    if (!node) continue;
    totalMs += ms;
    const key = label(node.callFrame);
    if (node.callFrame.functionName === "(idle)") idleMs += ms;
    self.set(key, (self.get(key) ?? 0) + ms);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined;) {
      const k = label(byId.get(id)!.callFrame);
      if (!seen.has(k)) {
        seen.add(k);
        total.set(k, (total.get(k) ?? 0) + ms);
      }
      id = parent.get(id);
    }
  }
  const entries = [...total.keys()].map((key) => ({
    key,
    self: self.get(key) ?? 0,
    total: total.get(key) ?? 0,
  }));
  return { entries, totalMs, idleMs };
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      top: { type: "string", default: "25" },
      filter: { type: "string" },
    },
  });
  const top = Number(values.top);
  const out: string[] = [];
  for (const file of positionals) {
    const profile = JSON.parse(await Deno.readTextFile(file)) as Profile;
    const { entries, totalMs, idleMs } = summarize(profile);
    const busy = totalMs - idleMs;
    const keep = (e: Entry) => !values.filter || e.key.includes(values.filter);
    const pct = (ms: number) => ((100 * ms) / busy).toFixed(1).padStart(5);
    out.push(
      `${file}: ${(totalMs / 1000).toFixed(2)} s sampled, ${
        (busy / 1000).toFixed(2)
      } s busy`,
      "",
      "self% total%  function file:line",
    );
    const bySelf = entries.filter((e) => !e.key.startsWith("(idle)"))
      .filter(keep).sort((a, b) => b.self - a.self).slice(0, top);
    for (const e of bySelf) {
      out.push(`${pct(e.self)} ${pct(e.total)}  ${e.key}`);
    }
    out.push("", "by total time (project code):");
    const byTotal = entries.filter((e) => /(src|main)\S*\.ts:/.test(e.key))
      .filter(keep).sort((a, b) => b.total - a.total).slice(0, top);
    for (const e of byTotal) {
      out.push(`${pct(e.self)} ${pct(e.total)}  ${e.key}`);
    }
    out.push("");
  }
  await Deno.stdout.write(new TextEncoder().encode(out.join("\n") + "\n"));
}
