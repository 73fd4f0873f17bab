//! The rules of webhook endpoints and deliveries.

use super::*;

#[test]
fn urls_are_https_unless_http_is_allowed() {
    let url = WebhookUrl::parse(" https://hooks.example.com:8443/chat?x=1 ", false).unwrap();
    assert_eq!(url.as_str(), "https://hooks.example.com:8443/chat?x=1");
    assert_eq!((url.host(), url.port()), ("hooks.example.com", 8443));
    assert_eq!(
        WebhookUrl::parse("https://[::1]/h", false).unwrap().host(),
        "::1"
    );
    assert_eq!(
        WebhookUrl::parse("http://a.example/", true).unwrap().port(),
        80
    );
    for bad in [
        "http://a.example/",
        "ftp://a.example/",
        "a.example/hook",
        "https://user:pw@a.example/",
        "https:///nohost",
        "https://a.example:0/",
        "https://a.example:99999/",
        "https://a.example/\u{0}",
        "https://a.example/ x",
    ] {
        assert_eq!(
            WebhookUrl::parse(bad, false).unwrap_err().field(),
            "url",
            "{bad}"
        );
    }
    assert!(WebhookUrl::parse(&format!("https://a.example/{}", "x".repeat(2048)), false).is_err());
}

#[test]
fn private_loopback_and_link_local_addresses_are_not_public() {
    for private in [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ] {
        assert!(!is_public(private.parse().unwrap()), "{private}");
    }
    for public in [
        "93.184.216.34",
        "8.8.8.8",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
    ] {
        assert!(is_public(public.parse().unwrap()), "{public}");
    }
}

#[test]
fn event_filters_take_all_or_the_listed_types() {
    assert_eq!(
        EventFilter::parse(&["*".to_owned()]).unwrap(),
        EventFilter::All
    );
    let some = EventFilter::parse(&["new_message".to_owned(), "new_message".to_owned()]).unwrap();
    assert!(some.takes(EventKind::NewMessage));
    assert!(!some.takes(EventKind::SessionClosed));
    assert_eq!(some.names(), ["new_message"]);
    assert!(EventFilter::parse(&[]).is_err());
    assert!(EventFilter::parse(&["typing".to_owned()]).is_err());
}

#[test]
fn answers_and_retries_follow_standard_webhooks() {
    assert_eq!(Outcome::of(Some(204)), Outcome::Delivered);
    assert_eq!(Outcome::of(Some(410)), Outcome::Gone);
    assert_eq!(Outcome::of(Some(500)), Outcome::Failed);
    assert_eq!(Outcome::of(Some(301)), Outcome::Failed);
    assert_eq!(Outcome::of(None), Outcome::Failed);

    let policy = RetryPolicy::default();
    assert_eq!(
        policy.after_failure(1, 0.0, None),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        policy.after_failure(2, 0.5, None),
        Some(Duration::from_secs(315))
    );
    assert_eq!(
        policy.after_failure(1, 0.0, Some(Duration::from_secs(60))),
        Some(Duration::from_secs(60))
    );
    assert_eq!(
        policy.after_failure(7, 0.0, None),
        Some(Duration::from_secs(36_000))
    );
    // After the seventh retry's failure: disabled.
    assert_eq!(policy.after_failure(8, 0.0, None), None);
    assert_eq!(policy.after_failure(0, 0.0, None), None);
}
