/**
 * Deadman rules against what is followed. An event's `source` is the
 * followed path made absolute, so a rule's source is resolved the same way
 * (a relative path against the working directory); a source that no
 * followed path or glob can produce would never see a line and fire
 * forever, so it is refused at start-up.
 */
import { isAbsolute, resolve } from "node:path";
import { parsePattern } from "../source/discover.ts";
import { isGlob } from "../pattern.ts";
import { type AlertRule, AlertRuleError } from "./rule.ts";

/**
 * `rules` with every deadman source resolved against `cwd`; throws
 * AlertRuleError, naming the rule and the followed `paths`, for a source
 * none of them can produce.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { followedSources } from "./deadman.ts";
 * const [rule] = followedSources(
 *   [{ kind: "deadman", name: "quiet", source: "app.log", windowMs: 300_000 }],
 *   ["logs/*.log", "app.log"],
 *   "/srv",
 * );
 * assertEquals(rule.kind === "deadman" && rule.source, "/srv/app.log");
 * ```
 */
export function followedSources(
  rules: readonly AlertRule[],
  paths: readonly string[],
  cwd: string,
): AlertRule[] {
  const files = paths.filter((p) => p !== "-").map((p) => parsePattern(p, cwd));
  return rules.map((rule) => {
    if (rule.kind !== "deadman" || rule.source === null) return rule;
    const given = rule.source;
    const source = given === "-"
      ? given
      : isAbsolute(given)
      ? resolve(given)
      : resolve(cwd, given);
    const followed = source === "-" ? paths.includes("-") : !isGlob(source) &&
      files.some((f) => f.regex ? f.regex.test(source) : f.path === source);
    if (!followed) {
      const shown = source === given ? given : `${given} (${source})`;
      throw new AlertRuleError(
        `Alert rule ${
          JSON.stringify(rule.name)
        } waits for lines from ${shown}, ${
          isGlob(source)
            ? "a glob: a deadman rule watches one file, or every source without from"
            : "which no followed path or glob names, so it would fire forever"
        }; follow it too, or name one of the followed files (${
          paths.join(", ")
        })`,
      );
    }
    return { ...rule, source };
  });
}
