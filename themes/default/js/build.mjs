// Copies the pinned libsodium and fflate (installed by `npm ci` from package-lock.json, integrity
// checked) into ../static/vendor/, which is served to the desk and never committed.
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "static", "vendor");
const files = [
  ["libsodium-sumo/dist/modules-sumo/libsodium-sumo.js", "libsodium-sumo.js"],
  ["libsodium-wrappers-sumo/dist/modules-sumo/libsodium-wrappers.js", "libsodium-wrappers.js"],
  // fflate writes the ZIP of an evidence package exported in the browser (desk/evidence.js).
  ["fflate/umd/index.js", "fflate.js"],
];
mkdirSync(vendor, { recursive: true });
for (const [from, to] of files) {
  copyFileSync(join(here, "node_modules", from), join(vendor, to));
}
console.log(`libsodium and fflate copied to ${vendor}`);
