// The shopping assistant as a chat: the signed-in customer's messages, the assistant's replies
// streamed as they are written (StreamAssistant; AskAssistant when the stream's transport
// fails), the products and orders a reply refers to as cards, and a proposed action as a card
// with Confirm and Decline. Nothing a reply proposes happens before Confirm.

import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { useGraphiQLActions } from '@graphiql/react';
import { current, onChange } from '../session.js';
import { remember } from '../examples.js';
import {
  ApiError,
  OPERATIONS,
  SUGGESTIONS,
  TransportError,
  ask,
  confirmAction,
  declineAction,
  newKey,
  storedReply,
  streamReply,
} from '../assistant.js';
import './Assistant.css';

function ChatIcon() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.5" aria-hidden="true">
      <path d="M4 5h16v11H9l-5 4z" />
      <path d="M8 9h8M8 12h5" />
    </svg>
  );
}

const SERVED = Object.values(OPERATIONS).every(Boolean);
let nextKey = 1;

function ProductCard({ product, onBuy }) {
  return (
    <li className="mall-card" data-testid="assistant-product-card">
      <strong className="mall-card-title">{product.name}</strong>
      <span data-testid="assistant-product-price">{product.price?.formatted}</span>
      <span className={product.inStock ? 'mall-ok' : 'mall-muted'}>{product.inStock ? 'in stock' : 'sold out'}</span>
      {product.inStock && (
        <button type="button" className="mall-link" onClick={() => onBuy(product)} title="Put “buy 1 …” in the input">
          buy 1…
        </button>
      )}
    </li>
  );
}

function OrderCard({ order }) {
  return (
    <li className="mall-card" data-testid="assistant-order-card">
      <strong className="mall-card-title">{order.number}</strong>
      <span className="mall-tag">{order.status}</span>
      <span>{order.total?.formatted}</span>
    </li>
  );
}

function ActionCard({ action, state, onConfirm, onDecline }) {
  const status = state?.status ?? action.status;
  const error = state?.error ?? action.error;
  const order = state?.order ?? action.order;
  const busy = state?.busy;
  return (
    <div className={`mall-action mall-action-${status.toLowerCase()}`} data-testid="assistant-action-card" data-status={status}>
      <div className="mall-row">
        <span className="mall-tag">{action.kind}</span>
        <strong data-testid="assistant-action-status">{status}</strong>
        {status === 'DONE' && order && (
          <span data-testid="assistant-action-order">
            order {order.number}
            {order.status ? ` (${order.status}${order.total?.formatted ? `, ${order.total.formatted}` : ''})` : ''}
          </span>
        )}
        {status === 'FAILED' && <span className="mall-error">{error}</span>}
      </div>
      <p className="mall-action-summary">{action.summary}</p>
      {status === 'PROPOSED' && (
        <div className="mall-row">
          <button type="button" className="mall-button mall-primary" disabled={busy} onClick={onConfirm}>
            {state?.failure ? 'Retry confirm' : 'Confirm'}
          </button>
          <button type="button" className="mall-button" disabled={busy} onClick={onDecline}>
            Decline
          </button>
          {busy && <span className="mall-muted">…</span>}
        </div>
      )}
      {state?.failure && (
        <p className="mall-error" role="alert">
          {state.failure}
        </p>
      )}
      {status === 'PROPOSED' && <p className="mall-muted">Nothing happens until you confirm.</p>}
    </div>
  );
}

function Message({ message, actions, onConfirm, onDecline, onBuy }) {
  const mine = message.role === 'CUSTOMER';
  return (
    <li
      className={`mall-message ${mine ? 'mall-message-customer' : 'mall-message-assistant'}`}
      data-testid="assistant-message"
      data-role={message.role}
      data-streaming={message.streaming ? 'true' : undefined}
      data-via={message.via}
    >
      <div className="mall-message-who">{mine ? 'You' : 'Assistant'}</div>
      {message.text && <div className="mall-message-text">{message.text}</div>}
      {message.streaming && <div className="mall-muted">{message.text ? '▍' : 'thinking…'}</div>}
      {message.error && (
        <p className="mall-error" role="alert" data-testid="assistant-error">
          {message.error}
        </p>
      )}
      {message.products?.length > 0 && (
        <ul className="mall-cards">
          {message.products.map((product) => (
            <ProductCard key={product.id} product={product} onBuy={onBuy} />
          ))}
        </ul>
      )}
      {message.orders?.length > 0 && (
        <ul className="mall-cards">
          {message.orders.map((order) => (
            <OrderCard key={order.id} order={order} />
          ))}
        </ul>
      )}
      {message.action && (
        <ActionCard
          action={message.action}
          state={actions[message.action.id]}
          onConfirm={() => onConfirm(message.action)}
          onDecline={() => onDecline(message.action)}
        />
      )}
      {message.note && <div className="mall-message-meta">{message.note}</div>}
    </li>
  );
}

