// ESM entry of bastion-engine (the same objects as the CommonJS entry).
import bastion from './index.js';

export const {
  sign,
  verify,
  decode,
  signAsync,
  verifyAsync,
  JsonWebTokenError,
  NotBeforeError,
  TokenExpiredError,
  Key,
  KeySet,
  JwksClient,
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
  TokenService,
  ApiKeys,
  CreatedApiKey,
  RateLimiter,
  Decision,
  Lockout,
  CircuitBreaker,
  BreakerPermit,
  SingleFlight,
  password,
} = bastion;

export default bastion;
