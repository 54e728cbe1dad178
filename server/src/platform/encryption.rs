//! Encryption at rest for what must be kept secret but read back to be used (a keyed webhook
//! URL, a signing secret, a bot token): XChaCha20-Poly1305 under the deployment's `SECRETS_KEY`.
//!
//! A sealed value is `v1.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The key id (the first
//! 4 bytes of SHA-256 of the key, hex) says which key sealed it, so a value sealed under another
//! key is refused with that reason instead of as "corrupt", and rotation can tell old from new.
//! Each value is bound to where it is stored (the associated data, e.g. `push_targets:7:secrets`):
//! a sealed value copied into another row or field does not open there.
//!
//! The database remembers which key seals it ([`check_key`], at start-up): started with another
//! key, the server stops with both key ids named. To change keys, start once with the new key in
//! `SECRETS_KEY` and the old one in `SECRETS_KEY_PREVIOUS`: everything sealed under the old key
//! is sealed again under the new one, in one transaction.
use crate::platform::secrets::random_bytes;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};

const VERSION: &str = "v1";

/// Every sealed column of the schema, as `(table, column)`: each row's value is sealed for
/// [`sealed_context`] of its table, id and column, and rotation reseals exactly these.
pub const SEALED_COLUMNS: &[(&str, &str)] = &[("push_targets", "secrets")];

/// The associated data of the value in `column` of `table`'s row `id`: a sealed value copied
/// into another row or column does not open there.
pub fn sealed_context(table: &str, id: i64, column: &str) -> String {
    format!("{table}:{id}:{column}")
}
const NONCE_LEN: usize = 24;
/// `SECRETS_KEY` is 32 random bytes, written in base64 (what `openssl rand -base64 32` prints).
pub const KEY_LEN: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("must be {KEY_LEN} bytes in base64 (e.g. `openssl rand -base64 32`), got {0}")]
    Malformed(&'static str),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed under another SECRETS_KEY (key id {found}, this one is {expected})")]
    OtherKey { found: String, expected: String },
    #[error("not a sealed value of a known format")]
    Malformed,
    /// The tag did not verify: the value was altered, or moved from where it was sealed.
    #[error("does not verify (altered, or sealed for another place)")]
    Forged,
}

/// One encryption key. Debug never shows the key.
#[derive(Clone)]
pub struct SecretsKey {
    cipher: XChaCha20Poly1305,
    id: String,
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SecretsKey {
    /// The key from its base64 text (standard or URL-safe alphabet, padded or not).
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = STANDARD
            .decode(text)
            .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
            .map_err(|_| KeyError::Malformed("text that is not base64"))?;
        let bytes: [u8; KEY_LEN] = bytes.try_into().map_err(|_| KeyError::Malformed("another length"))?;
        Ok(Self::from_bytes(&bytes))
    }

    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let digest = Sha256::digest(bytes);
        SecretsKey {
            cipher: XChaCha20Poly1305::new(bytes.into()),
            id: digest[..4].iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// A new random key, as `SECRETS_KEY` text.
    pub fn generate() -> String {
        STANDARD.encode(random_bytes::<KEY_LEN>())
    }

    /// Which key this is, safe to log: 8 hex digits of its hash.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `plaintext` sealed for the place named by `context`.
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let nonce = random_bytes::<NONCE_LEN>();
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            // Only a message beyond 256 GiB fails to encrypt.
            .expect("XChaCha20-Poly1305 encrypts any secret-sized message");
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        format!("{VERSION}.{}.{}", self.id, URL_SAFE_NO_PAD.encode(out))
    }

    /// The plaintext of a value sealed by [`SecretsKey::seal`] for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, OpenError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(OpenError::Malformed);
        };
        if id != self.id {
            return Err(OpenError::OtherKey {
                found: id.to_owned(),
                expected: self.id.clone(),
            });
        }
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| OpenError::Malformed)?;
        if bytes.len() < NONCE_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Forged)?;
        String::from_utf8(plain).map_err(|_| OpenError::Malformed)
    }

    /// The id of the key that sealed `sealed`, if it is a sealed value.
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, '.');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(VERSION), Some(id), Some(_)) => Some(id),
            _ => None,
        }
    }
}

/// The deployment's keys: the one that seals, and the one being rotated away from.
#[derive(Clone, Debug)]
pub struct SecretsKeys {
    pub current: SecretsKey,
    pub previous: Option<SecretsKey>,
}

/// What [`check_key`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyCheck {
    /// A database without secrets yet: it now remembers this key.
    Adopted,
    Same,
    /// Everything was sealed under the previous key and is now sealed under the current one.
    Rotated {
        from: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(
        "SECRETS_KEY is not the key this database's secrets are sealed with (this key's id is \
         {given}, the database's {expected}{previous}): start with the key it was started with, or, \
         to change keys, put the old one in SECRETS_KEY_PREVIOUS for one start (README: rotating \
         SECRETS_KEY)",
        previous = match .previous { Some(p) => format!("; SECRETS_KEY_PREVIOUS is {p}"), None => String::new() }
    )]
    WrongKey {
        given: String,
        expected: String,
        previous: Option<String>,
    },
    #[error("the database's key check does not open under its own key ({0}): it was altered")]
    Altered(OpenError),
    #[error("rotating SECRETS_KEY: the value of {place} does not open under SECRETS_KEY_PREVIOUS ({source}); nothing was changed")]
    Unopenable { place: String, source: OpenError },
}

