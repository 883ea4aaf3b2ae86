/**
 * A small, strict XML property-list parser for tests (no plist package is installed). It rejects what
 * launchd's parser would: malformed XML, a missing or wrong DOCTYPE, unknown elements, a dict whose keys and
 * values don't pair up, duplicate keys, badly typed values. Errors carry the offset of the problem.
 */
export type PlistValue = string | number | boolean | Date | Buffer | PlistValue[] | { [key: string]: PlistValue };

export class PlistError extends Error {
  constructor(message: string, readonly offset: number) {
    super(`${message} (at offset ${offset})`);
    this.name = 'PlistError';
  }
}

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: Array<XmlElement | string>;
  offset: number;
}

const DOCTYPE = '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">';
const NAME = /[A-Za-z_:][A-Za-z0-9_:.-]*/y;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
// XML 1.0 Char production, minus what never appears in a plist anyway (surrogates are checked by the decoder).
// eslint-disable-next-line no-control-regex
const FORBIDDEN_CHAR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/;

class XmlReader {
  pos = 0;
  constructor(readonly text: string) {}

  fail(message: string, at = this.pos): never {
    throw new PlistError(message, at);
  }
  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.pos);
  }
  expect(s: string): void {
    if (!this.startsWith(s)) this.fail(`expected ${JSON.stringify(s)}`);
    this.pos += s.length;
  }
  skipSpace(): void {
    while (this.pos < this.text.length && ' \t\r\n'.includes(this.text[this.pos] as string)) this.pos++;
  }
  name(): string {
    NAME.lastIndex = this.pos;
    const m = NAME.exec(this.text);
    if (!m) this.fail('expected a name');
    this.pos += m[0].length;
    return m[0];
  }
  /** Whitespace, comments; no processing instructions or CDATA: a plist has none. */
  skipMisc(): void {
    for (;;) {
      this.skipSpace();
      if (!this.startsWith('<!--')) return;
      const end = this.text.indexOf('-->', this.pos + 4);
      if (end < 0) this.fail('unterminated comment');
      const body = this.text.slice(this.pos + 4, end);
      if (body.includes('--') || body.endsWith('-')) this.fail("'--' inside a comment");
      this.pos = end + 3;
    }
  }
  decode(raw: string, at: number): string {
    if (raw.includes('<')) this.fail("'<' in text or attribute value", at);
    return raw.replace(/&([^;]*);?/g, (whole, ref: string) => {
      if (!whole.endsWith(';')) this.fail(`'&' not starting an entity reference`, at);
      if (ref in ENTITIES) return ENTITIES[ref] as string;
      const num = /^#(?:x([0-9A-Fa-f]+)|([0-9]+))$/.exec(ref);
      if (!num) this.fail(`unknown entity &${ref};`, at);
      const code = num[1] !== undefined ? parseInt(num[1], 16) : Number(num[2]);
      const ch = code <= 0x10ffff ? String.fromCodePoint(code) : '\u0000';
      if (FORBIDDEN_CHAR.test(ch) || (code >= 0xd800 && code <= 0xdfff)) this.fail(`character reference &${ref}; is not an XML character`, at);
      return ch;
    });
  }
  element(): XmlElement {
    const offset = this.pos;
    this.expect('<');
    const name = this.name();
    const attrs: Record<string, string> = {};
    for (;;) {
      const before = this.pos;
      this.skipSpace();
      if (this.startsWith('/>')) {
        this.pos += 2;
        return { name, attrs, children: [], offset };
      }
      if (this.startsWith('>')) {
        this.pos += 1;
        break;
      }
      if (this.pos === before) this.fail('expected whitespace before an attribute');
      const attr = this.name();
      if (attr in attrs) this.fail(`duplicate attribute ${attr}`);
      this.skipSpace();
      this.expect('=');
      this.skipSpace();
      const quote = this.text[this.pos];
      if (quote !== '"' && quote !== "'") this.fail('attribute value must be quoted');
      const end = this.text.indexOf(quote, this.pos + 1);
      if (end < 0) this.fail('unterminated attribute value');
      attrs[attr] = this.decode(this.text.slice(this.pos + 1, end), this.pos);
      this.pos = end + 1;
    }
    const children: Array<XmlElement | string> = [];
    for (;;) {
      if (this.pos >= this.text.length) this.fail(`<${name}> is never closed`, offset);
      if (this.startsWith('</')) {
        this.pos += 2;
        const closing = this.name();
        if (closing !== name) this.fail(`</${closing}> closes <${name}>`);
        this.skipSpace();
        this.expect('>');
        return { name, attrs, children, offset };
      }
      if (this.startsWith('<!--')) {
        this.skipMisc();
        continue;
      }
      if (this.startsWith('<![CDATA[') || this.startsWith('<?') || this.startsWith('<!')) this.fail('CDATA, processing instructions and declarations are not allowed here');
      if (this.startsWith('<')) {
        children.push(this.element());
        continue;
      }
      const next = this.text.indexOf('<', this.pos);
      const end = next < 0 ? this.text.length : next;
      const raw = this.text.slice(this.pos, end);
      if (raw.includes(']]>')) this.fail("']]>' in text");
      children.push(this.decode(raw, this.pos));
      this.pos = end;
    }
  }
}

