// The contract operations the supergraph serves, grouped by file: one click loads an operation and working
// sample variables into the editors; ▶ also runs it.

import { useEffect, useState } from 'react';
import { useGraphiQL, useGraphiQLActions } from '@graphiql/react';
import { groupedExamples, onResult, resolveVariables } from '../examples.js';

const GROUPS = groupedExamples();

function BookIcon() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.5" aria-hidden="true">
      <path d="M4 4h6a2 2 0 0 1 2 2v14a2 2 0 0 0-2-2H4z" />
      <path d="M20 4h-6a2 2 0 0 0-2 2v14a2 2 0 0 1 2-2h6z" />
    </svg>
  );
}

function ExamplesPanel() {
  const queryEditor = useGraphiQL((state) => state.queryEditor);
  const variableEditor = useGraphiQL((state) => state.variableEditor);
  const { run, setOperationName } = useGraphiQLActions();
  const [notice, setNotice] = useState(null);
  const [filter, setFilter] = useState('');
  const [result, setResult] = useState(null);
  useEffect(() => onResult(setResult), []);

  const load = async (example, andRun) => {
    const { variables, missing } = await resolveVariables(example);
    setResult(null);
    queryEditor?.setValue(example.query);
    variableEditor?.setValue(JSON.stringify(variables, null, 2));
    setOperationName(example.name);
    setNotice(
      missing.length
        ? `${example.name}: no value yet for ${missing.map((m) => `$${m}`).join(', ')} (see the variables).`
        : `${example.name} loaded${andRun ? ' and sent' : ''}.`,
    );
    if (andRun) {
      // Let GraphiQL see the new editor contents first.
      setTimeout(() => run(), 50);
    }
  };

  const wanted = filter.trim().toLowerCase();
  return (
    <section className="mall-panel" aria-label="Examples">
      <div className="graphiql-doc-explorer-title">Examples</div>
      <p className="mall-muted">
        The frontends' contract: {GROUPS.reduce((n, g) => n + g.examples.length, 0)} operations. Sample variables are
        looked up in the demo data (and in your own results) when you load one.
      </p>
      <input
        className="mall-filter"
        placeholder="Filter by name"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
        aria-label="Filter examples"
      />
      {notice && (
        <p className="mall-notice" data-testid="example-notice">
          {notice}
        </p>
      )}
      {result && (
        <p className={result.codes.length ? 'mall-error' : 'mall-ok'} data-testid="result-summary">
          {result.operationName}:{' '}
          {result.codes.length ? `${result.codes.join(', ')}: ${result.message}` : 'answered without errors'}
        </p>
      )}
      {GROUPS.map(({ group, title, examples }) => {
        const shown = examples.filter((e) => !wanted || e.name.toLowerCase().includes(wanted));
        if (!shown.length) return null;
        return (
          <div key={group} className="mall-group">
            <h3>{title}</h3>
            <ul>
              {shown.map((example) => (
                <li key={example.name}>
                  <button
                    type="button"
                    className="mall-link"
                    data-example={example.name}
                    onClick={() => load(example, false)}
                    title={`Load ${example.name}`}
                  >
                    {example.name}
                  </button>
                  <span className={`mall-tag mall-${example.kind}`}>{example.kind}</span>
                  {example.who !== 'anyone' && <span className="mall-tag">{example.who}</span>}
                  <button
                    type="button"
                    className="mall-run"
                    data-run-example={example.name}
                    onClick={() => load(example, true)}
                    title={`Load and run ${example.name}`}
                    aria-label={`Run ${example.name}`}
                  >
                    ▶
                  </button>
                </li>
              ))}
            </ul>
          </div>
        );
      })}
    </section>
  );
}

export const examplesPlugin = { title: 'Examples', icon: BookIcon, content: ExamplesPanel };
