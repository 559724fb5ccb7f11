/// Milliseconds since the Unix epoch, the unit every stored time uses.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// A stored time as a timestamp (RFC 3339 when serialised).
pub fn timestamp(ms: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_millisecond(ms).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// 32 random bytes as hex: secrets for tokens, sessions and CSRF.
pub(crate) fn random_secret() -> Result<String, crate::AppError> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| crate::AppError::internal("no randomness available", e.to_string()))?;
    Ok(hex::encode(bytes))
}

/// SHA-256 of a high-entropy secret. A fast hash is right here: the secret cannot be guessed,
/// so only a database leak matters, and then the hash reveals nothing usable.
pub(crate) fn secret_hash(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}
