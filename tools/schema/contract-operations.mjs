// The contract operations the supergraph serves: those listed in schema/contract-passing.txt
// (the contract ratchet), each file of schema/contract/operations cut down to its listed
// operations and the fragments they use. No dependencies: definitions are split where a line
// starts with `query`, `mutation`, `subscription` or `fragment`, as the contract is written.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Names (`file/Operation`) listed in schema/contract-passing.txt. */
export function listedNames() {
  return new Set(
    readFileSync(join(root, "schema", "contract-passing.txt"), "utf8")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith("#")),
  );
}

function definitionsOf(text) {
  const definitions = [];
  let current = null;
  for (const line of text.split("\n")) {
    const match = /^(query|mutation|subscription|fragment)\s+([A-Za-z_][A-Za-z0-9_]*)/.exec(line);
    if (match) {
      if (current) definitions.push(current);
      current = { kind: match[1], name: match[2], lines: [] };
    }
    if (current && !line.trimStart().startsWith("#")) current.lines.push(line);
  }
  if (current) definitions.push(current);
  return definitions.map((d) => ({ ...d, text: d.lines.join("\n").trimEnd() }));
}

const spreads = (text) => [...text.matchAll(/\.\.\.\s*([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);

/** [{ file, text }]: every operations file with only its listed operations and the fragments
 * any listed operation uses; files left with nothing are omitted. */
export function listedOperationFiles(dir = join(root, "schema", "contract", "operations")) {
  const listed = listedNames();
  const files = readdirSync(dir)
    .filter((file) => file.endsWith(".graphql"))
    .sort()
    .map((file) => ({ file, definitions: definitionsOf(readFileSync(join(dir, file), "utf8")) }));
  const fragments = new Map(
    files.flatMap(({ definitions }) => definitions.filter((d) => d.kind === "fragment").map((d) => [d.name, d])),
  );
  const used = new Set();
  const pending = files.flatMap(({ file, definitions }) =>
    definitions.filter((d) => d.kind !== "fragment" && listed.has(`${file.replace(/\.graphql$/, "")}/${d.name}`)),
  );
  const keep = new Set(pending);
  while (pending.length > 0) {
    for (const name of spreads(pending.pop().text)) {
      if (!used.has(name) && fragments.has(name)) {
        used.add(name);
        keep.add(fragments.get(name));
        pending.push(fragments.get(name));
      }
    }
  }
  return files
    .map(({ file, definitions }) => ({
      file,
      text: definitions.filter((d) => keep.has(d)).map((d) => d.text).join("\n\n"),
    }))
    .filter(({ text }) => text.length > 0)
    .map(({ file, text }) => ({ file, text: `${text}\n` }));
}
