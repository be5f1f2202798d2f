// Builds the playground into dist/, served by the router at /playground (router/src/playground.rs).
// Every asset is bundled (GraphiQL, Monaco and its workers, fonts): the page loads nothing
// from outside the router.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  base: '/playground/',
  plugins: [react()],
  // The contract's operations (../schema/contract/operations) are bundled as examples.
  server: { fs: { allow: ['..'] }, proxy: { '/graphql': { target: 'http://127.0.0.1:4000', ws: true } } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Monaco is large; the playground is a development tool loaded once.
    chunkSizeWarningLimit: 6000,
    assetsInlineLimit: 0,
    rollupOptions: {
      // React-compiler output in GraphiQL's packages carries "use no memo" directives,
      // meaningless in a bundle.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
  worker: { format: 'es' },
});