function textOf(el: XmlElement, r: XmlReader): string {
  const child = el.children.find((c) => typeof c !== 'string');
  if (child) r.fail(`<${el.name}> may contain only text, found <${(child as XmlElement).name}>`, (child as XmlElement).offset);
  return el.children.join('');
}

function elementsOf(el: XmlElement, r: XmlReader): XmlElement[] {
  const out: XmlElement[] = [];
  for (const c of el.children) {
    if (typeof c === 'string') {
      if (c.trim() !== '') r.fail(`unexpected text ${JSON.stringify(c.trim())} inside <${el.name}>`, el.offset);
    } else out.push(c);
  }
  return out;
}

function toValue(el: XmlElement, r: XmlReader): PlistValue {
  if (Object.keys(el.attrs).length > 0) r.fail(`<${el.name}> takes no attributes`, el.offset);
  switch (el.name) {
    case 'string':
      return textOf(el, r);
    case 'integer': {
      const t = textOf(el, r).trim();
      if (!/^[+-]?\d+$/.test(t)) r.fail(`<integer> ${JSON.stringify(t)} is not an integer`, el.offset);
      return Number(t);
    }
    case 'real': {
      const t = textOf(el, r).trim();
      if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t)) r.fail(`<real> ${JSON.stringify(t)} is not a number`, el.offset);
      return Number(t);
    }
    case 'true':
    case 'false':
      if (el.children.length > 0) r.fail(`<${el.name}/> must be empty`, el.offset);
      return el.name === 'true';
    case 'date': {
      const t = textOf(el, r).trim();
      if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/.test(t)) r.fail(`<date> ${JSON.stringify(t)} is not YYYY-MM-DDTHH:MM:SSZ`, el.offset);
      return new Date(t);
    }
    case 'data': {
      const t = textOf(el, r).replace(/\s+/g, '');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(t) || t.length % 4 !== 0) r.fail('<data> is not base64', el.offset);
      return Buffer.from(t, 'base64');
    }
    case 'array':
      return elementsOf(el, r).map((c) => toValue(c, r));
    case 'dict': {
      const items = elementsOf(el, r);
      const out: { [key: string]: PlistValue } = {};
      for (let i = 0; i < items.length; i += 2) {
        const key = items[i] as XmlElement;
        const value = items[i + 1];
        if (key.name !== 'key') r.fail(`<dict> expected <key>, found <${key.name}>`, key.offset);
        const k = textOf(key, r);
        if (value === undefined) r.fail(`<key>${k}</key> has no value`, key.offset);
        if (value.name === 'key') r.fail(`<key>${k}</key> is followed by another <key>`, value.offset);
        if (Object.prototype.hasOwnProperty.call(out, k)) r.fail(`duplicate key ${JSON.stringify(k)}`, key.offset);
        out[k] = toValue(value, r);
      }
      return out;
    }
    default:
      return r.fail(`unknown plist element <${el.name}>`, el.offset);
  }
}

export function parsePlist(text: string): PlistValue {
  const r: XmlReader = new XmlReader(text);
  const bad = FORBIDDEN_CHAR.exec(text);
  if (bad) r.fail(`character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0')} is not allowed in XML`, bad.index);
  const decl = /^<\?xml version="1\.0" encoding="UTF-8"\?>/.exec(text);
  if (!decl) r.fail('must start with <?xml version="1.0" encoding="UTF-8"?>', 0);
  r.pos = decl[0].length;
  r.skipMisc();
  r.expect(DOCTYPE);
  r.skipMisc();
  const root = r.element();
  r.skipMisc();
  if (r.pos !== text.length) r.fail('content after the root element');
  if (root.name !== 'plist') r.fail(`root element is <${root.name}>, not <plist>`, root.offset);
  if (root.attrs.version !== '1.0' || Object.keys(root.attrs).length !== 1) r.fail('<plist> must have exactly version="1.0"', root.offset);
  const values = elementsOf(root, r);
  if (values.length !== 1) r.fail(`<plist> must hold exactly one value, found ${values.length}`, root.offset);
  return toValue(values[0] as XmlElement, r);
}
