/**
 * Persisted cursors (`--state`): the pure start-position decision and the
 * store that loads, validates and atomically writes the state file.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertNotEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  type Candidate,
  decideStart,
  FINGERPRINT_BYTES,
  isSameFile,
  parseState,
  type SavedFile,
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

/** `n` lines of 20 bytes whose text starts with `tag`: distinct files have distinct first bytes. */
function content(tag: string, lines: number): string {
  let text = "";
  for (let i = 0; i < lines; i++) {
    const line = `${tag} line ${i} `;
    text += line + "x".repeat(19 - line.length) + "\n";
  }
  return text;
}

/** A file on disk at start-up, as the follower hands it to the decision. */
function disk(path: string, ino: number, text: string, dev = DEV): Candidate {
  const bytes = encoder.encode(text);
  // `born` (creation time) is not part of the decision; set for `Located`.
  return {
    path,
    size: bytes.length,
    mtime: 0,
    born: 0,
    file: id(ino, dev),
    head: bytes.slice(0, FINGERPRINT_BYTES),
  } as Candidate;
}

/** A cursor saved for the file holding `text` (as it was when saved), at `offset`. */
function cursor(ino: number, text: string, offset: number): SavedFile {
  return {
    source: SOURCE,
    file: id(ino),
    head: encoder.encode(text).slice(0, FINGERPRINT_BYTES),
    offset,
  };
}

/** What a test row expects of a decision; notes compared without their cause, checked by pattern. */
interface Expected {
  drain: Array<{ path: string; ino: number; offset: number }>;
  offset: number | null;
  notes: Array<
    {
      kind: "gap" | "vanish";
      ino: number;
      offset: number;
      bytes: number;
      cause: RegExp;
    }
  >;
}

const A = content("alpha", 30); // 600 bytes
const B = content("bravo", 10); // 200 bytes
const C = content("charlie", 10);

const rows: Array<{
  name: string;
  saved: SavedFile[];
  current: Candidate | null;
  siblings: Candidate[];
  expected: Expected;
}> = [
  {
    name: "no saved cursor: the configured start",
    saved: [],
    current: disk(SOURCE, 1, A),
    siblings: [],
    expected: { drain: [], offset: null, notes: [] },
  },
  {
    name: "no saved cursor and no file: the configured start",
    saved: [],
    current: null,
    siblings: [disk(`${SOURCE}.1`, 9, B)],
    expected: { drain: [], offset: null, notes: [] },
  },
  {
    name: "the saved file under the path, grown: resume at the saved offset",
    saved: [cursor(1, A, 200)],
    current: disk(SOURCE, 1, A),
    siblings: [],
    expected: { drain: [], offset: 200, notes: [] },
  },
  {
    name: "the saved file under the path, not grown (size == offset): resume",
    saved: [cursor(1, A, 600)],
    current: disk(SOURCE, 1, A),
    siblings: [],
    expected: { drain: [], offset: 600, notes: [] },
  },
  {
    name: "the saved file truncated while down (size < offset): 0 and a gap",
    saved: [cursor(1, A, 400)],
    current: disk(SOURCE, 1, A.slice(0, 100)),
    siblings: [],
    expected: {
      drain: [],
      offset: 0,
      notes: [{
        kind: "gap",
        ino: 1,
        offset: 400,
        bytes: 0,
        cause:
          /truncated while tailcast was stopped.*after byte 400.*from byte 0/,
      }],
    },
  },
  {
    name:
      "inode reused (same dev+ino, other first bytes): a new file from 0, the saved one vanished",
    saved: [cursor(1, A, 400)],
    current: disk(SOURCE, 1, C),
    siblings: [],
    expected: {
      drain: [],
      offset: 0,
      notes: [{ kind: "vanish", ino: 1, offset: 400, bytes: 0, cause: /gone/ }],
    },
  },
  {
    name: "same inode number on another device: not the saved file",
    saved: [cursor(1, A, 400)],
    current: disk(SOURCE, 1, A, DEV + 1),
    siblings: [],
    expected: {
      drain: [],
      offset: 0,
      notes: [{ kind: "vanish", ino: 1, offset: 400, bytes: 0, cause: /gone/ }],
    },
  },
  {
    name:
      "renamed while down: drain the sibling from the saved offset, the new file from 0",
    saved: [cursor(1, A, 200)],
    current: disk(SOURCE, 2, B),
    siblings: [disk(`${SOURCE}.2`, 7, C), disk(`${SOURCE}.1`, 1, A)],
    expected: {
      drain: [{ path: `${SOURCE}.1`, ino: 1, offset: 200 }],
      offset: 0,
      notes: [],
    },
  },
  {
    name:
      "renamed while down, no new file yet: drain the sibling, a later file from 0",
    saved: [cursor(1, A, 200)],
    current: null,
    siblings: [disk(`${SOURCE}.1`, 1, A)],
    expected: {
      drain: [{ path: `${SOURCE}.1`, ino: 1, offset: 200 }],
      offset: 0,
      notes: [],
    },
  },
  {
    name: "renamed sibling shorter than the saved offset: a gap, not drained",
    saved: [cursor(1, A, 400)],
    current: disk(SOURCE, 2, B),
    siblings: [disk(`${SOURCE}.1`, 1, A.slice(0, 100))],
    expected: {
      drain: [],
      offset: 0,
      notes: [{
        kind: "gap",
        ino: 1,
        offset: 400,
        bytes: 0,
        cause:
          /rotated to .*app\.log\.1, which no longer holds what was read up to byte 400/,
      }],
    },
  },
  {
    name:
      "sibling with the saved inode but other first bytes: not drained, vanished",
    saved: [cursor(1, A, 400)],
    current: disk(SOURCE, 2, B),
    siblings: [disk(`${SOURCE}.1`, 1, C)],
    expected: {
      drain: [],
      offset: 0,
      notes: [{ kind: "vanish", ino: 1, offset: 400, bytes: 0, cause: /gone/ }],
    },
  },
  {
    name: "saved file nowhere: a vanish note, the current file from 0",
    saved: [cursor(1, A, 400)],
    current: disk(SOURCE, 2, B),
    siblings: [disk(`${SOURCE}.1`, 3, C)],
    expected: {
      drain: [],
      offset: 0,
      notes: [{ kind: "vanish", ino: 1, offset: 400, bytes: 0, cause: /gone/ }],
    },
  },
  {
    name: "saved file nowhere and no file under the path: vanish, later from 0",
    saved: [cursor(1, A, 400)],
    current: null,
    siblings: [],
    expected: {
      drain: [],
      offset: 0,
      notes: [{ kind: "vanish", ino: 1, offset: 400, bytes: 0, cause: /gone/ }],
    },
  },
  {
    name:
      "file shorter than the fingerprint window: a 5-byte saved head prefixes the grown file",
    saved: [cursor(1, "abcd\n", 5)],
    current: disk(SOURCE, 1, "abcd\nefgh\n"),
    siblings: [],
    expected: { drain: [], offset: 5, notes: [] },
  },
  {
    name: "candidate shorter than the saved head: not the same file",
    saved: [cursor(1, "abcd\n", 5)],
    current: disk(SOURCE, 1, "abc"),
    siblings: [],
    expected: {
      drain: [],
      offset: 0,
      notes: [{ kind: "vanish", ino: 1, offset: 5, bytes: 0, cause: /gone/ }],
    },
  },
  {
    name:
      "a rotated file being drained and the current one: drain the old, resume the current",
    saved: [cursor(1, A, 500), cursor(2, B, 60)],
    current: disk(SOURCE, 2, B),
    siblings: [disk(`${SOURCE}.1`, 1, A)],
    expected: {
      drain: [{ path: `${SOURCE}.1`, ino: 1, offset: 500 }],
      offset: 60,
      notes: [],
    },
  },
  {
    name:
      "two rotated files and the current one: drain both (saved order), resume the current",
    saved: [cursor(1, A, 500), cursor(2, B, 100), cursor(3, C, 20)],
    current: disk(SOURCE, 3, C),
    siblings: [disk(`${SOURCE}.1`, 2, B), disk(`${SOURCE}.2`, 1, A)],
    expected: {
      drain: [
        { path: `${SOURCE}.2`, ino: 1, offset: 500 },
        { path: `${SOURCE}.1`, ino: 2, offset: 100 },
      ],
      offset: 20,
      notes: [],
    },
  },
  {
    name:
      "a rotated file deleted while down and the current one: vanish the old, resume the current",
    saved: [cursor(1, A, 500), cursor(2, B, 60)],
    current: disk(SOURCE, 2, B),
    siblings: [],
    expected: {
      drain: [],
      offset: 60,
      notes: [{ kind: "vanish", ino: 1, offset: 500, bytes: 0, cause: /gone/ }],
    },
  },
];

