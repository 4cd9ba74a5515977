/**
 * Persisted cursors (`--state`): the store that loads, validates and
 * atomically writes the state file.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { stub } from "@std/testing/mock";
import {
  FINGERPRINT_BYTES,
  parseState,
  STATE_VERSION,
  StateError,
  StateStore,
} from "../../src/source/state.ts";
import type { FileId } from "../../src/types.ts";

const encoder = new TextEncoder();

const SOURCE = "/logs/app.log";
const DEV = 2049;

function id(ino: number, dev = DEV): FileId {
  return { dev, ino };
}

const F1 = id(101);
const F2 = id(102);
const HEAD1 = encoder.encode("first file\n");
const HEAD2 = encoder.encode("second file\n");

async function tempDir(): Promise<string> {
  return await Deno.realPath(
    await Deno.makeTempDir({ prefix: "tailcast-state-" }),
  );
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function names(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) out.push(e.name);
  return out.sort();
}

async function readJson(path: string): Promise<{
  version: number;
  saved: string;
  files: Array<
    { source: string; dev: number; ino: number; head: string; offset: number }
  >;
}> {
  return JSON.parse(await Deno.readTextFile(path));
}

/** Expects `promise` to reject with a StateError about `path` whose message matches every pattern. */
async function rejectsState(
  promise: Promise<unknown>,
  path: string,
  ...patterns: RegExp[]
): Promise<StateError> {
  let caught: unknown = null;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert(caught instanceof StateError, `a StateError, got ${caught}`);
  assertEquals(caught.path, path);
  assert(caught.message.includes(`"${path}"`), caught.message);
  assert(!caught.message.includes("\n"), "one line");
  for (const p of patterns) assertMatch(caught.message, p);
  return caught;
}

function entry(
  source: string,
  ino: number,
  offset: number,
  head = "aGVhZAo=",
): Record<string, unknown> {
  return { source, dev: DEV, ino, head, offset };
}

Deno.test("StateStore: a missing state file is an empty state, written at open", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    const store = await StateStore.open(path, false);
    assertEquals(store.saved(SOURCE), []);
    assertEquals(store.cursors, []);
    assertNotEquals(store.lastSaved, null);
    const json = await readJson(path);
    assertEquals(json.version, STATE_VERSION);
    assertEquals(json.files, []);
    assertEquals(new Date(json.saved).getTime(), store.lastSaved!.getTime());
  });
});

Deno.test("StateStore: save then open gives back the cursors (round trip)", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    const first = await StateStore.open(path, false);
    first.delivered(SOURCE, F1, HEAD1, 120);
    first.delivered(SOURCE, F1, HEAD1, 240);
    first.delivered(SOURCE, F2, HEAD2, 12);
    first.delivered("/logs/other.log", F1, HEAD1, 7);
    await first.save();
    const json = await readJson(path);
    assertEquals(json.files.map((f) => [f.source, f.ino, f.offset]), [
      [SOURCE, 101, 240],
      [SOURCE, 102, 12],
      ["/logs/other.log", 101, 7],
    ]);
    assertEquals(json.files[0].head, btoa("first file\n"));

    const second = await StateStore.open(path, false);
    assertEquals(second.saved(SOURCE), [
      { source: SOURCE, file: F1, head: HEAD1, offset: 240 },
      { source: SOURCE, file: F2, head: HEAD2, offset: 12 },
    ]);
    assertEquals(second.saved("/logs/other.log"), [
      { source: "/logs/other.log", file: F1, head: HEAD1, offset: 7 },
    ]);
    assertEquals(second.saved("/logs/nothing.log"), []);
    // Binary heads survive base64.
    const binary = new Uint8Array(FINGERPRINT_BYTES).map((_, i) => i * 7 % 256);
    second.delivered(SOURCE, F1, binary, 300);
    await second.save();
    const third = await StateStore.open(path, false);
    assertEquals(third.saved(SOURCE)[0].head, binary);
  });
});

