// Bundles the UI (docs/web.md): esbuild turns src/main.ts (and the CSS it imports) into one
// hashed .js and one hashed .css, and index.html is written with their names. The server embeds
// the output folder (web/embed.py); hashed names let it cache the assets for a year while
// index.html is revalidated on every load.
//   node build.mjs [--outdir DIR] [--dev]      (default: web/dist)
import * as esbuild from "esbuild";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const outIndex = args.indexOf("--outdir");
const outdir = resolve(outIndex >= 0 ? args[outIndex + 1] : join(here, "dist"));
const dev = args.includes("--dev");

// A clean folder: stale hashed files from an earlier build would be embedded too.
rmSync(outdir, { recursive: true, force: true });
mkdirSync(join(outdir, "ui"), { recursive: true });

const result = await esbuild.build({
  entryPoints: [join(here, "src/main.ts")],
  bundle: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: !dev,
  sourcemap: dev ? "inline" : false,
  outdir: join(outdir, "ui"),
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});

let js = "";
let css = "";
for (const out of Object.keys(result.metafile.outputs)) {
  if (out.endsWith(".js")) js = basename(out);
  if (out.endsWith(".css")) css = basename(out);
}
if (!js || !css) throw new Error(`build: expected one .js and one .css, got ${Object.keys(result.metafile.outputs)}`);
const html = readFileSync(join(here, "index.html"), "utf8").replace("@JS@", js).replace("@CSS@", css);
writeFileSync(join(outdir, "index.html"), html);
console.log(`web: ${outdir}: ui/${js}, ui/${css}`);
