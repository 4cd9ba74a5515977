/**
 * Globs → regular expressions, for paths: `*` and `?` stay within one path
 * segment, `**` as a whole segment spans any number of directories, `[abc]`,
 * `[!abc]` and `{a,b}` work as in a shell, and `\` escapes the next character.
 * Our own (tiny) because `node:path` `matchesGlob` reads an environment
 * variable that a least-privilege binary may not read.
 */

/** A glob that cannot be turned into a pattern. */
export class GlobError extends SyntaxError {
  constructor(glob: string, reason: string) {
    super(`Invalid glob "${glob}": ${reason}`);
    this.name = "GlobError";
  }
}

/** Whether `text` has glob characters (unescaped or not). */
export function isGlob(text: string): boolean {
  return /[*?[\]{}]/.test(text);
}

/**
 * The anchored RegExp a glob stands for.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { globToRegExp } from "./glob.ts";
 * assert(globToRegExp("/var/log/**\/*.log").test("/var/log/a/b/x.log"));
 * assert(!globToRegExp("/var/log/*.log").test("/var/log/a/x.log"));
 * ```
 */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === "\\") {
      i++;
      if (i >= glob.length) throw new GlobError(glob, "it ends with a lone \\");
      out += escape(glob[i]);
    } else if (ch === "*") {
      const segmentStart = i === 0 || glob[i - 1] === "/";
      if (glob[i + 1] === "*" && segmentStart) {
        const segmentEnd = i + 2 === glob.length || glob[i + 2] === "/";
        if (segmentEnd) {
          // `**/` matches zero or more directories; a final `**` anything below.
          if (i + 2 === glob.length) out += ".*";
          else out += "(?:[^/]*/)*";
          i += 2;
          continue;
        }
      }
      while (glob[i + 1] === "*") i++;
      out += "[^/]*";
    } else if (ch === "?") {
      out += "[^/]";
    } else if (ch === "[") {
      let j = i + 1;
      let negate = false;
      if (glob[j] === "!" || glob[j] === "^") {
        negate = true;
        j++;
      }
      let body = "";
      // A `]` right after the opening bracket is a literal.
      if (glob[j] === "]") {
        body += "\\]";
        j++;
      }
      while (j < glob.length && glob[j] !== "]") {
        const c = glob[j];
        if (c === "\\" && j + 1 < glob.length) {
          body += "\\" + glob[j + 1];
          j += 2;
          continue;
        }
        body += c === "-" ? "-" : escapeClass(c);
        j++;
      }
      if (j >= glob.length) {
        throw new GlobError(
          glob,
          "a [ is not closed (escape a literal [ as \\[ or [[])",
        );
      }
      if (body === "") throw new GlobError(glob, "[] matches nothing");
      out += `(?!/)[${negate ? "^" : ""}${body}]`;
      i = j;
    } else if (ch === "{") {
      braces++;
      out += "(?:";
    } else if (ch === "," && braces > 0) {
      out += "|";
    } else if (ch === "}" && braces > 0) {
      braces--;
      out += ")";
    } else {
      out += escape(ch);
    }
  }
  if (braces > 0) {
    throw new GlobError(glob, "a { is not closed (escape a literal { as \\{)");
  }
  try {
    return new RegExp(`^${out}$`);
  } catch (error) {
    throw new GlobError(glob, (error as Error).message);
  }
}

function escape(ch: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(ch) ? "\\" + ch : ch;
}

function escapeClass(ch: string): string {
  return /[\]\\^[]/.test(ch) ? "\\" + ch : ch;
}
