/**
 * The layout shows the flow: every import in `src/` points down it,
 *
 *   main → pool → service, app, server, demo → config → nats → http → sink,
 *        alerts → stage → source → shared
 *
 * where the shared files (`types.ts`, `errors.ts`, `pattern.ts`) hold shapes,
 * errors and the one pattern compiler every layer uses. A file may import
 * from its own folder or from a layer below, never from one above.
 */
import { assert, assertEquals } from "@std/assert";
import { fromFileUrl, join, relative } from "@std/path";

const SRC = fromFileUrl(new URL("../src/", import.meta.url));

/** Layer of each file or folder of `src/`: higher may import lower. */
const LAYERS: Record<string, number> = {
  "types.ts": 0,
  "errors.ts": 0,
  "pattern.ts": 0,
  "runtime.ts": 0.5,
  "source": 1,
  "stage": 2,
  "sink": 3,
  "alerts": 3,
  "http": 4,
  "nats": 4.5,
  "config_file.ts": 5,
  "config.ts": 5.5,
  "service.ts": 6,
  "app.ts": 6,
  "demo.ts": 6,
  "pid.ts": 6,
  "server.ts": 6,
  "pool": 6.5,
  "page.html": 5,
};

function layerOf(path: string): { name: string; rank: number } {
  const name = path.split("/")[0];
  const rank = LAYERS[name];
  if (rank === undefined) {
    throw new Error(
      `src/${path} is in no layer: add "${name}" to LAYERS in tests/layout_test.ts`,
    );
  }
  return { name, rank };
}

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sources(path);
    else if (entry.name.endsWith(".ts")) yield path;
  }
}

const IMPORT = /^\s*(?:import|export)\b[^;]*?\bfrom\s+"(\.{1,2}\/[^"]+)"/gms;

Deno.test("every import in src/ points down the flow (main → service/app → config → nats → http → sink, alerts → stage → source → shared)", async () => {
  const wrong: string[] = [];
  let files = 0;
  for await (const file of sources(SRC)) {
    files++;
    const from = relative(SRC, file);
    const mine = layerOf(from);
    const text = await Deno.readTextFile(file);
    for (const m of text.matchAll(IMPORT)) {
      const target = relative(SRC, join(file, "..", m[1]));
      if (target.startsWith("..")) {
        wrong.push(`src/${from} imports ${m[1]}, outside src/`);
        continue;
      }
      const theirs = layerOf(target);
      if (theirs.name === mine.name) continue;
      if (theirs.rank >= mine.rank) {
        wrong.push(
          `src/${from} (${mine.name}) imports src/${target} (${theirs.name})`,
        );
      }
    }
  }
  assertEquals(files > 30, true, "the walk found the sources");
  assertEquals(wrong, []);
});

/** What a module imports when it runs: `import type` and `export type` are erased, dynamic imports are not static. */
async function runtimeImports(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(file);
  const out: string[] = [];
  const statement =
    /^\s*(import|export)\s+(type\s+)?(?:[^;]*?\bfrom\s+)?"([^"]+)"/gms;
  for (const m of text.matchAll(statement)) {
    if (m[2] === undefined) out.push(m[3]);
  }
  return out;
}

Deno.test("the NATS client is loaded only by an agent or a gateway: nothing main.ts or a pool worker imports statically reaches @nats-io", async () => {
  const root = fromFileUrl(new URL("../", import.meta.url));
  const seen = new Set<string>();
  const reaching: string[] = [];
  const walk = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of await runtimeImports(file)) {
      if (spec.startsWith("@nats-io/") || spec.startsWith("npm:@nats-io/")) {
        reaching.push(`${relative(root, file)} → ${spec}`);
      } else if (spec.startsWith(".")) {
        await walk(join(file, "..", spec));
      }
    }
  };
  await walk(join(root, "main.ts"));
  await walk(join(SRC, "pool", "worker.ts"));
  assert(seen.has(join(SRC, "config.ts")), "the walk reached config.ts");
  assertEquals(reaching, []);
});
