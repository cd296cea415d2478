import { useState } from 'preact/hooks';
import { api, enc } from '../api.js';
import type { Live } from '../live.js';
import { Field, FormLevelError, toFormError, type FormError } from '../ui/form.js';

function tenantNames(live: Live): string[] {
  return [...live.state.tenants.values()].map((t) => t.name).sort();
}

function TenantSelect({ id, live, value, onChange }: { id: string; live: Live; value: string; onChange: (v: string) => void }) {
  return (
    <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
      {tenantNames(live).map((t) => (
        <option key={t} value={t}>
          {t}
        </option>
      ))}
    </select>
  );
}

/** POST /v1/tenants/:tenant/networks; the API's error (code, message) goes next to its field. */
export function NetworkForm({ live }: { live: Live }) {
  const [tenant, setTenant] = useState(tenantNames(live)[0] ?? '');
  const [name, setName] = useState('');
  const [cidr, setCidr] = useState('');
  const [type, setType] = useState('vxlan');
  const [error, setError] = useState<FormError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  // the tenants may arrive after the first render: default to the first one until one is chosen
  const t = tenant || tenantNames(live)[0] || '';
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setError(null);
    setDone(null);
    try {
      await api('POST', `/v1/tenants/${enc(t)}/networks`, { name, cidr, type });
      setDone(`network ${t}/${name} created`);
    } catch (e) {
      setError(toFormError(e, ['name', 'cidr', 'type']));
    }
  };
  return (
    <form class="form" data-testid="network-form" onSubmit={(e) => void submit(e)}>
      <h3>Create network</h3>
      <Field id="net-tenant" name="tenant" label="tenant" error={error}>
        <TenantSelect id="net-tenant" live={live} value={t} onChange={setTenant} />
      </Field>
      <Field id="net-name" name="name" label="name" error={error}>
        <input id="net-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Field id="net-cidr" name="cidr" label="CIDR" error={error}>
        <input id="net-cidr" value={cidr} placeholder="10.10.0.0/24" onInput={(e) => setCidr(e.currentTarget.value)} />
      </Field>
      <Field id="net-type" name="type" label="type" error={error}>
        <select id="net-type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
          <option>vxlan</option>
          <option>geneve</option>
          <option>ipsec</option>
        </select>
      </Field>
      <FormLevelError error={error} />
      <button type="submit">Create</button>
      {done && <span class="ok">{done}</span>}
    </form>
  );
}

/** POST /v1/tenants/:tenant/containers: name, image, network, node (admins), command. */
export function RunForm({ live }: { live: Live }) {
  const [tenant, setTenant] = useState(tenantNames(live)[0] ?? '');
  const [name, setName] = useState('');
  const [image, setImage] = useState('busybox');
  const [network, setNetwork] = useState('');
  const [node, setNode] = useState('');
  const [command, setCommand] = useState('');
  const [error, setError] = useState<FormError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const t = tenant || tenantNames(live)[0] || '';
  const networks = [...live.state.networks.values()].filter((n) => n.tenant === t).map((n) => n.name);
  const submit = async (ev: Event) => {
    ev.preventDefault();
    setError(null);
    setDone(null);
    try {
      const body: Record<string, unknown> = { name, image, networks: [network || networks[0]] };
      if (node) body.node = node;
      // a shell command line: `sh -c` runs it inside the container (tenant input stays data: one argv element)
      if (command.trim()) body.command = ['sh', '-c', command];
      await api('POST', `/v1/tenants/${enc(t)}/containers`, body);
      setDone(`container ${t}/${name} created`);
    } catch (e) {
      setError(toFormError(e, ['name', 'image', 'networks', 'node', 'command']));
    }
  };
  return (
    <form class="form" data-testid="run-form" onSubmit={(e) => void submit(e)}>
      <h3>Run container</h3>
      <Field id="run-tenant" name="tenant" label="tenant" error={error}>
        <TenantSelect id="run-tenant" live={live} value={t} onChange={setTenant} />
      </Field>
      <Field id="run-name" name="name" label="name" error={error}>
        <input id="run-name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
      </Field>
      <Field id="run-image" name="image" label="image" error={error}>
        <input id="run-image" value={image} onInput={(e) => setImage(e.currentTarget.value)} />
      </Field>
      <Field id="run-networks" name="networks" label="network" error={error}>
        <select id="run-networks" value={network || networks[0]} onChange={(e) => setNetwork(e.currentTarget.value)}>
          {networks.map((n) => (
            <option key={n}>{n}</option>
          ))}
        </select>
      </Field>
      {live.admin && (
        <Field id="run-node" name="node" label="node (optional)" error={error}>
          <select id="run-node" value={node} onChange={(e) => setNode(e.currentTarget.value)}>
            <option value="">(scheduler)</option>
            {[...live.state.nodes.values()].map((n) => (
              <option key={n.id}>{n.name}</option>
            ))}
          </select>
        </Field>
      )}
      <Field id="run-command" name="command" label="command (sh -c)" error={error}>
        <input id="run-command" value={command} onInput={(e) => setCommand(e.currentTarget.value)} />
      </Field>
      <FormLevelError error={error} />
      <button type="submit">Run</button>
      {done && <span class="ok">{done}</span>}
    </form>
  );
}
