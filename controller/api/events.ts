import { EventsQuery } from '../../protocol/events.js';
import { ApiError } from '../errors.js';
import { Subscriber } from '../events/subscriber.js';
import { route } from './route.js';

export const eventRoutes = [
  route<undefined, EventsQuery>({
    method: 'GET',
    url: '/v1/events',
    response: 'text/event-stream',
    errors: ['invalid', 'too_many_streams'],
    summary:
      'Server-Sent Events: every change of tenants, networks, containers, endpoints, nodes (and any kind logged later) with its ' +
      'change-log revision (SSE id), observed state as status events; ?since=REVISION or Last-Event-ID resumes, resync when the ' +
      'log no longer reaches back; a tenant token sees its tenant only',
    op: 'follow events',
    auth: 'any',
    query: EventsQuery,
    handler: async ({ principal, query, deps, reply, op }) => {
      const hub = deps.events;
      if (!hub) throw new ApiError('not_found', `${op}: the events stream is off on this controller`);
      const since = query.since ?? lastEventId(reply.request.headers['last-event-id'], op);
      if (hub.streams >= hub.opts.maxStreams)
        throw new ApiError('too_many_streams', `${op}: ${hub.streams} streams open on this controller, retry later`);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        connection: 'keep-alive',
      });
      res.write('retry: 2000\n\n');
      const sub = new Subscriber(
        res,
        principal.kind === 'tenant' ? principal.tenantId : null,
        hub.opts.highWaterBytes,
        hub.opts.keepAliveMs,
        () => {
          hub.dropped();
          deps.log.warn({ buffered: res.writableLength }, 'events client not reading: stream dropped past the high-water mark');
        },
      );
      void hub.subscribe(sub, since).catch((err) => {
        deps.log.warn({ err }, 'events: subscribe failed');
        sub.end();
      });
      return undefined;
    },
  }),
];

function lastEventId(header: string | string[] | undefined, op: string): number | undefined {
  if (header === undefined) return undefined;
  const v = Array.isArray(header) ? header[0] : header;
  if (!/^\d{1,15}$/.test(v.trim())) throw new ApiError('invalid', `${op}: Last-Event-ID must be a revision number`, 'Last-Event-ID');
  return Number(v.trim());
}
