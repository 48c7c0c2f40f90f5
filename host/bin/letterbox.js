#!/usr/bin/env node
// The `letterbox` command: compiled from host/cli.ts by `make build`.
"use strict";
const path = require("path");
const fs = require("fs");
const cli = path.join(__dirname, "../../build/host/cli.js");
if (!fs.existsSync(cli)) {
  console.error("letterbox: not built yet. Run `make build` (or `make sim`) in " + path.resolve(__dirname, "../.."));
  process.exit(1);
}
require(cli).main(process.argv).catch((err) => {
  console.error("letterbox: " + (err && err.message ? err.message : String(err)));
  process.exit(1);
});
