// The router's trusted documents (router-config/persisted-documents.json) are the documents
// codegen hashed (src/gql/persisted-documents.json): id → text, the ids clients send as
// `documentId`. `--check` fails when the router's copy differs (CI).
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '..', 'src', 'gql', 'persisted-documents.json');
const target = join(here, '..', '..', '..', 'router-config', 'persisted-documents.json');
const documents = JSON.parse(readFileSync(source, 'utf8'));
const manifest = `${JSON.stringify(documents, null, 2)}\n`;
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {}
  if (current !== manifest) {
    console.error('router-config/persisted-documents.json is out of date: run `npm run generate` in clients/typescript');
    process.exit(1);
  }
  console.log(`router-config/persisted-documents.json: ${Object.keys(documents).length} trusted documents, up to date`);
} else {
  writeFileSync(target, manifest);
  console.log(`wrote ${Object.keys(documents).length} trusted documents to router-config/persisted-documents.json`);
}
