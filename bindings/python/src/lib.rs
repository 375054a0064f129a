//! `bastion._native`: PyO3 glue over `bastion-core`. Each file mirrors a core
//! module; functions convert arguments, call the core and map errors
//! (`errors.rs` is the one mapping point).

mod aio;
mod apikey;
mod apikeys;
mod breaker;
mod clock;
mod errors;
mod events;
mod http;
mod json;
mod jwks;
mod lease;
mod lifecycle;
mod lockout;
mod metrics;
mod netaddr;
mod password;
mod ratelimit;
mod secrets;
mod shared_cache;
mod singleflight;
mod store;
mod timespan;
mod token;

use pyo3::prelude::*;

/// The native extension module.
#[pymodule(gil_used = false)]
mod _native {
    #[pymodule_export]
    use super::apikey::{api_key_id, ApiKeyHasher, IssuedApiKey};
    #[pymodule_export]
    use super::apikeys::{ApiKeyRecord, ApiKeys, CreatedApiKey};
    #[pymodule_export]
    use super::breaker::{BreakerPermit, CircuitBreaker};
    #[pymodule_export]
    use super::clock::ManualClock;
    #[pymodule_export]
    use super::http::{
        http_answer_for, http_authorization_token, http_holds_role, http_methods, http_problem,
        http_unauthorized, HttpAnswer, RequestKey,
    };
    #[pymodule_export]
    use super::jwks::{JwksClient, KeySet};
    #[pymodule_export]
    use super::lease::{Lease, Leases};
    #[pymodule_export]
    use super::lifecycle::{TokenPair, TokenService};
    #[pymodule_export]
    use super::lockout::{Lockout, LockoutState};
    #[pymodule_export]
    use super::metrics::{add_event_listener, ahealth, health, metrics};
    #[pymodule_export]
    use super::netaddr::{client_ip, client_key};
    #[pymodule_export]
    use super::password::{
        argon2_hash_raw, identify_hash, memory_budget, set_memory_budget_kib, verify_password,
        PasswordHasher,
    };
    #[pymodule_export]
    use super::ratelimit::{Decision, LimitStatus, RateLimiter};
    #[pymodule_export]
    use super::secrets::{check_signing_key_separate, validate_secret};
    #[pymodule_export]
    use super::shared_cache::{CacheFill, SharedCache};
    #[pymodule_export]
    use super::singleflight::{Flight, SingleFlight};
    #[pymodule_export]
    use super::store::Store;
    #[pymodule_export]
    use super::token::{
        jwt_decode, jwt_decode_complete, jwt_encode, jwt_get_unverified_header,
        set_verified_token_cache_size, sign, supported_algorithms, verify_jws, Key, Verifier,
    };
}
