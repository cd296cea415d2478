import { CliError } from './client.js';
import { EXIT } from './exit.js';

const EXAMPLE = 'https://127.0.0.1:7400';

/**
 * `--url` as given → the controller's base URL. The API's own prefix is dropped (`…/v1` is what
 * people paste from docs/api.md; every request path starts with /v1 already); a missing scheme
 * gets the URL to use in the message.
 */
export function controllerUrl(given: string): string {
  const v = given.trim();
  if (/^[A-Za-z0-9.-]+:\d+(\/.*)?$/.test(v) || /^[A-Za-z0-9.-]+(\/.*)?$/.test(v))
    throw new CliError(
      'usage',
      `--url ${given}: no scheme; did you mean https://${v}? (the controller serves https, e.g. ${EXAMPLE})`,
      EXIT.usage,
    );
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw new CliError('usage', `--url ${given}: not a URL; expected https://HOST:PORT, e.g. ${EXAMPLE}`, EXIT.usage);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new CliError('usage', `--url ${given}: expected https://HOST:PORT, e.g. ${EXAMPLE}`, EXIT.usage);
  if (u.search || u.hash) throw new CliError('usage', `--url ${given}: expected no query or fragment, e.g. ${EXAMPLE}`, EXIT.usage);
  const path = u.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${u.protocol}//${u.host}${path}`;
}
