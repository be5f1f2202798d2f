// Typed documents for the contract's operations, generated from the composed supergraph.
// `npm run generate` writes src/gql/ (committed) and the router's trusted-document manifest.
// Only the operations the supergraph serves (schema/contract-passing.txt, the contract
// ratchet) are generated: they are written to .contract/ (not committed) first.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { CodegenConfig } from '@graphql-codegen/cli';
import { listedOperationFiles } from '../../tools/schema/contract-operations.mjs';

rmSync('.contract', { recursive: true, force: true });
mkdirSync('.contract');
for (const { file, text } of listedOperationFiles()) writeFileSync(`.contract/${file}`, text);

const config: CodegenConfig = {
  schema: '../../schema/supergraph.graphql',
  documents: ['.contract/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: {
        // The router's trusted documents: sha256 of each document's text.
        persistedDocuments: { mode: 'embedHashInDocument', hashAlgorithm: 'sha256' },
        fragmentMasking: false,
      },
      config: {
        enumsAsTypes: true,
        scalars: { DateTime: 'string', ID: 'string' },
        useTypeImports: true,
      },
    },
  },
};

export default config;
