import { SaxesParser, type SaxesTag } from 'saxes';
import { ImageError } from './errors.js';

/** Bounds on a document's shape: yum metadata is five levels deep with a handful of attributes. */
const MAX_DEPTH = 32;
const MAX_ATTRIBUTES = 32;
/** Longest run of characters without a `<`: one text node or tag (saxes buffers it whole). */
const MAX_RUN = 1024 * 1024;

export interface XmlHandlers {
  open(name: string, attrs: Record<string, string>, depth: number): void;
  close(name: string, depth: number): void;
  text(t: string): void;
}

/**
 * A streaming, non-validating XML reader for repository metadata (saxes: well-formedness
 * checked, the five predefined entities and character references decoded, never anything
 * else). Yum metadata needs no DTD, comment, CDATA or processing instruction, so `<!` and
 * `<?` (past the XML declaration) are refused before the parser sees them: no entity can
 * be declared, hence none expanded, and the scans saxes makes of such sections cost
 * nothing. Every refusal is `repo_corrupt` naming the document; nothing throws a
 * RangeError or leaks past this module untyped.
 */
export class XmlStream {
  private readonly sax = new SaxesParser({ position: false });
  private depth = 0;
  private attrs = 0;
  private seen = 0;
  private tail = '';
  private run = 0;

  constructor(
    private readonly what: string,
    h: XmlHandlers,
  ) {
    this.sax.on('error', (e) => this.fail(e.message));
    this.sax.on('doctype', () => this.fail('a DOCTYPE is not allowed'));
    this.sax.on('opentagstart', () => (this.attrs = 0));
    this.sax.on('attribute', () => {
      if (++this.attrs > MAX_ATTRIBUTES) this.fail(`more than ${MAX_ATTRIBUTES} attributes on an element`);
    });
    this.sax.on('opentag', (t: SaxesTag) => {
      if (++this.depth > MAX_DEPTH) this.fail(`elements nested deeper than ${MAX_DEPTH}`);
      h.open(t.name, t.attributes as Record<string, string>, this.depth); // xmlns off: plain strings; // <x/> gets its closetag too
    });
    this.sax.on('closetag', (t) => h.close(t.name, this.depth--));
    this.sax.on('text', (t) => h.text(t));
  }

  private fail(reason: string): never {
    throw new ImageError('repo_corrupt', `read ${this.what}: not well-formed repository XML (${reason.replace(/^\d+:\d+: /, '')})`);
  }

  /** Feeds text in slices of at most 64 Ki characters, so the screen's run check is exact to that. */
  write(text: string): void {
    for (let i = 0; i < text.length; i += 65_536) {
      const chunk = text.slice(i, i + 65_536);
      this.screen(chunk);
      this.sax.write(chunk);
    }
  }

  end(): void {
    this.sax.close();
  }

  /** Refuses `<!`, `<?` (except the declaration at the start) and overlong runs, also across chunk boundaries: native scans only. */
  private screen(chunk: string): void {
    const s = this.tail + chunk;
    const base = this.seen - this.tail.length;
    if (s.includes('<!')) this.fail('DOCTYPE, comments and CDATA are not allowed');
    for (let i = s.indexOf('<?'); i >= 0; i = s.indexOf('<?', i + 2)) {
      const at = base + i;
      if (at > 1 || !s.startsWith('<?xml', i)) this.fail('processing instructions are not allowed');
    }
    const first = chunk.indexOf('<');
    if ((first < 0 ? this.run + chunk.length : this.run + first) > MAX_RUN) this.fail(`a text or tag longer than ${MAX_RUN} characters`);
    this.run = first < 0 ? this.run + chunk.length : chunk.length - chunk.lastIndexOf('<') - 1;
    this.seen += chunk.length;
    this.tail = chunk.slice(-1);
  }
}

/** Parses a whole document held in memory (repomd.xml, tests). */
export function parseXml(what: string, xml: string, h: XmlHandlers): void {
  const x = new XmlStream(what, h);
  x.write(xml);
  x.end();
}
