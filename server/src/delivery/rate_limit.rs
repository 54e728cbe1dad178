//! Per-webhook send budget: a WeCom robot accepts 20 messages a minute and answers the 21st with
//! errcode 45009, which three retries 1 s, 2 s and 4 s later would only repeat. So each webhook
//! URL (each robot: the key is in the URL) gets a sliding window in Redis, shared by every
//! instance; a delivery over budget waits for the window instead of spending its attempts.
use std::time::Duration;

use fred::prelude::*;
use sha2::{Digest, Sha256};

use crate::channels::Channel;
use crate::platform::config::{RateLimit, SendBudget};
use crate::platform::redis::{Keys, LuaScript};

/// KEYS: the webhook's window (sorted set of send times), its rest (a key living as long as
/// the platform asked the target to rest). ARGV: sends (0: no window, only the rest counts),
/// window_ms, member.
/// → 0 when the send may go now (it is counted), else the ms until a place frees up.
const TAKE: &str = r#"
local rest = redis.call('PTTL', KEYS[2])
if rest > 0 then
  return rest
end
if ARGV[1] == '0' then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"#;

#[derive(Clone)]
pub struct WebhookRateLimiter {
    pool: Pool,
    keys: Keys,
    script: std::sync::Arc<LuaScript>,
}

impl WebhookRateLimiter {
    pub fn new(pool: Pool, keys: Keys) -> Self {
        WebhookRateLimiter {
            pool,
            keys,
            script: std::sync::Arc::new(LuaScript::new("webhook_rate", "", TAKE)),
        }
    }

    /// Takes a place in the window of `budget_key` (a webhook URL, or what else names one
    /// robot's budget) of `limit` for the send `send_id` (unique per attempt): `None` to send
    /// now, or how long to wait. Without a limit only a rest the platform asked for holds it.
    pub async fn take(
        &self,
        budget_key: &str,
        send_id: &str,
        limit: Option<RateLimit>,
    ) -> Result<Option<Duration>, fred::error::Error> {
        let limit = limit.unwrap_or(RateLimit {
            sends: 0,
            window: Duration::ZERO,
        });
        let digest = digest(budget_key);
        let wait_ms: i64 = self
            .script
            .call(
                &self.pool,
                vec![
                    self.keys.key(&["webhook-rate", &digest]),
                    self.keys.key(&["webhook-rest", &digest]),
                ],
                vec![
                    limit.sends.to_string(),
                    limit.window.as_millis().to_string(),
                    send_id.to_owned(),
                ],
            )
            .await?;
        Ok((wait_ms > 0).then(|| Duration::from_millis(wait_ms.unsigned_abs())))
    }

    /// Makes the target of `budget_key` rest for `rest` (a platform said so): every instance's
    /// next [`WebhookRateLimiter::take`] waits it out.
    pub async fn rest(&self, budget_key: &str, rest: Duration) -> Result<(), fred::error::Error> {
        let ms = i64::try_from(rest.as_millis()).unwrap_or(i64::MAX).max(1);
        let _: () = self
            .pool
            .set(
                self.keys.key(&["webhook-rest", &digest(budget_key)]),
                "1",
                Some(fred::types::Expiration::PX(ms)),
                None,
                false,
            )
            .await?;
        Ok(())
    }
}

/// The URL holds the robot's key: only a digest of it names its window.
fn digest(budget_key: &str) -> String {
    hex::encode(&Sha256::digest(budget_key.as_bytes())[..16])
}

/// The budget a target keeps: its own, else `WEBHOOK_RATE_LIMIT`, else its platform's; `None`
/// for no limit.
pub fn effective_budget(own: Option<RateLimit>, configured: SendBudget, channel: &dyn Channel) -> Option<RateLimit> {
    own.or(match configured {
        SendBudget::PlatformDefault => channel.send_budget(),
        SendBudget::Limit(limit) => Some(limit),
        SendBudget::Unlimited => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_window_lets_its_sends_through_then_says_how_long_to_wait() {
        let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
        let pool = Builder::from_config(Config::from_url(&url).unwrap())
            .build_pool(1)
            .unwrap();
        pool.init().await.expect("Redis");
        let keys = Keys::new(format!("hn_test_rate_{}:", uuid::Uuid::new_v4().simple()));
        let limit = RateLimit {
            sends: 3,
            window: Duration::from_millis(1500),
        };
        let limiter = WebhookRateLimiter::new(pool, keys);
        let robot = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a";
        let started = std::time::Instant::now();
        for i in 0..3 {
            assert_eq!(
                limiter.take(robot, &format!("s{i}"), Some(limit)).await.unwrap(),
                None,
                "send {i}"
            );
        }
        let wait = limiter
            .take(robot, "s3", Some(limit))
            .await
            .unwrap()
            .expect("over budget");
        // Until the first send leaves the window: no more than the window, no less than what is
        // left of it however long the sends took (the Redis clock counts whole ms).
        let slack = Duration::from_millis(2);
        assert!(wait <= limit.window, "{wait:?}");
        assert!(wait + started.elapsed() + slack >= limit.window, "{wait:?}");
        // Another robot (another key) has a window of its own.
        let other = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=b";
        assert_eq!(limiter.take(other, "o1", Some(limit)).await.unwrap(), None);
        tokio::time::sleep(wait + Duration::from_millis(20)).await;
        assert_eq!(
            limiter.take(robot, "s4", Some(limit)).await.unwrap(),
            None,
            "a place freed up"
        );
        // A target told to rest waits, with room in its window, until the rest is over.
        let resting_since = std::time::Instant::now();
        limiter.rest(other, Duration::from_millis(700)).await.unwrap();
        let rest = limiter.take(other, "o2", Some(limit)).await.unwrap().expect("resting");
        assert!(rest <= Duration::from_millis(700), "{rest:?}");
        assert!(
            rest + resting_since.elapsed() + slack >= Duration::from_millis(700),
            "{rest:?}"
        );
        let third = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=c";
        assert_eq!(
            limiter.take(third, "c1", Some(limit)).await.unwrap(),
            None,
            "others do not rest"
        );
        tokio::time::sleep(rest + Duration::from_millis(20)).await;
        assert_eq!(limiter.take(other, "o3", Some(limit)).await.unwrap(), None, "rested");
    }

    #[test]
    fn a_targets_own_budget_comes_first_then_the_configured_then_the_platforms() {
        let own = RateLimit {
            sends: 5,
            window: Duration::from_secs(10),
        };
        let configured = RateLimit {
            sends: 50,
            window: Duration::from_secs(60),
        };
        let wecom = &crate::channels::wecom::WeCom;
        let custom = &crate::channels::custom::Custom;
        assert_eq!(
            effective_budget(Some(own), SendBudget::Limit(configured), wecom),
            Some(own)
        );
        assert_eq!(effective_budget(Some(own), SendBudget::Unlimited, wecom), Some(own));
        assert_eq!(
            effective_budget(None, SendBudget::Limit(configured), custom),
            Some(configured)
        );
        assert_eq!(effective_budget(None, SendBudget::Unlimited, wecom), None);
        assert_eq!(
            effective_budget(None, SendBudget::PlatformDefault, wecom),
            Some(crate::channels::wecom::WECOM_SEND_BUDGET)
        );
        assert_eq!(effective_budget(None, SendBudget::PlatformDefault, custom), None);
    }
}
