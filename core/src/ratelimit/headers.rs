//! Rate-limit response headers from a [`Decision`].
//!
//! - `X-RateLimit-Limit`, `X-RateLimit-Remaining`: the binding limit's count
//!   and what is left of it.
//! - `X-RateLimit-Reset`: when the binding limit is back to full capacity, as
//!   Unix epoch seconds rounded up (GitHub's and express-rate-limit's
//!   convention).
//! - `Retry-After` (denied requests only): delay-seconds, rounded up, at
//!   least 1 (RFC 9110 §10.2.3).
//! - `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers,
//!   structured fields): every limit as a policy item
//!   `"<name>";q=<limit>;w=<window seconds>` (the second and later limits of
//!   a limiter are named `<name>.2`, `<name>.3`, ...), and the binding
//!   limit's state as `"<name>";r=<remaining>;t=<seconds to reset>`.

use super::limiter::Decision;

fn ceil_secs(secs: f64) -> u64 {
    if secs.is_finite() && secs > 0.0 {
        secs.ceil() as u64
    } else {
        0
    }
}

impl Decision {
    /// The name of limit `i` in the `RateLimit` fields.
    fn policy_name(&self, i: usize) -> String {
        if i == 0 {
            self.policy.to_string()
        } else {
            format!("{}.{}", self.policy, i + 1)
        }
    }

    /// The policy name of the binding limit (the one that denied, else the
    /// one with the least left): the name in the `RateLimit` header.
    #[must_use]
    pub fn binding_policy_name(&self) -> String {
        self.policy_name(self.binding())
    }

    /// The index of the binding limit in [`Decision::limits`].
    fn binding(&self) -> usize {
        self.denied_by.unwrap_or_else(|| {
            self.limits
                .iter()
                .position(|l| l.rate == self.rate)
                .unwrap_or(0)
        })
    }

    /// `Retry-After` in whole seconds (rounded up, at least 1) for a denied
    /// request; `None` when admitted.
    #[must_use]
    pub fn retry_after_header(&self) -> Option<u64> {
        (!self.allowed).then(|| ceil_secs(self.retry_after).max(1))
    }

    /// The response headers for this decision, in a fixed order (see the
    /// module docs). `Retry-After` only for a denied request.
    #[must_use]
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(6);
        out.push(("X-RateLimit-Limit", self.limit.to_string()));
        out.push(("X-RateLimit-Remaining", self.remaining.to_string()));
        out.push((
            "X-RateLimit-Reset",
            ceil_secs(self.decided_at + self.reset_after).to_string(),
        ));
        if let Some(s) = self.retry_after_header() {
            out.push(("Retry-After", s.to_string()));
        }
        let policy = self
            .limits
            .iter()
            .enumerate()
            .map(|(i, l)| {
                format!(
                    "\"{}\";q={};w={}",
                    self.policy_name(i),
                    l.rate.limit,
                    l.rate.window_secs()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        out.push(("RateLimit-Policy", policy));
        let b = self.binding();
        out.push((
            "RateLimit",
            format!(
                "\"{}\";r={};t={}",
                self.policy_name(b),
                self.remaining,
                ceil_secs(self.reset_after)
            ),
        ));
        out
    }
}
