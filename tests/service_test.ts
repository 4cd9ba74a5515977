/**
 * The service in-process: the stages wired as a run wires them, from a
 * command line and a config file, with stdout captured.
 */
import { assertEquals } from "@std/assert";
import { parseCommandLine } from "../src/config.ts";
import { parseConfigFile } from "../src/config_file.ts";
import { Service } from "../src/service.ts";
import { LogDir } from "./_fixtures/log_dir.ts";

const decoder = new TextDecoder();

/** A service started in `dir` from `args` and the config file `file`, writing to `out`. */
async function startService(
  dir: LogDir,
  args: string[],
  file: string | null = null,
): Promise<{ service: Service; out: Uint8Array[]; log: string[] }> {
  const command = parseCommandLine(
    args,
    {},
    file === null ? null : parseConfigFile("tailcast.json", file),
  );
  if (command.kind !== "run") throw new Error(`${args} is not a run`);
  const out: Uint8Array[] = [];
  const log: string[] = [];
  const service = await Service.start({
    config: command.config,
    stdout: new WritableStream({ write: (chunk) => void out.push(chunk) }),
    log: (line) => log.push(line),
    cwd: dir.path,
  });
  return { service, out, log };
}

/** The NDJSON events written to `out`. */
function events(out: Uint8Array[]): Array<Record<string, unknown>> {
  return out.flatMap((chunk) =>
    decoder.decode(chunk).split("\n").filter(Boolean).map((l) => JSON.parse(l))
  );
}

Deno.test("Service: each source of the config file joins lines with its own multiline settings", async () => {
  await using dir = await LogDir.create();
  await dir.append("a.log", "START aaaaaaaa\n  more a\n");
  await dir.append("b.log", "START bbbbbbbb\n  more b\n");
  const { service, out } = await startService(
    dir,
    ["--no-server", "--output", "ndjson", "--from", "start"],
    JSON.stringify({
      sources: [
        { path: "a.log", multiline: { start: "^START", maxBytes: 10 } },
        { path: "b.log", multiline: { start: "^START", maxBytes: 1000 } },
      ],
    }),
  );
  await service.tail.ready;
  await service.stop();
  const got = events(out)
    .map((e) => [e.source, e.line, e.truncated ?? false])
    .sort();
  assertEquals(got, [
    [dir.file("a.log"), "START aaaa", true],
    [dir.file("b.log"), "START bbbbbbbb\n  more b", false],
  ]);
});
