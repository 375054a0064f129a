//! Property tests of the HTTP rules (`bastion_core::http`): whatever the
//! application or a request hands in, a problem is either refused with
//! `INVALID_ARGUMENT` or is strict JSON holding exactly what was given, with
//! headers that cannot split a response; rate-limit keys are bounded and
//! never confuse two different requests.

use bastion_core::http::{problem, rate_limit_key, KeyFacts, KeyPart, MAX_KEY_PART};
use proptest::prelude::*;
use serde_json::Value;

const CASES: u32 = 1000;

/// Text with the characters that matter here: quotes, backslashes, control
/// characters, the key separator, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        "[a-z|:\"\\\\\r\n\u{0}\u{7f}é☕𝄞]{0,40}",
        "[a-z]{250,300}",
        Just("sha256:".to_owned()),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(400u16),
        Just(401),
        Just(403),
        Just(423),
        Just(429),
        Just(503),
        0u16..1000
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, ..ProptestConfig::default() })]

    #[test]
    fn a_problem_is_strict_json_of_what_was_given(
        status in status(),
        detail in text(),
        code in prop_oneof!["[A-Z_]{1,20}", text()],
        retry_after in prop_oneof![Just(None), (0.0f64..1e6).prop_map(Some), Just(Some(0.0)), Just(Some(-1.0)), Just(Some(f64::NAN))],
        headers in prop::collection::vec((text(), text()), 0..3),
        extra in prop_oneof![Just(None), text().prop_map(Some), "\\{\"[a-z]{1,5}\":[0-9]{1,3}\\}".prop_map(Some)],
    ) {
        match problem(status, &detail, &code, retry_after, &headers, extra.as_deref()) {
            Err(e) => prop_assert_eq!(e.code(), "INVALID_ARGUMENT"),
            Ok(a) => {
                let body: Value = serde_json::from_str(&a.body).expect("the body is JSON");
                prop_assert_eq!(body["status"].as_u64(), Some(u64::from(status)));
                prop_assert_eq!(body["detail"].as_str(), Some(detail.as_str()));
                prop_assert_eq!(body["code"].as_str(), Some(code.as_str()));
                prop_assert_eq!(body["type"].as_str(), Some("about:blank"));
                if let Some(r) = retry_after {
                    let secs = body["retry_after"].as_u64().expect("retry_after");
                    prop_assert_eq!(secs, (r.ceil() as u64).max(1));
                }
                for (name, value) in &a.headers {
                    prop_assert!(!name.is_empty() && !name.contains([' ', ':', '\r', '\n']));
                    prop_assert!(!value.contains(['\r', '\n', '\0']));
                }
                prop_assert_eq!(a.headers.last().map(|h| h.0.as_str()), Some("Content-Type"));
            }
        }
    }

    #[test]
    fn keys_are_bounded_and_tell_requests_apart(
        a in prop::collection::vec(text(), 1..4),
        b in prop::collection::vec(text(), 1..4),
        user_a in prop_oneof![Just(None), text().prop_map(Some)],
        user_b in prop_oneof![Just(None), text().prop_map(Some)],
    ) {
        let key = |values: &[String], user: Option<&str>| {
            let parts: Vec<KeyPart> = std::iter::once(KeyPart::User)
                .chain(values.iter().map(|_| KeyPart::Value))
                .collect();
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            let facts = KeyFacts { client: "203.0.113.7", user, method: "GET", route: "/", values: &values };
            rate_limit_key(&parts, &facts)
        };
        let ka = key(&a, user_a.as_deref());
        let kb = key(&b, user_b.as_deref());
        for k in [&ka, &kb].into_iter().flatten() {
            prop_assert!(k.len() <= 4 * (MAX_KEY_PART + 8));
        }
        if let (Ok(ka), Ok(kb)) = (&ka, &kb) {
            let same_user = user_a.as_deref().filter(|u| !u.is_empty())
                == user_b.as_deref().filter(|u| !u.is_empty());
            prop_assert_eq!(ka == kb, same_user && a == b, "{} vs {}", ka, kb);
        }
    }
}
