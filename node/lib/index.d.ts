// Type definitions for bastion-engine: a drop-in for the `jsonwebtoken`
// package (sign, verify, decode and its error classes) over bastion's native
// core, with Promise twins, typed keys, an injectable clock, password
// hashing, start-up checks of secrets and API keys. Every error carries the
// core's stable `code`.

/// <reference types="node" />
import type { KeyObject } from 'node:crypto';
import type { Key, ManualClock, Verifier } from '../index';

export {
  Key,
  ManualClock,
  Verifier,
  setVerifiedTokenCacheSize,
  validateSecret,
  checkSigningKeySeparate,
  clientIp,
  clientKey,
  ApiKeyHasher,
  IssuedApiKey,
  apiKeyId,
  Store,
  KeySet,
  JwksClient,
  CreatedApiKey,
} from '../index';
export type {
  ClientIpOptions,
  VerifierOptions,
  ApiKeyHasherOptions,
  PreviousPepper,
  StoreOptions,
  TokenPair,
  TokenServiceOptions,
  KeySetOptions,
  SkippedKey,
  JwksClientOptions,
  JwksStatus,
  ApiKeysOptions,
  ApiKeyRecord,
  ApiKeyRateLimit,
  CreateApiKeyOptions,
  RevokeApiKeyOptions,
  LockoutOptions,
  ProgressiveOptions,
  LockoutAttempt,
  LockoutState,
  LockedEntry,
  UnlockOptions,
} from '../index';
import type { Store, TokenPair, TokenServiceOptions, ApiKeysOptions, ApiKeyHasher, LockoutOptions } from '../index';
import { ApiKeys as NativeApiKeys, Lockout as NativeLockout } from '../index';

/** Options of an `ApiKeys` registry, with the store its records live in. */
export interface ApiKeysConfig extends ApiKeysOptions {
  /** Where the records are kept (default: this process's memory). */
  store?: Store | null;
}

/**
 * The store-backed API key registry: `create`, `verify` (offline format check,
 * then one round trip), `list`, `revoke`, `revokeAll`. See docs/apikeys.md.
 */
export declare class ApiKeys extends NativeApiKeys {
  constructor(hasher: ApiKeyHasher, options?: ApiKeysConfig | null, clock?: ManualClock | null);
}

/** Options of a `Lockout`, with where its counts live and who hears its events. */
export interface LockoutConfig extends LockoutOptions {
  /** Where the counts are kept (default: this process's memory). */
  store?: Store | null;
  /** Drives a default memory store and the local outage store in tests. */
  clock?: ManualClock | null;
  /** Receives each event: `locked_out`, `unlocked`, `store_unavailable` (identifiers only). */
  onEvent?: ((event: SecurityEvent) => void) | null;
}

/**
 * Account lockout after failed logins with django-axes' settings: a key per
 * parameter group (default `[['username'], ['ip_address']]`), `failureLimit`
 * failures (default 10) lock it for `cooloff` (default one hour). Promise
 * methods on every store; `*Sync` twins on a memory store. See docs/lockout.md.
 */
export declare class Lockout extends NativeLockout {
  constructor(options?: LockoutConfig | null);
}

declare module '../index' {
  interface JwksClient {
    /**
     * A `(header, callback)` key function for `jwt.verify(token,
     * client.getKeyCallback(), { algorithms: [...] }, cb)`: looks the key up
     * by the header's `kid` and `alg` (fetching the set when needed) and calls
     * back with a node:crypto public `KeyObject`, or with the coded error
     * (`KEY_NOT_FOUND`, `JWKS_FETCH_FAILED`). Works with the `jsonwebtoken`
     * package and with this package's `verify` / `verifyAsync`.
     */
    getKeyCallback(): GetPublicKeyOrSecret;
  }
}

import * as password from './password';
export { password };

/** The stable codes of the core's errors (`err.code`). */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_KEY'
  | 'MALFORMED_TOKEN'
  | 'INVALID_ALGORITHM'
  | 'INVALID_SIGNATURE'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_NOT_YET_VALID'
  | 'INVALID_ISSUED_AT'
  | 'INVALID_AUDIENCE'
  | 'INVALID_ISSUER'
  | 'INVALID_SUBJECT'
  | 'INVALID_JTI'
  | 'INVALID_TOKEN_TYPE'
  | 'MISSING_CLAIM'
  | 'INVALID_HASH'
  | 'INVALID_NONCE'
  | 'WEAK_SECRET'
  | 'INVALID_API_KEY'
  | 'API_KEY_EXPIRED'
  | 'API_KEY_REVOKED'
  | 'STORE_UNAVAILABLE'
  | 'STORE_FULL'
  | 'TOKEN_REVOKED'
  | 'TOKEN_REUSED'
  | 'TOKEN_ALREADY_ROTATED'
  | 'PERMISSION_DENIED'
  | 'INVALID_KEY_SET'
  | 'KEY_NOT_FOUND'
  | 'JWKS_FETCH_FAILED'
  | 'RATE_LIMITED'
  | 'ACCOUNT_LOCKED'
  | 'INTERNAL';

