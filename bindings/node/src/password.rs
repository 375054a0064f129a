//! Password hashing (core `password` module), exported as the `password`
//! namespace: `hash` / `verify` return Promises computed on the libuv thread
//! pool, `hashSync` / `verifySync` run the same task on the calling thread
//! (the `@node-rs/argon2` pattern), `needsRehash` only parses.

use bastion_core::password::{self, HasherOptions, PasswordHasher};
use bastion_core::Result as CoreResult;
use napi::bindgen_prelude::{AbortSignal, AsyncTask, Buffer, Either, Unknown};
use napi::{Env, Task};
use napi_derive::napi;
use zeroize::Zeroizing;

use crate::errors::{self, arg, bytes_arg, invalid_argument, options_arg, Result};

/// How `hash` hashes and what `needsRehash` compares against. Defaults are
/// argon2-cffi's: Argon2id, t=3, m=65536 KiB, p=4, 32-byte hash, 16-byte salt
/// (Django's Argon2 costs with `encoding: "django"`). An option that does not
/// apply to the algorithm is an `INVALID_ARGUMENT` error.
#[napi(object, object_to_js = false)]
#[derive(Default)]
pub struct HashOptions {
    /// `"argon2id"` (default), `"argon2i"`, `"argon2d"`, `"pbkdf2_sha256"`,
    /// `"pbkdf2_sha1"`, `"bcrypt"` or `"bcrypt_sha256"`.
    pub algorithm: Option<String>,
    /// Argon2 version: 19 (0x13, default) or 16 (0x10, for old hashes).
    pub version: Option<f64>,
    /// Argon2 memory in KiB (default 65536).
    pub memory_cost: Option<f64>,
    /// Argon2 passes over memory (default 3).
    pub time_cost: Option<f64>,
    /// Argon2 lanes (default 4).
    pub parallelism: Option<f64>,
    /// Argon2 hash length in bytes (default 32).
    pub hash_length: Option<f64>,
    /// Argon2 salt length in bytes, PHC encoding (default 16).
    pub salt_length: Option<f64>,
    /// PBKDF2 iterations (default 1 200 000, Django 6.0's).
    pub iterations: Option<f64>,
    /// bcrypt cost, log2 of the rounds (default 12).
    pub rounds: Option<f64>,
    /// `"phc"` (the argon2-cffi / bcrypt strings; default for Argon2 and
    /// bcrypt) or `"django"` (`<algorithm>$...`; the only encoding, and the
    /// default, for PBKDF2 and bcrypt_sha256).
    pub encoding: Option<String>,
    /// A fixed salt instead of a fresh random one, for reproducing known
    /// hashes and migrations only: the bytes fed to the function (Argon2:
    /// 8 to 1024 bytes; Django PBKDF2: printable ASCII without `$`; bcrypt:
    /// exactly 16 bytes). Ignored by `needsRehash`.
    pub salt: Option<Either<String, Buffer>>,
}

fn int(value: Option<f64>, name: &str) -> CoreResult<Option<u32>> {
    match value {
        None => Ok(None),
        Some(v) if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) => {
            Ok(Some(v as u32))
        }
        Some(_) => Err(invalid_argument(format!(
            "{name} must be a non-negative integer"
        ))),
    }
}

/// The core hasher for `options` (argument conversion only: every bound is
/// checked by `PasswordHasher::new`) and the fixed salt, if any.
pub(crate) fn hasher(options: Unknown) -> CoreResult<(PasswordHasher, Option<Zeroizing<Vec<u8>>>)> {
    let o: HashOptions =
        options_arg(options, "options", "an object of hash options")?.unwrap_or_default();
    let salt = o.salt.as_ref().map(|s| {
        Zeroizing::new(match s {
            Either::A(text) => text.as_bytes().to_vec(),
            Either::B(buf) => buf.to_vec(),
        })
    });
    let options = HasherOptions {
        algorithm: o.algorithm,
        encoding: o.encoding,
        time_cost: int(o.time_cost, "timeCost")?,
        memory_cost: int(o.memory_cost, "memoryCost")?,
        parallelism: int(o.parallelism, "parallelism")?,
        hash_len: int(o.hash_length, "hashLength")?,
        salt_len: int(o.salt_length, "saltLength")?,
        version: int(o.version, "version")?,
        iterations: int(o.iterations, "iterations")?,
        rounds: int(o.rounds, "rounds")?,
    };
    Ok((PasswordHasher::from_options(&options)?, salt))
}

