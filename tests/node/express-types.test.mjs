// The TypeScript types of the HTTP layer (node/lib/index.d.ts) compiled against real Express
// code (tests/node/types/express-usage.ts) with TypeScript, @types/node and @types/express from
// node/'s devDependencies, in strict mode: what must compile does, what must not is marked
// @ts-expect-error (an unused marker is an error too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(new URL('../../node/package.json', import.meta.url));

test('the Express integration type-checks in strict mode', () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const file = fileURLToPath(new URL('./types/express-usage.ts', import.meta.url));
  const out = spawnSync(
    process.execPath,
    [tsc, '--noEmit', '--strict', '--esModuleInterop', '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--target', 'es2022', '--types', 'node', '--typeRoots', fileURLToPath(new URL('../../node/node_modules/@types', import.meta.url)), file],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(out.status, 0, `${out.stdout}${out.stderr}`);
});
