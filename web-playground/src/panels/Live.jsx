// Live subscriptions: runs WatchOrders, WatchPayment (or the subscription in the editor) and
// lists every event as it arrives, with the time it arrived. WebSocket by default, SSE as an
// option; Stop ends the subscription.

import { useEffect, useRef, useState } from 'react';
import { useGraphiQL } from '@graphiql/react';
import { EXAMPLES, resolveVariables } from '../examples.js';
import { subscribe } from '../transport.js';

// The Live group's first (WatchOrders), then the others' (StreamAssistant).
const SUBSCRIPTIONS = EXAMPLES.filter((e) => e.kind === 'subscription').sort((a, b) => (b.group === 'live') - (a.group === 'live'));
const EDITOR = '(the operation in the editor)';

function PulseIcon() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.5" aria-hidden="true">
      <path d="M3 12h4l3-8 4 16 3-8h4" />
    </svg>
  );
}

function describeError(error) {
  if (!error) return null;
  if (Array.isArray(error)) return error.map((e) => `${e.extensions?.code ?? ''} ${e.message}`.trim()).join('; ');
  if (error.code && error.reason !== undefined) return `socket closed (${error.code}${error.reason ? `: ${error.reason}` : ''})`;
  return error.message ?? String(error);
}

function summary(value) {
  const data = value?.data;
  const change = data && Object.values(data)[0];
  if (value?.errors?.length) return describeError(value.errors);
  if (change?.status) return `${change.previousStatus ?? '∅'} → ${change.status}`;
  if (change?.delta) return change.delta;
  if (change?.message) return `${change.message.role}: ${change.message.text}`;
  return '';
}

function LivePanel() {
  const queryEditor = useGraphiQL((state) => state.queryEditor);
  const [choice, setChoice] = useState(SUBSCRIPTIONS[0]?.name ?? EDITOR);
  const [variables, setVariables] = useState('{}');
  const [transport, setTransport] = useState('websocket');
  const [events, setEvents] = useState([]);
  const [state, setState] = useState('stopped');
  const [ending, setEnding] = useState(null);
  const stop = useRef(null);

  useEffect(() => {
    const example = SUBSCRIPTIONS.find((e) => e.name === choice);
    if (!example) return;
    resolveVariables(example).then(({ variables: v }) => setVariables(JSON.stringify(v, null, 2)));
  }, [choice]);
  useEffect(() => () => stop.current?.(), []);

  const start = () => {
    let parsed;
    try {
      parsed = JSON.parse(variables || '{}');
    } catch (e) {
      setEnding(`variables are not JSON: ${e.message}`);
      return;
    }
    const example = SUBSCRIPTIONS.find((e) => e.name === choice);
    const query = example ? example.query : queryEditor?.getValue() ?? '';
    setEvents([]);
    setEnding(null);
    setState('running');
    stop.current = subscribe(
      transport,
      { query, variables: parsed },
      {
        onEvent: (value) => setEvents((list) => [{ at: new Date(), value }, ...list]),
        onEnd: (error) => {
          setState('stopped');
          setEnding(error ? `ended: ${describeError(error)}` : 'ended');
          stop.current = null;
        },
      },
    );
  };

  return (
    <section className="mall-panel" aria-label="Live">
      <div className="graphiql-doc-explorer-title">Live</div>
      <label>
        Subscription
        <select value={choice} onChange={(e) => setChoice(e.target.value)} disabled={state === 'running'} name="subscription">
          {SUBSCRIPTIONS.map((e) => (
            <option key={e.name} value={e.name}>
              {e.name}
            </option>
          ))}
          <option value={EDITOR}>{EDITOR}</option>
        </select>
      </label>
      <label>
        Variables
        <textarea
          name="live-variables"
          rows={3}
          value={variables}
          onChange={(e) => setVariables(e.target.value)}
          disabled={state === 'running'}
        />
      </label>
      <div className="mall-row">
        <label>
          <input type="radio" name="transport" checked={transport === 'websocket'} onChange={() => setTransport('websocket')} />{' '}
          WebSocket
        </label>
        <label>
          <input type="radio" name="transport" checked={transport === 'sse'} onChange={() => setTransport('sse')} /> SSE
        </label>
      </div>
      <div className="mall-row">
        {state === 'running' ? (
          <button type="button" className="mall-button" onClick={() => stop.current?.()}>
            Stop
          </button>
        ) : (
          <button type="button" className="mall-button mall-primary" onClick={start}>
            Start
          </button>
        )}
        <span className="mall-muted" data-testid="live-state">
          {state === 'running' ? `listening (${transport === 'sse' ? 'SSE' : 'WebSocket'})` : ending ?? 'stopped'}
        </span>
      </div>
      <ol className="mall-events" data-testid="live-events">
        {events.map(({ at, value }, index) => (
          <li key={events.length - index} className="mall-event">
            <div>
              <time dateTime={at.toISOString()}>{at.toLocaleTimeString()}</time>{' '}
              <strong data-testid="live-event-summary">{summary(value)}</strong>
            </div>
            <pre>{JSON.stringify(value, null, 2)}</pre>
          </li>
        ))}
      </ol>
    </section>
  );
}

export const livePlugin = { title: 'Live', icon: PulseIcon, content: LivePanel };