/** What `validateSecret` checks a secret for. */
export type SecretPurpose = 'HS256' | 'HS384' | 'HS512' | 'django' | 'pepper' | 'generic';

/** An `Error` thrown by the native core: `code`, and `at` / `claim` when they apply. */
export interface BastionError extends Error {
  /** The stable code of the failure. */
  code: ErrorCode;
  /** For time errors: the instant (seconds since the epoch) of expiry or validity. */
  at?: number;
  /** For claim errors: the claim concerned. */
  claim?: string;
  /** For `RATE_LIMITED` and `ACCOUNT_LOCKED`: seconds until a retry may succeed. */
  retryAfter?: number;
}

/** Base class of every verification failure, as in jsonwebtoken. */
export class JsonWebTokenError extends Error {
  constructor(message: string, error?: Error, code?: ErrorCode);
  name: string;
  /** The core's stable code (e.g. `'INVALID_SIGNATURE'`). */
  code?: ErrorCode;
  /** The native error this one was made from. */
  inner?: Error;
}

/** `exp` has passed (`'jwt expired'`) or the token is older than `maxAge` (`'maxAge exceeded'`). Code `TOKEN_EXPIRED`. */
export class TokenExpiredError extends JsonWebTokenError {
  constructor(message: string, expiredAt: Date, error?: Error, code?: ErrorCode);
  /** When the token expired. */
  expiredAt: Date;
}

/** `nbf` (or `iat`) lies in the future (`'jwt not active'`). Code `TOKEN_NOT_YET_VALID`. */
export class NotBeforeError extends JsonWebTokenError {
  constructor(message: string, date: Date, error?: Error, code?: ErrorCode);
  /** When the token becomes valid. */
  date: Date;
}

/** A JWS algorithm bastion implements; `none` never is. */
export type Algorithm =
  | 'HS256' | 'HS384' | 'HS512'
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512' | 'ES256K'
  | 'EdDSA';

/**
 * A key, in any form jsonwebtoken accepts and more: a string or Buffer (a
 * PEM, OpenSSH, JWK or DER key, or else an HMAC secret; classified by the
 * core, restricted to the families of the accepted algorithms, parsed once
 * and cached), a `Key`, a node:crypto `KeyObject` (exported once and cached
 * per object), a JWK object, `{ key, passphrase }` (read through node:crypto,
 * e.g. an encrypted PEM), or any Uint8Array.
 */
export type KeyLike =
  | string
  | Buffer
  | Uint8Array
  | Key
  | KeyObject
  | JsonWebKeyLike
  | { key: string | Buffer; passphrase?: string; format?: string; type?: string };

/** A JWK object (`kty` and its members). */
export interface JsonWebKeyLike {
  kty: string;
  [member: string]: unknown;
}

/** A time span: seconds, or a vercel/ms string such as `"2h"`, `"7d"`, `"30m"` (no unit = milliseconds). */
export type TimeSpan = number | string;

/** A JSON Web Token's claims. */
export interface JwtPayload {
  [claim: string]: unknown;
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
}

/** A JOSE header. */
export interface JwtHeader {
  alg: string;
  typ?: string;
  kid?: string;
  cty?: string;
  [parameter: string]: unknown;
}

/** A token's parts, as `verify` / `decode` return them with `complete: true`. */
export interface Jwt {
  header: JwtHeader;
  payload: JwtPayload;
  /** The signature segment, base64url. */
  signature: string;
}

