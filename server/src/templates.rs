//! Message templates: pure functions from data to WeCom markdown, tested byte for byte against
//! the examples of the specification.

/// 测试推送功能: the message sent by 测试连接.
pub fn test_message() -> String {
    "**测试消息**\n\n企业微信机器人连接成功!".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_message_is_the_spec_text() {
        assert_eq!(
            test_message().as_bytes(),
            "**测试消息**\n\n企业微信机器人连接成功!".as_bytes()
        );
    }
}