const CHECK_CONTEXT: &str = "secrets_key_check";
const CHECK_PLAINTEXT: &str = "hub-notify secrets key check";

/// Makes sure `keys.current` is the key the database's secrets are sealed with, rotating from
/// `keys.previous` when that is the one.
pub async fn check_key(db: &sqlx::PgPool, keys: &SecretsKeys) -> Result<KeyCheck, KeyCheckError> {
    let mut tx = db.begin().await?;
    // Instances starting together take turns: one adopts or rotates, the others find it done.
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT key_id, sealed FROM secrets_key_check WHERE id = 1 FOR UPDATE")
            .fetch_optional(&mut *tx)
            .await?;
    let current = &keys.current;
    let Some((key_id, sealed)) = row else {
        let inserted = sqlx::query(
            "INSERT INTO secrets_key_check (id, key_id, sealed) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
        )
        .bind(current.id())
        .bind(current.seal(CHECK_PLAINTEXT, CHECK_CONTEXT))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if inserted == 0 {
            // Another instance adopted its key between our read and insert: judge against it.
            return Box::pin(check_key(db, keys)).await;
        }
        return Ok(KeyCheck::Adopted);
    };
    if key_id == current.id() {
        current.open(&sealed, CHECK_CONTEXT).map_err(KeyCheckError::Altered)?;
        return Ok(KeyCheck::Same);
    }
    let wrong = || KeyCheckError::WrongKey {
        given: current.id().to_owned(),
        expected: key_id.clone(),
        previous: keys.previous.as_ref().map(|p| p.id().to_owned()),
    };
    let previous = keys.previous.as_ref().filter(|p| p.id() == key_id).ok_or_else(wrong)?;
    previous.open(&sealed, CHECK_CONTEXT).map_err(KeyCheckError::Altered)?;
    for (table, column) in SEALED_COLUMNS {
        reseal(&mut tx, table, column, previous, current).await?;
    }
    sqlx::query("UPDATE secrets_key_check SET key_id = $1, sealed = $2, updated_at = now() WHERE id = 1")
        .bind(current.id())
        .bind(current.seal(CHECK_PLAINTEXT, CHECK_CONTEXT))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(KeyCheck::Rotated { from: key_id })
}

/// Seals every value of `table.column` under `from` again under `to`, in the caller's transaction.
async fn reseal(
    tx: &mut sqlx::PgConnection,
    table: &str,
    column: &str,
    from: &SecretsKey,
    to: &SecretsKey,
) -> Result<(), KeyCheckError> {
    // The names come from SEALED_COLUMNS, never from input.
    let rows: Vec<(i64, String)> = sqlx::query_as(&format!("SELECT id, {column} FROM {table} ORDER BY id FOR UPDATE"))
        .fetch_all(&mut *tx)
        .await?;
    for (id, sealed) in rows {
        if SecretsKey::key_id_of(&sealed) == Some(to.id()) {
            continue;
        }
        let context = sealed_context(table, id, column);
        let plain = from
            .open(&sealed, &context)
            .map_err(|source| KeyCheckError::Unopenable {
                place: context.clone(),
                source,
            })?;
        sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE id = $2"))
            .bind(to.seal(&plain, &context))
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretsKey {
        SecretsKey::from_bytes(&[byte; KEY_LEN])
    }

    #[test]
    fn a_sealed_value_opens_in_its_place_only() {
        let k = key(1);
        let sealed = k.seal("SEC123-signing", "push_target:7:secret");
        assert!(!sealed.contains("SEC123"), "{sealed}");
        assert_eq!(k.open(&sealed, "push_target:7:secret").unwrap(), "SEC123-signing");
        assert_eq!(k.open(&sealed, "push_target:8:secret"), Err(OpenError::Forged));
        assert_eq!(k.open(&sealed, "push_target:7:bot_token"), Err(OpenError::Forged));
    }

    #[test]
    fn each_seal_is_fresh() {
        let k = key(1);
        assert_ne!(k.seal("same", "c"), k.seal("same", "c"));
    }

    #[test]
    fn another_key_is_named_as_such() {
        let sealed = key(1).seal("x", "c");
        let err = key(2).open(&sealed, "c").unwrap_err();
        assert!(matches!(err, OpenError::OtherKey { .. }), "{err:?}");
        assert_eq!(SecretsKey::key_id_of(&sealed), Some(key(1).id()));
    }

    #[test]
    fn altered_values_do_not_open() {
        let k = key(1);
        let sealed = k.seal("secret", "c");
        let mut bytes = sealed.clone().into_bytes();
        let last = bytes.len() - 3;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let altered = String::from_utf8(bytes).unwrap();
        assert_eq!(k.open(&altered, "c"), Err(OpenError::Forged));
        assert_eq!(k.open("secret", "c"), Err(OpenError::Malformed));
        assert_eq!(k.open(&format!("v1.{}.AAAA", k.id()), "c"), Err(OpenError::Malformed));
    }

    #[test]
    fn keys_parse_from_base64_of_32_bytes() {
        let text = SecretsKey::generate();
        let k = SecretsKey::parse(&text).unwrap();
        assert_eq!(k.id().len(), 8);
        assert!(SecretsKey::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).is_ok());
        assert_eq!(
            SecretsKey::parse("c2hvcnQ=").unwrap_err(),
            KeyError::Malformed("another length")
        );
        assert_eq!(
            SecretsKey::parse("not base64 at all!").unwrap_err(),
            KeyError::Malformed("text that is not base64")
        );
        assert!(!format!("{k:?}").contains(&text));
    }
}
