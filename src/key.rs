//! The run's secret, keyed once: every keyed value (transforms, the
//! subset's sample) derives from `Key::digest`, an HMAC-SHA256 of
//! `namespace ‖ input` under the secret. `hash` computes it per value;
//! the other transforms derive a SipHash key from it once per rule
//! (`transform::keyed::Prf`) and compute that per value.

use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The run's secret, keyed once; every value derives from it.
#[derive(Clone)]
pub struct Key {
    mac: Hmac<Sha256>,
}

impl Key {
    pub fn new(secret: &[u8]) -> Key {
        Key {
            mac: Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length"),
        }
    }

    /// `HMAC-SHA256(secret, len(namespace) ‖ namespace ‖ input)`. The length
    /// prefix keeps ("ab","c") and ("a","bc") apart.
    pub fn digest(&self, namespace: &[u8], input: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(&(namespace.len() as u32).to_be_bytes());
        mac.update(namespace);
        mac.update(input);
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}
