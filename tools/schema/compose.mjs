// Composes the subgraph schemas exported from code (schema/<name>.graphql, listed in
// schema/subgraphs.json) into schema/supergraph.graphql with The Guild's composition, the
// same vendor as the router.
//
//   node tools/schema/compose.mjs           write schema/supergraph.graphql
//   node tools/schema/compose.mjs --check   fail when the checked-in file differs
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { composeServices } from "@theguild/federation-composition";
import { parse } from "graphql";

const schemaDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "schema");
const supergraphPath = join(schemaDir, "supergraph.graphql");
const subgraphs = JSON.parse(readFileSync(join(schemaDir, "subgraphs.json"), "utf8"));

const result = composeServices(
  subgraphs.map(({ name, url }) => ({
    name,
    url,
    typeDefs: parse(readFileSync(join(schemaDir, `${name}.graphql`), "utf8")),
  })),
);
if (result.errors && result.errors.length > 0) {
  console.error("composition failed:");
  for (const error of result.errors) console.error(`  - ${error.message}`);
  process.exit(1);
}
const supergraph = result.supergraphSdl.trimEnd() + "\n";

if (process.argv.includes("--check")) {
  let current = "";
  try {
    current = readFileSync(supergraphPath, "utf8");
  } catch {}
  if (current !== supergraph) {
    console.error("schema/supergraph.graphql is stale: it differs from the composition of schema/<subgraph>.graphql.");
    console.error("Regenerate with: scripts/regenerate-schemas");
    process.exit(1);
  }
  console.log(`supergraph is up to date (${subgraphs.length} subgraphs)`);
} else {
  writeFileSync(supergraphPath, supergraph);
  console.log(`wrote ${supergraphPath}`);
}
