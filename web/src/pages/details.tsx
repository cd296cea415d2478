import { useEffect, useState } from 'preact/hooks';
import { ApiFailure, api, enc } from '../api.js';
import type { Live } from '../live.js';
import { useLive } from '../live.js';
import type { Container } from '../model.js';

/** The object the details panel shows: a container (or infra instance) by tenant and name. */
export interface Selection {
  tenant: string;
  name: string;
}

function findContainer(live: Live, sel: Selection): Container | undefined {
  for (const c of live.state.containers.values()) if (c.tenant === sel.tenant && c.name === sel.name) return c;
  return undefined;
}

/**
 * Addresses, MACs, node and its VTEP (underlay address), state, restarts, image, and the tail of
 * the logs (fetched from the node through the controller); stop/start/delete.
 */
export function Details({ live, sel, onClose }: { live: Live; sel: Selection; onClose: () => void }) {
  useLive(live);
  const [fetched, setFetched] = useState<Container | null>(null);
  const [logs, setLogs] = useState<string>('');
  const [vtep, setVtep] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const path = `/v1/tenants/${enc(sel.tenant)}/containers/${enc(sel.name)}`;
  const c = findContainer(live, sel) ?? fetched;
  useEffect(() => {
    setFetched(null);
    setLogs('');
    setError(null);
    api<Container>('GET', path).then(setFetched, (e: Error) => setError(e.message));
    api<{ text: string }>('GET', `${path}/logs?tail=50`).then(
      (r) => setLogs(r.text),
      (e: unknown) => setLogs(e instanceof ApiFailure ? `(${e.code}: ${e.message})` : '(logs unavailable)'),
    );
  }, [path]);
  const nodeName = c?.node ?? null;
  useEffect(() => {
    setVtep(null);
    if (!nodeName) return;
    for (const n of live.state.nodes.values()) if (n.name === nodeName) return setVtep(n.underlayIp);
    // tenant tokens cannot list nodes; their endpoints table carries each node's underlay address
    api<{ items: Array<{ container: string; nodeUnderlayIp?: string }> }>(
      'GET',
      `/v1/tenants/${enc(sel.tenant)}/endpoints?limit=1000`,
    ).then(
      (r) => setVtep(r.items.find((e) => e.container === sel.name)?.nodeUnderlayIp ?? null),
      () => {},
    );
  }, [nodeName, sel.tenant, sel.name]);
  const act = async (what: 'start' | 'stop' | 'delete') => {
    setError(null);
    try {
      if (what === 'delete') {
        await api('DELETE', path);
        onClose();
      } else await api('POST', `${path}/actions`, { action: what });
    } catch (e) {
      setError(e instanceof ApiFailure ? `${e.code}: ${e.message}` : (e as Error).message);
    }
  };
  return (
    <aside class="details" data-testid="details">
      <button type="button" class="close" onClick={onClose}>
        ×
      </button>
      <h3>
        {sel.tenant}/{sel.name}
      </h3>
      {!c && !error && <p>loading…</p>}
      {c && (
        <dl>
          <dt>kind</dt>
          <dd>{c.kind}</dd>
          <dt>state</dt>
          <dd data-testid="details-state">
            {c.observedState} (desired {c.desiredState}){c.exitCode !== null ? `, exit ${c.exitCode}` : ''}
            {c.reason ? ` — ${c.reason}` : ''}
          </dd>
          <dt>node</dt>
          <dd data-testid="details-node">{c.node ?? '(unscheduled)'}</dd>
          <dt>VTEP</dt>
          <dd>{vtep ?? '—'}</dd>
          <dt>image</dt>
          <dd>{c.image}</dd>
          <dt>restarts</dt>
          <dd>{c.restarts}</dd>
          {c.endpoints.map((e) => (
            <>
              <dt>{e.network}</dt>
              <dd class="mono">
                {e.ip} · {e.mac}
              </dd>
            </>
          ))}
        </dl>
      )}
      {c && c.kind === 'container' && (
        <div class="actions">
          <button type="button" onClick={() => void act('start')}>
            Start
          </button>
          <button type="button" onClick={() => void act('stop')}>
            Stop
          </button>
          <button type="button" class="danger" onClick={() => void act('delete')}>
            Delete
          </button>
        </div>
      )}
      {error && (
        <p class="form-error" role="alert">
          {error}
        </p>
      )}
      <h4>logs (tail)</h4>
      <pre class="logs" data-testid="logs">
        {logs || '(empty)'}
      </pre>
    </aside>
  );
}
