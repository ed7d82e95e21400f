//! Identifiers and secrets as the store keeps them: time-sortable id suffixes, random secrets
//! and the hashes that secrets are looked up by.

use sha2::{Digest, Sha256};

/// A fresh, time-sortable unique suffix for ids. Monotonic within the process, so ids made in
/// the same millisecond still sort in creation order (list pagination relies on it).
pub fn new_suffix() -> String {
    static GENERATOR: std::sync::Mutex<ulid::Generator> =
        std::sync::Mutex::new(ulid::Generator::new());
    let mut generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let id = generator
        .generate()
        .unwrap_or_else(|_| ulid::Ulid::generate());
    id.to_string().to_ascii_lowercase()
}

/// A random secret of 32 bytes, hex encoded, with a readable prefix (`bk_` keys, `bs_` sessions).
pub fn new_secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// SHA-256 of a high-entropy secret (API keys, session tokens), hex encoded. These secrets are
/// random, so a fast hash is enough; passwords use argon2 in the server.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
