// Browser test of tingwen's web page, in Debian's chromium driven by
// playwright-core.
//
//   TINGWEN_URL=http://127.0.0.1:8080 node tests/web/ui.test.mjs
//
// Without TINGWEN_URL it starts the mock API in mock-server.mjs. Env:
// TINGWEN_API_KEY (stored in the page's localStorage before loading),
// TINGWEN_ARTIFACTS (screenshot folder, default /tmp), CHROMIUM (browser
// path, default /usr/bin/chromium), TINGWEN_UI_TIMEOUT_MS (per answer,
// default 180000). Prints `N passed, M failed` last; exits 1 on any failure.

import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, readdirSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DRAFT_MARKER, startMockServer } from './mock-server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const devSet = process.env.TINGWEN_DEV_JSONL || join(repo, '..', 'shared', 'eval', 'dev.jsonl');
const artifacts = process.env.TINGWEN_ARTIFACTS || '/tmp';
const answerTimeout = Number(process.env.TINGWEN_UI_TIMEOUT_MS || 180000);
const demoDocs = readdirSync(join(repo, 'data')).filter((n) => n.endsWith('.txt')).sort();

function question(id) {
  for (const line of readFileSync(devSet, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const item = JSON.parse(line);
    if (item.id === id) return item;
  }
  throw new Error(`${id} not found in ${devSet}`);
}

let passed = 0;
let failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}\n     ${String(err?.message || err).split('\n').join('\n     ')}`);
  }
}
function assert(condition, message) {
  if (!condition) throw new Error(message);
}

let mock = null;
let baseUrl = process.env.TINGWEN_URL;
if (!baseUrl) {
  mock = await startMockServer(0);
  baseUrl = mock.url;
  console.log(`TINGWEN_URL not set: testing against the mock API at ${baseUrl}`);
}
baseUrl = baseUrl.replace(/\/$/, '');
mkdirSync(artifacts, { recursive: true });

const profile = mkdtempSync(join(tmpdir(), 'tingwen-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 860 },
  locale: 'en-US',
});
if (process.env.TINGWEN_API_KEY) {
  await context.addInitScript((key) => localStorage.setItem('tingwen.apiKey', key), process.env.TINGWEN_API_KEY);
}

const page = context.pages()[0] || (await context.newPage());
const pageErrors = [];
page.on('pageerror', (err) => pageErrors.push(err.message));
const askResponses = [];
page.on('response', (response) => {
  if (response.url().endsWith('/api/ask')) askResponses.push(response.headers()['content-type'] || '');
});

/** Types a question, submits it with Enter and waits until the answer is finished. */
async function askQuestion(text) {
  await page.fill('#question', text);
  // A marker the page replaces as soon as it starts asking, so a stale
  // "done" from the previous answer cannot satisfy the wait below.
  await page.evaluate(() => {
    const answer = document.getElementById('answer');
    answer.dataset.state = 'submitted';
    // Every text the answer shows while streaming, for the restart check.
    window.__answerTexts = [];
    window.__answerObserver?.disconnect();
    window.__answerObserver = new MutationObserver(() => window.__answerTexts.push(answer.textContent.trim()));
    window.__answerObserver.observe(answer, { childList: true, subtree: true, characterData: true });
  });
  await page.press('#question', 'Enter');
  await page.waitForSelector('#answer[data-state="done"], #answer[data-state="error"]', { timeout: answerTimeout });
  const state = await page.getAttribute('#answer', 'data-state');
  assert(state === 'done', `answer ended in state ${state}: ${await page.textContent('#ask-status')}`);
}

try {
  await check('page loads offline-ready (no external resources)', async () => {
    const external = [];
    page.on('request', (request) => {
      if (!request.url().startsWith(baseUrl) && !request.url().startsWith('data:')) external.push(request.url());
    });
    const response = await page.goto(`${baseUrl}/`, { waitUntil: 'load' });
    assert(response && response.ok(), `GET / returned ${response && response.status()}`);
    assert((await page.title()).includes('tingwen'), 'page title lacks "tingwen"');
    await page.waitForLoadState('networkidle');
    assert(external.length === 0, `page requested external resources: ${external.join(', ')}`);
  });

  await check('documents panel lists the demo documents with counts', async () => {
    await page.waitForFunction((n) => document.querySelectorAll('#doc-list li').length >= n, demoDocs.length, { timeout: 15000 });
    const ids = await page.$$eval('#doc-list li', (items) => items.map((li) => li.dataset.docId));
    for (const doc of demoDocs) assert(ids.includes(doc), `document ${doc} missing from the list: ${ids.join(', ')}`);
    const summary = await page.textContent('#doc-summary');
    assert(/\d+/.test(summary) && summary.includes(String(ids.length)), `summary "${summary}" lacks the count ${ids.length}`);
    const firstMeta = await page.textContent('#doc-list li .meta');
    assert(/\d+ chunks/.test(firstMeta), `document row lacks a chunk count: "${firstMeta}"`);
  });

  const zh = question('d001');
  let firstCitation = null;
  await check(`Chinese question ${zh.id} streams an answer with citations`, async () => {
    await askQuestion(zh.question);
    assert(askResponses.at(-1)?.includes('text/event-stream'), `/api/ask answered with ${askResponses.at(-1)}, not SSE`);
    const answer = (await page.textContent('#answer')).trim();
    assert(answer.length > 0, 'answer text is empty');
    const keptDraft = await page.evaluate((marker) => window.__answerTexts.some(
      (text) => text.includes(marker) && text.length > marker.length), DRAFT_MARKER.trim());
    assert(!keptDraft, 'text streamed before a `restart` event was kept and appended to');
    assert((await page.getAttribute('html', 'lang')) === 'zh-CN', 'UI language did not follow the Chinese question');
    assert((await page.textContent('#answer-heading')) === '回答', 'answer heading is not in Chinese');
    const cites = await page.$$('#answer .cite');
    assert(cites.length > 0, `no clickable citation markers in the answer: "${answer.slice(0, 200)}"`);
    const sources = await page.$$eval('#sources li', (items) => items.map((li) => ({
      n: li.querySelector('button').dataset.n,
      text: li.querySelector('.src-text').textContent,
    })));
    assert(sources.length > 0, 'no sources listed under the answer');
    const firstN = await cites[0].getAttribute('data-n');
    firstCitation = sources.find((s) => s.n === firstN);
    assert(firstCitation, `citation [${firstN}] in the answer is not among the sources`);
  });

  await check('clicking a citation shows its passage with the span highlighted', async () => {
    assert(firstCitation, 'no citation to click (previous check failed)');
    await page.click('#answer .cite');
    await page.waitForSelector('#passage[open]', { timeout: 5000 });
    await page.waitForSelector('#passage-text:not([data-state="loading"])', { timeout: 15000 });
    const mark = await page.textContent('#passage-text mark');
    assert(mark === firstCitation.text, `highlighted text differs from the citation:\n"${mark}"\nvs\n"${firstCitation.text}"`);
    const state = await page.getAttribute('#passage-text', 'data-state');
    assert(state === 'context', `passage endpoint not used (state ${state}); shown: ${await page.textContent('#passage-meta')}`);
    // Surrounding text must be shown unless the passage is the whole document.
    const span = await page.evaluate(() => ({ ...document.getElementById('passage-text').dataset }));
    const docBytes = await page.evaluate(async (docId) => {
      const key = localStorage.getItem('tingwen.apiKey');
      const response = await fetch('/api/documents', { headers: key ? { Authorization: `Bearer ${key}` } : {} });
      const body = await response.json();
      return (body.documents || body).find((d) => d.doc_id === docId)?.bytes;
    }, span.docId);
    const full = await page.textContent('#passage-text');
    if (Number(span.end) - Number(span.start) < docBytes) {
      assert(full.length > mark.length, 'no surrounding text around the highlighted span');
    }
    const title = await page.textContent('#passage-title');
    assert(title.startsWith(`[${firstCitation.n}]`) && title.length > 4, `passage title is "${title}"`);
    assert((await page.textContent('#passage-meta')).includes('.'), 'passage meta lacks the document id');
    await page.screenshot({ path: join(artifacts, 'ui.png') });
    await page.keyboard.press('Escape');
    await page.waitForSelector('#passage', { state: 'hidden', timeout: 5000 });
  });
  // Whatever failed above, later checks need the page without a modal dialog.
  await page.evaluate(() => document.querySelectorAll('dialog[open]').forEach((d) => d.close()));

  const en = question('d004');
  await check(`English question ${en.id} switches the UI to English`, async () => {
    await askQuestion(en.question);
    assert((await page.getAttribute('html', 'lang')) === 'en', 'UI language did not follow the English question');
    assert((await page.textContent('#answer-heading')) === 'Answer', 'answer heading is not in English');
    assert((await page.textContent('#answer')).trim().length > 0, 'answer text is empty');
  });

  const uploadName = 'ui-test-upload.txt';
  await check('a transcript dropped on the panel is ingested and listed', async () => {
    const content = '主持人：今天我们聊一聊浏览器测试。\n嘉宾：自动化测试能在每次修改后发现界面问题，这很重要。\n'
      + 'Host: We also talked about dropping files onto a web page.\nGuest: It should upload and index them.\n';
    await page.evaluate(({ name, text }) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([text], name, { type: 'text/plain' }));
      document.getElementById('dropzone').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }, { name: uploadName, text: content });
    await page.waitForSelector(`#uploads li[data-file="${uploadName}"][data-status]`, { timeout: 60000 });
    const status = await page.getAttribute(`#uploads li[data-file="${uploadName}"]`, 'data-status');
    assert(['added', 'replaced', 'unchanged'].includes(status),
      `upload ended with ${status}: ${await page.textContent(`#uploads li[data-file="${uploadName}"]`)}`);
    await page.waitForSelector(`#doc-list li[data-doc-id="${uploadName}"]`, { timeout: 10000 });
  });

  await check('deleting a document removes it from the list', async () => {
    page.once('dialog', (dialog) => dialog.accept());
    await page.click(`#doc-list li[data-doc-id="${uploadName}"] button.delete`);
    await page.waitForSelector(`#doc-list li[data-doc-id="${uploadName}"]`, { state: 'detached', timeout: 15000 });
    const ids = await page.$$eval('#doc-list li', (items) => items.map((li) => li.dataset.docId));
    for (const doc of demoDocs) assert(ids.includes(doc), `demo document ${doc} vanished after the delete`);
  });

  await check('phone-sized screen: no horizontal scrolling, panels stacked', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(100);
    const layout = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      width: window.innerWidth,
      askBottom: document.getElementById('ask-heading').getBoundingClientRect().top,
      docsTop: document.getElementById('documents').getBoundingClientRect().top,
    }));
    assert(layout.scroll <= layout.width, `page is ${layout.scroll}px wide on a ${layout.width}px screen`);
    assert(layout.docsTop > layout.askBottom, 'documents panel is not below the ask panel');
    await page.screenshot({ path: join(artifacts, 'ui-mobile.png') });
  });

  await check('no JavaScript errors on the page', async () => {
    assert(pageErrors.length === 0, pageErrors.join('\n'));
  });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  if (mock) mock.close();
}

console.log(`screenshots: ${join(artifacts, 'ui.png')}, ${join(artifacts, 'ui-mobile.png')}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