/** jsonwebtoken's sign options (unknown names throw), plus `clock`. */
export interface SignOptions {
  /** The signing algorithm (default `'HS256'`; `options.header.alg` takes precedence). */
  algorithm?: Algorithm;
  /** Sets `exp` to `iat` + this span. The payload must not have `exp`. */
  expiresIn?: TimeSpan;
  /** Sets `nbf` to `iat` + this span. The payload must not have `nbf`. */
  notBefore?: TimeSpan;
  /** Sets `aud`. */
  audience?: string | string[];
  /** Sets `iss`. */
  issuer?: string;
  /** Sets `sub`. */
  subject?: string;
  /** Sets `jti`. */
  jwtid?: string;
  /** Leaves `iat` out (by default `iat` is the current time, floored to seconds). */
  noTimestamp?: boolean;
  /** Further header members; its `typ` (`null` leaves typ out) and `kid` win. */
  header?: Partial<JwtHeader>;
  /** The header `kid` (default: a `Key`'s own `kid`). */
  keyid?: string;
  /** Write `iat`/`exp`/`nbf`/`aud`/... into the given payload object itself. */
  mutatePayload?: boolean;
  /** Accept HMAC secrets shorter than the hash output (RSA keys under 2048 bits are always refused). */
  allowInsecureKeySizes?: boolean;
  /** Accepted for compatibility; keys are typed, so it has no effect. */
  allowInvalidAsymmetricKeyTypes?: boolean;
  /** Accepted for compatibility (`'utf8'`). */
  encoding?: string;
  /** bastion: read "now" from this clock instead of the system clock. */
  clock?: ManualClock;
}

/** jsonwebtoken's verify options, plus bastion's. */
export interface VerifyOptions {
  /** Accepted algorithms. Default: every algorithm of the key's family (HS256/384/512 for a secret, RS and PS for RSA, ...). */
  algorithms?: Algorithm[];
  /** Accepted audiences (`aud` must contain one). RegExp audiences are not supported. Without it, a token carrying `aud` is rejected. */
  audience?: string | string[];
  /** Accepted issuers. */
  issuer?: string | string[];
  /** Expected `sub`. */
  subject?: string;
  /** Expected `jti`. */
  jwtid?: string;
  /** Seconds of clock skew tolerated on `exp`, `nbf`, `iat` and `maxAge`. */
  clockTolerance?: number;
  /** Maximum age since `iat` (which becomes required): seconds or a span such as `"2d"`. */
  maxAge?: TimeSpan;
  /** "Now", in seconds since the epoch. */
  clockTimestamp?: number;
  /** Do not check `exp`. */
  ignoreExpiration?: boolean;
  /** Do not check `nbf`. */
  ignoreNotBefore?: boolean;
  /** Return `{ header, payload, signature }`. */
  complete?: boolean;
  /** Expected `nonce` claim (OpenID Connect). */
  nonce?: string;
  /** Accepted for compatibility; keys are typed, so it has no effect. */
  allowInvalidAsymmetricKeyTypes?: boolean;
  /** bastion: claims that must be present (default `[]`, as jsonwebtoken; the core's own default is `['exp']`). */
  requiredClaims?: string[];
  /** bastion: expected header `typ` (case-insensitive, `application/` prefix ignored). */
  typ?: string;
  /** bastion: read "now" from this clock (`clockTimestamp` takes precedence). */
  clock?: ManualClock;
  /** bastion: largest accepted token in bytes (default 8192), checked before anything else. */
  maxTokenSize?: number;
  /** bastion: `crit` header names the caller processes itself (default none: any `crit` is refused). */
  criticalExtensions?: string[];
  /** bastion: accept HMAC secrets shorter than the hash output. */
  allowInsecureKeySizes?: boolean;
}

/** jsonwebtoken's decode options. */
export interface DecodeOptions {
  /** Return `{ header, payload, signature }`. */
  complete?: boolean;
  /** Accepted for compatibility: payloads are always parsed as JSON. */
  json?: boolean;
  /** bastion: largest accepted token in bytes (default 8192). */
  maxTokenSize?: number;
}

export type SignCallback = (error: Error | null, token?: string) => void;
export type VerifyCallback<T = JwtPayload | Jwt> = (error: JsonWebTokenError | null, decoded?: T) => void;
/** A key chosen from the token's header (jsonwebtoken's callback form). */
export type GetPublicKeyOrSecret = (header: JwtHeader, callback: (error: Error | null, key?: KeyLike) => void) => void;
/** `verifyAsync`'s key function: returns (or resolves to) the key for a header. */
export type KeyForHeader = (header: JwtHeader) => KeyLike | Promise<KeyLike>;

/**
 * Signs `payload` (a plain object: string and Buffer payloads are not
 * supported) and returns the compact JWS. Throws an `Error` with `code`.
 * With a callback, signs on the libuv thread pool and calls back.
 */
export function sign(payload: object, secretOrPrivateKey: KeyLike, options?: SignOptions): string;
export function sign(payload: object, secretOrPrivateKey: KeyLike, callback: SignCallback): void;
export function sign(payload: object, secretOrPrivateKey: KeyLike, options: SignOptions, callback: SignCallback): void;

