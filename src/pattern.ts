/**
 * User patterns: every regular expression and glob that comes from a user
 * (query `grep=`, `where=` `~`/`!~`, `source=`, flags, the config file, alert
 * rules) is compiled here, so that matching it takes time linear in the
 * length of the text, whatever the pattern.
 *
 * How: V8's linear-time regex engine. Started with {@link V8_FLAGS} (the
 * tasks in deno.json, the compiled binary and the tests pass them), V8 runs a
 * pattern on its fast backtracking engine and, once one match has backtracked
 * more than a fixed number of steps, finishes that match on the linear-time
 * engine instead. That only works for patterns the linear engine can run, so
 * each pattern is first compiled with the `l` flag: one it cannot run
 * (backreferences, lookahead, case-insensitive or Unicode mode, huge
 * repetition counts) is refused with a {@link PatternError} that names the
 * construct. A case-insensitive pattern is rewritten into an equivalent one
 * with both cases of each letter (`[eE][rR]…`; in classes, ranges of ASCII
 * letters get their other case), which the linear engine can run. Without the flags no user pattern is accepted at all: a refusal
 * that says how to start tailcast, never a pattern that can freeze it.
 *
 * @module
 */
import { globToRegExp } from "@std/path/glob-to-regexp";

/** The V8 flags that turn on the linear-time engine (deno.json and the tests pass them). */
export const V8_FLAGS =
  "--enable-experimental-regexp-engine,--enable-experimental-regexp-engine-on-excessive-backtracks";

/** A pattern that cannot be compiled, or cannot be run in linear time. */
export class PatternError extends SyntaxError {
  /** The construct that cannot run in linear time, when that is the problem. */
  readonly construct: string | null;

  /** `construct` names what the linear engine cannot run, when that is the problem. */
  constructor(message: string, construct: string | null = null) {
    super(message);
    this.name = "PatternError";
    this.construct = construct;
  }
}

let available: boolean | null = null;

/** Whether this process runs with V8's linear-time engine ({@link V8_FLAGS}). */
export function linearEngine(): boolean {
  if (available === null) {
    try {
      // The `l` flag exists only with the linear engine's V8 flag.
      // deno-lint-ignore no-invalid-regexp
      new RegExp("a", "l");
      available = true;
    } catch {
      available = false;
    }
  }
  return available;
}

/** How a user's pattern is compiled. */
export interface PatternOptions {
  /** `i` (rewritten to simple case folding), `m` and `s` are accepted. */
  flags?: string;
  /** Longest pattern accepted, in UTF-16 code units. @default Infinity */
  maxLength?: number;
  /** What the pattern is, for messages: `grep`, `--include`, `where ~`… */
  what: string;
}

/**
 * Compiles a user's regular expression so that matching runs in linear time.
 *
 * @throws {PatternError} for an invalid pattern, one longer than
 * `maxLength`, one with a construct the linear engine cannot run, or when
 * the process runs without the linear engine.
 *
 * @example
 * ```ts
 * import { assert, assertThrows } from "@std/assert";
 * import { compilePattern, PatternError } from "./pattern.ts";
 * const re = compilePattern("^(a+)+$", { what: "grep" });
 * assert(!re.test("a".repeat(40) + "!")); // returns at once
 * assertThrows(() => compilePattern("(a)\\1", { what: "grep" }), PatternError, "backreference");
 * ```
 */
export function compilePattern(
  source: string,
  options: PatternOptions,
): RegExp {
  const { what } = options;
  const max = options.maxLength ?? Infinity;
  if (source.length > max) {
    throw new PatternError(
      `Invalid ${what}: the pattern is ${source.length} characters long; the limit is ${max}`,
    );
  }
  const flags = options.flags ?? "";
  const bad = flags.replace(/[ims]/g, "");
  if (bad !== "") {
    throw new PatternError(
      `Invalid ${what} flags "${flags}": only i, m and s are accepted`,
      `flag ${bad[0]}`,
    );
  }
  if (!linearEngine()) {
    throw new PatternError(
      `Cannot use the ${what} pattern ${
        quote(source)
      }: this tailcast runs without V8's linear-time regex engine, so it accepts no user patterns (start it with --v8-flags=${V8_FLAGS}; deno task start and the compiled binary do)`,
      "engine",
    );
  }
  const native = flags.replace("i", "");
  let text = source;
  try {
    new RegExp(text, native);
  } catch (error) {
    throw new PatternError(
      `Invalid ${what} regex ${quote(source)}: ${reason(error)}`,
    );
  }
  if (flags.includes("i")) text = foldCase(text);
  try {
    new RegExp(text, native + "l");
  } catch {
    const construct = nonLinear(source);
    throw new PatternError(
      `Cannot use the ${what} regex ${
        quote(source)
      }: it has ${construct}, which cannot be matched in linear time (rewrite it without it)`,
      construct,
    );
  }
  // The backtracking engine, with the linear one as its fallback.
  return new RegExp(text, native);
}

/**
 * Compiles a user's glob (`*`, `?`, `[abc]`, `{a,b}`, `**` across
 * directories) into a linear-time pattern over paths, with `@std/path`.
 *
 * @throws {PatternError} like {@link compilePattern}.
 *
 * @example
 * ```ts
 * import { assert, assertThrows } from "@std/assert";
 * import { compileGlob } from "./pattern.ts";
 * const re = compileGlob("/var/log/**\/*.log", { what: "source" });
 * assert(re.test("/var/log/a/b/x.log"));
 * assert(!re.test("/var/log/a/b/x.txt"));
 * ```
 */
