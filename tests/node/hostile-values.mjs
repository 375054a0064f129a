// The hostile values the hostile-input suites pass in place of each argument (hostile-input.test.mjs
// for the native addon, hostile-wrappers.test.mjs for node/lib): wrong types, megabytes of text,
// invalid UTF-8, NUL bytes, lone surrogates, nesting 100,000 levels deep, NaN, infinities,
// negative numbers, 2**64 and BigInts.

function deep(depth, make) {
  let v = make(null);
  for (let i = 0; i < depth; i += 1) v = make(v);
  return v;
}

export const MB2 = 'x'.repeat(2 * 1024 * 1024);

export const HOSTILE = Object.freeze({
  undefined: undefined,
  null: null,
  object: {},
  array: ['a', 1, null],
  fn: () => 1,
  symbol: Symbol('s'),
  bigint: 2n ** 64n,
  float: 1.5,
  nan: NaN,
  inf: Infinity,
  '-inf': -Infinity,
  negative: -1,
  '2**64': 2 ** 64,
  empty: '',
  nul: 'a\u0000b',
  surrogate: '\ud800',
  'huge-str': MB2,
  'huge-buffer': Buffer.from(MB2),
  'non-utf8': Buffer.from([0xff, 0xfe, 0x80, 0x20, 0xc3, 0x28]),
  'deep-array': deep(100_000, (v) => (v === null ? [] : [v])),
  'deep-object': deep(100_000, (v) => (v === null ? {} : { a: v })),
});
