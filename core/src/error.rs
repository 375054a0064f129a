//! One error type for the whole engine.
//!
//! Every failure carries an [`ErrorKind`] whose [`ErrorKind::code`] is a stable
//! `UPPER_SNAKE` string: the Python bindings map it to an exception class and the
//! Node bindings expose it as `err.code`. Messages never contain secret material
//! (keys, passwords, whole tokens).

use std::fmt;

/// What went wrong, in a form callers can branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A configuration value or argument is invalid (unknown algorithm name, bad option).
    InvalidArgument,
    /// Key material could not be parsed, is too weak, or does not fit the algorithm.
    InvalidKey,
    /// The token is not a well-formed JWS/JWT (structure, base64url, JSON, size, header).
    MalformedToken,
    /// The token's `alg` is not in the accepted list or does not fit the key.
    InvalidAlgorithm,
    /// The signature does not verify.
    InvalidSignature,
    /// `exp` has passed (or the token is older than the accepted maximum age).
    TokenExpired,
    /// `nbf` (or `iat`) lies in the future.
    TokenNotYetValid,
    /// `iat` is present but not a number.
    InvalidIssuedAt,
    /// `aud` does not match, or has the wrong JSON type.
    InvalidAudience,
    /// `iss` does not match, or has the wrong JSON type.
    InvalidIssuer,
    /// `sub` does not match, or has the wrong JSON type.
    InvalidSubject,
    /// `jti` does not match, or has the wrong JSON type.
    InvalidJti,
    /// `nonce` does not match the expected one (OpenID Connect ID tokens).
    InvalidNonce,
    /// The header `typ` is not the expected one.
    InvalidTokenType,
    /// A required claim is absent.
    MissingClaim,
    /// A stored value is malformed or of an unsupported scheme or version: a
    /// password hash, an API key digest or an API key record.
    InvalidHash,
    /// The state store (Redis) could not be reached or did not answer within its timeout.
    StoreUnavailable,
    /// The in-memory store holds its maximum number of keys and refused a new one.
    StoreFull,
    /// The token was revoked (its `jti`, its family, or everything its subject held).
    TokenRevoked,
    /// A refresh token that was already rotated was presented again: its whole family is now revoked.
    TokenReused,
    /// A refresh token was rotated moments ago by a parallel request (within the grace window); the family stays valid.
    TokenAlreadyRotated,
    /// The caller may not act on this object (for example revoke another subject's token).
    PermissionDenied,
    /// A secret is refused by [`crate::token::secrets::validate_secret`]: too
    /// short, a placeholder or example value, of low entropy, key material,
    /// or a JWT signing key equal to the app's `SECRET_KEY` in production.
    WeakSecret,
    /// A presented API key is malformed: wrong shape, prefix, length,
    /// characters or checksum.
    InvalidApiKey,
    /// An API key's record has passed its expiry time.
    ApiKeyExpired,
    /// An API key's record has been revoked.
    ApiKeyRevoked,
    /// A JWK Set (JWKS) document is not usable: malformed, too large, too many keys, or no usable key.
    InvalidKeySet,
    /// No key of the key set fits the token (its `kid` and algorithm).
    KeyNotFound,
    /// The JWKS could not be fetched (network, TLS, timeout, HTTP status, size or content) and no
    /// usable earlier copy remains.
    JwksFetchFailed,
    /// A rate limit denied the request; [`Error::retry_after`] says when to try again.
    RateLimited,
    /// The account (or client) is locked out after too many failed attempts;
    /// [`Error::retry_after`] says when the lockout ends.
    AccountLocked,
    /// A circuit breaker is open (or half-open with every probe taken): the
    /// call was not made; [`Error::retry_after`] says when one may be.
    CircuitOpen,
    /// An internal invariant failed; never expected.
    Internal,
}

