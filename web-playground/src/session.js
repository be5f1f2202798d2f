// The signed-in session of the playground: tokens in sessionStorage (never in a URL), the
// access token refreshed before it expires (the refresh token rotates: each refresh returns
// a new one), and listeners told of every change.

export const GRAPHQL_URL = new URL('/graphql', window.location.href).toString();

const STORAGE_KEY = 'douyin-mall-playground.session';
// Refresh this long before the access token expires.
const REFRESH_MARGIN_MS = 60_000;

const USER_FIELDS = 'id email displayName roles';
const LOGIN = `mutation PlaygroundLogin($input: LoginInput!) {
  login(input: $input) { accessToken refreshToken expiresIn user { ${USER_FIELDS} } }
}`;
const REGISTER = `mutation PlaygroundRegister($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken expiresIn user { ${USER_FIELDS} } }
}`;
const REFRESH = `mutation PlaygroundRefresh($refreshToken: String!) {
  refreshToken(refreshToken: $refreshToken) { accessToken refreshToken expiresIn }
}`;
const LOGOUT = 'mutation PlaygroundLogout { logout }';

let session = load();
let refreshTimer = null;
const listeners = new Set();

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY)) ?? null;
  } catch {
    return null;
  }
}

function save(next) {
  session = next;
  if (next) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next));
  else sessionStorage.removeItem(STORAGE_KEY);
  scheduleRefresh();
  for (const listener of listeners) listener(session);
}

/** The current session: `{ accessToken, refreshToken, expiresAt, user }`, or null. */
export function current() {
  return session;
}

/** Calls `listener(session)` on every change; returns the unsubscribe function. */
export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Headers that authenticate a request as the signed-in user (none when signed out). */
export function authHeaders() {
  return session ? { Authorization: `Bearer ${session.accessToken}` } : {};
}

/** A GraphQL request through the router with the session's token; returns the JSON body. */
export async function request(query, variables = {}) {
  const response = await fetch(GRAPHQL_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...authHeaders() },
    body: JSON.stringify({ query, variables }),
  });
  return response.json();
}

/** The first error's message and code, or null. */
export function errorOf(body) {
  const error = body?.errors?.[0];
  if (!error) return null;
  const code = error.extensions?.code;
  return code ? `${code}: ${error.message}` : error.message;
}

function started(payload) {
  return {
    accessToken: payload.accessToken,
    refreshToken: payload.refreshToken,
    expiresAt: Date.now() + payload.expiresIn * 1000,
  };
}

export async function signIn(email, password) {
  const body = await request(LOGIN, { input: { email, password } });
  const error = errorOf(body);
  if (error) throw new Error(error);
  const payload = body.data.login;
  save({ ...started(payload), user: payload.user });
}

export async function register(email, password, displayName) {
  const body = await request(REGISTER, { input: { email, password, displayName } });
  const error = errorOf(body);
  if (error) throw new Error(error);
  const payload = body.data.register;
  save({ ...started(payload), user: payload.user });
}

/** Exchanges the refresh token for new tokens; signs out when it is no longer accepted. */
export async function refresh() {
  if (!session) return;
  const body = await fetch(GRAPHQL_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ query: REFRESH, variables: { refreshToken: session.refreshToken } }),
  }).then((r) => r.json());
  if (errorOf(body)) {
    save(null);
    return;
  }
  save({ ...session, ...started(body.data.refreshToken) });
}

export async function signOut() {
  if (session) {
    // Ends the session on the server too; the local tokens go whatever it answers.
    await request(LOGOUT).catch(() => {});
  }
  save(null);
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  if (!session) return;
  const wait = Math.max(session.expiresAt - Date.now() - REFRESH_MARGIN_MS, 1_000);
  refreshTimer = setTimeout(() => refresh().catch(() => scheduleRefresh()), wait);
}

// A reload keeps the session (sessionStorage): refresh at once if the token is about to expire.
scheduleRefresh();
