// How the playground talks to the router: HTTP for queries and mutations, WebSocket
// (graphql-transport-ws, the default) or Server-Sent Events for subscriptions, all
// authenticated as the signed-in user.

import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { createClient as createWsClient } from 'graphql-ws';
import { createClient as createSseClient } from 'graphql-sse';
import { GRAPHQL_URL, authHeaders } from './session.js';

const WS_URL = GRAPHQL_URL.replace(/^http/, 'ws');

/** A graphql-ws client whose `connection_init` carries the current token. */
export function webSocketClient() {
  return createWsClient({
    url: WS_URL,
    lazy: true,
    connectionParams: () => authHeaders(),
  });
}

/** A graphql-sse client (one HTTP request per subscription) with the current token. */
export function sseClient() {
  return createSseClient({
    url: GRAPHQL_URL,
    singleConnection: false,
    headers: () => authHeaders(),
  });
}

/**
 * GraphiQL's fetcher, made for one session (the playground makes a new one when the user
 * signs in or out, so a socket never outlives the token it was opened with). `onResult`
 * sees every result (the examples remember the ids it contains).
 */
export function playgroundFetcher(onResult) {
  const wsClient = webSocketClient();
  const fetcher = createGraphiQLFetcher({ url: GRAPHQL_URL, wsClient });
  const wrapped = (params, options) => {
    const headers = { ...authHeaders(), ...(options?.headers ?? {}) };
    const seen = (value) => {
      onResult?.(params.operationName, value);
      return value;
    };
    // A result is a value, a promise of one, or (multipart responses, subscriptions) an
    // async iterable of them: every one is seen.
    const observe = (value) => {
      if (value && typeof value[Symbol.asyncIterator] === 'function') {
        return (async function* each() {
          for await (const item of value) yield seen(item);
        })();
      }
      return seen(value);
    };
    const result = fetcher(params, { ...options, headers });
    return result && typeof result.then === 'function' ? result.then(observe) : observe(result);
  };
  wrapped.dispose = () => wsClient.dispose();
  return wrapped;
}

/**
 * Runs one subscription over `transport` ('websocket' or 'sse'), calling `onEvent` with each
 * result and `onEnd` (with an error or nothing) when it ends. Returns a function that stops it.
 */
export function subscribe(transport, { query, variables }, { onEvent, onEnd }) {
  const client = transport === 'sse' ? sseClient() : webSocketClient();
  let ended = false;
  const end = (error) => {
    if (ended) return;
    ended = true;
    onEnd(error);
    // The WebSocket client closes its socket once no subscription is left.
    setTimeout(() => client.dispose(), 0);
  };
  const unsubscribe = client.subscribe(
    { query, variables },
    {
      next: (value) => onEvent(value),
      error: (error) => end(error),
      complete: () => end(),
    },
  );
  return () => {
    unsubscribe();
    end();
  };
}
