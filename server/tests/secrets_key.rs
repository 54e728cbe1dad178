//! `SECRETS_KEY`: the database remembers the key its secrets are sealed with; a server started
//! with another key stops with both key ids named, and `SECRETS_KEY_PREVIOUS` rotates.
#![allow(clippy::unwrap_used)] // a panic is the test's failure report

mod common;

use common::process::ServerProcess;
use common::{redis_url, TestApp, SECRETS_KEY};
use server::channels::targets::PushTargets;
use server::platform::encryption::{check_key, KeyCheck, KeyCheckError, SecretsKey, SecretsKeys};

fn key(text: &str) -> SecretsKey {
    SecretsKey::parse(text).unwrap()
}

async fn stored_key_id(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT key_id FROM secrets_key_check")
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_first_key_is_adopted_and_another_is_refused() {
    let app = TestApp::spawn().await;
    // The test app started with SECRETS_KEY: the database took it.
    assert_eq!(stored_key_id(&app).await, key(SECRETS_KEY).id());
    let same = SecretsKeys {
        current: key(SECRETS_KEY),
        previous: None,
    };
    assert_eq!(check_key(&app.db, &same).await.unwrap(), KeyCheck::Same);

    let other = key(&SecretsKey::generate());
    let err = check_key(
        &app.db,
        &SecretsKeys {
            current: other.clone(),
            previous: None,
        },
    )
    .await
    .unwrap_err();
    match &err {
        KeyCheckError::WrongKey { given, expected, .. } => {
            assert_eq!(given, other.id());
            assert_eq!(expected, key(SECRETS_KEY).id());
        }
        e => panic!("expected WrongKey, got {e:?}"),
    }
    assert_eq!(
        stored_key_id(&app).await,
        key(SECRETS_KEY).id(),
        "a refused key changes nothing"
    );
}

#[tokio::test]
async fn a_server_with_another_key_does_not_start_and_says_why() {
    let app = TestApp::spawn().await;
    let other = SecretsKey::generate();
    let (status, log) = ServerProcess::refused(&app, &redis_url(), &[("SECRETS_KEY", &other)]).await;
    assert!(!status.success(), "{log}");
    assert!(
        log.contains("SECRETS_KEY is not the key this database's secrets are sealed with"),
        "{log}"
    );
    assert!(
        log.contains(key(&other).id()) && log.contains(key(SECRETS_KEY).id()),
        "{log}"
    );
    assert!(
        !log.contains(&other) && !log.contains(SECRETS_KEY),
        "no key in the log: {log}"
    );

    let (status, log) = ServerProcess::refused(&app, &redis_url(), &[("SECRETS_KEY", "")]).await;
    assert!(!status.success());
    assert!(log.contains("SECRETS_KEY is not set"), "{log}");
    let (status, log) = ServerProcess::refused(&app, &redis_url(), &[("SECRETS_KEY", "dG9vIHNob3J0")]).await;
    assert!(!status.success());
    assert!(log.contains("SECRETS_KEY is invalid: must be 32 bytes"), "{log}");
}

#[tokio::test]
async fn the_previous_key_rotates_to_the_new_one_once() {
    let app = TestApp::spawn().await;
    let url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=rotate-me-123";
    let target = app.state.targets.wecom(url).await.unwrap();
    let new = SecretsKey::generate();
    let mut server = ServerProcess::start(
        &app,
        &redis_url(),
        &[("SECRETS_KEY", &new), ("SECRETS_KEY_PREVIOUS", SECRETS_KEY)],
    )
    .await;
    assert_eq!(stored_key_id(&app).await, key(&new).id());
    assert!(server.log_text().contains("sealed again under the new SECRETS_KEY"));
    server.terminate().await;

    // The old key no longer opens this database; the new one does, without the old.
    let (status, log) = ServerProcess::refused(&app, &redis_url(), &[]).await;
    assert!(!status.success(), "{log}");
    assert!(log.contains(key(&new).id()), "{log}");
    let rotated = SecretsKeys {
        current: key(&new),
        previous: Some(key(SECRETS_KEY)),
    };
    assert_eq!(check_key(&app.db, &rotated).await.unwrap(), KeyCheck::Same);

    // The target's secrets were sealed again: they open under the new key only.
    let under = |k: &str| PushTargets::new(app.db.clone(), key(k));
    let opened = under(&new).get(target).await.unwrap().unwrap();
    assert_eq!(opened.destination.webhook_url(), Some(url));
    assert!(under(SECRETS_KEY).get(target).await.is_err());
}
