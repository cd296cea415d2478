import { describe, expect, it } from 'vitest';
import { judgePackage, type RpmFile } from './inspect.js';

const P = '/var/lib/freight/image-payload/web/1';
const f = (rel: string, mode: number, extra: Partial<RpmFile> = {}): RpmFile => ({
  path: rel ? `${P}/${rel}` : P,
  mode,
  linkTo: '',
  caps: '',
  ...extra,
});
const base = [f('', 0o40755), f('rootfs', 0o40755), f('manifest.json', 0o100644)];
const judge = (files: RpmFile[], o: { scriptlets?: string[]; name?: string } = {}) =>
  judgePackage(
    { name: o.name ?? 'freight-image-web', version: '1', scriptlets: o.scriptlets ?? [], files: [...base, ...files] },
    { name: 'web', version: '1' },
  );

describe('judgePackage', () => {
  it('accepts an ordinary tree: files, symlinks inside rootfs, setgid directories, FIFOs', () => {
    expect(
      judge([
        f('rootfs/bin', 0o40755),
        f('rootfs/bin/sh', 0o120777, { linkTo: '/bin/busybox' }),
        f('rootfs/var/mail', 0o42775),
        f('rootfs/run/fifo', 0o10644),
      ]),
    ).toBeNull();
  });
  it('refuses another package name or version', () => {
    expect(judge([], { name: 'freight-image-other' })).toMatch(/is freight-image-other-1, not freight-image-web-1/);
  });
  it('refuses a scriptlet, a trigger, an interpreter without a body', () => {
    expect(judge([], { scriptlets: ['POSTINPROG'] })).toMatch(/scriptlets or triggers \(POSTINPROG\)/);
  });
  it('refuses . and .. components, setgid files, file capabilities, sockets', () => {
    expect(judge([f('rootfs/../../../../etc/passwd', 0o100644)])).toMatch(/empty, \. or \.\. component/);
    expect(judge([f('rootfs/bin/wall', 0o102755)])).toMatch(/rootfs\/bin\/wall \(mode 2755\) is setgid/);
    expect(judge([f('rootfs/bin/ping', 0o100755, { caps: 'cap_net_raw=ep' })])).toMatch(/carries file capabilities \(cap_net_raw=ep\)/);
    expect(judge([f('rootfs/s', 0o140755)])).toMatch(/is a socket file/);
  });
  it('refuses a file below a symlink the package also ships', () => {
    expect(judge([f('rootfs/etc', 0o120777, { linkTo: '/etc' }), f('rootfs/etc/passwd', 0o100644)])).toMatch(
      /rootfs\/etc\/passwd is below the symlink rootfs\/etc/,
    );
  });
  it('refuses a payload without rootfs, or with a manifest that is a directory', () => {
    expect(
      judgePackage({ name: 'freight-image-web', version: '1', scriptlets: [], files: [base[0], base[2]] }, { name: 'web', version: '1' }),
    ).toMatch(/has no rootfs/);
    expect(
      judgePackage(
        { name: 'freight-image-web', version: '1', scriptlets: [], files: [base[0], base[1], f('manifest.json', 0o40755)] },
        { name: 'web', version: '1' },
      ),
    ).toMatch(/manifest.json is a dir, not a real file/);
  });
});
