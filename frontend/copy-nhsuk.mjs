// Run by `npm ci` (package.json's postinstall): copies nhsuk-frontend's built CSS and icons to
// api/static/nhsuk, which the app serves at /static/nhsuk. Two edits make the CSS work offline
// and under the app's Content-Security-Policy ('self' only):
// - its @font-face rules fetch the Frutiger web font from the NHS CDN: dropped, so the pages use
//   the fallback the design system names (Arial);
// - its icons are referenced at /assets/...: pointed at /static/nhsuk/assets/.
// It stops with an error if the CSS still names another origin (a new version to look at).
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

const dist = "node_modules/nhsuk-frontend/dist/nhsuk";
const out = "api/static/nhsuk";

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(`${dist}/assets`, `${out}/assets`, { recursive: true });

const css = readFileSync(`${dist}/nhsuk-frontend.min.css`, "utf8");
const fonts = css.match(/@font-face\{[^}]*\}/g) ?? [];
const served = css
  .replace(/@font-face\{[^}]*\}/g, "")
  .replaceAll("url(/assets/", "url(/static/nhsuk/assets/");
const foreign = served.match(/url\((?!\/static\/nhsuk\/)[^)]*\)/g);
if (fonts.length === 0 || foreign) {
  console.error(`nhsuk-frontend CSS: ${fonts.length} @font-face rules; other URLs: ${foreign}`);
  process.exit(1);
}
writeFileSync(`${out}/nhsuk-frontend.min.css`, served);
console.log(`nhsuk-frontend CSS and icons copied to ${out} (${fonts.length} @font-face rules dropped)`);
