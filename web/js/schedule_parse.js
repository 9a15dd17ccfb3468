// The prompt-schedule syntax of modules/freenoise/prompt_schedule.py, in the browser: the timeline widget shows what the
// node will run, and a mistake where the node will report it. Keep in step with the Python parser: the same entries,
// the same messages, the same line and column (tests/browser/test_schedule_parse_parity.py runs both on one list).
// Pure: no DOM, no app. Positions count Unicode code points, as Python's str does.

const QUOTES = "\"'";
const SPACES = " \t\r";
const BLANKS = " \t\r\n";
const ESCAPES = new Map([['"', '"'], ["'", "'"], ["\\", "\\"], ["n", "\n"], ["t", "\t"]]);
const EXAMPLE = '"0": "a camel running"';
const DECIMAL_DIGIT = /^\p{Nd}$/u;

function isDigit(char) {
  return char !== "" && DECIMAL_DIGIT.test(char);
}

/** Value of a decimal digit of any script: Unicode encodes each such digit set as ten consecutive code points 0..9. */
function digitValue(char) {
  let code = char.codePointAt(0);
  let steps = 0;
  while (isDigit(String.fromCodePoint(code - 1))) {
    code -= 1;
    steps += 1;
  }
  return steps % 10;
}

function describe(char) {
  if (!char) return "the end of the text";
  if (char === "\r" || char === "\n") return "a line break";
  return char === '"' ? `'${char}'` : `"${char}"`;
}

class ScheduleSyntaxError extends Error {
  constructor(message, position) {
    super(message);
    this.position = position;
  }
}

class Scanner {
  constructor(text) {
    this.chars = Array.from(text); // code points, so columns agree with Python
    this.pos = 0;
  }

  peek(ahead = 0) {
    return this.chars[this.pos + ahead] ?? "";
  }

  where(pos = this.pos) {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < pos; i++) {
      if (this.chars[i] === "\n") {
        line += 1;
        lineStart = i + 1;
      }
    }
    // offset is in UTF-16 units, what a <textarea>'s selection range takes
    return { line, column: pos - lineStart + 1, offset: this.chars.slice(0, pos).join("").length };
  }

  fail(message, pos = this.pos) {
    return new ScheduleSyntaxError(message, this.where(pos));
  }

  skip(chars) {
    while (this.peek() && chars.includes(this.peek())) this.pos += 1;
  }

  takeWhile(predicate) {
    const start = this.pos;
    while (this.peek() && predicate(this.peek())) this.pos += 1;
    return this.chars.slice(start, this.pos).join("");
  }
}

/** The key's frame as a BigInt: a typed number of any length is reported as written, as in Python. */
function readKey(sc) {
  const start = sc.pos;
  const quote = sc.peek() && QUOTES.includes(sc.peek()) ? sc.peek() : "";
  if (quote) {
    sc.pos += 1;
    sc.skip(" \t");
  }
  const sign = sc.takeWhile((c) => c === "+" || c === "-");
  const digits = sc.takeWhile(isDigit);
  if (!digits) {
    const found = sc.peek();
    if (found === ":" || (quote && found === quote)) throw sc.fail('expected a frame number before ":"');
    throw sc.fail(`expected a frame number, found ${describe(found)}`);
  }
  if (sc.peek() === "." && isDigit(sc.peek(1))) {
    throw sc.fail(`frame numbers are whole numbers; found a fraction after '${digits}'`, start);
  }
  if (sign.includes("-")) {
    throw sc.fail(
      `frame numbers count from 0 at the start; negative frame ${sign}${digits} (counting from the end) is `
        + "not supported",
      start,
    );
  }
  if (quote) {
    sc.skip(" \t");
    if (sc.peek() !== quote) {
      throw sc.fail(`expected the closing ${quote} after frame number ${digits}, found ${describe(sc.peek())}`);
    }
    sc.pos += 1;
  }
  return Array.from(digits).reduce((n, c) => n * 10n + BigInt(digitValue(c)), 0n);
}

