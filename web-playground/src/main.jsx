// Douyin Mall's playground: GraphiQL (docs explorer, history, query-builder explorer) with
// four panels of our own: sign-in, the contract's examples, live subscriptions and the
// shopping assistant's chat.

import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import '@graphiql/plugin-explorer/style.css';
import './style.css';

import { StrictMode, useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import { explorerPlugin } from '@graphiql/plugin-explorer';

import { current, onChange } from './session.js';
import { playgroundFetcher } from './transport.js';
import { exampleNamed, recordResult } from './examples.js';
import { signInPlugin } from './panels/SignIn.jsx';
import { examplesPlugin } from './panels/Examples.jsx';
import { livePlugin } from './panels/Live.jsx';
import { assistantPlugin } from './panels/Assistant.jsx';

const plugins = [signInPlugin, examplesPlugin, livePlugin, assistantPlugin, explorerPlugin()];
const firstExample = exampleNamed('ProductList');

function Playground() {
  const [session, setSession] = useState(current());
  useEffect(() => onChange(setSession), []);
  // A new fetcher (and WebSocket) per session: a socket is authenticated once, when it opens.
  const fetcher = useMemo(() => playgroundFetcher(recordResult), [session?.accessToken]);
  useEffect(() => () => fetcher.dispose(), [fetcher]);
  return (
    <GraphiQL
      fetcher={fetcher}
      plugins={plugins}
      visiblePlugin={signInPlugin}
      defaultTabs={[{ query: firstExample?.query, variables: JSON.stringify(firstExample?.variables ?? {}, null, 2) }]}
      defaultEditorToolsVisibility="variables"
      isHeadersEditorEnabled
    >
      <GraphiQL.Logo>
        <span className="mall-logo">Douyin Mall</span>
      </GraphiQL.Logo>
    </GraphiQL>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <Playground />
  </StrictMode>,
);
