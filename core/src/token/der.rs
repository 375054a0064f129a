//! Just enough DER, PEM and OpenSSH key-format handling to classify key material
//! and hand the right bytes to the crypto backend. Parsing is strict (definite
//! minimal lengths, no trailing data) and bounded by the input.

use super::algorithm::Curve;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

pub(crate) const SEQUENCE: u8 = 0x30;
pub(crate) const INTEGER: u8 = 0x02;
pub(crate) const BIT_STRING: u8 = 0x03;
pub(crate) const OCTET_STRING: u8 = 0x04;
pub(crate) const NULL: u8 = 0x05;
pub(crate) const OID: u8 = 0x06;

pub(crate) const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
pub(crate) const OID_EC: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
pub(crate) const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
const OID_P521: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x23];
const OID_SECP256K1: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x0A];

/// The curve named by a DER OID.
pub(crate) fn curve_from_oid(oid: &[u8]) -> Option<Curve> {
    match oid {
        OID_P256 => Some(Curve::P256),
        OID_P384 => Some(Curve::P384),
        OID_P521 => Some(Curve::P521),
        OID_SECP256K1 => Some(Curve::Secp256k1),
        _ => None,
    }
}

/// A cursor over DER bytes.
#[derive(Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// Reads one TLV, returning (tag, contents).
    pub(crate) fn read_any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.buf.split_first()?;
        if tag & 0x1f == 0x1f {
            return None; // high tag numbers are not used by key formats
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let mut len = 0usize;
            for &b in &rest[..n] {
                len = (len << 8) | usize::from(b);
            }
            // Minimal encoding only.
            if rest[0] == 0 || len < 0x80 {
                return None;
            }
            rest = &rest[n..];
            len
        };
        if rest.len() < len {
            return None;
        }
        let (contents, after) = rest.split_at(len);
        self.buf = after;
        Some((tag, contents))
    }

    pub(crate) fn read(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.read_any()? {
            (t, c) if t == tag => Some(c),
            _ => None,
        }
    }

    pub(crate) fn sequence(&mut self) -> Option<Reader<'a>> {
        self.read(SEQUENCE).map(Reader::new)
    }
}

/// Reads a DER document that must be exactly one SEQUENCE.
pub(crate) fn top_sequence(der: &[u8]) -> Option<Reader<'_>> {
    let mut r = Reader::new(der);
    let seq = r.sequence()?;
    r.is_empty().then_some(seq)
}

/// A parsed `AlgorithmIdentifier`: the OID and, for EC, the named curve.
pub(crate) struct AlgId<'a> {
    pub(crate) oid: &'a [u8],
    pub(crate) param_oid: Option<&'a [u8]>,
}

pub(crate) fn read_alg_id<'a>(r: &mut Reader<'a>) -> Option<AlgId<'a>> {
    let mut seq = r.sequence()?;
    let oid = seq.read(OID)?;
    let param_oid = match seq.peek_tag() {
        Some(OID) => Some(seq.read(OID)?),
        Some(NULL) => {
            seq.read(NULL)?;
            None
        }
        None => None,
        Some(_) => return None,
    };
    seq.is_empty().then_some(AlgId { oid, param_oid })
}

/// `SubjectPublicKeyInfo`: the algorithm and the public key bits.
pub(crate) fn parse_spki(der: &[u8]) -> Option<(AlgId<'_>, &[u8])> {
    let mut seq = top_sequence(der)?;
    let alg = read_alg_id(&mut seq)?;
    let bits = seq.read(BIT_STRING)?;
    let (&unused, key) = bits.split_first()?;
    (unused == 0 && seq.is_empty()).then_some((alg, key))
}

/// The `SubjectPublicKeyInfo` inside an X.509 certificate (the whole TLV bytes).
pub(crate) fn certificate_spki(der: &[u8]) -> Option<&[u8]> {
    let mut cert = top_sequence(der)?;
    let mut tbs = cert.sequence()?;
    if tbs.peek_tag() == Some(0xA0) {
        tbs.read_any()?; // [0] EXPLICIT version
    }
    tbs.read(INTEGER)?; // serialNumber
    tbs.sequence()?; // signature
    tbs.sequence()?; // issuer
    tbs.sequence()?; // validity
    tbs.sequence()?; // subject
    let before = tbs.buf;
    tbs.sequence()?; // subjectPublicKeyInfo
    let consumed = before.len() - tbs.buf.len();
    Some(&before[..consumed])
}

/// PKCS#8 `PrivateKeyInfo`: the algorithm (version 0 or 1 accepted).
pub(crate) fn parse_pkcs8(der: &[u8]) -> Option<AlgId<'_>> {
    let mut seq = top_sequence(der)?;
    let version = seq.read(INTEGER)?;
    if version != [0] && version != [1] {
        return None;
    }
    let alg = read_alg_id(&mut seq)?;
    seq.read(OCTET_STRING)?;
    Some(alg)
}

/// True when `der` is a PKCS#1 `RSAPublicKey` (SEQUENCE of two INTEGERs).
pub(crate) fn is_pkcs1_public(der: &[u8]) -> bool {
    top_sequence(der)
        .is_some_and(|mut s| s.read(INTEGER).is_some() && s.read(INTEGER).is_some() && s.is_empty())
}

/// True when `der` is a PKCS#1 `RSAPrivateKey` (version 0, nine INTEGERs).
pub(crate) fn is_pkcs1_private(der: &[u8]) -> bool {
    top_sequence(der).is_some_and(|mut s| {
        s.read(INTEGER) == Some(&[0][..]) && (0..8).all(|_| s.read(INTEGER).is_some())
    })
}

