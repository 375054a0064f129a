//! Strict base64url (RFC 4648 §5) without padding, as JWS compact serialisation
//! requires: no `=`, no whitespace, no characters of the standard alphabet, and
//! the unused trailing bits of the last character must be zero (so every byte
//! string has exactly one accepted encoding).

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

const STRICT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Decodes strict, unpadded base64url. `None` on any deviation.
#[must_use]
pub fn decode(input: &[u8]) -> Option<Vec<u8>> {
    STRICT.decode(input).ok()
}

/// Encodes bytes as unpadded base64url.
#[must_use]
pub fn encode(input: &[u8]) -> String {
    STRICT.encode(input)
}

/// Appends the unpadded base64url encoding of `input` to `out`.
pub fn encode_into(input: &[u8], out: &mut String) {
    STRICT.encode_string(input, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).collect();
            let e = encode(&data);
            assert_eq!(decode(e.as_bytes()).as_deref(), Some(&data[..]));
        }
        assert_eq!(decode(b"eyJhIjoxfQ"), Some(br#"{"a":1}"#.to_vec()));
        assert!(decode(b"eyJhIjoxfQ==").is_none(), "padding");
        assert!(decode(b"eyJh Ijox").is_none(), "whitespace");
        assert!(decode(b"ab+/").is_none(), "standard alphabet");
        assert!(decode(b"QR").is_none(), "non-zero trailing bits");
        assert!(decode(b"QQ").is_some());
        assert!(decode(b"A").is_none(), "impossible length");
    }
}
