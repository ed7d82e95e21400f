//! WhatsApp: handshake, signatures, webhook payloads as Meta documents them, and the Graph API
//! client against a recording HTTP server on loopback.

use baton_channels::testing::{RecordingServer, Reply};
use baton_channels::whatsapp::{
    Client, Content, DeliveryStatus, HandshakeError, Inbound, ParseError, SendError, parse_webhook,
    signature_header, verify_handshake, verify_signature,
};
use serde_json::json;
use std::time::Duration;

const SECRET: &str = "app-secret-123";

/// Wraps one `value` (messages or statuses) in the documented webhook envelope.
fn envelope(value: serde_json::Value) -> Vec<u8> {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] =
        json!({"display_phone_number": "15550783881", "phone_number_id": "106540352242922"});
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    })
    .to_string()
    .into_bytes()
}

fn contacts() -> serde_json::Value {
    json!([{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}])
}

// --- handshake and signature ------------------------------------------------------------------

#[test]
fn handshake_echoes_the_challenge() {
    assert_eq!(
        verify_handshake(Some("subscribe"), Some("tok"), Some("1158201444"), "tok"),
        Ok("1158201444".to_owned())
    );
    assert_eq!(
        verify_handshake(Some("unsubscribe"), Some("tok"), Some("1"), "tok"),
        Err(HandshakeError::WrongMode(Some("unsubscribe".into())))
    );
    assert_eq!(
        verify_handshake(None, Some("tok"), Some("1"), "tok"),
        Err(HandshakeError::WrongMode(None))
    );
    assert_eq!(
        verify_handshake(Some("subscribe"), Some("nope"), Some("1"), "tok"),
        Err(HandshakeError::TokenMismatch)
    );
    assert_eq!(
        verify_handshake(Some("subscribe"), None, Some("1"), "tok"),
        Err(HandshakeError::TokenMismatch)
    );
    assert_eq!(
        verify_handshake(Some("subscribe"), Some(""), Some("1"), ""),
        Err(HandshakeError::TokenMismatch),
        "an unconfigured token accepts nothing"
    );
    assert_eq!(
        verify_handshake(Some("subscribe"), Some("tok"), None, "tok"),
        Err(HandshakeError::MissingChallenge)
    );
}

#[test]
fn signature_good_bad_and_missing() {
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    let header = signature_header(SECRET, body);
    // Independent check of the format: HMAC-SHA256 hex, 64 characters after the prefix.
    assert!(
        header.starts_with("sha256=") && header.len() == 7 + 64,
        "{header}"
    );
    assert!(verify_signature(SECRET, body, Some(&header)));
    assert!(
        verify_signature(
            SECRET,
            body,
            Some(&header.to_uppercase().replace("SHA256=", "sha256="))
        ),
        "hex case"
    );

    assert!(!verify_signature("other-secret", body, Some(&header)));
    assert!(!verify_signature(
        SECRET,
        b"{\"tampered\":1}",
        Some(&header)
    ));
    assert!(!verify_signature(SECRET, body, None));
    assert!(!verify_signature(SECRET, body, Some("")));
    assert!(
        !verify_signature(SECRET, body, Some(header.trim_start_matches("sha256="))),
        "no prefix"
    );
    assert!(!verify_signature(SECRET, body, Some("sha256=zz")));
    assert!(
        !verify_signature(SECRET, body, Some(&header[..header.len() - 2])),
        "truncated"
    );
    assert!(
        !verify_signature("", body, Some(&signature_header("", body))),
        "no secret configured"
    );
}

