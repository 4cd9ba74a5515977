/**
 * Release binaries for every target, with exactly the permissions of the
 * `compile` task in deno.json (the one place they are written down).
 *
 *   deno task compile:all
 */
const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

const config = JSON.parse(await Deno.readTextFile("deno.json"));
const words: string[] = config.tasks.compile.split(/\s+/);
const output = words.indexOf("--output");
const base = words.slice(1, output); // "compile" and the flags
const entry = words.slice(output + 2);
for (const target of TARGETS) {
  const out = `dist/tailcast-${target}${
    target.includes("windows") ? ".exe" : ""
  }`;
  const args = [...base, "--target", target, "--output", out, ...entry];
  const { code } = await new Deno.Command("deno", {
    args,
    stdout: "inherit",
    stderr: "inherit",
  })
    .output();
  if (code !== 0) Deno.exit(code);
}
