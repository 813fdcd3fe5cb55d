// Grade one URL path of a host with MDN's HTTP Observatory, as its own scanner does for "/".
//
// usage: node observatory_scan.mjs <package dir> <host:port> [path]
// The package's CLI always scans "/"; this runs the same retrieval, tests and grading on any
// path, so an API route gets the grade a browser-facing page would.
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pkg, host, urlPath = "", httpPort, httpsPort] = process.argv.slice(2);
const load = (file) => import(pathToFileURL(path.join(pkg, "src", file)).href);

const { retrieve } = await load("retriever/retriever.js");
const { ALL_TESTS, NUM_TESTS, ALGORITHM_VERSION } = await load("constants.js");
const { getGradeForScore, getScoreModifier } = await load("grader/grader.js");
const { MINIMUM_SCORE_FOR_EXTRA_CREDIT } = await load("grader/charts.js");

const ports = httpPort ? { httpPort, httpsPort } : {};
const r = await retrieve(host, { path: urlPath, ...ports });
if (!r.responses.auto) {
  console.log(JSON.stringify({ error: "the site seems to be down" }));
  process.exit(1);
}
const results = ALL_TESTS.map((test) => test(r));
let passed = 0;
let withCredit = 100;
let uncurved = 100;
const tests = {};
for (const result of results) {
  if (result.result) {
    result.scoreModifier = getScoreModifier(result.result);
    passed += result.pass ? 1 : 0;
    withCredit += result.scoreModifier;
    if (result.scoreModifier < 0) uncurved += result.scoreModifier;
  }
  tests[result.constructor.name] = {
    pass: result.pass, result: result.result, scoreModifier: result.scoreModifier,
  };
}
const score = uncurved >= MINIMUM_SCORE_FOR_EXTRA_CREDIT ? withCredit : uncurved;
const final = getGradeForScore(score);
console.log(JSON.stringify({
  scan: {
    algorithmVersion: ALGORITHM_VERSION, path: urlPath || "/", grade: final.grade,
    score: final.score, statusCode: r.responses.auto.status, testsPassed: passed,
    testsFailed: NUM_TESTS - passed, responseHeaders: r.responses.auto.headers,
  },
  tests,
}, null, 2));
