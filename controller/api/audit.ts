import { type z } from 'zod';
import { AuditEntryResponse, Page } from '../../protocol/responses.js';
import { Pagination } from '../../protocol/api.js';
import { listAudit } from '../store/audit.js';
import { route } from './route.js';

export const auditRoutes = [
  route<undefined, z.infer<typeof Pagination>>({
    method: 'GET',
    url: '/v1/audit',
    response: Page(AuditEntryResponse),
    summary: 'the audit log of mutating calls (who, what, when), newest first; bodies are never recorded',
    op: 'list audit',
    auth: 'admin',
    query: Pagination,
    handler: async ({ query, deps }) => {
      // this replica's buffered entries first: an admin reads what it just did
      await deps.audit.flush();
      return listAudit(deps.db, query.limit, query.after);
    },
  }),
];
