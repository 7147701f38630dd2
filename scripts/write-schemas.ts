/** `npm run schemas`: write schema/*.schema.json from the TypeBox schemas (src/embedding/schema-files.ts). */
import { writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { schemaFiles } from "../src/embedding/schema-files.js";

const dir = join(process.cwd(), "schema");
mkdirSync(dir, { recursive: true });
for (const [name, text] of Object.entries(schemaFiles())) {
  writeFileSync(join(dir, name), text);
  process.stdout.write(`wrote schema/${name} (${text.length} bytes)\n`);
}
