// node build.mjs: writes ../../static/vendor/codemirror/manifest-editor.min.js.
import { build } from "esbuild";
import { mkdirSync, copyFileSync } from "node:fs";

const out = new URL("../../static/vendor/codemirror/", import.meta.url);
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["entry.mjs"],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  legalComments: "eof",
  outfile: new URL("manifest-editor.min.js", out).pathname,
});
copyFileSync("node_modules/@codemirror/view/LICENSE", new URL("LICENSE", out).pathname);
console.log("built static/vendor/codemirror/manifest-editor.min.js");
