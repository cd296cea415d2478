import { useState } from 'preact/hooks';
import { ApiFailure, api } from '../api.js';
import { setToken } from '../session.js';

/**
 * Takes an admin or tenant token, checks it with GET /v1/tenants (any valid token may list) and
 * keeps it in sessionStorage. The form posts nowhere (CSP form-action 'none'): submit is handled here.
 */
export function Login({ onLogin }: { onLogin: () => void }) {
  const [token, setTok] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    const t = token.trim();
    if (!t) return setError('enter a token');
    setBusy(true);
    try {
      await api('GET', '/v1/tenants?limit=1', undefined, t);
      setToken(t);
      onLogin();
    } catch (e) {
      setError(e instanceof ApiFailure ? `${e.code}: ${e.message}` : `cannot reach the controller: ${(e as Error).message}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="login" onSubmit={(e) => void submit(e)} autocomplete="off">
      <h1>Freight console</h1>
      <label for="token">Token (admin or tenant)</label>
      <input id="token" name="token" type="password" value={token} onInput={(e) => setTok(e.currentTarget.value)} autofocus />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy}>
        Log in
      </button>
      <p class="hint">The token stays in this tab's session storage; it is sent only in the Authorization header.</p>
    </form>
  );
}
