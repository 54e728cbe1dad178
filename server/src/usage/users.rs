//! Users and their API keys (PostgreSQL).
use app::session::{CurrentUser, Role};
use app::users::UserSummary;
use sqlx::PgPool;

use crate::platform::secrets::{new_api_key, sha256};

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("user name must be 1 to 200 characters")]
    InvalidName,
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

pub(crate) fn role_from_db(role: &str) -> Role {
    if role == "admin" {
        Role::Admin
    } else {
        Role::User
    }
}

/// Looks up the user owning an API key.
pub async fn find_by_api_key(db: &PgPool, api_key: &str) -> Result<Option<CurrentUser>, sqlx::Error> {
    let row: Option<(i64, String, String)> = sqlx::query_as("SELECT id, name, role FROM users WHERE api_key_hash = $1")
        .bind(&sha256(api_key)[..])
        .fetch_optional(db)
        .await?;
    Ok(row.map(|(id, name, role)| CurrentUser {
        role: role_from_db(&role),
        name,
        user_id: Some(id),
    }))
}

/// Creates the user (or renames an existing one) and issues a new API key, returned once.
pub async fn issue_api_key(db: &PgPool, id: i64, name: &str, role: Role) -> Result<String, UserError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(UserError::InvalidName);
    }
    let key = new_api_key();
    sqlx::query(
        "INSERT INTO users (id, name, role, api_key_hash) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO UPDATE
         SET name = EXCLUDED.name, role = EXCLUDED.role, api_key_hash = EXCLUDED.api_key_hash, updated_at = now()",
    )
    .bind(id)
    .bind(name)
    .bind(match role {
        Role::Admin => "admin",
        Role::User => "user",
    })
    .bind(&sha256(&key)[..])
    .execute(db)
    .await?;
    Ok(key)
}

pub async fn list(db: &PgPool) -> Result<Vec<UserSummary>, sqlx::Error> {
    let rows: Vec<(i64, String, String, bool, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT id, name, role, api_key_hash IS NOT NULL, created_at FROM users ORDER BY id")
            .fetch_all(db)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, role, has_api_key, created_at)| UserSummary {
            id,
            name,
            role: role_from_db(&role),
            has_api_key,
            created_at: created_at.to_rfc3339(),
        })
        .collect())
}