#[test]
fn signature_matches_a_known_vector() {
    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    assert!(verify_signature(
        "Jefe",
        b"what do ya want for nothing?",
        Some("sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    ));
}

// --- parsing ----------------------------------------------------------------------------------

#[test]
fn parses_a_text_message() {
    let body = envelope(json!({
        "contacts": contacts(),
        "messages": [{
            "from": "16505551234",
            "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            "timestamp": "1749416383",
            "type": "text",
            "text": {"body": "Does it come in another color?"},
        }],
    }));
    assert_eq!(
        parse_webhook(&body).unwrap(),
        vec![Inbound::Message {
            phone_number_id: "106540352242922".into(),
            from: "16505551234".into(),
            profile_name: Some("Sheena Nelson".into()),
            id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=".into(),
            timestamp: 1_749_416_383,
            content: Content::Text("Does it come in another color?".into()),
        }]
    );
}

#[test]
fn parses_interactive_button_and_list_replies() {
    let message = |interactive: serde_json::Value| {
        envelope(json!({
            "contacts": contacts(),
            "messages": [{
                "context": {"from": "15550783881", "id": "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="},
                "from": "16505551234",
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
                "timestamp": "1739321024",
                "type": "interactive",
                "interactive": interactive,
            }],
        }))
    };
    let content = |body: &[u8]| match parse_webhook(body).unwrap().remove(0) {
        Inbound::Message { content, .. } => content,
        other => panic!("expected a message, got {other:?}"),
    };

    let button = message(
        json!({"type": "button_reply", "button_reply": {"id": "cancel-button", "title": "Cancel"}}),
    );
    assert_eq!(
        content(&button),
        Content::Button {
            id: "cancel-button".into(),
            title: "Cancel".into()
        }
    );
    let list = message(json!({
        "type": "list_reply",
        "list_reply": {"id": "priority-express", "title": "Express Shipping", "description": "Next Day to 2 Days"},
    }));
    assert_eq!(
        content(&list),
        Content::Button {
            id: "priority-express".into(),
            title: "Express Shipping".into()
        }
    );
    let flow = message(json!({"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}}));
    assert_eq!(
        content(&flow),
        Content::Unsupported {
            kind: "interactive.nfm_reply".into()
        }
    );
}

#[test]
fn parses_a_template_quick_reply_button() {
    let body = envelope(json!({
        "contacts": contacts(),
        "messages": [{
            "context": {"from": "15550783881", "id": "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="},
            "from": "16505551234",
            "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=",
            "timestamp": "1739321024",
            "type": "button",
            "button": {"payload": "unsubscribe-payload", "text": "Unsubscribe"},
        }],
    }));
    match parse_webhook(&body).unwrap().as_slice() {
        [
            Inbound::Message {
                content, timestamp, ..
            },
        ] => {
            assert_eq!(
                content,
                &Content::Button {
                    id: "unsubscribe-payload".into(),
                    title: "Unsubscribe".into()
                }
            );
            assert_eq!(*timestamp, 1_739_321_024);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn other_message_types_are_unsupported_not_errors() {
    let body = envelope(json!({
        "contacts": contacts(),
        "messages": [{
            "from": "16505551234", "id": "wamid.img", "timestamp": "1739321024", "type": "image",
            "image": {"caption": "x", "mime_type": "image/jpeg", "sha256": "abc", "id": "1234"},
        }],
    }));
    match parse_webhook(&body).unwrap().as_slice() {
        [Inbound::Message { content, .. }] => {
            assert_eq!(
                content,
                &Content::Unsupported {
                    kind: "image".into()
                }
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn parses_statuses_including_failures() {
    let body = envelope(json!({
        "statuses": [
            {
                "id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA",
                "status": "delivered",
                "timestamp": "1750263773",
                "recipient_id": "16505551234",
                "conversation": {"id": "6ceb9d929c1a1e3b7e8c1d2a", "origin": {"type": "service"}},
                "pricing": {"billable": true, "pricing_model": "PMP", "category": "service", "type": "regular"},
            },
            {
                "id": "wamid.HBgMOTE4ODI2NzE5NjM1FQIAERgSNjQxNTQ1NEVCOEJEMUE0QjlEAA==",
                "status": "failed",
                "timestamp": "1683871427",
                "recipient_id": "16505551234",
                "errors": [{
                    "code": 131047,
                    "title": "Re-engagement message",
                    "message": "Re-engagement message",
                    "error_data": {"details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                }],
            },
            {"id": "wamid.s", "status": "sent", "timestamp": "1750263770", "recipient_id": "16505551234"},
            {"id": "wamid.r", "status": "read", "timestamp": "1750263790", "recipient_id": "16505551234"},
        ],
    }));
    let events = parse_webhook(&body).unwrap();
    assert_eq!(events.len(), 4);
    assert_eq!(
        events[0],
        Inbound::Status {
            phone_number_id: "106540352242922".into(),
            id: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA".into(),
            status: DeliveryStatus::Delivered,
            recipient_id: "16505551234".into(),
            timestamp: 1_750_263_773,
            error_code: None,
            error: None,
        }
    );
    match &events[1] {
        Inbound::Status {
            status,
            error_code,
            error,
            ..
        } => {
            assert_eq!(status, &DeliveryStatus::Failed);
            assert_eq!(*error_code, Some(131_047));
            assert_eq!(
                error.as_deref(),
                Some(
                    "131047: Re-engagement message — Message failed to send because more than 24 hours have passed since the customer last replied to this number."
                )
            );
        }
        other => panic!("{other:?}"),
    }
    let statuses: Vec<_> = events
        .iter()
        .map(|e| match e {
            Inbound::Status { status, .. } => status.clone(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        statuses,
        [
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
            DeliveryStatus::Sent,
            DeliveryStatus::Read
        ]
    );
}

#[test]
fn profile_name_matches_the_sender_among_several_contacts() {
    let body = envelope(json!({
        "contacts": [
            {"profile": {"name": "Other"}, "wa_id": "111"},
            {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"},
        ],
        "messages": [
            {"from": "16505551234", "id": "a", "timestamp": 1, "type": "text", "text": {"body": "hi"}},
            {"from": "999", "id": "b", "timestamp": "2", "type": "text", "text": {"body": "yo"}},
        ],
    }));
    let names: Vec<_> = parse_webhook(&body)
        .unwrap()
        .into_iter()
        .map(|e| match e {
            Inbound::Message { profile_name, .. } => profile_name,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(names, [Some("Sheena Nelson".to_owned()), None]);
}

#[test]
fn other_fields_and_empty_changes_yield_nothing() {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [
            {"field": "message_template_status_update", "value": {"event": "APPROVED", "message_template_id": 1}},
            {"field": "messages", "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1"}}},
        ]}],
        "unknown_top_level": true,
    });
    assert_eq!(parse_webhook(body.to_string().as_bytes()).unwrap(), vec![]);
}

#[test]
fn malformed_payloads_are_clear_errors() {
    let e = parse_webhook(b"{not json").unwrap_err();
    assert!(matches!(e, ParseError::Json(_)));
    assert!(
        e.to_string()
            .starts_with("invalid WhatsApp webhook payload: key must be a string"),
        "{e}"
    );

    let e = parse_webhook(br#"{"object":"page","entry":[]}"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        "not a WhatsApp webhook: `object` is \"page\", expected \"whatsapp_business_account\""
    );

    let e = parse_webhook(br#"{"entry":[]}"#).unwrap_err();
    assert!(e.to_string().contains("missing field `object`"), "{e}");

    let body = envelope(
        json!({"messages": [{"id": "x", "timestamp": "1", "type": "text", "text": {"body": "hi"}}]}),
    );
    let e = parse_webhook(&body).unwrap_err();
    assert!(
        e.to_string()
            .contains("entry[0].changes[0].value: missing field `from`"),
        "{e}"
    );

    let body = envelope(
        json!({"messages": [{"from": "1", "id": "x", "timestamp": "soon", "type": "text", "text": {"body": "hi"}}]}),
    );
    let e = parse_webhook(&body).unwrap_err();
    assert!(
        e.to_string().contains(
            "entry[0].changes[0].value.messages[0].timestamp: \"soon\" is not Unix seconds"
        ),
        "{e}"
    );

    let body =
        envelope(json!({"messages": [{"from": "1", "id": "x", "timestamp": "1", "type": "text"}]}));
    let e = parse_webhook(&body).unwrap_err();
    assert!(
        e.to_string()
            .contains("type is \"text\" but text.body is missing"),
        "{e}"
    );

    let mut body: serde_json::Value = serde_json::from_slice(&envelope(json!({"statuses": [
        {"id": "x", "status": "sent", "timestamp": "1", "recipient_id": "2"}
    ]})))
    .unwrap();
    body["entry"][0]["changes"][0]["value"]
        .as_object_mut()
        .unwrap()
        .remove("metadata");
    let e = parse_webhook(body.to_string().as_bytes()).unwrap_err();
    assert!(
        e.to_string().contains("missing metadata.phone_number_id"),
        "{e}"
    );
}

// --- client -----------------------------------------------------------------------------------

fn sent(id: &str) -> Reply {
    Reply::json(
        200,
        &json!({
            "messaging_product": "whatsapp",
            "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
            "messages": [{"id": id}],
        }),
    )
}

fn graph_error(status: u16, code: i64, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": format!("details of {code}")},
            "error_subcode": 2_494_010,
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
        }}),
    )
}

fn client(server: &RecordingServer) -> Client {
    Client::new(
        baton_channels::http_client(),
        "106540352242922",
        "EAAGtoken",
    )
    .with_base_url(server.base_url())
    .with_api_version("v23.0")
}

#[tokio::test]
async fn sends_text_buttons_and_templates_with_bearer_auth() {
    let server =
        RecordingServer::start(vec![sent("wamid.1"), sent("wamid.2"), sent("wamid.3")]).await;
    let client = client(&server);

    assert_eq!(
        client
            .send_text("16505551234", "Hi John, Sara here.")
            .await
            .unwrap(),
        "wamid.1"
    );
    assert_eq!(
        client
            .send_buttons(
                "16505551234",
                "Did that help?",
                &[("yes", "Yes, thanks"), ("no", "No")]
            )
            .await
            .unwrap(),
        "wamid.2"
    );
    assert_eq!(
        client
            .send_template("16505551234", "hello_world", "en_US")
            .await
            .unwrap(),
        "wamid.3"
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(r.method, "POST");
        assert_eq!(r.path, "/v23.0/106540352242922/messages");
        assert_eq!(r.header("authorization"), Some("Bearer EAAGtoken"));
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    assert_eq!(
        requests[0].json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "text",
            "text": {"preview_url": false, "body": "Hi John, Sara here."},
        })
    );
    assert_eq!(
        requests[1].json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "Did that help?"},
                "action": {"buttons": [
                    {"type": "reply", "reply": {"id": "yes", "title": "Yes, thanks"}},
                    {"type": "reply", "reply": {"id": "no", "title": "No"}},
                ]},
            },
        })
    );
    assert_eq!(
        requests[2].json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "template",
            "template": {"name": "hello_world", "language": {"code": "en_US"}},
        })
    );
}

#[tokio::test]
async fn invalid_buttons_are_refused_before_sending() {
    let server = RecordingServer::start(vec![sent("wamid.never")]).await;
    let client = client(&server);
    let four = [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")];
    let e = client
        .send_buttons("1", "Pick one", &four)
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::Invalid(_)) && !e.retryable(), "{e}");
    let e = client
        .send_buttons("1", "Pick one", &[("a", "This title is far too long")])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("more than WhatsApp's 20"), "{e}");
    let e = client.send_text("1", "   ").await.unwrap_err();
    assert!(matches!(e, SendError::Invalid(_)));
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn outside_the_service_window_is_its_own_error() {
    let server = RecordingServer::start(vec![graph_error(
        400,
        131_047,
        "(#131047) Re-engagement message",
    )])
    .await;
    let e = client(&server)
        .send_text("16505551234", "hello?")
        .await
        .unwrap_err();
    assert!(matches!(e, SendError::OutsideServiceWindow(_)), "{e:?}");
    assert!(!e.retryable());
    assert_eq!(e.code(), Some(131_047));
    let graph = e.graph_error().unwrap();
    assert_eq!(graph.fbtrace_id.as_deref(), Some("Az8or2yhqkZfEZ-_4Qn_Bam"));
    assert_eq!(graph.details.as_deref(), Some("details of 131047"));
    assert!(
        e.to_string().contains("(#131047) Re-engagement message"),
        "{e}"
    );
}

#[tokio::test]
async fn error_mapping_and_retry_classification() {
    let server = RecordingServer::start(vec![
        graph_error(400, 130_429, "(#130429) Rate limit hit"),
        graph_error(400, 131_048, "(#131048) Spam rate limit hit"),
        graph_error(400, 80_007, "(#80007) Rate limit issues"),
        Reply::new(429, "").header("retry-after", "12"),
        Reply::new(503, "<html>Service Unavailable</html>"),
        graph_error(500, 1, "An unknown error occurred"),
        graph_error(
            401,
            190,
            "Error validating access token: Session has expired",
        ),
        Reply::new(401, ""),
        graph_error(400, 131_026, "(#131026) Message Undeliverable"),
        graph_error(400, 100, "(#100) Invalid parameter"),
        Reply::json(200, &json!({"messaging_product": "whatsapp"})),
    ])
    .await;
    let client = client(&server);
    let mut results = Vec::new();
    for _ in 0..11 {
        results.push(client.send_text("16505551234", "hi").await.unwrap_err());
    }
    let summary: Vec<(&str, bool)> = results
        .iter()
        .map(|e| {
            let kind = match e {
                SendError::RateLimited { .. } => "rate_limited",
                SendError::Unavailable { .. } => "unavailable",
                SendError::Unauthorized { .. } => "unauthorized",
                SendError::Rejected { .. } => "rejected",
                SendError::InvalidResponse(_) => "invalid_response",
                other => panic!("unexpected {other:?}"),
            };
            (kind, e.retryable())
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("rate_limited", true),
            ("rate_limited", true),
            ("rate_limited", true),
            ("rate_limited", true),
            ("unavailable", true),
            ("unavailable", true),
            ("unauthorized", false),
            ("unauthorized", false),
            ("rejected", false),
            ("rejected", false),
            ("invalid_response", false),
        ]
    );
    assert_eq!(results[3].retry_after(), Some(Duration::from_secs(12)));
    assert!(
        results[8]
            .to_string()
            .contains("(#131026) Message Undeliverable"),
        "{}",
        results[8]
    );
    assert!(
        results[8]
            .to_string()
            .contains("code 131026, subcode 2494010"),
        "{}",
        results[8]
    );
}

#[tokio::test]
async fn network_errors_are_retryable() {
    // A port bound but never listened on: connections to it are refused, and while the socket
    // is held no other test's server can be given the port (a port that was merely free a
    // moment ago once went to a fake Graph API of a test running beside this one).
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let client = Client::new(baton_channels::http_client(), "1", "t")
        .with_base_url(format!("http://127.0.0.1:{port}"));
    let e = client.send_text("16505551234", "hi").await.unwrap_err();
    assert!(matches!(e, SendError::Network(_)), "{e:?}");
    assert!(e.retryable());
    drop(socket);
}

#[test]
fn debug_hides_the_token() {
    let client = Client::new(reqwest::Client::new(), "1", "EAAGsecret");
    let text = format!("{client:?}");
    assert!(
        !text.contains("EAAGsecret") && text.contains("<redacted>"),
        "{text}"
    );
}
