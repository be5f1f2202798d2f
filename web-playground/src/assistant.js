// The shopping assistant as the Assistant panel talks to it: the contract's own operations
// (schema/contract/operations/assistant.graphql, through src/examples.js), a reply streamed
// with StreamAssistant over the WebSocket (graphql-transport-ws), and AskAssistant over HTTP
// when the stream's transport fails before anything arrived. When it fails after the reply
// had begun, the message was sent: the reply is read from AssistantConversation instead of
// sending the message twice.

import { createClient } from 'graphql-ws';
import { exampleNamed } from './examples.js';
import { GRAPHQL_URL, authHeaders, request } from './session.js';

const WS_URL = GRAPHQL_URL.replace(/^http/, 'ws');

/** The contract's assistant operations by name (undefined when the supergraph does not serve one). */
export const OPERATIONS = Object.fromEntries(
  ['AskAssistant', 'StreamAssistant', 'ConfirmAssistantAction', 'DeclineAssistantAction', 'AssistantConversation'].map(
    (name) => [name, exampleNamed(name)?.query],
  ),
);

export const SUGGESTIONS = ['find tea', 'where are my orders', 'buy 1 iPhone 15 Pro', 'what is in my cart', '找 手机'];

/** An error the API answered (GraphQL errors): `code` is its extensions code. */
export class ApiError extends Error {
  constructor(errors) {
    const first = errors?.[0] ?? {};
    const code = first.extensions?.code;
    super(code ? `${code}: ${first.message}` : first.message ?? 'the API answered an error');
    this.code = code ?? 'ERROR';
  }
}

/** The subscription's transport failed (socket refused or closed, stream cut). */
export class TransportError extends Error {
  constructor(message, { started }) {
    super(message);
    this.started = started;
  }
}

function describe(error) {
  if (!error) return 'the stream ended without the reply';
  if (typeof error.code === 'number' && 'reason' in error) {
    return `the socket closed (${error.code}${error.reason ? `: ${error.reason}` : ''})`;
  }
  return error.message ?? String(error);
}

/** A fresh idempotency key (crypto.randomUUID needs a secure context: not plain http on a LAN address). */
export function newKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Sends `input` with StreamAssistant. `onStart(conversationId)` on the first event,
 * `onDelta(text)` for each piece of text. Resolves with the stored message (the last event's);
 * rejects with an ApiError or a TransportError. `stop()` on the returned handle ends it.
 */
export function streamReply(input, { onStart, onDelta }) {
  // One socket per reply, authenticated with the current token; no reconnection attempts: a
  // transport that fails falls back to HTTP at once.
  const client = createClient({ url: WS_URL, lazy: true, retryAttempts: 0, connectionParams: () => authHeaders() });
  let unsubscribe = () => {};
  let settled = false;
  const promise = new Promise((resolve, reject) => {
    let started = false;
    let message = null;
    let apiError = null;
    const finish = (error) => {
      if (settled) return;
      settled = true;
      setTimeout(() => client.dispose(), 0);
      if (message) resolve(message);
      else if (apiError) reject(apiError);
      else if (Array.isArray(error)) reject(new ApiError(error));
      else reject(new TransportError(describe(error), { started }));
    };
    unsubscribe = client.subscribe(
      { query: OPERATIONS.StreamAssistant, variables: { input }, operationName: 'StreamAssistant' },
      {
        next: (value) => {
          if (value?.errors?.length) {
            apiError = new ApiError(value.errors);
            return;
          }
          const event = value?.data?.assistantReply;
          if (!event) return;
          if (!started) {
            started = true;
            onStart?.(event.conversationId);
          }
          if (typeof event.delta === 'string' && event.delta) onDelta?.(event.delta);
          if (event.message) message = event.message;
        },
        error: (error) => finish(error),
        complete: () => finish(),
      },
    );
  });
  return {
    promise,
    stop: () => {
      if (settled) return;
      unsubscribe();
      // Ends the promise as a transport failure nobody waits for any more.
      promise.catch(() => {});
      client.dispose();
    },
  };
}

async function call(operation, variables) {
  const body = await request(OPERATIONS[operation], variables);
  if (body?.errors?.length) throw new ApiError(body.errors);
  if (!body?.data) throw new Error(`${operation}: no data in the answer`);
  return body.data;
}

/** AskAssistant: the whole reply over HTTP. */
export async function ask(input) {
  return (await call('AskAssistant', { input })).sendAssistantMessage;
}

/**
 * The reply to the customer's last message in `conversationId`, once stored: the assistant
 * message after the last customer message (asked again for a few seconds while there is none).
 */
export async function storedReply(conversationId, { tries = 10, wait = 500 } = {}) {
  for (let attempt = 0; attempt < tries; attempt += 1) {
    const conversation = (await call('AssistantConversation', { id: conversationId })).assistantConversation;
    const messages = conversation?.messages ?? [];
    const asked = messages.map((m) => m.role).lastIndexOf('CUSTOMER');
    const reply = messages.slice(asked + 1).find((m) => m.role === 'ASSISTANT');
    if (reply) return reply;
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
  throw new Error('the reply is not in the conversation yet');
}

export async function confirmAction(id, idempotencyKey) {
  return (await call('ConfirmAssistantAction', { id, idempotencyKey })).confirmAssistantAction;
}

export async function declineAction(id) {
  return (await call('DeclineAssistantAction', { id })).declineAssistantAction;
}
