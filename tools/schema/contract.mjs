// The contract ratchet: validates every operation of the frontend contract (the
// repository's copy in schema/contract/operations, or CONTRACT_DIR) against
// schema/supergraph.graphql, and compares the result with schema/contract-passing.txt, the
// operations that must validate. When the frontends' original (../shared/contract) is next
// to the clone, the copy must equal it file for file: a contract change is copied in on
// purpose (`cp -r ../shared/contract/. schema/contract/`), never drifts silently.
//
// Version 2 of the contract (68 operations) added 19 that the supergraph did not serve at
// first; a ratchet (schema/contract-passing.txt, the operations that must validate) kept the
// served ones from regressing meanwhile. All 68 are served now, so every operation is
// required again: the check fails when any operation of the contract does not validate or
// is not listed (a contract change is copied in together with what serves it). --update
// rewrites the list with every operation that validates today. The typed client, the
// playground's examples and the tests that send contract operations use the listed ones
// (contract-operations.mjs, crates/e2e-harness).
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Kind, buildASTSchema, parse, validate, visit } from "graphql";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const contractDir = process.env.CONTRACT_DIR ?? join(root, "schema", "contract", "operations");
const listPath = join(root, "schema", "contract-passing.txt");

const original = join(root, "..", "shared", "contract");
if (!process.env.CONTRACT_DIR && existsSync(original)) {
  const copy = join(root, "schema", "contract");
  const files = (dir, prefix = "") =>
    readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? files(dir, join(prefix, entry.name)) : [join(prefix, entry.name)],
    );
  const theirs = files(original).sort();
  const ours = files(copy).sort();
  const differing = [...new Set([...theirs, ...ours])].filter(
    (file) =>
      !theirs.includes(file) ||
      !ours.includes(file) ||
      readFileSync(join(original, file), "utf8") !== readFileSync(join(copy, file), "utf8"),
  );
  if (differing.length > 0) {
    console.error(`schema/contract differs from ${original}: ${differing.join(", ")}`);
    console.error("copy the contract in on purpose: cp -r ../shared/contract/. schema/contract/");
    process.exit(1);
  }
  console.log(`contract: schema/contract is the same as ${original}`);
}

if (!existsSync(contractDir)) {
  console.error(`contract operations not found at ${contractDir} (set CONTRACT_DIR)`);
  process.exit(1);
}

const schema = buildASTSchema(parse(readFileSync(join(root, "schema", "supergraph.graphql"), "utf8")), {
  assumeValidSDL: true,
});

const definitions = readdirSync(contractDir)
  .filter((file) => file.endsWith(".graphql"))
  .sort()
  .flatMap((file) => parse(readFileSync(join(contractDir, file), "utf8")).definitions.map((d) => ({ file, d })));
const fragments = new Map(
  definitions.filter(({ d }) => d.kind === Kind.FRAGMENT_DEFINITION).map(({ d }) => [d.name.value, d]),
);
const operations = definitions.filter(({ d }) => d.kind === Kind.OPERATION_DEFINITION);

// An operation with exactly the fragments it uses, transitively.
function documentFor(operation) {
  const used = new Map();
  const pending = [operation];
  while (pending.length > 0) {
    visit(pending.pop(), {
      FragmentSpread(node) {
        const name = node.name.value;
        if (!used.has(name) && fragments.has(name)) {
          used.set(name, fragments.get(name));
          pending.push(fragments.get(name));
        }
      },
    });
  }
  return { kind: Kind.DOCUMENT, definitions: [operation, ...used.values()] };
}

const results = operations.map(({ file, d }) => {
  // graphql-js 16 does not reject an operation whose root type is missing (a mutation
  // against a schema without Mutation would validate vacuously).
  const errors = schema.getRootType(d.operation)
    ? validate(schema, documentFor(d))
    : [new Error(`the supergraph has no ${d.operation} type`)];
  return { name: `${file.replace(/\.graphql$/, "")}/${d.name.value}`, errors };
});
const passing = results.filter((r) => r.errors.length === 0).map((r) => r.name);

if (process.argv.includes("--update")) {
  writeFileSync(listPath, passing.join("\n") + "\n");
  console.log(`wrote ${passing.length} operations to ${listPath}`);
}

const expected = existsSync(listPath)
  ? readFileSync(listPath, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))
  : [];
const regressions = expected.filter((name) => !passing.includes(name));
const unknown = expected.filter((name) => !results.some((r) => r.name === name));
const newlyPassing = passing.filter((name) => !expected.includes(name));

if (process.argv.includes("--verbose")) {
  for (const r of results) {
    console.log(`${r.errors.length === 0 ? "ok  " : "FAIL"} ${r.name}`);
    for (const e of r.errors) console.log(`       ${e.message}`);
  }
}
console.log(`contract: ${passing.length} of ${results.length} operations validate against schema/supergraph.graphql`);
if (newlyPassing.length > 0) {
  console.log(`  newly passing (add them to schema/contract-passing.txt): ${newlyPassing.join(", ")}`);
}
const failing = results.filter((r) => r.errors.length > 0);
const notYet = failing.filter((r) => !regressions.includes(r.name));
if (notYet.length > 0) {
  console.log(`  not served yet (${notYet.length}, not listed): ${notYet.map((r) => r.name).join(", ")}`);
}
// Every operation is required: one not served (or served but not listed) fails the check.
if (notYet.length > 0 || newlyPassing.length > 0) {
  console.error("  every contract operation must validate and be listed in schema/contract-passing.txt");
  for (const r of notYet) {
    console.error(`  NOT SERVED: ${r.name}`);
    for (const e of r.errors) console.error(`       ${e.message}`);
  }
  process.exit(1);
}
if (unknown.length > 0 || regressions.length > 0) {
  for (const name of unknown) console.error(`  listed but not in the contract: ${name}`);
  for (const r of failing.filter((r) => regressions.includes(r.name))) {
    console.error(`  REGRESSION: ${r.name} does not validate:`);
    for (const e of r.errors) console.error(`       ${e.message}`);
  }
  process.exit(1);
}
