import { assertEquals, assertNotEquals, assertThrows } from "@std/assert";
import {
  decodeMessage,
  encodeBatch,
  encodeMessage,
  messageId,
  sourceToken,
  streamEpoch,
  subjectOf,
  subjectToken,
  WIRE_VERSION,
  WireError,
} from "../../src/nats/wire.ts";

const encoder = new TextEncoder();

Deno.test("subjectToken keeps letters, digits and -, writes every other byte as _XX, so distinct names stay distinct", () => {
  assertEquals(subjectToken("web-1"), "web-1");
  assertEquals(subjectToken("a.b"), "a_2Eb");
  assertEquals(subjectToken("a_2Eb"), "a_5F2Eb");
  assertEquals(subjectToken("hé"), "h_C3_A9");
  for (const name of ["a b", "a*b", "a>b", "a.b.c"]) {
    assertEquals(/^[A-Za-z0-9_-]+$/.test(subjectToken(name)), true, name);
  }
});

Deno.test("subjectOf names a path of a host, or the host itself, under the prefix", () => {
  const path = subjectOf("logs.prod", "web-1.example", "/var/log/app.log");
  assertEquals(
    path,
    `logs.prod.events.web-1_2Eexample.${sourceToken("/var/log/app.log")}`,
  );
  assertEquals(/^[0-9a-f]{16}$/.test(path.split(".").at(-1)!), true);
  assertEquals(
    subjectOf("tailcast", "web-1", null),
    "tailcast.events.web-1._",
  );
  assertNotEquals(sourceToken("/a.log"), sourceToken("/b.log"));
});

Deno.test("messageId is the same for the same range after the same sequence, and differs otherwise", () => {
  const file = { dev: 2049, ino: 77 };
  const id = messageId("s", 5, { file, from: 0, to: 100 });
  assertEquals(id, messageId("s", 5, { file, from: 0, to: 100 }));
  // A file written again over the same range follows another message.
  assertNotEquals(id, messageId("s", 9, { file, from: 0, to: 100 }));
  assertNotEquals(id, messageId("s", 5, { file, from: 0, to: 101 }));
  assertNotEquals(
    id,
    messageId("s", 5, { file: { dev: 2049, ino: 78 }, from: 0, to: 100 }),
  );
  assertNotEquals(messageId("s", 5, null), messageId("s", 6, null));
});

Deno.test("streamEpoch names a stream by its name and creation time", () => {
  const epoch = streamEpoch("tailcast", "2026-12-01T04:55:59.578557718Z");
  assertEquals(/^[0-9a-z]{1,12}$/.test(epoch), true);
  assertEquals(
    epoch,
    streamEpoch("tailcast", "2026-12-01T04:55:59.578557718Z"),
  );
  assertNotEquals(
    epoch,
    streamEpoch("tailcast", "2026-12-01T04:56:00.000000000Z"),
  );
});

Deno.test("a batch, a notice and an alert are read back as they were written", () => {
  const json = [
    '{"id":"1.2:3","source":"web-1:/a.log","offset":0,"line":"a\\nb","time":"t"}',
    '{"id":"1.2:6","source":"web-1:/a.log","offset":3,"line":"c","time":"t"}',
  ];
  const batch = decodeMessage(encodeBatch({
    host: "web-1",
    source: "/a.log",
    dev: 1,
    ino: 2,
    from: 0,
    to: 6,
    ends: [3, 6],
    files: [[1, 2, 6]],
  }, json));
  const { bytes, starts } = batch.lines!;
  assertEquals(
    json.map((_, i) =>
      new TextDecoder().decode(bytes.subarray(starts[i], starts[i + 1] - 1))
    ),
    json,
  );
  assertEquals(batch.header, {
    v: WIRE_VERSION,
    kind: "batch",
    host: "web-1",
    source: "/a.log",
    dev: 1,
    ino: 2,
    from: 0,
    to: 6,
    ends: [3, 6],
    files: [[1, 2, 6]],
  });
  const notice = decodeMessage(encodeMessage({
    host: "web-1",
    notice: { kind: "rotate", source: "/a.log", how: "renamed" },
    files: [],
  }));
  assertEquals(notice.header.kind, "notice");
  assertEquals(notice.lines, null);
  const alert = decodeMessage(encodeMessage({
    host: "web-1",
    alert: {
      rule: "r",
      kind: "threshold",
      message: "m",
      window: "1m",
      time: "t",
    },
    files: [],
  }));
  assertEquals(alert.header.kind === "alert" && alert.header.alert.rule, "r");
});

Deno.test("decodeMessage refuses what is not a message of this format, saying why", () => {
  const bad = [
    ["hello", /header is not JSON/],
    [JSON.stringify({ v: 2, kind: "batch" }), /format 2.*upgrade/],
    [JSON.stringify({ v: 1, kind: "batch", files: [] }), /without host/],
    [
      JSON.stringify({
        v: 1,
        kind: "batch",
        host: "h",
        source: "/a",
        ends: [1, 2],
        files: [],
      }) + "\n{}",
      /do not match/,
    ],
    [JSON.stringify({ v: 1, kind: "other", host: "h", files: [] }), /kind/],
  ] as const;
  for (const [text, why] of bad) {
    const error = assertThrows(
      () => decodeMessage(encoder.encode(text)),
      WireError,
    );
    assertEquals(why.test(error.message), true, error.message);
  }
});
