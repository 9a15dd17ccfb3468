// Runs web/js/schedule_parse.js under node for tests/browser/test_schedule_parse_parity.py.
// Usage: node schedule_parse_runner.mjs <schedule_parse.js> < cases.json   (cases: [{text, frames}])
// Prints one JSON array of parseSchedule results, in order.
import fs from "node:fs";

// A data: URL makes node read the file as an ES module whatever its extension and the nearest package.json say.
const source = fs.readFileSync(process.argv[2], "utf8");
const { parseSchedule, formatScheduleError } = await import(
  `data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);
const cases = JSON.parse(fs.readFileSync(0, "utf8"));
const results = cases.map(({ text, frames }) => {
  const result = parseSchedule(text, frames);
  return result.error ? { ...result, formatted: formatScheduleError(result.error) } : result;
});
process.stdout.write(JSON.stringify(results));
