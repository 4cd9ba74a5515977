import { assertEquals, assertMatch, assertThrows } from "@std/assert";
import {
  CursorError,
  decodeId,
  encodeCursor,
  entries,
  MAX_ID_BYTES,
  pathHash,
  positionId,
  toDecoded,
} from "../../src/sink/cursor.ts";
import { MAX_FILES_PER_SOURCE, type ResumeCursor } from "../../src/types.ts";

const SAFE36 = Number.MAX_SAFE_INTEGER.toString(36);

Deno.test("pathHash is FNV-1a 32-bit in base 36", () => {
  // The published FNV-1a test vectors.
  assertEquals(pathHash(""), (0x811c9dc5).toString(36));
  assertEquals(pathHash("a"), (0xe40c292c).toString(36));
  assertEquals(pathHash("foobar"), (0xbf9cf968).toString(36));
  assertEquals(pathHash("/var/log/app.log"), pathHash("/var/log/app.log"));
  // At most 7 characters: what a cursor entry accepts.
  for (const path of ["", "/a", "/var/log/x".repeat(50)]) {
    assertMatch(pathHash(path), /^[0-9a-z]{1,7}$/);
  }
});

Deno.test("positionId and entries write every number in base 36", () => {
  assertEquals(positionId("k3x", 71, 9), "2.k3x.1z.9");
  assertEquals(positionId("e", 0, 0), "2.e.0.0");
  assertEquals(
    entries("h", [
      { file: { dev: 1, ino: 35 }, offset: 36 },
      { file: { dev: 2, ino: 3 }, offset: 0 },
    ]),
    "~h.1.z.10~h.2.3.0",
  );
  assertEquals(entries("h", []), "");
});

Deno.test("decodeId reads a journal position, with or without file entries", () => {
  assertEquals(decodeId("2.k3x.1z.9"), {
    at: { epoch: "k3x", seq: 71, end: 9 },
    files: null,
  });
  assertEquals(decodeId(`2.e.${SAFE36}.${SAFE36}`).at, {
    epoch: "e",
    seq: Number.MAX_SAFE_INTEGER,
    end: Number.MAX_SAFE_INTEGER,
  });
  const withFiles = decodeId("2.e.1.4~abc.1.2.4~abc.1.1.z~def.0.0.0");
  assertEquals(withFiles.at, { epoch: "e", seq: 1, end: 4 });
  assertEquals(
    withFiles.files,
    new Map([
      ["abc", [
        { file: { dev: 1, ino: 2 }, offset: 4 },
        { file: { dev: 1, ino: 1 }, offset: 35 },
      ]],
      ["def", [{ file: { dev: 0, ino: 0 }, offset: 0 }]],
    ]),
  );
});

Deno.test("decodeId reads a 1~ file cursor, and encodeCursor writes one it reads back", () => {
  const cursor: ResumeCursor = new Map([
    ["/var/log/app.log", [
      { file: { dev: 2049, ino: 1234567 }, offset: 0 },
      { file: { dev: 2049, ino: 7654321 }, offset: 987654321 },
    ]],
    ["/var/log/other.log", [{ file: { dev: 1, ino: 2 }, offset: 3 }]],
  ]);
  const text = encodeCursor(cursor);
  assertMatch(text, /^1~/);
  assertEquals(decodeId(text), { at: null, files: toDecoded(cursor) });
  assertEquals(
    toDecoded(cursor).get(pathHash("/var/log/app.log")),
    cursor.get("/var/log/app.log"),
  );
  // No files: "1" alone, read back as no positions.
  assertEquals(encodeCursor(new Map()), "1");
  assertEquals(decodeId("1"), { at: null, files: null });
});

Deno.test("toDecoded copies the lists: changing the cursor later does not change it", () => {
  const list = [{ file: { dev: 1, ino: 2 }, offset: 3 }];
  const decoded = toDecoded(new Map([["/a", list]]));
  list.push({ file: { dev: 1, ino: 3 }, offset: 0 });
  assertEquals(decoded.get(pathHash("/a"))?.length, 1);
});

