// Password hashing: argon2-cffi-compatible Argon2 (default: Argon2id, t=3,
// m=65536 KiB, p=4), Django's PBKDF2 / bcrypt_sha256 / bcrypt encodings and
// plain bcrypt. Every error carries the core's `code` (`INVALID_HASH`,
// `INVALID_ARGUMENT`).

/// <reference types="node" />
import type { HashOptions } from '../index';

export type { HashOptions } from '../index';

/**
 * Hashes `password` (a string, as UTF-8, or bytes) with a fresh random salt on
 * the libuv thread pool; resolves to the encoded hash, e.g.
 * `$argon2id$v=19$m=65536,t=3,p=4$...`. The event loop keeps running.
 */
export function hash(password: string | Uint8Array, options?: HashOptions | null, signal?: AbortSignal | null): Promise<string>;

/** `hash` on the calling thread (blocks it for the whole computation). */
export function hashSync(password: string | Uint8Array, options?: HashOptions | null): string;

/**
 * Verifies `password` against a stored hash in any supported format
 * (argon2-cffi / PHC, Django `argon2$`, `pbkdf2_sha256$`, `pbkdf2_sha1$`,
 * `bcrypt$`, `bcrypt_sha256$`, `$2a$`/`$2b$`/`$2y$`, passlib `$pbkdf2-sha256$`)
 * on the libuv thread pool, in constant time. Resolves to `true` or `false`;
 * rejects with `INVALID_HASH` for a malformed or unsupported string.
 */
export function verify(encoded: string, password: string | Uint8Array, signal?: AbortSignal | null): Promise<boolean>;

/** `verify` on the calling thread (blocks it for the whole computation). */
export function verifySync(encoded: string, password: string | Uint8Array): boolean;

/**
 * True when `encoded` should be replaced by a fresh hash made with `options`
 * (other algorithm, encoding or parameters). Only parses; throws
 * `INVALID_HASH` for a malformed string.
 */
export function needsRehash(encoded: string, options?: HashOptions | null): boolean;

/**
 * Sets the process-wide Argon2 memory budget in KiB (default 1 GiB) and
 * returns the previous one. Every Argon2 hash or verify holds its
 * `memoryCost` KiB of it while it runs; hashes beyond the budget wait their
 * turn, and a single hash larger than the whole budget is refused
 * (`INVALID_ARGUMENT`).
 */
export function setMemoryBudgetKib(budgetKib: number): number;

/** The Argon2 memory budget and what running hashes hold of it now, in KiB. */
export function memoryBudget(): { budgetKib: number; inUseKib: number };
