/**
 * The resume planner and the subscriber cursor (src/http/resume.ts), table
 * by table: real files in a temp directory, the files tailcast followed
 * (KnownFiles), the published seam, and what a client comes back with.
 * Files are named by labels in the tables; their identities are the real
 * inodes.
 */
import { assertEquals, assertStringIncludes } from "@std/assert";
import { basename } from "node:path";
import {
  decodeId,
  encodeCursor,
  pathHash,
  toDecoded,
} from "../../src/sink/cursor.ts";
import { planResume, SubscriberCursor } from "../../src/http/resume.ts";
import { fileId, sameFile } from "../../src/source/identity.ts";
import { KnownFiles } from "../../src/source/known.ts";
import { FINGERPRINT_BYTES } from "../../src/source/state.ts";
import {
  type FileId,
  MAX_FILES_PER_SOURCE,
  type ResumeCursor,
} from "../../src/types.ts";
import { Tail } from "../../src/source/tail.ts";
import { LogDir } from "../_fixtures/log_dir.ts";
import { waitFor } from "../_fixtures/wait.ts";

/** A position by label: `[label, offset]`. */
type At = readonly [string, number];

/** A directory of real files, the files tailcast followed, and labels for their identities. */
class Scene {
  readonly known = new KnownFiles();
  readonly #ids = new Map<string, FileId>();
  readonly dir: LogDir;

  constructor(dir: LogDir) {
    this.dir = dir;
  }

  /** The source (the followed path) of `name`. */
  src(name = "app.log"): string {
    return this.dir.file(name);
  }

  /** Writes `text` to `name` (created or replaced in place: the same inode) and labels its identity. */
  async write(label: string, name: string, text: string): Promise<void> {
    await Deno.writeTextFile(this.dir.file(name), text);
    this.#ids.set(label, fileId(await Deno.stat(this.dir.file(name))));
  }

  /** Appends to `name` without following anything. */
  async append(name: string, text: string): Promise<void> {
    await Deno.writeTextFile(this.dir.file(name), text, { append: true });
  }

  /** tailcast follows the file `label` (now at `name`) under `source`, from byte `from`. */
  async follow(
    label: string,
    name: string,
    options: { source?: string; from?: number } = {},
  ): Promise<void> {
    const source = options.source ?? this.src();
    const id = this.id(label);
    this.known.add(source, id, options.from ?? 0);
    const bytes = await Deno.readFile(this.dir.file(name));
    this.known.head(source, id, bytes.slice(0, FINGERPRINT_BYTES));
  }

  id(label: string): FileId {
    const id = this.#ids.get(label);
    if (!id) throw new Error(`no file labelled ${label}`);
    return id;
  }