// ---- hash --------------------------------------------------------------------

/// Hashes one password; `hash` runs it on the libuv pool, `hashSync` here.
pub struct HashTask {
    hasher: PasswordHasher,
    salt: Option<Zeroizing<Vec<u8>>>,
    password: Zeroizing<Vec<u8>>,
}

impl HashTask {
    fn new(password: Unknown, options: Unknown) -> CoreResult<Self> {
        let password = bytes_arg(password, "password")?.to_owned_secret();
        let (hasher, salt) = hasher(options)?;
        Ok(Self {
            hasher,
            salt,
            password,
        })
    }

    fn run(&self) -> CoreResult<String> {
        errors::guard(|| match &self.salt {
            Some(salt) => self.hasher.hash_with_salt(&self.password, salt),
            None => self.hasher.hash(&self.password),
        })
    }
}

impl Task for HashTask {
    type Output = CoreResult<String>;
    type JsValue = String;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.run())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<String> {
        output.map_err(|e| errors::to_rejection(&env, e))
    }
}

/// Hashes `password` (a string, as UTF-8, or a Buffer) with a fresh random
/// salt, off the main thread. Resolves to the encoded hash (e.g.
/// `$argon2id$v=19$m=65536,t=3,p=4$...`); rejects with a coded `Error`
/// (`INVALID_ARGUMENT` for bad options or a password over 72 bytes with plain
/// bcrypt).
#[napi(
    namespace = "password",
    ts_args_type = "password: string | Buffer, options?: HashOptions | null, signal?: AbortSignal | null",
    ts_return_type = "Promise<string>"
)]
pub fn hash(
    env: &Env,
    password: Unknown,
    options: Unknown,
    signal: Unknown,
) -> Result<AsyncTask<HashTask>> {
    let (task, signal) = errors::guard(|| {
        let signal: Option<AbortSignal> = arg(signal, "signal", "an AbortSignal")?;
        Ok((HashTask::new(password, options)?, signal))
    })
    .map_err(|e| errors::to_js(env, e))?;
    Ok(AsyncTask::with_optional_signal(task, signal))
}

/// `hash` on the calling thread (blocks it for the whole computation).
#[napi(
    namespace = "password",
    ts_args_type = "password: string | Buffer, options?: HashOptions | null"
)]
pub fn hash_sync(env: &Env, password: Unknown, options: Unknown) -> Result<String> {
    HashTask::new(password, options)
        .and_then(|task| task.run())
        .map_err(|e| errors::to_js(env, e))
}

// ---- verify ------------------------------------------------------------------

/// Verifies one password; `verify` runs it on the libuv pool, `verifySync` here.
pub struct VerifyTask {
    encoded: String,
    password: Zeroizing<Vec<u8>>,
}

impl VerifyTask {
    fn new(encoded: Unknown, password: Unknown) -> CoreResult<Self> {
        Ok(Self {
            encoded: arg(encoded, "encoded", "a string")?,
            password: bytes_arg(password, "password")?.to_owned_secret(),
        })
    }

    fn run(&self) -> CoreResult<bool> {
        errors::guard(|| password::verify(&self.encoded, &self.password))
    }
}

impl Task for VerifyTask {
    type Output = CoreResult<bool>;
    type JsValue = bool;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(self.run())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<bool> {
        output.map_err(|e| errors::to_rejection(&env, e))
    }
}

