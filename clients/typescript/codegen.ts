// Typed documents for the contract's operations, generated from the composed supergraph.
// `npm run generate` writes src/gql/ (committed) and the router's trusted-document manifest.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../../schema/supergraph.graphql',
  documents: ['../../schema/contract/operations/*.graphql'],
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
