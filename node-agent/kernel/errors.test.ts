import { describe, expect, it } from 'vitest';
import { isNetlinkError, NetlinkError } from './errors.js';

describe('NetlinkError', () => {
  it('has a snake_case code, keeps the errno name in errno and in the message', () => {
    const e = new NetlinkError({ errno: -17, op: 'create vxlan', target: 'frx-100' });
    expect([e.code, e.errno, e.errnoNumber, e.message]).toEqual(['exists', 'EEXIST', 17, 'create vxlan frx-100: EEXIST']);
    expect(isNetlinkError(new NetlinkError({ errno: 19, op: 'get link', target: 'x' }), 'no_device')).toBe(true);
    expect(new NetlinkError({ errno: 0, name: 'ETIMEDOUT', op: 'dump', target: 'links' }).code).toBe('timeout');
    expect(new NetlinkError({ errno: 71, op: 'x', target: 'y' }).code).toBe('protocol_error');
    expect(new NetlinkError({ errno: 5, op: 'x', target: 'y' })).toMatchObject({ code: 'kernel_error', errno: 'EIO' });
  });

  it('carries the socket error it wraps as cause', () => {
    const cause = Object.assign(new Error('send failed'), { code: 'ENOBUFS', errno: -105 });
    const e = new NetlinkError({ errno: cause.errno, name: cause.code, op: 'batch', target: 'route', cause });
    expect([e.code, e.errno, e.cause]).toEqual(['no_buffer_space', 'ENOBUFS', cause]);
  });
});