/// Verifies `password` against a stored hash in any supported format
/// (argon2-cffi / PHC, Django `argon2$`, `pbkdf2_sha256$`, `pbkdf2_sha1$`,
/// `bcrypt$`, `bcrypt_sha256$`, `$2a$/$2b$/$2y$` bcrypt, passlib
/// `$pbkdf2-sha256$`), off the main thread, in constant time. Resolves to
/// `true` or `false`; rejects with `INVALID_HASH` for a malformed or
/// unsupported string.
#[napi(
    namespace = "password",
    ts_args_type = "encoded: string, password: string | Buffer, signal?: AbortSignal | null",
    ts_return_type = "Promise<boolean>"
)]
pub fn verify(
    env: &Env,
    encoded: Unknown,
    password: Unknown,
    signal: Unknown,
) -> Result<AsyncTask<VerifyTask>> {
    let (task, signal) = errors::guard(|| {
        let signal: Option<AbortSignal> = arg(signal, "signal", "an AbortSignal")?;
        Ok((VerifyTask::new(encoded, password)?, signal))
    })
    .map_err(|e| errors::to_js(env, e))?;
    Ok(AsyncTask::with_optional_signal(task, signal))
}

/// `verify` on the calling thread (blocks it for the whole computation).
#[napi(
    namespace = "password",
    ts_args_type = "encoded: string, password: string | Buffer"
)]
pub fn verify_sync(env: &Env, encoded: Unknown, password: Unknown) -> Result<bool> {
    VerifyTask::new(encoded, password)
        .and_then(|task| task.run())
        .map_err(|e| errors::to_js(env, e))
}

/// True when `encoded` should be replaced by a fresh hash made with `options`
/// (another algorithm or encoding, or different parameters, as argon2-cffi's
/// `check_needs_rehash` and Django's `must_update`). Only parses; throws
/// `INVALID_HASH` for a malformed string.
#[napi(
    namespace = "password",
    ts_args_type = "encoded: string, options?: HashOptions | null"
)]
pub fn needs_rehash(env: &Env, encoded: Unknown, options: Unknown) -> Result<bool> {
    errors::guard(|| {
        let encoded: String = arg(encoded, "encoded", "a string")?;
        hasher(options)?.0.needs_rehash(&encoded)
    })
    .map_err(|e| errors::to_js(env, e))
}

/// Sets the process-wide Argon2 memory budget in KiB (default 1 GiB) and
/// returns the previous one. Every Argon2 hash or verify holds its
/// `memoryCost` KiB of it while it runs; callers beyond the budget wait their
/// turn, and a single hash larger than the whole budget is refused.
#[napi(namespace = "password", ts_args_type = "budgetKib: number")]
pub fn set_memory_budget_kib(env: &Env, budget_kib: Unknown) -> Result<f64> {
    errors::guard(|| {
        let kib: f64 = arg(budget_kib, "budgetKib", "a number of KiB")?;
        if !(kib.is_finite() && kib >= 1.0 && kib.fract() == 0.0) {
            return Err(invalid_argument("budgetKib must be a positive integer"));
        }
        let before = password::memory_budget_kib();
        password::set_memory_budget_kib(kib as u64)?;
        Ok(before as f64)
    })
    .map_err(|e| errors::to_js(env, e))
}

/// The Argon2 memory budget and what running hashes hold of it now, in KiB.
#[napi(object)]
pub struct MemoryBudget {
    /// The budget.
    pub budget_kib: f64,
    /// Held by running hashes.
    pub in_use_kib: f64,
}

/// The Argon2 memory budget and its current use.
#[napi(namespace = "password")]
pub fn memory_budget() -> MemoryBudget {
    MemoryBudget {
        budget_kib: password::memory_budget_kib() as f64,
        in_use_kib: password::memory_in_use_kib() as f64,
    }
}
