//! Email through a real SMTP server (aiosmtpd on loopback), read back from its Maildir.

use baton_channels::email::{
    Email, Mailer, Security, SendError, SmtpConfig, agent_reply, handoff_notification,
    parse_case_reference, transcript,
};
use baton_channels::testing::SmtpServer;

const FROM: &str = "Acme Support <support@acme.test>";

#[tokio::test]
async fn agent_reply_arrives_with_subject_body_and_threading_headers() {
    let Some(server) = SmtpServer::start_or_skip(module_path!()) else {
        return;
    };
    let mailer = Mailer::new(server.config(FROM)).unwrap();

    let mut email = agent_reply(
        "John Doe <john@customer.test>",
        "John",
        "Sara",
        "Your order left our warehouse this morning.\nTracking: 1Z999",
        "ABC123",
    );
    email.message_id = Some("reply-1@baton.test".into());
    email.in_reply_to = Some("<customer-msg-7@customer.test>".into());
    email.references = Some("<customer-msg-1@customer.test> customer-msg-7@customer.test".into());
    email.reply_to = Some("case-abc123@support.acme.test".into());
    mailer.send(&email).await.unwrap();

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.subject, "[Case #ABC123] Reply from Sara");
    assert_eq!(
        parse_case_reference(&format!("Re: {}", m.subject)).as_deref(),
        Some("ABC123")
    );
    assert_eq!(m.from, "support@acme.test");
    assert_eq!(m.to, ["john@customer.test"]);
    assert!(
        m.body_text.contains("Hi John,") && m.body_text.contains("Tracking: 1Z999"),
        "{}",
        m.body_text
    );
    let html = m.body_html.as_deref().expect("an HTML alternative");
    assert!(html.contains("this morning.<br>"), "{html}");
    assert_eq!(
        m.header("In-Reply-To"),
        Some("<customer-msg-7@customer.test>")
    );
    assert_eq!(
        m.header("References"),
        Some("<customer-msg-1@customer.test> <customer-msg-7@customer.test>")
    );
    assert_eq!(m.header("Message-ID"), Some("<reply-1@baton.test>"));
    assert_eq!(m.header("Reply-To"), Some("case-abc123@support.acme.test"));
}

#[tokio::test]
async fn notifications_and_transcripts_arrive_in_order() {
    let Some(server) = SmtpServer::start_or_skip(module_path!()) else {
        return;
    };
    let mailer = Mailer::new(server.config(FROM)).unwrap();

    let handoff = handoff_notification(
        "sara@acme.test",
        "Sara",
        "John Doe",
        "asked for a human",
        Some("Order #1234 is late."),
        "https://baton.acme.test/console/c/1",
    );
    mailer.send(&handoff).await.unwrap();
    let t = transcript(
        "john@customer.test",
        "John — ünïcödé",
        "ABC123",
        &[
            ("John", "2025-06-01T10:00:00Z", "Where is my order?"),
            ("Sara (agent)", "2025-06-01T10:01:00Z", "It left today. <3"),
        ],
    );
    mailer.send(&t).await.unwrap();
    let plain = Email {
        to: "x@y.test".into(),
        subject: "Plain only".into(),
        text: "Just text.".into(),
        ..Email::default()
    };
    mailer.send(&plain).await.unwrap();

    let messages = server.messages();
    let subjects: Vec<&str> = messages.iter().map(|m| m.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "New handoff: John Doe",
            "[Case #ABC123] Transcript of your conversation",
            "Plain only"
        ]
    );
    assert!(
        messages[0]
            .body_text
            .contains("https://baton.acme.test/console/c/1")
    );
    assert_eq!(messages[0].to, ["sara@acme.test"]);
    assert!(
        messages[1].body_text.contains("Hi John — ünïcödé,"),
        "{}",
        messages[1].body_text
    );
    assert!(
        messages[1]
            .body_text
            .contains("[2025-06-01T10:01:00Z] Sara (agent):\nIt left today. <3")
    );
    assert!(
        messages[1]
            .body_html
            .as_deref()
            .unwrap()
            .contains("It left today. &lt;3")
    );
    assert_eq!(messages[2].body_text.trim_end(), "Just text.");
    assert_eq!(messages[2].body_html, None);
    assert!(
        messages[2].header("Message-ID").is_some(),
        "a Message-ID is generated"
    );
}

#[tokio::test]
async fn bad_addresses_are_not_retryable_and_send_nothing() {
    let Some(server) = SmtpServer::start_or_skip(module_path!()) else {
        return;
    };
    let mailer = Mailer::new(server.config(FROM)).unwrap();
    let email = Email {
        to: "not an address".into(),
        subject: "x".into(),
        text: "x".into(),
        ..Email::default()
    };
    let e = mailer.send(&email).await.unwrap_err();
    assert!(
        matches!(e, SendError::Invalid(_)) && !e.retryable(),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .contains("to \"not an address\" is not an email address"),
        "{e}"
    );
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        security: Security::None,
        username: None,
        password: None,
        from: FROM.into(),
    };
    let mailer = Mailer::new(config).unwrap();
    let email = Email {
        to: "a@b.test".into(),
        subject: "x".into(),
        text: "x".into(),
        ..Email::default()
    };
    let e = mailer.send(&email).await.unwrap_err();
    assert!(
        matches!(e, SendError::Connection(_)) && e.retryable(),
        "{e:?}"
    );
}

#[test]
fn mailer_refuses_invalid_configuration() {
    let config = SmtpConfig {
        host: "smtp.example.com".into(),
        port: None,
        security: Security::None,
        username: Some("baton".into()),
        password: Some("hunter2".into()),
        from: FROM.into(),
    };
    let e = Mailer::new(config).unwrap_err();
    assert_eq!(
        e.to_string(),
        "smtp.security = \"none\" would send the password in clear to smtp.example.com: use \"starttls\" or \"tls\""
    );
}

#[test]
fn tls_mailers_build_without_connecting() {
    for security in [Security::StartTls, Security::Tls] {
        let config = SmtpConfig {
            host: "smtp.example.com".into(),
            port: None,
            security,
            username: Some("baton".into()),
            password: Some("hunter2".into()),
            from: FROM.into(),
        };
        let mailer = Mailer::new(config).unwrap();
        assert!(!format!("{mailer:?}").contains("hunter2"));
    }
}

#[tokio::test]
async fn smtp_4xx_is_retryable_and_5xx_is_not() {
    let Some(server) = SmtpServer::start_or_skip(module_path!()) else {
        return;
    };
    let mailer = Mailer::new(server.config(FROM)).unwrap();
    let to = |to: &str| Email {
        to: to.into(),
        subject: "x".into(),
        text: "x".into(),
        ..Email::default()
    };

    let e = mailer
        .send(&to("tempfail@customer.test"))
        .await
        .unwrap_err();
    match &e {
        SendError::Transient { code, message } => {
            assert_eq!(code, "451");
            assert!(message.contains("Mailbox busy"), "{message}");
        }
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert!(e.retryable());

    let e = mailer.send(&to("reject@customer.test")).await.unwrap_err();
    match &e {
        SendError::Permanent { code, message } => {
            assert_eq!(code, "550");
            assert!(message.contains("No such user"), "{message}");
        }
        other => panic!("expected a permanent error, got {other:?}"),
    }
    assert!(!e.retryable());

    // The mailer still works afterwards.
    mailer.send(&to("fine@customer.test")).await.unwrap();
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].to, ["fine@customer.test"]);
}