Deno.test("decodeId rejects garbage with CursorError", () => {
  for (
    const text of [
      "",
      "garbage",
      "2",
      "2.",
      "2.e.1",
      "2.e.1.2.3",
      "2..1.2",
      "2.E.1.2",
      "2.e.-1.2",
      "2.e.1.2 ",
      " 2.e.1.2",
      "3.e.1.2",
      "1.e.1.2",
      "2.abcdefghijklm.1.2",
      "2.e.1.2\n",
      "2.é.1.2",
      "0~abc.1.2.3",
      "~abc.1.2.3",
      // The form of ids before the journal.
      "1.2:3",
    ]
  ) {
    const error = assertThrows(
      () => decodeId(text),
      CursorError,
      undefined,
      JSON.stringify(text),
    );
    assertEquals(error.name, "CursorError");
  }
  assertMatch(
    assertThrows(() => decodeId("garbage"), CursorError).message,
    /not a tailcast cursor/,
  );
});

Deno.test("decodeId rejects numbers beyond the safe integers", () => {
  const big = "zzzzzzzzzzz"; // 36^11 - 1 > 2^53
  for (
    const text of [
      `2.e.${big}.1`,
      `2.e.1.${big}`,
      `2.e.1.1~abc.${big}.1.1`,
      `1~abc.1.${big}.1`,
      `1~abc.1.1.${big}`,
      // 12 digits: longer than any safe integer in base 36.
      "2.e.100000000000.1",
    ]
  ) {
    assertThrows(() => decodeId(text), CursorError, undefined, text);
  }
});

Deno.test("decodeId rejects malformed file entries with CursorError naming the entry", () => {
  for (
    const entry of [
      "",
      "abc",
      "abc.1.2",
      "abc.1.2.3.4",
      "abcdefgh.1.2.3",
      "ABC.1.2.3",
      "abc.1.2.-3",
      "abc.1..3",
      "abc.1.2.3 ",
    ]
  ) {
    for (
      const text of [`1~${entry}`, `2.e.1.2~${entry}`, `1~a.1.1.1~${entry}`]
    ) {
      const error = assertThrows(
        () => decodeId(text),
        CursorError,
        undefined,
        text,
      );
      assertMatch(error.message, /malformed cursor entry/);
    }
  }
});

Deno.test("decodeId rejects more files for one path than tailcast follows", () => {
  const one = (i: number) => `~abc.1.${i}.0`;
  const most = "1" +
    Array.from({ length: MAX_FILES_PER_SOURCE }, (_, i) => one(i)).join("");
  assertEquals(decodeId(most).files?.get("abc")?.length, MAX_FILES_PER_SOURCE);
  assertMatch(
    assertThrows(() => decodeId(most + one(99)), CursorError).message,
    new RegExp(`more than ${MAX_FILES_PER_SOURCE} files`),
  );
});

Deno.test("decodeId accepts a cursor of exactly 256 characters and rejects a longer one, before parsing it", () => {
  let text = "2.e.1.2";
  let i = 0;
  // Entries of 11 characters, then one of 8 to 18 to end at exactly 256.
  while (MAX_ID_BYTES - text.length > 18) {
    text += `~${String.fromCharCode(97 + i % 26)}${
      Math.floor(i++ / 26)
    }.a.b.100`;
  }
  text += "~z.1.2." + "1".repeat(MAX_ID_BYTES - text.length - 7);
  assertEquals(text.length, MAX_ID_BYTES);
  assertEquals(decodeId(text).at, { epoch: "e", seq: 1, end: 2 });
  const long = text + "1";
  assertMatch(
    assertThrows(() => decodeId(long), CursorError).message,
    /257 characters long.*at most 256/,
  );
  // Too long is said before anything else is looked at.
  assertMatch(
    assertThrows(() => decodeId("x".repeat(10_000)), CursorError).message,
    /10000 characters long/,
  );
});