Deno.test("StateStore: saves are atomic (temp file + rename), never a partial file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    const store = await StateStore.open(path, false);
    const before = (await Deno.stat(path)).ino;
    store.delivered(SOURCE, F1, HEAD1, 10);
    await store.save();
    // A new inode: the file was replaced, not rewritten in place.
    assertNotEquals((await Deno.stat(path)).ino, before);
    assertEquals(await names(dir), ["state.json"], "no temp file left");
    // Readers racing many saves always see a whole, valid file.
    let reads = 0;
    let saving = true;
    const reader = (async () => {
      while (saving) {
        const json = await readJson(path);
        assertEquals(json.version, STATE_VERSION);
        assertEquals(json.files.length, 1);
        reads++;
      }
    })();
    for (let i = 1; i <= 100; i++) {
      store.delivered(SOURCE, F1, HEAD1, 10 + i);
      await store.save();
    }
    saving = false;
    await reader;
    assert(reads > 0);
    assertEquals((await readJson(path)).files[0].offset, 110);
    assertEquals(await names(dir), ["state.json"], "no temp file left");
  });
});

Deno.test("StateStore: a save whose writes are short still writes the whole file", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    const store = await StateStore.open(path, false);
    for (let i = 0; i < 3; i++) {
      store.delivered(`/logs/${i}.log`, id(200 + i), HEAD1, 1000 + i);
    }
    // write(2) may take fewer bytes than given (a signal, a full disk, a
    // quota); here every write to the state file takes at most 7.
    const open = Deno.open;
    using _ = stub(Deno, "open", async (file, options) => {
      const f = await open(file, options);
      if (!String(file).startsWith(path)) return f;
      return {
        write: (p: Uint8Array) => f.write(p.subarray(0, 7)),
        sync: () => f.sync(),
        close: () => f.close(),
      } as unknown as Deno.FsFile;
    });
    await store.save();
    const json = await readJson(path);
    assertEquals(json.files.map((f) => f.offset), [1000, 1001, 1002]);
  });
});

Deno.test("StateStore: save() writes nothing when nothing changed", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    const store = await StateStore.open(path, false);
    store.delivered(SOURCE, F1, HEAD1, 10);
    await store.save();
    const info = await Deno.stat(path);
    const text = await Deno.readTextFile(path);
    const lastSaved = store.lastSaved;
    await store.save();
    // The same cursor again is no change either.
    store.delivered(SOURCE, F1, HEAD1, 10);
    await store.save();
    const after = await Deno.stat(path);
    assertEquals(after.ino, info.ino, "not replaced");
    assertEquals(after.mtime?.getTime(), info.mtime?.getTime());
    assertEquals(await Deno.readTextFile(path), text);
    assertEquals(store.lastSaved, lastSaved);
    // A change is written.
    store.delivered(SOURCE, F1, HEAD1, 11);
    await store.save();
    assertNotEquals((await Deno.stat(path)).ino, info.ino);
    assertNotEquals(store.lastSaved, lastSaved);
  });
});

Deno.test("StateStore: concurrent saves are serialised, the last state wins", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    const store = await StateStore.open(path, false);
    const saves: Promise<void>[] = [];
    for (let i = 1; i <= 20; i++) {
      store.delivered(SOURCE, F1, HEAD1, i);
      saves.push(store.save());
    }
    await Promise.all(saves);
    assertEquals((await readJson(path)).files[0].offset, 20);
    assertEquals(await names(dir), ["state.json"]);
  });
});

Deno.test("StateStore: corrupted JSON is a StateError naming the file and --state-reset", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    await Deno.writeTextFile(path, '{"version":1,"files":[');
    await rejectsState(
      StateStore.open(path, false),
      path,
      /corrupted/,
      /--state-reset/,
    );
    // Not overwritten: the operator decides.
    assertEquals(await Deno.readTextFile(path), '{"version":1,"files":[');
  });
});

Deno.test("StateStore: an empty state file is corrupted too", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    await Deno.writeTextFile(path, "");
    await rejectsState(StateStore.open(path, false), path, /--state-reset/);
  });
});

Deno.test("parseState: a newer format is a StateError saying newer", () => {
  const path = "/var/lib/tailcast/state.json";
  for (const version of [STATE_VERSION + 1, 99]) {
    const e = assertThrows(
      () => parseState(path, JSON.stringify({ version, files: [] })),
      StateError,
    );
    assertEquals(e.path, path);
    assertMatch(e.message, /newer/);
    assertStringIncludes(e.message, `"${path}"`);
    assertStringIncludes(e.message, `format ${version}`);
    assertMatch(e.message, /--state-reset/);
  }
});

Deno.test("parseState: no version, an older version or no files array is corrupted", () => {
  const path = "/s.json";
  for (
    const text of [
      "null",
      "[]",
      '"text"',
      "{}",
      '{"version":"1","files":[]}',
      '{"version":0,"files":[]}',
      '{"version":1}',
      '{"version":1,"files":{}}',
    ]
  ) {
    const e = assertThrows(() => parseState(path, text), StateError);
    assertMatch(e.message, /corrupted/, text);
    assertMatch(e.message, /--state-reset/, text);
  }
});