impl ErrorKind {
    /// The stable machine-readable code of this kind.
    #[must_use]
    pub const fn code(self) -> &'static str {
        match self {
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::InvalidKey => "INVALID_KEY",
            Self::MalformedToken => "MALFORMED_TOKEN",
            Self::InvalidAlgorithm => "INVALID_ALGORITHM",
            Self::InvalidSignature => "INVALID_SIGNATURE",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::TokenNotYetValid => "TOKEN_NOT_YET_VALID",
            Self::InvalidIssuedAt => "INVALID_ISSUED_AT",
            Self::InvalidAudience => "INVALID_AUDIENCE",
            Self::InvalidIssuer => "INVALID_ISSUER",
            Self::InvalidSubject => "INVALID_SUBJECT",
            Self::InvalidJti => "INVALID_JTI",
            Self::InvalidNonce => "INVALID_NONCE",
            Self::InvalidTokenType => "INVALID_TOKEN_TYPE",
            Self::MissingClaim => "MISSING_CLAIM",
            Self::InvalidHash => "INVALID_HASH",
            Self::StoreUnavailable => "STORE_UNAVAILABLE",
            Self::StoreFull => "STORE_FULL",
            Self::TokenRevoked => "TOKEN_REVOKED",
            Self::TokenReused => "TOKEN_REUSED",
            Self::TokenAlreadyRotated => "TOKEN_ALREADY_ROTATED",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::WeakSecret => "WEAK_SECRET",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::ApiKeyExpired => "API_KEY_EXPIRED",
            Self::ApiKeyRevoked => "API_KEY_REVOKED",
            Self::InvalidKeySet => "INVALID_KEY_SET",
            Self::KeyNotFound => "KEY_NOT_FOUND",
            Self::JwksFetchFailed => "JWKS_FETCH_FAILED",
            Self::RateLimited => "RATE_LIMITED",
            Self::AccountLocked => "ACCOUNT_LOCKED",
            Self::CircuitOpen => "CIRCUIT_OPEN",
            Self::Internal => "INTERNAL",
        }
    }

    /// Every kind, for exhaustive mapping tests in the bindings.
    pub const ALL: &'static [ErrorKind] = &[
        Self::InvalidArgument,
        Self::InvalidKey,
        Self::MalformedToken,
        Self::InvalidAlgorithm,
        Self::InvalidSignature,
        Self::TokenExpired,
        Self::TokenNotYetValid,
        Self::InvalidIssuedAt,
        Self::InvalidAudience,
        Self::InvalidIssuer,
        Self::InvalidSubject,
        Self::InvalidJti,
        Self::InvalidNonce,
        Self::InvalidTokenType,
        Self::MissingClaim,
        Self::InvalidHash,
        Self::StoreUnavailable,
        Self::StoreFull,
        Self::TokenRevoked,
        Self::TokenReused,
        Self::TokenAlreadyRotated,
        Self::PermissionDenied,
        Self::WeakSecret,
        Self::InvalidApiKey,
        Self::ApiKeyExpired,
        Self::ApiKeyRevoked,
        Self::InvalidKeySet,
        Self::KeyNotFound,
        Self::JwksFetchFailed,
        Self::RateLimited,
        Self::AccountLocked,
        Self::CircuitOpen,
        Self::Internal,
    ];
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Extra, non-secret facts attached to some errors.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Detail {
    /// The name of the claim concerned (missing or invalid).
    Claim(String),
    /// The instant (seconds since the epoch) at which the token (or API key)
    /// expired or becomes valid, or at which an API key was revoked.
    At(f64),
    /// Seconds until the request may be retried (rate limits, lockouts, open
    /// circuit breakers).
    RetryAfter(f64),
}

/// The engine's error: a kind, a human-readable message and optional details
/// (the claim concerned and the instant concerned, each when known).
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    claim: Option<String>,
    at: Option<f64>,
    retry_after: Option<f64>,
}

/// Longest error message kept, in bytes. Messages quote the offending input
/// (a rate string, an algorithm name); a hostile input of megabytes must not
/// come back whole in the error, its logs or its `repr`.
pub const MAX_MESSAGE_LEN: usize = 512;

/// `message`, cut at a character boundary to at most [`MAX_MESSAGE_LEN`]
/// bytes (the cut marked with `…`).
fn bounded_message(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_LEN {
        let mut end = MAX_MESSAGE_LEN - '…'.len_utf8();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

impl Error {
    /// Builds an error of `kind` with `message` (at most
    /// [`MAX_MESSAGE_LEN`] bytes of it are kept).
    #[cold]
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: bounded_message(message.into()),
            claim: None,
            at: None,
            retry_after: None,
        }
    }

    /// Attaches a detail (a claim and an instant can both be attached).
    #[must_use]
    pub fn with_detail(mut self, detail: Detail) -> Self {
        match detail {
            Detail::Claim(c) => self.claim = Some(c),
            Detail::At(t) => self.at = Some(t),
            Detail::RetryAfter(t) => self.retry_after = Some(t),
        }
        self
    }

    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The stable code of the kind (`err.code` in Node).
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The message, free of secrets.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The claim concerned, for claim errors.
    #[must_use]
    pub fn claim(&self) -> Option<&str> {
        self.claim.as_deref()
    }

    /// The instant concerned, for expiry / not-before errors.
    #[must_use]
    pub fn at(&self) -> Option<f64> {
        self.at
    }

    /// Seconds until a retry may succeed, for `RATE_LIMITED` and `ACCOUNT_LOCKED`.
    #[must_use]
    pub fn retry_after(&self) -> Option<f64> {
        self.retry_after
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Shorthand constructors.
macro_rules! err {
    ($kind:ident, $($arg:tt)+) => {
        $crate::error::Error::new($crate::error::ErrorKind::$kind, format!($($arg)+))
    };
}
pub(crate) use err;
