/**
 * Discovery: what the user's paths and globs name, now. A literal path names
 * one file whether or not it exists yet; a glob is re-expanded whenever its
 * base directory changes, so files that start to match later are picked up.
 */
import { isAbsolute, join, resolve, sep } from "node:path";
import { ConfigError } from "../errors.ts";
import { compileGlob, isGlob, PatternError } from "../pattern.ts";

/** One path argument, resolved. */
export interface Pattern {
  /** As the user typed it. */
  readonly arg: string;
  /** Absolute path or absolute glob. */
  readonly path: string;
  readonly glob: boolean;
  /** Deepest directory with no glob character in it: what is watched and walked. */
  readonly base: string;
  /** Directory levels below `base` a match can be at (Infinity with `**`). */
  readonly depth: number;
  /** What a matching absolute path looks like. */
  readonly regex: RegExp | null;
}

/** Resolves a path argument against `cwd`; an unbalanced glob is a ConfigError. */
export function parsePattern(arg: string, cwd: string): Pattern {
  if (arg.length === 0) {
    throw new ConfigError(
      arg,
      "Cannot follow an empty path: give a file path or a glob",
    );
  }
  const path = isAbsolute(arg) ? resolve(arg) : resolve(cwd, arg);
  if (!isGlob(path)) {
    return { arg, path, glob: false, base: path, depth: 0, regex: null };
  }
  let regex: RegExp;
  try {
    regex = compileGlob(path, { what: "path" });
  } catch (error) {
    if (error instanceof PatternError) {
      throw new ConfigError(
        arg,
        `Cannot follow ${error.message.replace(/^Invalid glob/, "the glob")}`,
      );
    }
    throw error;
  }
  const parts = path.split(sep);
  const first = parts.findIndex((p) => isGlob(p));
  const base = parts.slice(0, first).join(sep) || sep;
  const rest = parts.slice(first);
  const depth = rest.includes("**") || rest.some((p) => p.includes("**"))
    ? Infinity
    : rest.length;
  return { arg, path, glob: true, base, depth, regex };
}

/** Regular files the glob matches now, in sorted order; unreadable directories are skipped. */
export async function expand(pattern: Pattern): Promise<string[]> {
  if (!pattern.glob) return [pattern.path];
  const found: string[] = [];
  await walk(pattern.base, 1, pattern, found);
  return found.sort();
}

async function walk(
  dir: string,
  level: number,
  pattern: Pattern,
  found: string[],
): Promise<void> {
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    // Missing or unreadable for now; a later scan tries again. Never read as "deleted".
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    let isFile = entry.isFile;
    let isDir = entry.isDirectory;
    if (entry.isSymlink) {
      try {
        const info = await Deno.stat(path);
        isFile = info.isFile;
        isDir = info.isDirectory;
      } catch {
        continue;
      }
    }
    if (isFile && pattern.regex!.test(path)) found.push(path);
    else if (isDir && level < pattern.depth) {
      await walk(path, level + 1, pattern, found);
    }
  }
}