/** `sign` on the libuv thread pool (RSA and EC signing take milliseconds). */
export function signAsync(payload: object, secretOrPrivateKey: KeyLike, options?: SignOptions): Promise<string>;

/**
 * Verifies `token` and returns its payload (or `{ header, payload, signature }`
 * with `complete`). Throws `JsonWebTokenError`, `TokenExpiredError` or
 * `NotBeforeError` with jsonwebtoken's messages and the core's `code`. With a
 * callback, calls it with `(err, payload)`; the key may then be a function
 * `(header, callback)`.
 */
export function verify(token: string, secretOrPublicKey: KeyLike, options: VerifyOptions & { complete: true }): Jwt;
export function verify(token: string, secretOrPublicKey: KeyLike, options?: VerifyOptions): JwtPayload;
export function verify(token: string, secretOrPublicKey: KeyLike | GetPublicKeyOrSecret, callback: VerifyCallback): void;
export function verify(
  token: string,
  secretOrPublicKey: KeyLike | GetPublicKeyOrSecret,
  options: VerifyOptions,
  callback: VerifyCallback,
): void;

/** `verify` on the libuv thread pool; the key may be a function of the header. */
export function verifyAsync(
  token: string,
  secretOrPublicKey: KeyLike | KeyForHeader | GetPublicKeyOrSecret,
  options: VerifyOptions & { complete: true },
): Promise<Jwt>;
export function verifyAsync(
  token: string,
  secretOrPublicKey: KeyLike | KeyForHeader | GetPublicKeyOrSecret,
  options?: VerifyOptions,
): Promise<JwtPayload>;

/**
 * Decodes `token` WITHOUT verifying it: the payload (or `{ header, payload,
 * signature }` with `complete`), or `null` when the token cannot be decoded
 * (the core's strict parsing: JSON object payloads only, no duplicate names,
 * at most `maxTokenSize` bytes).
 */
export function decode(token: string, options: DecodeOptions & { complete: true }): Jwt | null;
export function decode(token: string, options?: DecodeOptions): JwtPayload | null;

/** A security event delivered to `onEvent` (never a token or a secret). */
export interface SecurityEvent {
  /** `"token_reuse"`, `"token_revoked"`, `"store_unavailable"`, `"locked_out"`, `"unlocked"`. */
  event: string;
  /** The log prefix, e.g. `"[SECURITY]"`. */
  category: string;
  /** The event's fields (`subject`, `family`, `scope`, `component`, `policy`). */
  [field: string]: string;
}

/** Options of a `TokenService`: lifetimes in seconds, plus where its state lives. */
export interface TokenServiceConfig extends TokenServiceOptions {
  /** Where families and revocations are kept (default: a new memory store). */
  store?: Store | null;
  /** Drives `iat`/`exp` (and nothing else) in tests. */
  clock?: ManualClock | null;
  /** Receives each security event (refresh-token reuse, revocations, store outages). */
  onEvent?: ((event: SecurityEvent) => void) | null;
}

/**
 * Issues, rotates, verifies and revokes tokens, keeping their state in a `Store`.
 *
 * - `issuePair` signs an access token (default 30 minutes) and a refresh token
 *   (default 7 days), each with a random `jti`, and starts a family.
 * - `rotate` turns a refresh token into a new pair atomically: of concurrent
 *   rotations of one refresh token exactly one wins. Presenting an already
 *   rotated refresh token revokes its whole family and rejects with
 *   `TOKEN_REUSED`; within `rotationGrace` seconds the immediate predecessor
 *   rejects with `TOKEN_ALREADY_ROTATED` instead.
 * - `verify` checks signature, claims, type and revocation in one call; with
 *   the store unreachable it rejects with `STORE_UNAVAILABLE` (fail closed,
 *   the default) or accepts (`revocationPolicy: 'fail_open'`).
 */
export declare class TokenService {
  constructor(key: Key, options?: TokenServiceConfig);
  issuePair(subject: string | number, claims?: Record<string, unknown> | null): Promise<TokenPair>;
  rotate(refresh: string): Promise<TokenPair>;
  verify(token: string, kind?: 'access' | 'refresh'): Promise<Record<string, unknown>>;
  revoke(token: string, options?: { by?: string | number | null; admin?: boolean }): Promise<void>;
  revokeAll(subject: string | number): Promise<void>;
  revokeFamily(subject: string | number, family: string): Promise<boolean>;
}
