import { InvalidArgumentError } from 'commander';

/**
 * Option value parsers. They throw commander's InvalidArgumentError, whose message commander
 * prefixes with the option and the value: `option '--mtu <n>' argument '1400x' is invalid. …`.
 */
export const int = (v: string): number => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('expected a whole number');
  return Number(v);
};

export const positiveInt = (v: string): number => {
  const n = int(v);
  if (n < 1) throw new InvalidArgumentError('expected a number of at least 1');
  return n;
};

export const decimal = (v: string): number => {
  if (!/^\d+(\.\d+)?$/.test(v)) throw new InvalidArgumentError('expected a number such as 0.5 or 2');
  return Number(v);
};

/** Repeatable `KEY=VALUE` (`--label tier=web`), collected into an object. */
export const keyValue =
  (what: string) =>
  (v: string, prev: Record<string, string> = {}): Record<string, string> => {
    const m = /^([^=]+)=(.*)$/.exec(v);
    if (!m) throw new InvalidArgumentError(`expected ${what}=VALUE, e.g. tier=web`);
    return { ...prev, [m[1]]: m[2] };
  };

/** Repeatable option collected into a list. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Comma-separated list, repeatable (`--dns 10.0.0.2,10.0.0.3`). */
export const commaList = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').filter(Boolean)];
