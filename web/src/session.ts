/**
 * The token lives in sessionStorage only: typed into the login form, gone when the tab closes,
 * never put in a URL (no query string, no hash) nor in localStorage or a cookie.
 */
const KEY = 'freight.token';

export function getToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function clearToken(): void {
  sessionStorage.removeItem(KEY);
}