function readPrompt(sc) {
  const quote = sc.peek();
  if (!quote || !QUOTES.includes(quote)) {
    throw sc.fail(`expected a quoted prompt after ":", e.g. ${EXAMPLE}; found ${describe(quote)}`);
  }
  const opening = sc.pos;
  sc.pos += 1;
  const parts = [];
  for (;;) {
    const char = sc.peek();
    if (char === "" || char === "\n") throw sc.fail(`this prompt has no closing ${quote} before ${describe(char)}`, opening);
    sc.pos += 1;
    if (char === quote) return parts.join("");
    if (char === "\\" && sc.peek()) {
      const next = sc.peek();
      sc.pos += 1;
      parts.push(ESCAPES.get(next) ?? `\\${next}`);
    } else {
      parts.push(char);
    }
  }
}

function parseOrThrow(text, frames) {
  const sc = new Scanner(text);
  sc.skip(BLANKS);
  const braceAt = sc.peek() === "{" ? sc.pos : null;
  if (braceAt !== null) sc.pos += 1;
  const seen = new Map(); // frame (as text) -> position of its first key
  const entries = [];
  let endAt = sc.pos;
  for (;;) {
    sc.skip(BLANKS);
    endAt = sc.pos; // where an empty schedule is reported
    const char = sc.peek();
    if (char === "}") {
      if (braceAt === null) throw sc.fail('found "}" without an opening "{"');
      sc.pos += 1;
      sc.skip(BLANKS);
      if (sc.peek()) throw sc.fail(`expected nothing after the closing "}", found ${describe(sc.peek())}`);
      break;
    }
    if (!char) {
      if (braceAt !== null) {
        const opened = sc.where(braceAt);
        throw sc.fail(`expected "}" to close the "{" at line ${opened.line}, column ${opened.column}`);
      }
      break;
    }
    const keyAt = sc.where();
    const frame = readKey(sc);
    const first = seen.get(frame.toString());
    if (first) {
      throw new ScheduleSyntaxError(
        `frame ${frame} is scheduled twice (first at line ${first.line}, column ${first.column}); `
          + "expected each frame number once",
        keyAt,
      );
    }
    if (frames !== null && frame >= BigInt(frames)) {
      throw new ScheduleSyntaxError(
        `frame ${frame} is past the end of the video: it has ${frames} frames, so keys must be 0 to ${frames - 1}`,
        keyAt,
      );
    }
    sc.skip(SPACES);
    if (sc.peek() !== ":") throw sc.fail(`expected ":" after frame number ${frame}, found ${describe(sc.peek())}`);
    sc.pos += 1;
    sc.skip(SPACES);
    entries.push({ frame: Number(frame), prompt: readPrompt(sc) });
    seen.set(frame.toString(), keyAt);
    sc.skip(SPACES);
    if (sc.peek() === ",") {
      sc.pos += 1;
    } else if (!["", "\n", "}"].includes(sc.peek())) {
      throw sc.fail(`expected "," or a new line after the prompt, found ${describe(sc.peek())}`);
    }
  }
  if (entries.length === 0) throw sc.fail(`the schedule is empty; expected at least one entry like ${EXAMPLE}`, endAt);
  return entries.sort((a, b) => a.frame - b.frame);
}

/**
 * Parse a keyframe prompt schedule. `frames` (a whole number, or null for no bound) is the video length.
 * Returns {entries: [{frame, prompt}] sorted by frame, error: null}, or {entries: null, error: {message, line, column,
 * offset}} with 1-based line and column in code points and offset in UTF-16 units. Never throws for any string text.
 */
export function parseSchedule(text, frames = null) {
  if (typeof text !== "string") throw new TypeError(`the prompt schedule must be text, got ${typeof text}`);
  if (frames !== null && !(Number.isSafeInteger(frames) && frames >= 1)) {
    throw new RangeError(`frames must be a positive whole number or null, got ${frames}`);
  }
  try {
    return { entries: parseOrThrow(text, frames), error: null };
  } catch (err) {
    if (!(err instanceof ScheduleSyntaxError)) throw err;
    return { entries: null, error: { message: err.message, ...err.position } };
  }
}

/** The error as the node reports it: "line L, column C: message". */
export function formatScheduleError(error) {
  return `line ${error.line}, column ${error.column}: ${error.message}`;
}
