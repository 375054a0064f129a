// Helpers for the Express integration suites: Express itself (a devDependency of
// node/), a server on a free loopback port closed after the test, and checks of
// the problem+json answers.
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const require = createRequire(new URL('../../node/package.json', import.meta.url));

/** Express, as installed in node/node_modules. */
export const express = require('express');

/** Starts `app` (an Express app or a node:http request listener) on 127.0.0.1; its base URL. */
export async function serve(t, app) {
  const { createServer } = await import('node:http');
  const server = createServer(app);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  );
  return `http://127.0.0.1:${server.address().port}`;
}

/** `count` requests at once; their responses with the body read (`res.text`, `res.json`). */
export async function burst(count, url, init = {}) {
  return Promise.all(Array.from({ length: count }, () => get(url, init)));
}

/** One request; the response with its body read as `text` (and `json` when it parses). */
export async function get(url, init = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Asserts an RFC 9457 problem answer with `status` and `code`; returns its body. */
export function assertProblem(res, status, code, title) {
  assert.equal(res.status, status, res.text);
  assert.equal(res.headers.get('content-type'), 'application/problem+json');
  const body = res.json;
  assert.equal(body.type, 'about:blank');
  assert.equal(body.status, status);
  assert.equal(body.code, code);
  assert.equal(typeof body.detail, 'string');
  if (title !== undefined) assert.equal(body.title, title);
  return body;
}

/** Counts statuses: `{ 200: n, 429: m }`. */
export function statuses(responses) {
  const out = {};
  for (const r of responses) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}