for (const row of rows) {
  Deno.test(`decideStart: ${row.name}`, () => {
    const got = decideStart(row.saved, row.current, row.siblings);
    assertEquals(
      {
        drain: got.drain.map((d) => ({
          path: d.path,
          ino: d.file.ino,
          offset: d.offset,
        })),
        offset: got.offset,
        notes: got.notes.map((n) => ({
          kind: n.kind,
          ino: n.file.ino,
          offset: n.offset,
          bytes: n.bytes,
        })),
      },
      {
        drain: row.expected.drain,
        offset: row.expected.offset,
        notes: row.expected.notes.map(({ cause: _, ...n }) => n),
      },
    );
    got.notes.forEach((n, i) => {
      assertEquals(
        n.file.dev,
        row.saved.find((s) => s.file.ino === n.file.ino)?.file.dev,
      );
      assertMatch(n.cause, row.expected.notes[i].cause);
    });
  });
}

Deno.test("isSameFile: only the first FINGERPRINT_BYTES bytes identify a file", () => {
  const text = "h".repeat(FINGERPRINT_BYTES) + "tail one\n";
  const saved = cursor(1, text, text.length);
  assertEquals(saved.head.length, FINGERPRINT_BYTES);
  const otherTail = "h".repeat(FINGERPRINT_BYTES) + "TAIL TWO\n";
  assertEquals(isSameFile(saved, disk(SOURCE, 1, otherTail)), true);
  const otherHead = "H" + "h".repeat(FINGERPRINT_BYTES - 1) + "tail one\n";
  assertEquals(isSameFile(saved, disk(SOURCE, 1, otherHead)), false);
  assertEquals(isSameFile(saved, disk(SOURCE, 2, text)), false);
  assertEquals(isSameFile(saved, disk(SOURCE, 1, text, DEV + 1)), false);
  // A head exactly as long as the saved one is enough.
  assertEquals(
    isSameFile(cursor(1, "abcde", 5), disk(SOURCE, 1, "abcde")),
    true,
  );
});

// ---------------------------------------------------------------------------
// StateStore

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