/// SEC1 `ECPrivateKey`: the named curve, when the structure says it.
pub(crate) fn sec1_curve(der: &[u8]) -> Option<Option<Curve>> {
    let mut s = top_sequence(der)?;
    if s.read(INTEGER)? != [1] {
        return None;
    }
    s.read(OCTET_STRING)?;
    let mut curve = None;
    if s.peek_tag() == Some(0xA0) {
        let params = s.read(0xA0)?;
        let mut p = Reader::new(params);
        curve = Some(curve_from_oid(p.read(OID)?)?);
    }
    Some(curve)
}

// ---- writing -----------------------------------------------------------------

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Appends a TLV.
pub(crate) fn write_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    push_len(out, contents.len());
    out.extend_from_slice(contents);
}

/// Appends an unsigned big-endian integer as a DER INTEGER.
pub(crate) fn write_uint(out: &mut Vec<u8>, be: &[u8]) {
    let trimmed = {
        let skip = be.iter().take_while(|&&b| b == 0).count();
        &be[skip.min(be.len().saturating_sub(1))..]
    };
    let mut contents = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_none_or(|&b| b & 0x80 != 0) {
        contents.push(0);
    }
    contents.extend_from_slice(trimmed);
    if contents.len() > 1 && contents[0] == 0 && contents[1] & 0x80 == 0 {
        contents.remove(0);
    }
    write_tlv(out, INTEGER, &contents);
}

/// Strips the sign byte of a DER INTEGER's contents (unsigned big-endian).
pub(crate) fn uint_bytes(contents: &[u8]) -> &[u8] {
    match contents {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => contents,
    }
}

// ---- PEM ---------------------------------------------------------------------

/// One PEM block: its label and DER contents.
pub(crate) struct Pem {
    pub(crate) label: String,
    pub(crate) der: Vec<u8>,
}

/// Finds and decodes the first PEM block in `text` (surrounding text, such as
/// the explanatory lines OpenSSL prints before certificates, is ignored).
pub(crate) fn parse_pem(text: &[u8]) -> Option<Pem> {
    let text = std::str::from_utf8(text).ok()?;
    let begin = text.find("-----BEGIN ")?;
    let rest = &text[begin + 11..];
    let label_end = rest.find("-----")?;
    let label = &rest[..label_end];
    if label.is_empty()
        || label.len() > 64
        || !label
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b == b' ' || b.is_ascii_digit())
    {
        return None;
    }
    let body = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body.find(&end_marker)?;
    let body = &body[..end];
    if body.contains(':') {
        return None; // encrypted (Proc-Type / DEK-Info headers): unsupported
    }
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(b64.as_bytes()).ok()?;
    Some(Pem {
        label: label.to_string(),
        der,
    })
}

// ---- OpenSSH public keys -----------------------------------------------------

/// A public key from an OpenSSH `authorized_keys` line.
pub(crate) enum SshKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { curve: Curve, point: Vec<u8> },
    Ed25519(Vec<u8>),
}

fn ssh_string<'a>(buf: &mut &'a [u8]) -> Option<&'a [u8]> {
    if buf.len() < 4 {
        return None;
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let rest = &buf[4..];
    if rest.len() < len {
        return None;
    }
    let (s, after) = rest.split_at(len);
    *buf = after;
    Some(s)
}

/// Parses `ssh-rsa AAAA... comment`, `ssh-ed25519 ...`, `ecdsa-sha2-nistp256 ...`.
pub(crate) fn parse_ssh_public(text: &[u8]) -> Option<SshKey> {
    let text = std::str::from_utf8(text).ok()?.trim();
    let mut parts = text.split_ascii_whitespace();
    let kind = parts.next()?;
    let blob = STANDARD.decode(parts.next()?).ok()?;
    let mut b = &blob[..];
    if ssh_string(&mut b)? != kind.as_bytes() {
        return None;
    }
    let key = match kind {
        "ssh-rsa" => {
            let e = uint_bytes(ssh_string(&mut b)?).to_vec();
            let n = uint_bytes(ssh_string(&mut b)?).to_vec();
            SshKey::Rsa { n, e }
        }
        "ssh-ed25519" => SshKey::Ed25519(ssh_string(&mut b)?.to_vec()),
        "ecdsa-sha2-nistp256" | "ecdsa-sha2-nistp384" | "ecdsa-sha2-nistp521" => {
            let name = ssh_string(&mut b)?;
            if kind.as_bytes()[11..] != *name {
                return None; // the curve must be the one the key type names
            }
            let curve = match name {
                b"nistp256" => Curve::P256,
                b"nistp384" => Curve::P384,
                _ => Curve::P521,
            };
            SshKey::Ec {
                curve,
                point: ssh_string(&mut b)?.to_vec(),
            }
        }
        _ => return None,
    };
    b.is_empty().then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_must_be_minimal_and_complete() {
        assert!(Reader::new(&[0x30, 0x81, 0x05, 1, 2, 3, 4, 5])
            .read(SEQUENCE)
            .is_none());
        assert!(Reader::new(&[0x30, 0x03, 1, 2]).read(SEQUENCE).is_none());
        assert!(top_sequence(&[0x30, 0x00, 0x00]).is_none());
        assert!(top_sequence(&[0x30, 0x00]).is_some());
    }

    #[test]
    fn uint_round_trip() {
        let mut out = Vec::new();
        write_uint(&mut out, &[0x00, 0x80, 0x01]);
        assert_eq!(out, vec![0x02, 0x03, 0x00, 0x80, 0x01]);
        let mut out = Vec::new();
        write_uint(&mut out, &[0x01, 0x00, 0x01]);
        assert_eq!(out, vec![0x02, 0x03, 0x01, 0x00, 0x01]);
        assert_eq!(uint_bytes(&[0x00, 0x80]), &[0x80]);
    }
}
