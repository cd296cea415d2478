import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import './style.css';
import { setUnauthorizedHandler } from './api.js';
import { Live, useLive } from './live.js';
import { clearToken, getToken } from './session.js';
import { Login } from './pages/login.js';
import { NodesPage } from './pages/nodes.js';
import { ContainersPage } from './pages/containers.js';
import { TopologyPage } from './pages/topology.js';
import { NetworksPage } from './pages/networks.js';

const PAGES = [
  { path: 'topology', title: 'Topology' },
  { path: 'containers', title: 'Containers' },
  { path: 'networks', title: 'Networks' },
  { path: 'nodes', title: 'Nodes', admin: true },
] as const;
type PagePath = (typeof PAGES)[number]['path'];

/** The page is the URL's hash (`#/nodes`): bookmarkable, and it never carries the token. */
function usePage(): PagePath {
  const read = (): PagePath => {
    const p = location.hash.replace(/^#\/?/, '');
    return PAGES.find((x) => x.path === p)?.path ?? 'topology';
  };
  const [page, setPage] = useState(read);
  useEffect(() => {
    const on = () => setPage(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return page;
}

function Shell({ live, onLogout }: { live: Live; onLogout: () => void }) {
  useLive(live);
  const page = usePage();
  return (
    <div class="shell">
      <header>
        <span class="brand">Freight</span>
        <nav>
          {PAGES.filter((p) => !('admin' in p) || live.admin).map((p) => (
            <a href={`#/${p.path}`} class={page === p.path ? 'active' : ''} key={p.path}>
              {p.title}
            </a>
          ))}
        </nav>
        <span class={`link link-${live.link}`} data-testid="link" title={live.problem ?? ''}>
          {live.link === 'live' ? 'live' : live.link}
          {live.problem ? ` — ${live.problem}` : ''}
        </span>
        <span class="who">{live.admin ? 'admin' : [...live.state.tenants.values()].map((t) => t.name).join(', ')}</span>
        <button type="button" class="logout" onClick={onLogout}>
          Log out
        </button>
      </header>
      <main>
        {!live.loaded && <p class="loading">loading…</p>}
        {page === 'topology' && <TopologyPage live={live} />}
        {page === 'containers' && <ContainersPage live={live} />}
        {page === 'networks' && <NetworksPage live={live} />}
        {page === 'nodes' && <NodesPage live={live} />}
      </main>
    </div>
  );
}

function App() {
  const [token, setTok] = useState(getToken());
  const live = useMemo(() => (token ? new Live(token) : null), [token]);
  useEffect(() => {
    if (!live) return;
    void live.start();
    return () => live.stop();
  }, [live]);
  useEffect(() => setUnauthorizedHandler(() => setTok(null)), []);
  if (!live) return <Login onLogin={() => setTok(getToken())} />;
  return (
    <Shell
      live={live}
      onLogout={() => {
        clearToken();
        setTok(null);
      }}
    />
  );
}

render(<App />, document.getElementById('app')!);
