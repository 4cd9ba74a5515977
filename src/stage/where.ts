/**
 * `--where`: a small expression language over events, parsed once into a
 * predicate. Nothing is ever evaluated as code: the text becomes a tree of
 * closures, and every mistake is a {@link WhereError} that says where and why.
 *
 * ```text
 * or         := and (("or" | "||") and)*
 * and        := not (("and" | "&&") not)*
 * not        := ("not" | "!") not | "(" or ")" | comparison
 * comparison := field [op value]
 * op         := "=" | "==" | "!=" | ">" | ">=" | "<" | "<=" | "~" | "!~"
 * value      := number | "double quoted" | 'single quoted' | bareword
 * ```
 *
 * - `level`, `msg`, `line` and `source` are the event's own; any other name is
 *   looked up in `fields`, where `http.status` walks nested objects (a key
 *   that itself contains dots, such as `{"http.status": 500}`, also matches).
 * - A bare `field` is true when the field exists and is truthy.
 * - A number written bare (`500`, `-1.5`) compares numerically with a field
 *   that is a number or a numeric string (`"503"`); anything else, including
 *   a quoted `"500"`, compares as strings. `=` and `!=` on `level` ignore case.
 * - A missing field (absent or `null`) makes `= > >= < <= ~` false and
 *   `!=`, `!~` true.
 * - `~` is a regular expression search (not anchored: use `^` and `$`),
 *   compiled once. In quotes, `\"`, `\'` and `\\` are escapes; any other
 *   backslash is kept, so `"\d+"` is the regex `\d+`.
 *
 * @module
 */
import { compilePattern, PatternError } from "../pattern.ts";

/** What a `--where` predicate can look at: the parts of an event it reads. */
export interface Filterable {
  /** The event's source. */
  readonly source: string;
  /** The line's text. */
  readonly line: string;
  /** The recognised level, lower-case. */
  readonly level?: string;
  /** The recognised message. */
  readonly msg?: string;
  /** Fields parsed from the line. */
  readonly fields?: Record<string, unknown>;
}

/** A `--where` expression that cannot be parsed, with the place it went wrong. */
export class WhereError extends SyntaxError {
  /** The expression as given. */
  readonly expression: string;
  /** Offset (UTF-16 code units, 0-based) in `expression` of the problem. */
  readonly position: number;
  /** Why, without the expression and column (the message has both). */
  readonly reason: string;

  /** The message quotes `expression` and points at `position`. */
  constructor(expression: string, position: number, reason: string) {
    const column = [...expression.slice(0, position)].length + 1;
    super(
      `Invalid --where ${
        JSON.stringify(expression)
      } at column ${column}: ${reason}`,
    );
    this.name = "WhereError";
    this.expression = expression;
    this.position = position;
    this.reason = reason;
  }
}

/** A compiled `--where` expression. */
export type WherePredicate = (event: Filterable) => boolean;

/** Deepest nesting of parentheses and `not` accepted, so no input can exhaust the stack. */
const MAX_DEPTH = 64;

/**
 * Parses `text` once into a predicate over events.
 *
 * @throws {WhereError} when `text` is not a valid expression.
 *
 * @example
 * ```ts
 * import { assertEquals, assertMatch, assertThrows } from "@std/assert";
 * import { compileWhere } from "./where.ts";
 * const slowApi = compileWhere('status>=500 and path~"^/api"');
 * const event = { source: "/x.log", line: "", fields: { status: "503", path: "/api/v1" } };
 * assertEquals(slowApi(event), true);
 * assertEquals(slowApi({ ...event, fields: { status: 200, path: "/api" } }), false);
 * assertMatch(String(assertThrows(() => compileWhere("status>="))), /at column 9: expected a value after >=/);
 * ```
 */
export function compileWhere(text: string): WherePredicate {
  return new Parser(text).parse();
}

// ---------------------------------------------------------------- parsing

interface Value {
  /** The value's text, unquoted and unescaped. */
  readonly text: string;
  /** Set when the value was written as a bare number. */
  readonly number?: number;
  readonly position: number;
}

type Op = "=" | "!=" | ">" | ">=" | "<" | "<=" | "~" | "!~";

const OPS: Record<string, Op> = {
  "=": "=",
  "==": "=",
  "!=": "!=",
  ">": ">",
  ">=": ">=",
  "<": "<",
  "<=": "<=",
  "~": "~",
  "!~": "!~",
};

const OP_LIST = "= != > >= < <= ~ !~";
const FIELD_CHAR = /[\p{L}\p{N}_.@$-]/u;
const OP_CHAR = /[=!<>~]/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

type Keyword = "and" | "or" | "not";

