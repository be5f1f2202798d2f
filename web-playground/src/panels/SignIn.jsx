// The sign-in panel: log in or register, see who is signed in and with which roles, sign out.
// The access token then goes into every request (and every subscription's connection_init).

import { useEffect, useState } from 'react';
import { current, onChange, refresh, register, signIn, signOut } from '../session.js';

const DEMO_ACCOUNTS = [
  { label: 'Demo customer', email: 'demo@douyin-mall.dev', password: 'demo-password' },
  { label: 'Demo admin', email: 'admin@douyin-mall.dev', password: 'admin-password' },
];

function UserIcon() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.5" aria-hidden="true">
      <circle cx="12" cy="8" r="4" />
      <path d="M4 21c0-4.4 3.6-8 8-8s8 3.6 8 8" />
    </svg>
  );
}

function SignedIn({ session }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const seconds = Math.max(0, Math.round((session.expiresAt - now) / 1000));
  const { user } = session;
  return (
    <div className="mall-signed-in">
      <p>
        Signed in as <strong data-testid="signed-in-email">{user.email}</strong>
        {user.displayName ? ` (${user.displayName})` : ''}
      </p>
      <p>
        Roles: <span data-testid="signed-in-roles">{user.roles.join(', ') || 'none'}</span>
      </p>
      <p className="mall-muted">
        Access token expires in {seconds} s; it is refreshed a minute before. Every request and
        subscription carries it.
      </p>
      <div className="mall-row">
        <button type="button" className="mall-button" onClick={() => refresh()}>
          Refresh now
        </button>
        <button type="button" className="mall-button" onClick={() => signOut()}>
          Sign out
        </button>
      </div>
    </div>
  );
}

function SignInForm() {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [displayName, setDisplayName] = useState('');
  const [mode, setMode] = useState('login');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'login') await signIn(email, password);
      else await register(email, password, displayName);
    } catch (e) {
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="mall-form" onSubmit={submit}>
      <div className="mall-row">
        <label>
          <input type="radio" name="mode" checked={mode === 'login'} onChange={() => setMode('login')} /> Sign in
        </label>
        <label>
          <input type="radio" name="mode" checked={mode === 'register'} onChange={() => setMode('register')} />{' '}
          Register
        </label>
      </div>
      <label>
        Email
        <input name="email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <label>
        Password
        <input
          name="password"
          type="password"
          autoComplete={mode === 'login' ? 'current-password' : 'new-password'}
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
      </label>
      {mode === 'register' && (
        <label>
          Display name
          <input name="displayName" value={displayName} onChange={(e) => setDisplayName(e.target.value)} />
        </label>
      )}
      <button type="submit" className="mall-button mall-primary" disabled={busy}>
        {mode === 'login' ? 'Sign in' : 'Register'}
      </button>
      {error && (
        <p className="mall-error" role="alert">
          {error}
        </p>
      )}
      <p className="mall-muted">Demo accounts (filled in, not sent until you press the button):</p>
      <div className="mall-row">
        {DEMO_ACCOUNTS.map((account) => (
          <button
            key={account.email}
            type="button"
            className="mall-button"
            onClick={() => {
              setMode('login');
              setEmail(account.email);
              setPassword(account.password);
            }}
          >
            {account.label}
          </button>
        ))}
      </div>
    </form>
  );
}

function SignInPanel() {
  const [session, setSession] = useState(current());
  useEffect(() => onChange(setSession), []);
  return (
    <section className="mall-panel" aria-label="Sign in">
      <div className="graphiql-doc-explorer-title">Sign in</div>
      {session ? <SignedIn session={session} /> : <SignInForm />}
    </section>
  );
}

export const signInPlugin = { title: 'Sign in', icon: UserIcon, content: SignInPanel };
