// A small Markdown renderer that builds DOM nodes. Model output only ever
// becomes text nodes and a fixed set of elements: it is never parsed as
// HTML, so `<script>` in an answer shows as text. Links open only for
// http(s) addresses.

const INLINE =
  /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([^*]+(?:\*(?!\*)[^*]*)*)\*\*|(?<![\w])__([^_]+)__(?![\w])|\*([^*\s](?:[^*]*[^*\s])?)\*|(?<![\w])_([^_\s](?:[^_]*[^_\s])?)_(?![\w])|\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]+[^\s<>().,;:!?'"])/g;

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/;
const LIST = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;

/** Renders `src` into a fragment of safe nodes. */
export function renderMarkdown(src) {
  const frag = document.createDocumentFragment();
  const lines = String(src).replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  const startsBlock = (l) =>
    FENCE.test(l) || HEADING.test(l) || RULE.test(l) || QUOTE.test(l) || LIST.test(l);
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(FENCE);
    if (fence) {
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i++;
      frag.append(codeBlock(body.join('\n'), fence[2]));
    } else if (!line.trim()) {
      i++;
    } else if (HEADING.test(line)) {
      const [, hashes, text] = line.match(HEADING);
      const h = document.createElement(`h${Math.min(hashes.length + 2, 6)}`);
      inline(h, text);
      frag.append(h);
      i++;
    } else if (RULE.test(line)) {
      frag.append(document.createElement('hr'));
      i++;
    } else if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && QUOTE.test(lines[i])) inner.push(lines[i++].match(QUOTE)[1]);
      const q = document.createElement('blockquote');
      q.append(renderMarkdown(inner.join('\n')));
      frag.append(q);
    } else if (LIST.test(line)) {
      i = list(lines, i, frag);
    } else {
      const para = [];
      while (i < lines.length && lines[i].trim() && !(para.length && startsBlock(lines[i]))) {
        para.push(lines[i++]);
      }
      const p = document.createElement('p');
      inline(p, para.join('\n'));
      frag.append(p);
    }
  }
  return frag;
}

/** A list from line `i`; nested items by indentation. Returns the next line. */
function list(lines, i, parent) {
  const [, indent, marker] = lines[i].match(LIST);
  const ordered = /\d/.test(marker);
  const el = document.createElement(ordered ? 'ol' : 'ul');
  if (ordered && parseInt(marker, 10) !== 1) el.start = parseInt(marker, 10);
  let li = null;
  while (i < lines.length) {
    const m = lines[i].match(LIST);
    if (m && m[1].length === indent.length && /\d/.test(m[2]) === ordered) {
      li = document.createElement('li');
      inline(li, m[3]);
      el.append(li);
      i++;
    } else if (m && m[1].length > indent.length && li) {
      i = list(lines, i, li);
    } else if (li && lines[i].trim() && /^\s+/.test(lines[i]) && !m) {
      li.append('\n');
      inline(li, lines[i].trim());
      i++;
    } else {
      break;
    }
  }
  parent.append(el);
  return i;
}

/** A fenced code block, with its language and a copy button. */
function codeBlock(text, lang) {
  const box = document.createElement('div');
  box.className = 'code';
  const head = document.createElement('div');
  head.className = 'code-head';
  const name = document.createElement('span');
  name.textContent = lang || 'text';
  const copy = document.createElement('button');
  copy.type = 'button';
  copy.className = 'ghost small';
  copy.textContent = 'Copy';
  copy.addEventListener('click', () => {
    navigator.clipboard?.writeText(text).then(
      () => { copy.textContent = 'Copied'; setTimeout(() => (copy.textContent = 'Copy'), 1200); },
      () => { copy.textContent = 'Copy failed'; },
    );
  });
  head.append(name, copy);
  const pre = document.createElement('pre');
  const code = document.createElement('code');
  code.textContent = text;
  pre.append(code);
  box.append(head, pre);
  return box;
}

/** Appends `text`'s inline Markdown to `parent`. */
function inline(parent, text) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    last = m.index + m[0].length;
    const [, ticks, code, strong, strong2, em, em2, label, href, bare] = m;
    if (ticks) {
      const c = document.createElement('code');
      c.textContent = code.replace(/^ (.*) $/, '$1');
      parent.append(c);
    } else if (strong != null || strong2 != null) {
      const s = document.createElement('strong');
      inline(s, strong ?? strong2);
      parent.append(s);
    } else if (em != null || em2 != null) {
      const e = document.createElement('em');
      inline(e, em ?? em2);
      parent.append(e);
    } else if (label != null) {
      parent.append(link(href, label));
    } else if (bare) {
      parent.append(link(bare, null));
    }
  }
  if (last < text.length) parent.append(text.slice(last));
}

/** A link to an http(s) address; anything else stays text. */
function link(href, label) {
  let url = null;
  try {
    url = new URL(href);
  } catch {
    url = null;
  }
  if (!url || !/^https?:$/.test(url.protocol)) {
    const t = document.createElement('span');
    t.textContent = label == null ? href : `[${label}](${href})`;
    return t;
  }
  const a = document.createElement('a');
  a.href = url.href;
  a.rel = 'noopener noreferrer nofollow';
  a.target = '_blank';
  if (label == null) a.textContent = href;
  else inline(a, label);
  return a;
}