Deno.test("parseState: an ill-typed entry is a StateError naming files[i]", () => {
  const path = "/s.json";
  const good = entry(SOURCE, 1, 10);
  const bad: Array<[string, unknown]> = [
    ["null entry", null],
    ["string entry", "app.log"],
    ["array entry", [SOURCE, DEV, 1, "aGVhZAo=", 10]],
    ["no source", { ...good, source: undefined }],
    ["numeric source", { ...good, source: 7 }],
    ["no dev", { ...good, dev: undefined }],
    ["string ino", { ...good, ino: "12" }],
    ["fractional offset", { ...good, offset: 1.5 }],
    ["negative offset", { ...good, offset: -1 }],
    ["unsafe integer", { ...good, ino: 2 ** 60 }],
    ["no head", { ...good, head: undefined }],
    ["head not base64", { ...good, head: "not base64!" }],
    ["numeric head", { ...good, head: 5 }],
  ];
  for (const [what, value] of bad) {
    const text = JSON.stringify({
      version: STATE_VERSION,
      files: [good, good, value],
    });
    const e = assertThrows(() => parseState(path, text), StateError);
    assertStringIncludes(e.message, "files[2]", what);
    assertStringIncludes(e.message, `"${path}"`, what);
    assertMatch(e.message, /--state-reset/, what);
  }
});

Deno.test("parseState: groups entries by source, keeping their order", () => {
  const map = parseState(
    "/s.json",
    JSON.stringify({
      version: 1,
      saved: "2026-01-01T00:00:00.000Z",
      files: [
        entry("/a.log", 1, 10, btoa("a")),
        entry("/b.log", 2, 20, btoa("b")),
        entry("/a.log", 3, 30, btoa("")),
      ],
    }),
  );
  assertEquals([...map.keys()], ["/a.log", "/b.log"]);
  assertEquals(map.get("/a.log"), [
    { source: "/a.log", file: id(1), head: encoder.encode("a"), offset: 10 },
    { source: "/a.log", file: id(3), head: new Uint8Array(0), offset: 30 },
  ]);
});

Deno.test("StateStore: open with reset ignores a corrupted file and overwrites it", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    await Deno.writeTextFile(path, "garbage{");
    const store = await StateStore.open(path, true);
    assertEquals(store.saved(SOURCE), []);
    assertEquals((await readJson(path)).files, []);
    // A valid file's cursors are ignored as well.
    store.delivered(SOURCE, F1, HEAD1, 50);
    await store.save();
    const reset = await StateStore.open(path, true);
    assertEquals(reset.saved(SOURCE), []);
    assertEquals(reset.cursors, []);
    assertEquals((await readJson(path)).files, []);
  });
});

Deno.test("StateStore: a newer file is refused at open, accepted with reset", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    await Deno.writeTextFile(path, JSON.stringify({ version: 2, files: [] }));
    await rejectsState(StateStore.open(path, false), path, /newer/);
    await StateStore.open(path, true);
    assertEquals((await readJson(path)).version, STATE_VERSION);
  });
});

Deno.test("StateStore: an unwritable location is a StateError at open", async (t) => {
  await withDir(async (dir) => {
    await t.step("missing directory", async () => {
      const path = `${dir}/missing/state.json`;
      for (const reset of [false, true]) {
        await rejectsState(
          StateStore.open(path, reset),
          path,
          /Cannot write/,
          /directory does not exist/,
        );
      }
      assertEquals(await names(dir), []);
    });
    await t.step("parent is a regular file", async () => {
      await Deno.writeTextFile(`${dir}/plain`, "not a directory\n");
      const path = `${dir}/plain/state.json`;
      for (const reset of [false, true]) {
        await rejectsState(StateStore.open(path, reset), path, /Cannot/);
      }
      assertEquals(await names(dir), ["plain"]);
    });
    await t.step("the path is a directory", async () => {
      const path = `${dir}/adir`;
      await Deno.mkdir(path);
      await rejectsState(StateStore.open(path, false), path, /Cannot/);
      await rejectsState(StateStore.open(path, true), path, /Cannot/);
      assertEquals(await names(dir), ["adir", "plain"], "no temp file");
    });
  });
});

