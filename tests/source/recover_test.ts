/**
 * Recovery after a restart: the pure start-position decision from saved
 * cursors and the files on disk.
 */
import { assertEquals, assertMatch } from "@std/assert";
import {
  type Candidate,
  decideStart,
  isSameFile,
  withHead,
} from "../../src/source/recover.ts";
import { locatedOf } from "../../src/source/replay.ts";
import { FINGERPRINT_BYTES, type SavedFile } from "../../src/source/state.ts";
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

Deno.test("decideStart with the lines on disk: a cursor after a multi-line event resumes; one whose line is gone is a gap", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "tailcast-recover-" });
  const path = `${dir}/app.log`;
  const text = "ERROR boom\n  at a()\n  at b()\nINFO next\n  more\n";
  await Deno.writeTextFile(path, text);
  const info = await Deno.stat(path);
  const saved = (offset: number, line: string): SavedFile => ({
    source: path,
    file: { dev: info.dev ?? 0, ino: info.ino ?? 0 },
    head: encoder.encode(text).slice(0, FINGERPRINT_BYTES),
    offset,
    line,
  });
  const decide = async (s: SavedFile) => {
    const now = await withHead(locatedOf(path, info), [s.offset]);
    return decideStart([s], now, []);
  };
  try {
    const end = encoder.encode(text).length;
    const first = encoder.encode("ERROR boom\n  at a()\n  at b()\n").length;
    await t.step("the mark is the event's last line: resume", async () => {
      assertEquals((await decide(saved(first, "  at b()"))).offset, first);
      assertEquals((await decide(saved(end, "  more"))).offset, end);
    });
    await t.step(
      "the mark is a whole joined event (saved so by an earlier tailcast): resume, no gap",
      async () => {
        const got = await decide(
          saved(first, "ERROR boom\n  at a()\n  at b()"),
        );
        assertEquals([got.offset, got.notes], [first, []]);
      },
    );
    await t.step("the line before the cursor is another: a gap", async () => {
      const got = await decide(saved(end, "  less"));
      assertEquals(got.offset, 0);
      assertEquals(got.notes.map((n) => n.kind), ["gap"]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

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

Deno.test("decideStart: a cursor after a first line that starts with a BOM resumes (the line is read back with its BOM, as the splitter keeps it)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tailcast-recover-" });
  const path = `${dir}/app.log`;
  const text = "\uFEFFfirst\nsecond\n";
  try {
    await Deno.writeTextFile(path, text);
    const info = await Deno.stat(path);
    const offset = encoder.encode("\uFEFFfirst\n").length;
    const saved: SavedFile = {
      source: path,
      file: { dev: info.dev ?? 0, ino: info.ino ?? 0 },
      head: encoder.encode(text).slice(0, FINGERPRINT_BYTES),
      offset,
      line: "\uFEFFfirst",
    };
    const now = await withHead(locatedOf(path, info), [offset]);
    const got = decideStart([saved], now, []);
    assertEquals([got.offset, got.notes], [offset, []]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
