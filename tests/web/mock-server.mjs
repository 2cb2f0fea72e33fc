// A tiny stand-in for the tingwen HTTP API, for iterating on the web page
// without models or a Rust build: `node tests/web/mock-server.mjs [port]`.
//
// It serves the real page (crates/tingwen-server/src/ui/index.html) and fakes
// the JSON API over the demo corpus in data/: documents, passages with exact
// byte offsets, and `/api/ask` answers (streamed as SSE) that quote the
// sentences sharing the most character bigrams with the question.

import { createServer } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const pagePath = join(root, 'crates', 'tingwen-server', 'src', 'ui', 'index.html');
const dataDir = join(root, 'data');

/** doc_id → { source: Buffer, title, url, speakers } */
const documents = new Map();

function titleOf(text, fallback) {
  const fm = /^---\n([\s\S]*?)\n---/.exec(text);
  if (fm) {
    const t = /^title:\s*["']?(.+?)["']?\s*$/m.exec(fm[1]);
    if (t) return t[1];
  }
  const heading = /^#\s+(.+)$/m.exec(text);
  return heading ? heading[1] : fallback;
}

function urlOf(text) {
  const m = /(https?:\/\/[^\s"'）)]+)/.exec(text.slice(0, 2000));
  return m ? m[1] : undefined;
}

function addDocument(docId, bytes) {
  const text = bytes.toString('utf8');
  const existing = documents.get(docId);
  const status = !existing ? 'added' : existing.source.equals(bytes) ? 'unchanged' : 'replaced';
  documents.set(docId, {
    source: bytes,
    title: titleOf(text, docId),
    url: urlOf(text),
    speakers: [],
  });
  return { doc_id: docId, status, chunks: sentencesOf(docId).length, warnings: [] };
}

for (const name of readdirSync(dataDir).filter((n) => n.endsWith('.txt')).sort()) {
  addDocument(name, readFileSync(join(dataDir, name)));
}

/** Sentences of a document as { start, end, text } with byte offsets. */
function sentencesOf(docId) {
  const doc = documents.get(docId);
  const text = doc.source.toString('utf8');
  const out = [];
  // Unpunctuated ASR text has no sentence ends: cut such runs at 120 characters.
  const re = /[^。！？!?\n]{1,120}[。！？!?]?/g;
  let m;
  while ((m = re.exec(text))) {
    const s = m[0].trim();
    if ([...s].length < 8) continue;
    const charStart = m.index + m[0].indexOf(s);
    const start = Buffer.byteLength(text.slice(0, charStart));
    out.push({ start, end: start + Buffer.byteLength(s), text: s });
  }
  return out;
}

function bigrams(s) {
  const chars = [...s.toLowerCase().replace(/[\s\p{P}]/gu, '')];
  const set = new Set();
  for (let i = 0; i + 1 < chars.length; i++) set.add(chars[i] + chars[i + 1]);
  return set;
}

function search(query, k) {
  const q = bigrams(query);
  const scored = [];
  for (const [docId, doc] of documents) {
    for (const s of sentencesOf(docId)) {
      let score = 0;
      for (const b of bigrams(s.text)) if (q.has(b)) score++;
      if (score > 0) scored.push({ doc_id: docId, title: doc.title, ...s, score });
    }
  }
  scored.sort((a, b) => b.score - a.score);
  return scored.slice(0, k);
}

function isChinese(text) {
  return /[\u3400-\u9fff]/.test(text);
}

function answerFor(question) {
  const hits = search(question, 3);
  const language = isChinese(question) ? 'zh' : 'en';
  const citations = hits.map((h, i) => ({
    n: i + 1,
    doc_id: h.doc_id,
    title: h.title,
    text: h.text,
    start: h.start,
    end: h.end,
    speaker: i === 0 ? '张璐' : undefined,
    time: i === 0 ? { start: 754.0, end: 781.5 } : undefined,
    url: documents.get(h.doc_id).url,
  }));
  const lead = language === 'zh' ? '根据转录：' : 'According to the transcripts: ';
  const answer = citations.length
    ? lead + citations.map((c) => `${c.text}[${c.n}]`).join(language === 'zh' ? '' : ' ')
    : language === 'zh' ? '转录中没有相关内容。' : 'The transcripts do not cover this.';
  return {
    answer,
    language,
    mode: 'extractive',
    mode_reason: 'mock server',
    refused: citations.length === 0,
    citations,
    timings_ms: { retrieve: 1.0, answer: 2.0 },
  };
}

function sendJson(res, status, body) {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': data.length });
  res.end(data);
}

function sendError(res, status, message) {
  sendJson(res, status, { error: { message, type: 'invalid_request_error', code: String(status) } });
}

async function readBody(req) {
  const parts = [];
  for await (const part of req) parts.push(part);
  return Buffer.concat(parts);
}

/** Minimal multipart/form-data parser: returns [{ name, filename, data }]. */
function parseMultipart(body, contentType) {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType || '');
  if (!m) return [];
  const boundary = Buffer.from('--' + (m[1] || m[2]));
  const parts = [];
  let pos = body.indexOf(boundary);
  while (pos !== -1) {
    const next = body.indexOf(boundary, pos + boundary.length);
    if (next === -1) break;
    const part = body.subarray(pos + boundary.length + 2, next - 2);
    const headerEnd = part.indexOf('\r\n\r\n');
    const headers = part.subarray(0, headerEnd).toString('utf8');
    const name = /name="([^"]*)"/.exec(headers)?.[1];
    const filename = /filename="([^"]*)"/.exec(headers)?.[1];
    parts.push({ name, filename, data: part.subarray(headerEnd + 4) });
    pos = next;
  }
  return parts;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Text of the rejected draft the mock streams before `restart`. */
