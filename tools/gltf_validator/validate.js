// Validate glTF/GLB files with the Khronos glTF-Validator; prints one JSON report per file (a JSON list).
// Usage: node validate.js FILE...   Exit status 0 when every file was read (the reports say what is wrong).
"use strict";
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

async function validate(file) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const report = await validator.validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 100,
    externalResourceFunction: (uri) =>
      new Promise((resolve, reject) => {
        fs.readFile(path.resolve(path.dirname(file), decodeURIComponent(uri)), (err, data) =>
          err ? reject(err.toString()) : resolve(new Uint8Array(data)));
      }),
  });
  return { file, issues: report.issues };
}

Promise.all(process.argv.slice(2).map(validate)).then(
  (reports) => process.stdout.write(JSON.stringify(reports) + "\n"),
  (error) => { process.stderr.write(String(error) + "\n"); process.exit(1); },
);