Deno.test("StateStore: a failed save is reported and retried by the next save", async () => {
  await withDir(async (dir) => {
    const sub = `${dir}/sub`;
    await Deno.mkdir(sub);
    const path = `${sub}/state.json`;
    const store = await StateStore.open(path, false);
    store.delivered(SOURCE, F1, HEAD1, 10);
    await Deno.remove(sub, { recursive: true });
    await rejectsState(store.save(), path, /Cannot write/);
    // The directory is back (e.g. remounted): the unsaved change is written.
    await Deno.mkdir(sub);
    await store.save();
    assertEquals(
      (await readJson(path)).files.map((f) => f.offset),
      [10],
    );
  });
});

Deno.test("StateStore: a finished file is forgotten once delivered to its final offset", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    const store = await StateStore.open(path, false);
    store.delivered(SOURCE, F1, HEAD1, 100);
    store.delivered(SOURCE, F2, HEAD2, 5);
    store.finished(SOURCE, F1, 300);
    // Not yet: lines up to 300 were read but not delivered.
    assertEquals(store.cursors.map((c) => [c.file.ino, c.offset]), [
      [101, 100],
      [102, 5],
    ]);
    await store.save();
    assertEquals((await readJson(path)).files.length, 2);
    store.delivered(SOURCE, F1, HEAD1, 200);
    assertEquals(store.cursors.length, 2);
    store.delivered(SOURCE, F1, HEAD1, 300);
    assertEquals(store.cursors.map((c) => c.file.ino), [102]);
    await store.save();
    assertEquals((await readJson(path)).files.map((f) => f.ino), [102]);
    // Already delivered that far: forgotten at once.
    store.finished(SOURCE, F2, 5);
    assertEquals(store.cursors, []);
    // Unknown files are ignored.
    store.finished(SOURCE, id(999), 1);
    store.finished("/logs/none.log", F1, 1);
    await store.save();
    assertEquals((await readJson(path)).files, []);
  });
});

Deno.test("StateStore: forget drops one file's cursor and is saved", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        version: 1,
        files: [entry(SOURCE, 101, 10), entry(SOURCE, 102, 20)],
      }),
    );
    const store = await StateStore.open(path, false);
    store.forget(SOURCE, F1);
    store.forget("/logs/none.log", F1);
    await store.save();
    assertEquals((await readJson(path)).files.map((f) => f.ino), [102]);
    // What the previous run saved is still what saved() tells.
    assertEquals(store.saved(SOURCE).length, 2);
  });
});

Deno.test("StateStore: cursors of paths not followed this time are written back", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    const other = entry("/logs/other.log", 55, 4242, btoa("other head"));
    await Deno.writeTextFile(
      path,
      JSON.stringify({ version: 1, files: [entry(SOURCE, 101, 10), other] }),
    );
    const store = await StateStore.open(path, false);
    // At open already, and after this run moved its own cursor.
    assertEquals((await readJson(path)).files[1], other);
    store.delivered(SOURCE, F1, encoder.encode("head\n"), 99);
    await store.save();
    const json = await readJson(path);
    assertEquals(json.files, [
      { source: SOURCE, dev: DEV, ino: 101, head: btoa("head\n"), offset: 99 },
      other,
    ]);
  });
});

Deno.test("StateStore: the head grows with the file, never shrinks", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/state.json`;
    const store = await StateStore.open(path, false);
    store.delivered(SOURCE, F1, encoder.encode("ab"), 3);
    store.delivered(SOURCE, F1, encoder.encode("abc\nde"), 6);
    store.delivered(SOURCE, F1, new Uint8Array(0), 9);
    assertEquals(store.cursors[0].head, encoder.encode("abc\nde"));
    assertEquals(store.cursors[0].offset, 9);
    // A longer head alone (same offset) is a change worth saving.
    await store.save();
    store.delivered(SOURCE, F1, encoder.encode("abc\ndef\n"), 9);
    await store.save();
    assertEquals(
      (await readJson(path)).files[0].head,
      btoa("abc\ndef\n"),
    );
  });
});

Deno.test("StateStore: at most a few files per path, the oldest dropped", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(`${dir}/state.json`, false);
    for (let ino = 1; ino <= 6; ino++) {
      store.delivered(SOURCE, id(ino), HEAD1, ino * 10);
    }
    const kept = store.cursors.map((c) => c.file.ino);
    assert(kept.length >= 2 && kept.length < 6, `${kept}`);
    assertEquals(kept, [1, 2, 3, 4, 5, 6].slice(6 - kept.length));
  });
});