// The chat lives outside the panel: it goes on (a reply streaming, a confirmation under way)
// while another panel is shown, and is there again when the Assistant panel is.
let chat = { messages: [], actions: {}, conversationId: null, busy: false };
const chatListeners = new Set();
function setChat(change) {
  chat = { ...chat, ...(typeof change === 'function' ? change(chat) : change) };
  for (const listener of chatListeners) listener();
}
function subscribeChat(listener) {
  chatListeners.add(listener);
  return () => chatListeners.delete(listener);
}
// The idempotency key of each action, made at its first Confirm and reused on a retry.
const keys = new Map();
// The reply in progress (its `stop`); a reply whose flight is no longer this one is dropped.
let inFlight = null;

function reset() {
  inFlight?.stop?.();
  inFlight = null;
  setChat({ messages: [], actions: {}, conversationId: null, busy: false });
}
// A conversation belongs to the customer who started it: signing out or in as someone else
// starts afresh.
let chatUser = current()?.user?.id ?? null;
onChange((session) => {
  const user = session?.user?.id ?? null;
  if (user !== chatUser) reset();
  chatUser = user;
});

const updateMessage = (key, change) =>
  setChat(({ messages }) => ({
    messages: messages.map((m) => (m.key === key ? { ...m, ...(typeof change === 'function' ? change(m) : change) } : m)),
  }));
const setAction = (id, change) => setChat(({ actions }) => ({ actions: { ...actions, [id]: { ...actions[id], ...change } } }));
function adopt(id) {
  if (!id) return;
  setChat({ conversationId: id });
  remember({ assistantConversation: id });
}

async function send(raw) {
  const said = raw.trim();
  if (!said || chat.busy || !current()) return;
  const mine = { key: nextKey++, role: 'CUSTOMER', text: said };
  const replyKey = nextKey++;
  setChat(({ messages }) => ({
    busy: true,
    messages: [...messages, mine, { key: replyKey, role: 'ASSISTANT', text: '', streaming: true }],
  }));
  const input = chat.conversationId ? { conversationId: chat.conversationId, text: said } : { text: said };
  const flight = {};
  inFlight = flight;
  const live = () => inFlight === flight;
  let deltas = 0;
  let stored;
  let note;
  try {
    const stream = streamReply(input, {
      onStart: (id) => live() && adopt(id),
      onDelta: (delta) => {
        if (!live()) return;
        deltas += 1;
        updateMessage(replyKey, (m) => ({ text: m.text + delta }));
      },
    });
    flight.stop = stream.stop;
    try {
      stored = await stream.promise;
      note = { via: 'stream', note: `streamed (WebSocket, ${deltas} ${deltas === 1 ? 'delta' : 'deltas'})` };
    } catch (error) {
      if (!(error instanceof TransportError) || !live()) throw error;
      if (error.started && chat.conversationId) {
        // The message was sent: its reply is (or will be) in the conversation.
        stored = await storedReply(chat.conversationId);
        note = { via: 'conversation', note: `the stream broke (${error.message}): reply read with AssistantConversation` };
      } else {
        stored = await ask(input);
        note = { via: 'ask', note: `sent with AskAssistant (the stream failed: ${error.message})` };
      }
    }
    if (!live()) return;
    adopt(stored.conversationId);
    if (stored.action?.id) remember({ assistantAction: stored.action.id });
    // The stored message replaces the streamed text.
    updateMessage(replyKey, { ...stored, key: replyKey, streaming: false, ...note });
  } catch (error) {
    if (!live()) return;
    const code = error instanceof ApiError ? error.code : null;
    const hint =
      code === 'UNAUTHENTICATED'
        ? ' (sign in again)'
        : code === 'CONFLICT'
          ? ' (start a new conversation)'
          : code === 'RATE_LIMITED'
            ? ' (wait a minute)'
            : '';
    updateMessage(replyKey, { streaming: false, error: `${error.message}${hint}` });
  } finally {
    if (live()) {
      inFlight = null;
      setChat({ busy: false });
    }
  }
}

