import { z } from 'zod';

/**
 * The events stream, `GET /v1/events` (Server-Sent Events): what the controller sends and the
 * query it takes. freightctl and the web console read it with these types.
 */
export const EventsQuery = z
  .object({
    since: z.coerce
      .number()
      .int()
      .min(0)
      .max(Number.MAX_SAFE_INTEGER)
      .optional()
      .describe('resume after this change-log revision (also the Last-Event-ID header); omitted: from now'),
  })
  .strict();
export type EventsQuery = z.infer<typeof EventsQuery>;

/** create/update/delete from the change log; status = observed state (containers, node revisions), not logged. */
export const EventOp = z.enum(['create', 'update', 'delete', 'status']);
export type EventOp = z.infer<typeof EventOp>;

/**
 * One object change. `kind` is the change log's kind in the singular (tenant, network, container,
 * endpoint, node, image_repository, and any kind logged later, e.g. router). `object` is the
 * object as the REST API shows it, read when the event was sent (null once deleted, or for a kind
 * without a loader). `revision` is the change-log revision (for status events: the newest one the
 * controller had read when it saw the status).
 */
export const ChangeEvent = z.object({
  revision: z.number().int(),
  kind: z.string(),
  op: EventOp,
  id: z.string(),
  tenant: z.string().nullable(),
  at: z.string().optional(),
  object: z.record(z.string(), z.unknown()).nullable(),
});
export type ChangeEvent = z.infer<typeof ChangeEvent>;

/** First message of every stream: the revision it starts after. */
export const ReadyEvent = z.object({ revision: z.number().int() });
/** The log no longer reaches back to `since`: events were lost; list the objects again, then follow from `revision`. */
export const ResyncEvent = z.object({ since: z.number().int(), oldest: z.number().int(), revision: z.number().int(), message: z.string() });
export type ReadyEvent = z.infer<typeof ReadyEvent>;
export type ResyncEvent = z.infer<typeof ResyncEvent>;

/** SSE event names: `change` (id: revision) and `status` events, `ready`, `resync`. */
export const EVENT_NAMES = ['ready', 'change', 'status', 'resync'] as const;
export type EventName = (typeof EVENT_NAMES)[number];
