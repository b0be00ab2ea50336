//! Sealing cookie contents: AES-256-GCM under a key derived by HKDF-SHA256 from each
//! configured secret. The first key seals; every key opens, so a secret can be rotated
//! by putting the new one first and dropping the old one a session lifetime later.
//!
//! The cookie's purpose (its name) is the AEAD's associated data: a sealed login state
//! cannot be replayed as a session, nor one proxy's cookie as another's of a different
//! name.

use crate::config::Secret;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{hkdf, rand};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// HKDF salt: fixed and public (the secrets carry the entropy); versioned, so that a
/// future format change derives different keys.
const SALT: &[u8] = b"cognigate cookie sealing v1";
/// HKDF info: what the derived key is for.
const INFO: &[u8] = b"aes-256-gcm";

/// Seals and opens cookie values.
pub struct Sealer {
    /// Derived from `cookie_secrets`, in order.
    keys: Vec<LessSafeKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealer({} keys)", self.keys.len())
    }
}

impl Sealer {
    /// Derives one key per secret (validation made sure there is at least one).
    pub fn new(secrets: &[Secret]) -> Sealer {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, SALT);
        let keys = secrets
            .iter()
            .filter_map(|secret| {
                let prk = salt.extract(&secret.0);
                let okm = prk.expand(&[INFO], &AES_256_GCM).ok()?;
                Some(LessSafeKey::new(UnboundKey::from(okm)))
            })
            .collect();
        Sealer { keys }
    }

    /// `plaintext` sealed for `purpose`: base64url of nonce, ciphertext and tag. `None`
    /// only if there is no key or the system random source fails.
    pub fn seal(&self, purpose: &str, plaintext: &[u8]) -> Option<String> {
        let key = self.keys.first()?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce).ok()?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + plaintext.len() + 16);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(plaintext);
        let mut body = sealed.split_off(NONCE_LEN);
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(purpose.as_bytes()),
            &mut body,
        )
        .ok()?;
        sealed.extend_from_slice(&body);
        Some(URL_SAFE_NO_PAD.encode(sealed))
    }

    /// The plaintext of a value [`Sealer::seal`]ed for `purpose` under any of the keys;
    /// `None` for anything else (tampered, truncated, another purpose, an unknown key).
    pub fn open(&self, purpose: &str, sealed: &str) -> Option<Vec<u8>> {
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return None;
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        self.keys.iter().find_map(|key| {
            let mut in_out = body.to_vec();
            let plain = key
                .open_in_place(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(purpose.as_bytes()),
                    &mut in_out,
                )
                .ok()?;
            Some(plain.to_vec())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(secrets: &[&[u8]]) -> Sealer {
        Sealer::new(
            &secrets
                .iter()
                .map(|s| Secret(s.to_vec()))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_purpose() {
        let s = sealer(&[&[7; 32]]);
        let sealed = s.seal("session", b"tokens").unwrap();
        assert_eq!(s.open("session", &sealed).unwrap(), b"tokens");
        assert_eq!(s.open("login", &sealed), None);
        assert_ne!(
            s.seal("session", b"tokens").unwrap(),
            sealed,
            "a fresh nonce each time"
        );
    }

    #[test]
    fn every_secret_opens_and_the_first_seals() {
        let old = sealer(&[&[1; 32]]);
        let rotated = sealer(&[&[2; 32], &[1; 32]]);
        let from_old = old.seal("session", b"x").unwrap();
        assert_eq!(rotated.open("session", &from_old).unwrap(), b"x");
        let from_new = rotated.seal("session", b"y").unwrap();
        assert_eq!(
            old.open("session", &from_new),
            None,
            "sealed with the new secret"
        );
        assert_eq!(
            sealer(&[&[2; 32]]).open("session", &from_new).unwrap(),
            b"y"
        );
    }

    #[test]
    fn tampered_truncated_or_garbage_values_do_not_open() {
        let s = sealer(&[&[9; 32]]);
        let sealed = s.seal("session", b"some tokens").unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&sealed).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            assert_eq!(
                s.open("session", &URL_SAFE_NO_PAD.encode(&bytes)),
                None,
                "byte {i}"
            );
            bytes[i] ^= 1;
        }
        assert_eq!(s.open("session", &sealed[..sealed.len() - 4]), None);
        for garbage in ["", "a", "!!!!", &"A".repeat(40)] {
            assert_eq!(s.open("session", garbage), None, "{garbage:?}");
        }
    }
}