  label(file: FileId): string {
    for (const [label, id] of this.#ids) if (sameFile(id, file)) return label;
    return "?";
  }

  /** A cursor of labelled positions per source. */
  cursor(
    entries: readonly (readonly [string, readonly At[]])[],
  ): ResumeCursor {
    return new Map(
      entries.map(([source, list]) => [
        source,
        list.map(([label, offset]) => ({ file: this.id(label), offset })),
      ]),
    );
  }
}

/** One row of a planner table. */
interface PlanCase {
  name: string;
  /** Makes the files and follows them; returns the seam and what the client sends. */
  setup: (s: Scene) => Promise<{
    seam: readonly (readonly [string, readonly At[]])[];
    wanted?: readonly (readonly [string, readonly At[]])[];
    backlog?: number | null;
  }>;
  /** `[file name now, label, from, to]` in order. */
  ranges: readonly (readonly [string, string, number, number | null])[];
  /** `[cause, offset]` in order. */
  gaps?: readonly (readonly [string, number])[];
  /** The cursor before the first range, per source name (`app.log`): labelled positions. */
  cursor: readonly (readonly [string, readonly At[]])[];
}

/** Runs one row: the plan, in the table's terms. */
async function runCase(c: PlanCase): Promise<void> {
  await using dir = await LogDir.create();
  const s = new Scene(dir);
  const input = await c.setup(s);
  const named = (list: readonly (readonly [string, readonly At[]])[]) =>
    list.map(([name, at]) => [s.src(name), at] as const);
  const plan = await planResume({
    wanted: input.wanted ? toDecoded(s.cursor(named(input.wanted))) : null,
    backlog: input.backlog ?? null,
    seam: s.cursor(named(input.seam)),
    known: s.known,
  });
  assertEquals<unknown>(
    plan.ranges.map((r) => [basename(r.path), s.label(r.file), r.from, r.to]),
    c.ranges,
    "ranges",
  );
  for (const r of plan.ranges) {
    assertEquals(
      r.source,
      s.src(basename(r.source)),
      "a range names its source",
    );
  }
  assertEquals<unknown>(
    plan.gaps.map((g) => [g.cause, g.offset]),
    c.gaps ?? [],
    "gaps",
  );
  for (const g of plan.gaps) assertStringIncludes(g.message, g.source);
  assertEquals(
    plan.cursor.text,
    encodeCursor(s.cursor(named(c.cursor))),
    "cursor",
  );
}

const L3 = "l1\nl2\nl3\n"; // 9 bytes: lines start at 0, 3, 6

/** `app.log` followed, renamed to `app.log.1`, and a new `app.log` followed after it. */
async function renamed(s: Scene): Promise<void> {
  await s.write("old", "app.log", "o1\no2\n");
  await s.follow("old", "app.log");
  await Deno.rename(s.dir.file("app.log"), s.dir.file("app.log.1"));
  await s.write("new", "app.log", "n1\n");
  await s.follow("new", "app.log");
}

const resumes: PlanCase[] = [
  {
    name:
      "a client at an offset in the current file is replayed the rest of it up to the seam, not to the file's end",
    setup: async (s) => {
      await s.write("cur", "app.log", L3);
      await s.follow("cur", "app.log");
      await s.append("app.log", "unpublished\n");
      return {
        seam: [["app.log", [["cur", 9]]]],
        wanted: [["app.log", [["cur", 3]]]],
      };
    },
    ranges: [["app.log", "cur", 3, 9]],
    cursor: [["app.log", [["cur", 3]]]],
  },
  {
    name:
      "a client already at the seam is replayed nothing; its cursor is the seam",
    setup: async (s) => {
      await s.write("cur", "app.log", L3);
      await s.follow("cur", "app.log");
      return {
        seam: [["app.log", [["cur", 9]]]],
        wanted: [["app.log", [["cur", 9]]]],
      };
    },
    ranges: [],
    cursor: [["app.log", [["cur", 9]]]],
  },
  {
    name:
      "a client past the seam (a restart saved an older cursor) is replayed nothing and keeps its position",
    setup: async (s) => {
      await s.write("cur", "app.log", L3);
      await s.follow("cur", "app.log");
      return {
        seam: [["app.log", [["cur", 6]]]],
        wanted: [["app.log", [["cur", 9]]]],
      };
    },
    ranges: [],
    cursor: [["app.log", [["cur", 9]]]],
  },
  {
    name:
      "after a rename, the rotated file is drained from the client's offset first, then the new file from its start",
    setup: async (s) => {
      await renamed(s);
      return {
        seam: [["app.log", [["old", 6], ["new", 3]]]],
        wanted: [["app.log", [["old", 3]]]],
      };
    },
    ranges: [["app.log.1", "old", 3, 6], ["app.log", "new", 0, 3]],
    cursor: [["app.log", [["old", 3], ["new", 0]]]],
  },
  {
    name:
      "after a rename, a client at the end of the rotated file is replayed only the new file",
    setup: async (s) => {
      await renamed(s);
      return {
        seam: [["app.log", [["old", 6], ["new", 3]]]],
        wanted: [["app.log", [["old", 6]]]],
      };
    },
    ranges: [["app.log", "new", 0, 3]],
    cursor: [["app.log", [["old", 6], ["new", 0]]]],
  },
  {
    name:
      "a client that carries both files of a rename is replayed each from its own offset, the rotated one first, and no file twice",
    setup: async (s) => {
      await renamed(s);
      return {
        seam: [["app.log", [["old", 6], ["new", 3]]]],
        wanted: [["app.log", [["old", 3], ["new", 1]]]],
      };
    },
    ranges: [["app.log.1", "old", 3, 6], ["app.log", "new", 1, 3]],
    cursor: [["app.log", [["old", 3], ["new", 1]]]],
  },
  {
    name:
      "after two renames, the files followed after the client's are replayed whole in the order tailcast followed them",
    setup: async (s) => {
      await renamed(s);
      await Deno.rename(s.dir.file("app.log"), s.dir.file("app.log.0"));
      await s.write("newest", "app.log", "m1\nm2\n");
      await s.follow("newest", "app.log");
      return {
        seam: [["app.log", [["old", 6], ["new", 3], ["newest", 6]]]],
        wanted: [["app.log", [["old", 3]]]],
      };
    },
    ranges: [
      ["app.log.1", "old", 3, 6],
      ["app.log.0", "new", 0, 3],
      ["app.log", "newest", 0, 6],
    ],
    cursor: [["app.log", [["old", 3], ["new", 0], ["newest", 0]]]],
  },
  {
    name:
      "a rotated file no longer in the seam (drained and forgotten) is replayed to its current end",
    setup: async (s) => {
      await renamed(s);
      return {
        seam: [["app.log", [["new", 3]]]],
        wanted: [["app.log", [["old", 3]]]],
      };
    },
    ranges: [["app.log.1", "old", 3, null], ["app.log", "new", 0, 3]],
    cursor: [["app.log", [["new", 0], ["old", 3]]]],
  },
  {
    name:
      "a rotated file that was deleted is a rotated-away gap at the client's offset, and the files followed after it are still replayed",
    setup: async (s) => {
      await renamed(s);
      await Deno.remove(s.dir.file("app.log.1"));
      return {
        seam: [["app.log", [["old", 6], ["new", 3]]]],
        wanted: [["app.log", [["old", 4]]]],
      };
    },
    ranges: [["app.log", "new", 0, 3]],
    gaps: [["rotated-away", 4]],
    cursor: [["app.log", [["old", 6], ["new", 0]]]],
  },
  {
    name:
      "a file tailcast never followed under the path is an unknown-file gap, and nothing before the seam is replayed",
    setup: async (s) => {
      await s.write("cur", "app.log", L3);
      await s.follow("cur", "app.log");
      await s.write("secret", "app-secret.log", "PASSWORD=hunter2\n");
      return {
        seam: [["app.log", [["cur", 9]]]],
        wanted: [["app.log", [["secret", 0]]]],
      };
    },
    ranges: [],
    gaps: [["unknown-file", 0]],
    cursor: [["app.log", [["cur", 9]]]],
  },
  {
    name:
      "a file followed under another path is unknown under this one, even beside a known file of the cursor",
    setup: async (s) => {
      await s.write("cur", "app.log", L3);
      await s.follow("cur", "app.log");
      await s.write("other", "app-other.log", "x\n");
      await s.follow("other", "app-other.log", {
        source: s.src("app-other.log"),
      });
      return {
        seam: [["app.log", [["cur", 9]]]],
        wanted: [["app.log", [["other", 0], ["cur", 6]]]],
      };
    },
    ranges: [["app.log", "cur", 6, 9]],
    gaps: [["unknown-file", 0]],
    cursor: [["app.log", [["cur", 6]]]],
  },
  {
    name:
      "a file truncated below the client's offset (its first bytes unchanged) is a truncated gap, then replayed from byte 0",
    setup: async (s) => {
      await s.write("cur", "app.log", L3);
      await s.follow("cur", "app.log");
      // Truncated and written again, with the same first lines.
      await Deno.truncate(s.dir.file("app.log"), 3);
      await s.append("app.log", "l2\n");
      return {
        seam: [["app.log", [["cur", 6]]]],
        wanted: [["app.log", [["cur", 9]]]],
      };
    },
    ranges: [["app.log", "cur", 0, 6]],
    gaps: [["truncated", 9]],
    cursor: [["app.log", [["cur", 0]]]],
  },
  {
    name:
      "a file whose first bytes are no longer those tailcast read is not read back: a rotated-away gap",
    setup: async (s) => {
      await s.write("cur", "app.log", L3);
      await s.follow("cur", "app.log");
      // Rewritten in place: the same inode, other bytes.
      await s.write("cur", "app.log", "zz\nzz\nzz\nzz\n");
      return {
        seam: [["app.log", [["cur", 12]]]],
        wanted: [["app.log", [["cur", 3]]]],
      };
    },
    ranges: [],
    gaps: [["rotated-away", 3]],
    cursor: [["app.log", [["cur", 12]]]],
  },
  {
    name:
      "a path the client never saw (followed after it left) is replayed from where tailcast started reading each of its files",
    setup: async (s) => {
      await s.write("a", "app.log", L3);
      await s.follow("a", "app.log");
      await s.write("b", "b.log", "b1\nb2\nb3\n");
      await s.follow("b", "b.log", { source: s.src("b.log"), from: 3 });
      return {
        seam: [["app.log", [["a", 9]]], ["b.log", [["b", 9]]]],
        wanted: [["app.log", [["a", 9]]]],
      };
    },
    ranges: [["b.log", "b", 3, 9]],
    cursor: [["app.log", [["a", 9]]], ["b.log", [["b", 3]]]],
  },
  {
    name:
      "ranges of several paths come in the order of the seam, whatever the cursor's order",
    setup: async (s) => {
      await s.write("a", "app.log", L3);
      await s.follow("a", "app.log");
      await s.write("b", "b.log", "b1\nb2\n");
      await s.follow("b", "b.log", { source: s.src("b.log") });
      return {
        seam: [["b.log", [["b", 6]]], ["app.log", [["a", 9]]]],
        wanted: [["app.log", [["a", 3]]], ["b.log", [["b", 3]]]],
      };
    },
    ranges: [["b.log", "b", 3, 6], ["app.log", "a", 3, 9]],
    cursor: [["b.log", [["b", 3]]], ["app.log", [["a", 3]]]],
  },
  {
    name: "a resuming client is not given a backlog, even when it asks for one",
    setup: async (s) => {
      await s.write("cur", "app.log", L3);
      await s.follow("cur", "app.log");
      return {
        seam: [["app.log", [["cur", 9]]]],
        wanted: [["app.log", [["cur", 9]]]],
        backlog: 3,
      };
    },
    ranges: [],
    cursor: [["app.log", [["cur", 9]]]],
  },
];

const backlogs: PlanCase[] = [
  {
    name:
      "backlog=N replays the last N lines before the seam of the current file; bytes after the seam are not counted",
    setup: async (s) => {
      await s.write("cur", "app.log", L3);
      await s.follow("cur", "app.log");
      await s.append("app.log", "l4\nl5\n");
      return { seam: [["app.log", [["cur", 9]]]], backlog: 2 };
    },
    ranges: [["app.log", "cur", 3, 9]],
    cursor: [["app.log", [["cur", 3]]]],
  },
  {
    name: "a backlog longer than the file replays it from byte 0",
    setup: async (s) => {
      await s.write("cur", "app.log", L3);
      await s.follow("cur", "app.log");
      return { seam: [["app.log", [["cur", 9]]]], backlog: 100 };
    },
    ranges: [["app.log", "cur", 0, 9]],
    cursor: [["app.log", [["cur", 0]]]],
  },
  {
    name: "backlog=0, or none, replays nothing; the cursor is the seam",
    setup: async (s) => {
      await s.write("cur", "app.log", L3);
      await s.follow("cur", "app.log");
      return { seam: [["app.log", [["cur", 9]]]], backlog: 0 };
    },
    ranges: [],
    cursor: [["app.log", [["cur", 9]]]],
  },
  {
    name:
      "a backlog comes from the newest published file only, never a rotated one",
    setup: async (s) => {
      await renamed(s);
      return { seam: [["app.log", [["old", 6], ["new", 3]]]], backlog: 5 };
    },
    ranges: [["app.log", "new", 0, 3]],
    cursor: [["app.log", [["old", 6], ["new", 0]]]],
  },
  {
    name:
      "no backlog when the newest published file is no longer at the path (rotated since)",
    setup: async (s) => {
      await s.write("old", "app.log", L3);
      await s.follow("old", "app.log");
      await Deno.rename(s.dir.file("app.log"), s.dir.file("app.log.1"));
      await s.write("new", "app.log", "n1\n");
      return { seam: [["app.log", [["old", 9]]]], backlog: 2 };
    },
    ranges: [],
    cursor: [["app.log", [["old", 9]]]],
  },
  {
    name: "backlog ranges of several paths come in the order of the seam",
    setup: async (s) => {
      await s.write("a", "app.log", L3);
      await s.follow("a", "app.log");
      await s.write("b", "b.log", "b1\nb2\n");
      await s.follow("b", "b.log", { source: s.src("b.log") });
      return {
        seam: [["b.log", [["b", 6]]], ["app.log", [["a", 9]]]],
        backlog: 1,
      };
    },
    ranges: [["b.log", "b", 3, 6], ["app.log", "a", 6, 9]],
    cursor: [["b.log", [["b", 3]]], ["app.log", [["a", 6]]]],
  },
];

for (const c of resumes) Deno.test(`planResume: ${c.name}`, () => runCase(c));
for (const c of backlogs) Deno.test(`planResume: ${c.name}`, () => runCase(c));

Deno.test("planResume of a seam with no paths plans nothing", async () => {
  const plan = await planResume({
    wanted: new Map(),
    backlog: null,
    seam: new Map(),
    known: new KnownFiles(),
  });
  assertEquals(plan.ranges, []);
  assertEquals(plan.gaps, []);
  assertEquals(plan.cursor.text, "1");
});

// The subscriber cursor: the `1~` id a replayed subscriber carries.

const f = (ino: number): FileId => ({ dev: 3, ino });
const A = "/logs/a.log";
const B = "/logs/b.log";

interface CursorCase {
  name: string;
  initial: [string, [number, number][]][];
  advances: [string, number, number][];
  /** Per path, `[ino, offset]` in order. */
  expected: [string, [number, number][]][];
}

const cursors: CursorCase[] = [
  {
    name: "an empty cursor is the text 1",
    initial: [],
    advances: [],
    expected: [],
  },
  {
    name: "the initial positions are encoded as they are, path by path",
    initial: [[A, [[1, 10], [2, 5]]], [B, [[7, 0]]]],
    advances: [],
    expected: [[A, [[1, 10], [2, 5]]], [B, [[7, 0]]]],
  },
  {
    name: "advancing a file it has moves that entry in place; the order stays",
    initial: [[A, [[1, 10], [2, 5]]]],
    advances: [[A, 1, 30]],
    expected: [[A, [[1, 30], [2, 5]]]],
  },
  {
    name: "advancing a new file of a path adds it last",
    initial: [[A, [[1, 10]]]],
    advances: [[A, 2, 4]],
    expected: [[A, [[1, 10], [2, 4]]]],
  },
  {
    name:
      "a new path goes after the paths it has; re-encoding one path leaves the others as they were",
    initial: [[A, [[1, 10]]]],
    advances: [[B, 5, 1], [A, 1, 12], [B, 5, 2]],
    expected: [[A, [[1, 12]]], [B, [[5, 2]]]],
  },
  {
    name:
      `a path keeps at most ${MAX_FILES_PER_SOURCE} files, dropping the oldest`,
    initial: [[A, [[1, 1], [2, 2], [3, 3], [4, 4]]]],
    advances: [[A, 5, 5], [A, 3, 30]],
    expected: [[A, [[2, 2], [3, 30], [4, 4], [5, 5]]]],
  },
  {
    name: "an offset may go backwards (a truncated file is replayed from 0)",
    initial: [[A, [[1, 50]]]],
    advances: [[A, 1, 0]],
    expected: [[A, [[1, 0]]]],
  },
];

const asCursor = (
  list: [string, [number, number][]][],
): ResumeCursor =>
  new Map(
    list.map((
      [path, at],
    ) => [path, at.map(([ino, offset]) => ({ file: f(ino), offset }))]),
  );

for (const c of cursors) {
  Deno.test(`SubscriberCursor: ${c.name}`, () => {
    const cursor = new SubscriberCursor(asCursor(c.initial));
    for (const [path, ino, offset] of c.advances) {
      cursor.advance(path, f(ino), offset);
    }
    const expected = asCursor(c.expected);
    assertEquals(cursor.text, encodeCursor(expected));
    // What a client sends back decodes to the same positions.
    assertEquals(decodeId(cursor.text), {
      at: null,
      files: c.expected.length === 0 ? null : toDecoded(expected),
    });
  });
}

Deno.test("SubscriberCursor text follows every advance (it is not stale after being read)", () => {
  const cursor = new SubscriberCursor();
  const texts: string[] = [];
  for (const offset of [1, 2, 3]) {
    cursor.advance(A, f(1), offset);
    texts.push(cursor.text);
    assertEquals(cursor.text, texts.at(-1), "read twice, the same");
  }
  const h = pathHash(A);
  assertEquals(texts, [`1~${h}.3.1.1`, `1~${h}.3.1.2`, `1~${h}.3.1.3`]);
});

Deno.test("SubscriberCursor copies its initial positions: advancing it leaves the seam it came from unchanged", () => {
  const seam = asCursor([[A, [[1, 10]]]]);
  const cursor = new SubscriberCursor(seam);
  cursor.advance(A, f(1), 99);
  cursor.advance(A, f(2), 5);
  assertEquals(seam, asCursor([[A, [[1, 10]]]]));
});

// A file truncated in place (copytruncate, `: > app.log`) and written again
// has new first bytes: the known files take them (KnownFiles.head), so the
// file tailcast follows can still be read back for a resume, a catch-up and
// /context, and the head saved with a --state cursor is the file's.
Deno.test({
  name:
    "planResume replays a file truncated in place and written again, from what tailcast read of it since",
  fn: async () => {
    await using dir = await LogDir.create();
    const path = dir.file("app.log");
    await dir.append("app.log", "old line number 0001\n".repeat(5));
    const abort = new AbortController();
    const tail = await Tail.start({
      paths: [path],
      startAt: { kind: "start" },
      pollMs: null,
      signal: abort.signal,
    });
    const reader = tail.readable.getReader();
    const reading = (async () => {
      while (!(await reader.read()).done);
    })();
    try {
      const file = fileId(await Deno.stat(path));
      const offset = () => tail.sources[0]?.position?.offset;
      await waitFor(() => offset() === 105, "the old content read");
      await dir.truncate("app.log");
      await waitFor(() => offset() === 0, "the truncation seen");
      await dir.append("app.log", "NEW content line 0002\n".repeat(5));
      await waitFor(() => offset() === 110, "the new content read");
      const plan = await planResume({
        // The client got the first new line live, then left.
        wanted: toDecoded(new Map([[path, [{ file, offset: 22 }]]])),
        backlog: null,
        seam: new Map([[path, [{ file, offset: 110 }]]]),
        known: tail.known,
      });
      assertEquals(plan.gaps, []);
      assertEquals(
        plan.ranges.map((r) => [r.from, r.to]),
        [[22, 110]],
      );
    } finally {
      abort.abort();
      await reading;
      await tail.done;
    }
  },
});
