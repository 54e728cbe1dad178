//! Delivery history (投递记录): the shape shared by the page, the server function and the REST API.
use serde::{Deserialize, Serialize};

use crate::notifications::{FieldProblem, NotificationKind};

/// Where a notification is in its life: pending → sending → delivered | failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Written to the outbox, not yet attempted (waiting in the queue, or for Redis to return).
    Pending,
    /// Attempted at least once; being sent or waiting for a retry.
    Sending,
    Delivered,
    /// Every attempt failed.
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Sending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// One notification as admins see it: the target is `scheme://host[:port]` only, never the
/// webhook's path or key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryRecord {
    pub id: i64,
    pub kind: NotificationKind,
    /// `scheme://host[:port]` of where it went.
    pub target: String,
    /// The push target, unless it was deleted since.
    pub target_id: Option<i64>,
    pub target_name: Option<String>,
    pub channel: Option<crate::targets::ChannelKind>,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// The rendered markdown as sent.
    pub content: String,
    /// RFC 3339.
    pub created_at: String,
    pub updated_at: String,
    pub delivered_at: Option<String>,
}

pub const DEFAULT_PAGE_SIZE: u32 = 20;
pub const MAX_PAGE_SIZE: u32 = 200;

/// Which records, newest first: those with an id below `before` (the previous page's `nextBefore`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryFilter {
    pub kind: Option<NotificationKind>,
    pub status: Option<DeliveryStatus>,
    /// Only the deliveries to this push target.
    #[serde(default)]
    pub target_id: Option<i64>,
    /// 1..=200; 20 when absent.
    pub limit: Option<u32>,
    pub before: Option<i64>,
}

impl DeliveryFilter {
    /// The page size, or why `limit` is refused.
    pub fn page_size(&self) -> Result<u32, FieldProblem> {
        match self.limit {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            Some(_) => Err(FieldProblem::OutOfRange {
                min: 1,
                max: i32::try_from(MAX_PAGE_SIZE).unwrap_or(i32::MAX),
            }),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPage {
    pub items: Vec<DeliveryRecord>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// The first characters of the content, on one line, for tables.
pub fn preview(content: &str, max_chars: usize) -> String {
    let flat: String = content.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max_chars {
        flat
    } else {
        let mut cut: String = flat.chars().take(max_chars).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(DeliveryStatus::parse("done"), None);
    }

    #[test]
    fn page_size_bounds() {
        let with = |limit| DeliveryFilter {
            limit,
            ..Default::default()
        };
        assert_eq!(with(None).page_size(), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(with(Some(1)).page_size(), Ok(1));
        assert_eq!(with(Some(200)).page_size(), Ok(200));
        assert!(with(Some(0)).page_size().is_err());
        assert!(with(Some(201)).page_size().is_err());
    }

    #[test]
    fn previews_are_one_line_and_bounded() {
        assert_eq!(preview("## 标题\n\n> 内容", 50), "## 标题 > 内容");
        assert_eq!(preview("一二三四五", 3), "一二三…");
        assert_eq!(preview("abc", 3), "abc");
    }
}