class Parser {
  readonly #text: string;
  #pos = 0;
  #depth = 0;

  constructor(text: string) {
    this.#text = text;
  }

  parse(): WherePredicate {
    this.#space();
    if (this.#pos >= this.#text.length) {
      throw this.#error(
        "the expression is empty: write a condition such as level=error",
      );
    }
    const predicate = this.#or();
    this.#space();
    if (this.#pos < this.#text.length) {
      if (this.#text[this.#pos] === ")") {
        throw this.#error(") has no matching (");
      }
      throw this.#error(
        `unexpected ${this.#describe()}: expected and, or, or the end of the expression`,
      );
    }
    return predicate;
  }

  #or(): WherePredicate {
    const parts = [this.#and()];
    while (this.#keyword("or")) parts.push(this.#operand("or"));
    return anyOf(parts);
  }

  #and(): WherePredicate {
    const parts = [this.#not()];
    while (this.#keyword("and")) parts.push(this.#operand("and"));
    return allOf(parts);
  }

  /** The condition after `and`/`or`, with an error that names the keyword. */
  #operand(keyword: Keyword): WherePredicate {
    this.#space();
    if (this.#atEnd() || this.#text[this.#pos] === ")") {
      throw this.#error(`expected a condition after ${keyword}`);
    }
    return keyword === "or" ? this.#and() : this.#not();
  }

  #not(): WherePredicate {
    this.#space();
    const start = this.#pos;
    if (this.#keyword("not")) {
      this.#deeper(start);
      this.#space();
      if (this.#atEnd() || this.#text[this.#pos] === ")") {
        throw this.#error("expected a condition after not");
      }
      const inner = this.#not();
      this.#depth--;
      return (e) => !inner(e);
    }
    if (this.#text[this.#pos] === "(") {
      this.#deeper(start);
      this.#pos++;
      this.#space();
      if (this.#atEnd() || this.#text[this.#pos] === ")") {
        throw this.#error("expected a condition after (");
      }
      const inner = this.#or();
      this.#space();
      if (this.#text[this.#pos] !== ")") {
        throw this.#error(
          this.#atEnd()
            ? `expected ) to close the ( at column ${this.#column(start)}`
            : `unexpected ${this.#describe()}: expected and, or, or ) to close the ( at column ${
              this.#column(start)
            }`,
        );
      }
      this.#pos++;
      this.#depth--;
      return inner;
    }
    return this.#comparison();
  }

  #comparison(): WherePredicate {
    const field = this.#fieldName();
    if (field === undefined) {
      throw this.#error(
        this.#atEnd()
          ? "expected a condition"
          : `expected a field name or (, not ${this.#describe()}`,
      );
    }
    const afterName = this.#pos;
    this.#space();
    const opStart = this.#pos;
    const c = this.#text[this.#pos];
    if (c !== undefined && OP_CHAR.test(c) && !this.#isNotPrefix()) {
      let end = this.#pos;
      while (end < this.#text.length && OP_CHAR.test(this.#text[end])) end++;
      const opText = this.#text.slice(this.#pos, end);
      const op = OPS[opText];
      if (op === undefined) throw this.#unknownOp(opText);
      this.#pos = end;
      const value = this.#value(opText);
      return compare(this.#text, field, op, value);
    }
    // No operator: a bare field, unless something glued to the name looks
    // like an attempt at one (`status:500`).
    if (
      afterName === opStart && c !== undefined && !/[\s()"']/.test(c) &&
      !this.#at("&&") && !this.#at("||")
    ) {
      let end = this.#pos;
      while (
        end < this.#text.length && !/[\s()"']/.test(this.#text[end]) &&
        !FIELD_CHAR.test(this.#text[end])
      ) end++;
      throw this.#unknownOp(this.#text.slice(this.#pos, end));
    }
    const get = accessor(field);
    return (e) => truthy(get(e));
  }

  #unknownOp(opText: string): WhereError {
    const hint = opText === "=~" ? " (for a regex match write ~)" : "";
    return this.#error(
      `unknown operator ${
        JSON.stringify(opText)
      }${hint}: use one of ${OP_LIST}`,
    );
  }

  #value(op: string): Value {
    this.#space();
    const position = this.#pos;
    const missing = () =>
      this.#error(
        `expected a value after ${op}${
          this.#atEnd() ? "" : `, not ${this.#describe()}`
        }`,
      );
    const c = this.#text[this.#pos];
    if (c === '"' || c === "'") return { text: this.#quoted(c), position };
    if (c === undefined || c === "(" || c === ")") throw missing();
    let end = this.#pos;
    while (end < this.#text.length) {
      const ch = this.#text[end];
      if (/[\s()"']/.test(ch)) break;
      const two = this.#text.slice(end, end + 2);
      if (two === "&&" || two === "||") break;
      end++;
    }
    const text = this.#text.slice(this.#pos, end);
    if (text === "" || /^(and|or|not)$/i.test(text)) throw missing();
    this.#pos = end;
    return NUMBER.test(text)
      ? { text, number: Number(text), position }
      : { text, position };
  }

  #quoted(quote: string): string {
    const start = this.#pos;
    let out = "";
    let i = start + 1;
    while (i < this.#text.length) {
      const ch = this.#text[i];
      if (ch === quote) {
        this.#pos = i + 1;
        return out;
      }
      if (ch === "\\" && i + 1 < this.#text.length) {
        const next = this.#text[i + 1];
        if (next === '"' || next === "'" || next === "\\") {
          out += next;
        } else {
          out += ch + next;
        }
        i += 2;
        continue;
      }
      out += ch;
      i++;
    }
    // #pos is still at the opening quote: the error points there.
    throw this.#error(`unterminated string: add the closing ${quote}`);
  }

  #fieldName(): string | undefined {
    let end = this.#pos;
    while (end < this.#text.length && FIELD_CHAR.test(this.#text[end])) end++;
    if (end === this.#pos) return undefined;
    const name = this.#text.slice(this.#pos, end);
    if (/^(and|or|not)$/i.test(name)) return undefined;
    this.#pos = end;
    return name;
  }

  /** Consumes `keyword` (or its symbol) if it comes next, skipping space first. */
  #keyword(keyword: Keyword): boolean {
    this.#space();
    const symbol = keyword === "and" ? "&&" : keyword === "or" ? "||" : null;
    if (symbol !== null && this.#at(symbol)) {
      this.#pos += 2;
      return true;
    }
    if (keyword === "not" && this.#isNotPrefix()) {
      this.#pos += 1;
      return true;
    }
    const end = this.#pos + keyword.length;
    if (
      this.#text.slice(this.#pos, end).toLowerCase() === keyword &&
      (end >= this.#text.length || !FIELD_CHAR.test(this.#text[end]))
    ) {
      this.#pos = end;
      return true;
    }
    return false;
  }

  /** A `!` that negates rather than starting `!=` or `!~`. */
  #isNotPrefix(): boolean {
    const next = this.#text[this.#pos + 1];
    return this.#text[this.#pos] === "!" && next !== "=" && next !== "~";
  }

  #deeper(at: number): void {
    if (++this.#depth > MAX_DEPTH) {
      this.#pos = at;
      throw this.#error(
        `nested more than ${MAX_DEPTH} deep: simplify the expression`,
      );
    }
  }

  #space(): void {
    while (this.#pos < this.#text.length && /\s/.test(this.#text[this.#pos])) {
      this.#pos++;
    }
  }

  #at(s: string): boolean {
    return this.#text.startsWith(s, this.#pos);
  }

  #atEnd(): boolean {
    return this.#pos >= this.#text.length;
  }

  /** The token at the current position, quoted, for messages. */
  #describe(): string {
    const rest = this.#text.slice(this.#pos);
    const token = /^(?:[\p{L}\p{N}_.@$-]+|[=!<>~]+|&&|\|\||\S)/u.exec(rest);
    return JSON.stringify(token ? token[0] : rest);
  }

  #column(position: number): number {
    return [...this.#text.slice(0, position)].length + 1;
  }

  #error(reason: string): WhereError {
    return new WhereError(this.#text, this.#pos, reason);
  }
}

// ------------------------------------------------------------- evaluation

/** Fields that are the event's own; every other name is looked up in `fields`. */
const OWN = new Set(["level", "msg", "line", "source"]);

/**
 * A chain of `or`: a loop over its parts, not a closure per `or`, so that
 * no chain is too long for the call stack when the predicate runs.
 */
function anyOf(parts: readonly WherePredicate[]): WherePredicate {
  if (parts.length === 1) return parts[0];
  return (e) => {
    for (const p of parts) if (p(e)) return true;
    return false;
  };
}

/** A chain of `and`, as {@link anyOf}. */
function allOf(parts: readonly WherePredicate[]): WherePredicate {
  if (parts.length === 1) return parts[0];
  return (e) => {
    for (const p of parts) if (!p(e)) return false;
    return true;
  };
}

function accessor(field: string): (e: Filterable) => unknown {
  if (OWN.has(field)) {
    const key = field as "level" | "msg" | "line" | "source";
    return (e) => e[key];
  }
  if (!field.includes(".")) {
    // The usual case, without the walk: one key at the top.
    return (e) => {
      const f = e.fields;
      return typeof f === "object" && f !== null && Object.hasOwn(f, field)
        ? f[field]
        : undefined;
    };
  }
  return (e) => e.fields === undefined ? undefined : lookup(e.fields, field);
}

/** A value found under a key that ends the field name, or an object to look further in. */
type Step = { readonly found: unknown } | {
  readonly value: unknown;
  readonly at: number;
};

/**
 * The value at `field` in `fields`, where `a.b.c` finds `{"a.b": {"c": 1}}`
 * as well as `{"a": {"b": {"c": 1}}}`: at each level the longest key that
 * matches the next parts of the name is tried first, the others after it
 * when it leads nowhere. Only own properties count: `constructor` is not a
 * field of every object.
 *
 * The keys tried at a level are the object's own keys that match there, not
 * every run of parts joined with dots (that took time cubic in the parts);
 * and the walk keeps its own stack, as a name may have more parts than the
 * call stack has room for.
 */
function lookup(fields: unknown, field: string): unknown {
  const stack: Step[] = [{ value: fields, at: 0 }];
  while (stack.length > 0) {
    const step = stack.pop()!;
    if ("found" in step) {
      if (step.found !== undefined) return step.found;
      continue;
    }
    const { value, at } = step;
    if (typeof value !== "object" || value === null) continue;
    const dot = field.indexOf(".", at);
    if (dot === -1 || Array.isArray(value)) {
      // One key can match: the rest of the name, or an array's index.
      const key = field.slice(at, dot === -1 ? undefined : dot);
      if (!Object.hasOwn(value, key)) continue;
      const next = (value as Record<string, unknown>)[key];
      stack.push(dot === -1 ? { found: next } : { value: next, at: dot + 1 });
      continue;
    }
    const keys = Object.getOwnPropertyNames(value).filter((key) => {
      const end = at + key.length;
      return field.startsWith(key, at) &&
        (end === field.length || field[end] === ".");
    });
    // Shortest pushed first, so the longest is tried first.
    keys.sort((a, b) => a.length - b.length);
    for (const key of keys) {
      const next = (value as Record<string, unknown>)[key];
      const end = at + key.length;
      stack.push(
        end === field.length ? { found: next } : { value: next, at: end + 1 },
      );
    }
  }
  return undefined;
}

function truthy(value: unknown): boolean {
  return value !== undefined && value !== null && Boolean(value);
}

/** A field's value as text: objects as JSON. Never throws, whatever the value. */
function asString(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) {
    try {
      const json = JSON.stringify(value);
      if (typeof json === "string") return json;
    } catch {
      // A BigInt or a cycle in it: the object as text, below.
    }
  }
  try {
    return String(value);
  } catch {
    // An object without a prototype has no toString.
    return Object.prototype.toString.call(value);
  }
}

function asNumber(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isNaN(value) ? undefined : value;
  if (typeof value === "string" && NUMBER.test(value.trim())) {
    return Number(value.trim());
  }
  return undefined;
}

function compare(
  text: string,
  field: string,
  op: Op,
  value: Value,
): WherePredicate {
  const get = accessor(field);
  const negative = op === "!=" || op === "!~";
  if (op === "~" || op === "!~") {
    let regex: RegExp;
    try {
      regex = compilePattern(value.text, { what: op });
    } catch (error) {
      if (!(error instanceof PatternError)) throw error;
      const why = error.message;
      throw new WhereError(
        text,
        value.position,
        why[0].toLowerCase() + why.slice(1),
      );
    }
    return (e) => {
      const v = get(e);
      if (v === undefined || v === null) return negative;
      return regex.test(asString(v)) !== negative;
    };
  }
  const caseless = field === "level";
  const wanted = caseless ? value.text.toLowerCase() : value.text;
  const num = value.number;
  /** Compares the field's value with the value: <0, 0, >0. */
  const order = (v: unknown): number => {
    if (num !== undefined) {
      const n = asNumber(v);
      if (n !== undefined) return n < num ? -1 : n > num ? 1 : 0;
    }
    const s = caseless && (op === "=" || op === "!=")
      ? asString(v).toLowerCase()
      : asString(v);
    const w = caseless && (op === "=" || op === "!=") ? wanted : value.text;
    return s < w ? -1 : s > w ? 1 : 0;
  };
  const test: (c: number) => boolean = {
    "=": (c: number) => c === 0,
    "!=": (c: number) => c !== 0,
    ">": (c: number) => c > 0,
    ">=": (c: number) => c >= 0,
    "<": (c: number) => c < 0,
    "<=": (c: number) => c <= 0,
  }[op];
  return (e) => {
    const v = get(e);
    if (v === undefined || v === null) return negative;
    return test(order(v));
  };
}
