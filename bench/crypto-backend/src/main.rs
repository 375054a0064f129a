//! Times signature verification and signing with aws-lc-rs and with the
//! RustCrypto crates `jsonwebtoken`'s `rust_crypto` feature uses, on the same
//! message (a typical 330-byte JWS signing input). Prints a Markdown table.

use std::hint::black_box;
use std::time::Instant;

fn time<F: FnMut()>(mut f: F) -> f64 {
    for _ in 0..20 {
        f();
    }
    let mut best = f64::MAX;
    for _ in 0..7 {
        let n = 200;
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    }
    best
}

fn row(op: &str, aws: f64, rc: f64) {
    println!("| {op} | {aws:.2} | {rc:.2} | {:.1}x |", rc / aws);
}

fn main() {
    let msg = vec![b'e'; 330];
    println!("| operation | aws-lc-rs µs | RustCrypto µs | aws-lc-rs advantage |");
    println!("|---|---:|---:|---:|");

    // HMAC-SHA256
    {
        use aws_lc_rs::hmac;
        use ::hmac::Mac;
        let secret = [7u8; 32];
        let k = hmac::Key::new(hmac::HMAC_SHA256, &secret);
        let tag = hmac::sign(&k, &msg);
        let aws = time(|| {
            black_box(hmac::verify(&k, black_box(&msg), tag.as_ref()).is_ok());
        });
        let rc = time(|| {
            let mut m = <::hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&secret).unwrap();
            m.update(black_box(&msg));
            black_box(m.verify_slice(tag.as_ref()).is_ok());
        });
        row("HS256 verify", aws, rc);
    }

    // RSA-2048 PKCS#1 v1.5 SHA-256
    {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::{self, KeyPair, ParsedPublicKey, RsaKeyPair};
        use rsa::pkcs1v15::{SigningKey, VerifyingKey};
        use rsa::pkcs8::DecodePrivateKey;
        use rsa::signature::{SignatureEncoding, Signer, Verifier};
        let pair = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = pair.as_der().unwrap();
        let mut sig = vec![0u8; pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let parsed = ParsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, pair.public_key().as_ref()).unwrap();
        pair.sign(&signature::RSA_PKCS1_SHA256, &rng, &msg, &mut sig).unwrap();
        let aws_v = time(|| {
            black_box(parsed.verify_sig(black_box(&msg), &sig).is_ok());
        });
        let aws_s = time(|| {
            pair.sign(&signature::RSA_PKCS1_SHA256, &rng, black_box(&msg), &mut sig).unwrap();
        });
        let sk = rsa::RsaPrivateKey::from_pkcs8_der(der.as_ref()).unwrap();
        let signing = SigningKey::<sha2::Sha256>::new(sk.clone());
        let verifying = VerifyingKey::<sha2::Sha256>::new(sk.to_public_key());
        let rsig = signing.sign(&msg);
        let rc_v = time(|| {
            black_box(verifying.verify(black_box(&msg), &rsig).is_ok());
        });
        let rc_s = time(|| {
            black_box(signing.sign(black_box(&msg)).to_bytes());
        });
        row("RS256 verify (2048)", aws_v, rc_v);
        row("RS256 sign (2048)", aws_s, rc_s);
    }

    // ECDSA P-256 and P-384
    {
        use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair, ParsedPublicKey};
        use p256::ecdsa::signature::{Signer, Verifier};
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let parsed = ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref()).unwrap();
        let sig = pair.sign(&rng, &msg).unwrap();
        let aws_v = time(|| {
            black_box(parsed.verify_sig(black_box(&msg), sig.as_ref()).is_ok());
        });
        let aws_s = time(|| {
            black_box(pair.sign(&rng, black_box(&msg)).unwrap());
        });
        let sk = p256::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let vk = p256::ecdsa::VerifyingKey::from(&sk);
        let s: p256::ecdsa::Signature = sk.sign(&msg);
        let rc_v = time(|| {
            black_box(vk.verify(black_box(&msg), &s).is_ok());
        });
        let rc_s = time(|| {
            let s: p256::ecdsa::Signature = sk.sign(black_box(&msg));
            black_box(s);
        });
        row("ES256 verify", aws_v, rc_v);
        row("ES256 sign", aws_s, rc_s);

        let pair = EcdsaKeyPair::generate(&signature::ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
        let parsed = ParsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, pair.public_key().as_ref()).unwrap();
        let sig = pair.sign(&rng, &msg).unwrap();
        let aws_v = time(|| {
            black_box(parsed.verify_sig(black_box(&msg), sig.as_ref()).is_ok());
        });
        let sk = p384::ecdsa::SigningKey::random(&mut rand::thread_rng());
        let vk = p384::ecdsa::VerifyingKey::from(&sk);
        let s: p384::ecdsa::Signature = sk.sign(&msg);
        let rc_v = time(|| {
            black_box(vk.verify(black_box(&msg), &s).is_ok());
        });
        row("ES384 verify", aws_v, rc_v);
    }

    // Ed25519
    {
        use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, ParsedPublicKey};
        use ed25519_dalek::{Signer, Verifier};
        let pair = Ed25519KeyPair::generate().unwrap();
        let parsed = ParsedPublicKey::new(&signature::ED25519, pair.public_key().as_ref()).unwrap();
        let sig = pair.sign(&msg);
        let aws_v = time(|| {
            black_box(parsed.verify_sig(black_box(&msg), sig.as_ref()).is_ok());
        });
        let sk = ed25519_dalek::SigningKey::generate(&mut rand::thread_rng());
        let vk = sk.verifying_key();
        let s = sk.sign(&msg);
        let rc_v = time(|| {
            black_box(vk.verify(black_box(&msg), &s).is_ok());
        });
        row("EdDSA verify", aws_v, rc_v);
    }
}