export function compileGlob(glob: string, options: PatternOptions): RegExp {
  const { what } = options;
  const max = options.maxLength ?? Infinity;
  if (glob.length > max) {
    throw new PatternError(
      `Invalid ${what}: the glob is ${glob.length} characters long; the limit is ${max}`,
    );
  }
  const unclosed = unbalanced(glob);
  if (unclosed !== null) {
    throw new PatternError(`Invalid glob ${quote(glob)}: ${unclosed}`);
  }
  let regex: RegExp;
  try {
    // Extended globs (`!(…)`) need lookahead, which has no linear-time form.
    regex = globToRegExp(glob, {
      extended: false,
      globstar: true,
    });
  } catch (error) {
    throw new PatternError(`Invalid glob ${quote(glob)}: ${reason(error)}`);
  }
  try {
    return compilePattern(regex.source, { what: `${what} glob` });
  } catch (error) {
    if (!(error instanceof PatternError)) throw error;
    throw new PatternError(
      error.message.replace(quote(regex.source), quote(glob)),
      error.construct,
    );
  }
}

/**
 * `pattern`, or a copy of it whose `test` does not depend on earlier calls
 * (a `g` or `y` pattern would skip matches between lines).
 */
export function stateless(pattern: RegExp): RegExp {
  return pattern.global || pattern.sticky
    ? new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""))
    : pattern;
}

/** Whether `text` has glob characters. */
export function isGlob(text: string): boolean {
  return /[*?[\]{}]/.test(text);
}

/** An unclosed `[` or `{` (a lone closing one is a literal, as in a shell). */
function unbalanced(glob: string): string | null {
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "\\") {
      if (i === glob.length - 1) return "it ends with a lone \\";
      i++;
    } else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close === -1) {
        return "a [ is not closed (escape a literal [ as \\[)";
      }
      i = close;
    } else if (c === "{") {
      braces++;
    } else if (c === "}" && braces > 0) {
      braces--;
    }
  }
  return braces > 0 ? "a { is not closed (escape a literal { as \\{)" : null;
}

/** The first construct of `source` the linear engine cannot run, in words. */
function nonLinear(source: string): string {
  const backref = /\\(?:[1-9]\d*|k<[^>]*>)/.exec(source);
  if (backref) return `a backreference (${backref[0]})`;
  const look = /\(\?<?[=!]/.exec(source);
  if (look) return `a lookaround (${look[0]})`;
  const count = /\{(\d+)(?:,(\d*))?\}/.exec(source);
  if (count) return `a repetition count too large to expand (${count[0]})`;
  if (/\\[pP]\{/.test(source)) return "a Unicode property escape";
  return "a construct the linear-time engine does not support";
}

/**
 * `source` with every letter matching both cases: outside classes a letter
 * becomes `[aA]`; in a class each letter, and each range of ASCII letters,
 * gets its other case. Escapes and group names are left as they are.
 */
function foldCase(source: string): string {
  let out = "";
  for (let i = 0; i < source.length; i++) {
    const c = source[i];
    if (c === "\\") {
      // \k<name> names a group: keep the name as it is.
      const escape = ESCAPE.exec(source.slice(i))![0];
      out += escape;
      i += escape.length - 1;
    } else if (
      c === "(" && source.startsWith("(?<", i) &&
      !/^\(\?<[=!]/.test(source.slice(i))
    ) {
      const end = source.indexOf(">", i);
      out += source.slice(i, end + 1);
      i = end;
    } else if (c === "[") {
      let j = i + 1;
      let body = "";
      let extra = "";
      if (source[j] === "^") body += source[j++];
      if (source[j] === "]") body += source[j++];
      while (j < source.length && source[j] !== "]") {
        if (source[j] === "\\") {
          const escape = ESCAPE.exec(source.slice(j))![0];
          body += escape;
          j += escape.length;
          continue;
        }
        const a = source[j];
        if (
          source[j + 1] === "-" && j + 2 < source.length &&
          source[j + 2] !== "]"
        ) {
          const b = source[j + 2];
          body += `${a}-${b}`;
          if (ascii(a) && ascii(b) && isUpper(a) === isUpper(b)) {
            extra += `${swap(a)}-${swap(b)}`;
          }
          j += 3;
          continue;
        }
        body += a;
        if (isLetter(a)) extra += swap(a);
        j++;
      }
      out += `[${body}${extra}]`;
      i = j;
    } else if (isLetter(c)) {
      out += `[${c}${swap(c)}]`;
    } else {
      out += c;
    }
  }
  return out;
}

/** One escape sequence, whole: letters in it are not letters to fold. */
const ESCAPE =
  /^\\(?:k<[^>]*>|[pPu]\{[^}]*\}|c[A-Za-z]|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[^])/;

function ascii(c: string): boolean {
  return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z");
}

/** A character with another case of one code unit (`a`/`A`, `é`/`É`). */
function isLetter(c: string): boolean {
  return c.length === 1 && swap(c) !== c && swap(c).length === 1;
}

function isUpper(c: string): boolean {
  return c !== c.toLowerCase();
}

function swap(c: string): string {
  return isUpper(c) ? c.toLowerCase() : c.toUpperCase();
}

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? text.slice(0, 80) + "…" : text);
}

function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, "");
}