export const DRAFT_MARKER = '(draft that verification rejects) ';

function sse(res, event, data) {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

async function handle(req, res) {
  const url = new URL(req.url, 'http://localhost');
  const path = url.pathname;

  if (req.method === 'GET' && path === '/') {
    const page = readFileSync(pagePath);
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    return res.end(page);
  }
  if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });

  if (process.env.MOCK_API_KEY && req.headers.authorization !== `Bearer ${process.env.MOCK_API_KEY}`) {
    return sendError(res, 401, 'missing or wrong API key');
  }

  if (req.method === 'GET' && path === '/api/documents') {
    const list = [...documents].map(([docId, d]) => ({
      doc_id: docId,
      title: d.title,
      date: null,
      author: null,
      url: d.url ?? null,
      tags: [],
      speakers: d.speakers,
      format: 'plain_text',
      chunks: sentencesOf(docId).length,
      bytes: d.source.length,
      content_hash: '0'.repeat(64),
    }));
    const chunks = list.reduce((sum, d) => sum + d.chunks, 0);
    return sendJson(res, 200, { count: list.length, chunks, documents: list });
  }
  if (req.method === 'POST' && path === '/api/documents') {
    const body = await readBody(req);
    const file = parseMultipart(body, req.headers['content-type']).find((p) => p.filename);
    if (!file || !file.filename) return sendError(res, 400, 'expected a multipart file field');
    await sleep(300); // pretend to index
    return sendJson(res, 200, addDocument(file.filename, file.data));
  }
  if (req.method === 'DELETE' && path.startsWith('/api/documents/')) {
    const docId = decodeURIComponent(path.slice('/api/documents/'.length));
    if (!documents.delete(docId)) return sendError(res, 404, `no document ${docId}`);
    return sendJson(res, 200, { deleted: true, doc_id: docId });
  }
  if (req.method === 'GET' && path === '/api/passage') {
    const doc = documents.get(url.searchParams.get('doc_id'));
    if (!doc) return sendError(res, 404, 'no such document');
    const start = Number(url.searchParams.get('start'));
    const end = Number(url.searchParams.get('end'));
    const context = Number(url.searchParams.get('context') ?? 300);
    if (!(start >= 0 && end >= start && end <= doc.source.length)) return sendError(res, 400, 'bad range');
    // Cut context on UTF-8 character boundaries (continuation bytes are 10xxxxxx).
    let from = Math.max(0, start - context);
    while (from > 0 && (doc.source[from] & 0xc0) === 0x80) from--;
    let to = Math.min(doc.source.length, end + context);
    while (to < doc.source.length && (doc.source[to] & 0xc0) === 0x80) to++;
    return sendJson(res, 200, {
      doc_id: url.searchParams.get('doc_id'),
      title: doc.title,
      url: doc.url,
      start,
      end,
      text: doc.source.subarray(start, end).toString('utf8'),
      before: doc.source.subarray(from, start).toString('utf8'),
      after: doc.source.subarray(end, to).toString('utf8'),
    });
  }
  if (req.method === 'POST' && path === '/api/ask') {
    let body;
    try {
      body = JSON.parse((await readBody(req)).toString('utf8'));
    } catch {
      return sendError(res, 400, 'invalid JSON');
    }
    if (typeof body.question !== 'string' || !body.question.trim()) {
      return sendError(res, 400, 'question must be a non-empty string');
    }
    const answer = answerFor(body.question);
    if (!body.stream) return sendJson(res, 200, answer);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    // The same events as tingwen-server's /api/ask stream.
    sse(res, 'sources', { sources: answer.citations });
    // Stream the answer a few characters at a time, like a generator would.
    // A draft that "verification" rejects, as tingwen-server streams when a
    // generated answer is replaced: the page must drop it on `restart`.
    sse(res, 'delta', { text: DRAFT_MARKER });
    await sleep(15);
    sse(res, 'restart', { reason: 'mock verification rejected the draft' });
    const chars = [...answer.answer];
    const step = Math.max(6, Math.ceil(chars.length / 60));
    for (let i = 0; i < chars.length; i += step) {
      await sleep(15);
      sse(res, 'delta', { text: chars.slice(i, i + step).join('') });
    }
    sse(res, 'citations', { citations: answer.citations });
    sse(res, 'done', answer);
    return res.end();
  }
  if (req.method === 'POST' && path === '/api/search') {
    const body = JSON.parse((await readBody(req)).toString('utf8'));
    return sendJson(res, 200, { results: search(body.query ?? '', body.k ?? 10) });
  }
  return sendError(res, 404, 'not found');
}

/** Starts the mock on `port` (0: any free port); resolves to its base URL. */
export function startMockServer(port = 0) {
  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      console.error(err);
      if (!res.headersSent) sendError(res, 500, 'mock failure');
      else res.end();
    });
  });
  return new Promise((resolve) => {
    server.listen(port, '127.0.0.1', () => {
      const { port: bound } = server.address();
      resolve({ url: `http://127.0.0.1:${bound}`, close: () => server.close() });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { url } = await startMockServer(Number(process.argv[2] ?? 8099));
  console.log(`mock tingwen API on ${url}`);
}
