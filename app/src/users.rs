//! Users as shown to admins.
use serde::{Deserialize, Serialize};

use crate::session::Role;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub has_api_key: bool,
    /// RFC 3339.
    pub created_at: String,
}