async function confirm(action) {
  let key = keys.get(action.id);
  if (!key) {
    key = newKey();
    keys.set(action.id, key);
  }
  setAction(action.id, { busy: true, failure: null });
  try {
    const done = await confirmAction(action.id, key);
    setAction(action.id, { busy: false, status: done.status, error: done.error, order: done.order });
  } catch (error) {
    setAction(action.id, { busy: false, failure: error.message });
  }
}

async function decline(action) {
  setAction(action.id, { busy: true, failure: null });
  try {
    const declined = await declineAction(action.id);
    setAction(action.id, { busy: false, status: declined.status });
  } catch (error) {
    setAction(action.id, { busy: false, failure: error.message });
  }
}

function AssistantPanel() {
  const { setVisiblePlugin } = useGraphiQLActions();
  const [session, setSession] = useState(current());
  useEffect(() => onChange(setSession), []);
  const { messages, actions, conversationId, busy } = useSyncExternalStore(subscribeChat, () => chat);
  const [text, setText] = useState('');
  const end = useRef(null);
  useEffect(() => {
    end.current?.scrollIntoView({ block: 'nearest' });
  }, [messages, actions]);

  const isCustomer = session?.user?.roles?.includes('customer');
  return (
    <section className="mall-panel mall-assistant" aria-label="Assistant">
      <div className="graphiql-doc-explorer-title">Assistant</div>
      <p className="mall-muted" data-testid="assistant-model-note">
        The shopping assistant answers from the catalog and your own orders. In development it is the{' '}
        <strong>sandbox model (scripted)</strong>, not a language model: it knows a few phrases, in English and
        Chinese, like the suggestions below. Purchases, cart changes and cancellations are only proposed: they
        happen when you press Confirm.
      </p>
      {!SERVED ? (
        <p className="mall-error">The supergraph does not serve the assistant's operations (schema/contract-passing.txt).</p>
      ) : !session ? (
        <div className="mall-notice" data-testid="assistant-sign-in">
          <p>Sign in as a customer to talk to the assistant (for example the demo customer).</p>
          <button type="button" className="mall-button" onClick={() => setVisiblePlugin('Sign in')}>
            Open Sign in
          </button>
        </div>
      ) : (
        <>
          <div className="mall-row">
            <span className="mall-muted">
              {session.user.email}
              {conversationId ? (
                <>
                  {' · conversation '}
                  <code data-testid="assistant-conversation-id" title={conversationId}>
                    {conversationId.slice(0, 8)}…
                  </code>
                </>
              ) : (
                ' · new conversation'
              )}
            </span>
            <button type="button" className="mall-button mall-small" onClick={reset} disabled={!messages.length && !busy}>
              New conversation
            </button>
          </div>
          {!isCustomer && (
            <p className="mall-notice">The assistant serves customers; signed in without the customer role it may refuse.</p>
          )}
          <ol className="mall-messages" data-testid="assistant-messages">
            {messages.map((message) => (
              <Message
                key={message.key}
                message={message}
                actions={actions}
                onConfirm={confirm}
                onDecline={decline}
                onBuy={(product) => setText(`buy 1 ${product.name}`)}
              />
            ))}
            <li ref={end} aria-hidden="true" />
          </ol>
          <div className="mall-row mall-chips">
            {SUGGESTIONS.map((suggestion) => (
              <button
                key={suggestion}
                type="button"
                className="mall-chip"
                disabled={busy}
                onClick={() => send(suggestion)}
                data-suggestion={suggestion}
              >
                {suggestion}
              </button>
            ))}
          </div>
          <form
            className="mall-row mall-compose"
            onSubmit={(event) => {
              event.preventDefault();
              if (busy) return;
              send(text);
              setText('');
            }}
          >
            <input
              name="assistant-message"
              aria-label="Message to the assistant"
              placeholder="Ask the assistant…"
              value={text}
              onChange={(e) => setText(e.target.value)}
            />
            <button type="submit" className="mall-button mall-primary" disabled={busy || !text.trim()}>
              Send
            </button>
          </form>
        </>
      )}
    </section>
  );
}

export const assistantPlugin = { title: 'Assistant', icon: ChatIcon, content: AssistantPanel };
