/**
 * The service in-process: the stages wired as a run wires them, from a
 * command line and a config file, with stdout captured.
 */
import { assertEquals } from "@std/assert";
import { waitFor, within } from "./_fixtures/wait.ts";
import { LogDir } from "./_fixtures/log_dir.ts";
import { startService } from "./_fixtures/service.ts";

const decoder = new TextDecoder();

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
    {
      file: JSON.stringify({
        sources: [
          { path: "a.log", multiline: { start: "^START", maxBytes: 10 } },
          { path: "b.log", multiline: { start: "^START", maxBytes: 1000 } },
        ],
      }),
    },
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

Deno.test("Service: a stop while stdout takes nothing gives up on it after flushMs, saving the cursor of what it took", async () => {
  await using dir = await LogDir.create();
  const state = dir.file("state.json");
  await dir.append("app.log", "one\ntwo\n");
  // Takes the first write, then stalls like a pipe nobody reads.
  const taken: Uint8Array[] = [];
  const stalled = Promise.withResolvers<void>();
  const stdout = new WritableStream<Uint8Array>({
    write(chunk) {
      if (taken.length === 0) {
        taken.push(chunk);
        return;
      }
      stalled.resolve();
      return new Promise(() => {});
    },
  });
  const { service, log } = await startService(
    dir,
    [
      "--no-server",
      "--output",
      "ndjson",
      "--from",
      "start",
      "--state",
      state,
      "app.log",
    ],
    { stdout, flushMs: 50 },
  );
  await waitFor(() => taken.length === 1, "the first write");
  await dir.append("app.log", "three\n");
  await stalled.promise;
  const flushed = await within(service.stop(), 5000, "the stop");
  assertEquals(flushed, false);
  assertEquals(events(taken).map((e) => e.line), ["one", "two"]);
  const saved = JSON.parse(await Deno.readTextFile(state)).files;
  assertEquals(
    saved.map((f: { source: string; offset: number }) => [f.source, f.offset]),
    [[dir.file("app.log"), 8]],
  );
  assertEquals(log.filter((l) => !/following from byte/.test(l)), []);
});
