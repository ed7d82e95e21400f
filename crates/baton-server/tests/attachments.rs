//! Attachments: images and PDFs from widget customers and agents, stored in the database,
//! told by their content, served so that nothing in them runs, visible only to whoever may read
//! the conversation, and gone with the customer's erasure.

#[macro_use]
mod common;

use common::*;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::json;

on_both_backends!(attachments_from_both_sides);

/// A 1x1 PNG.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0,
    0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

const PDF: &[u8] =
    b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";

/// `s` percent-encoded for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Uploads `bytes` as `content_type` named `filename`.
async fn upload(
    app: &TestApp,
    conversation: &str,
    token: &str,
    filename: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Res {
    let resp = app
        .client
        .post(app.url(&format!(
            "/v1/conversations/{conversation}/attachments?filename={}",
            encode(filename)
        )))
        .bearer_auth(token)
        .header(CONTENT_TYPE, content_type)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    Res {
        status,
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        headers,
    }
}

/// Downloads an attachment: status, headers and bytes.
async fn download(
    app: &TestApp,
    conversation: &str,
    id: &str,
    token: &str,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let resp = app
        .client
        .get(app.url(&format!(
            "/v1/conversations/{conversation}/attachments/{id}"
        )))
        .bearer_auth(token)
        .send()
        .await
        .expect("download");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

async fn widget_conversation(app: &TestApp, key: &str, name: &str) -> (String, String) {
    let res = send(
        &app.client,
        Method::POST,
        &app.url("/v1/widget/conversations"),
        None,
        Some(json!({"public_key": key, "customer": {"name": name, "language": "en"}})),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.body);
    (
        res.body["conversation"]["id"].as_str().unwrap().to_string(),
        res.body["token"].as_str().unwrap().to_string(),
    )
}

async fn attachments_from_both_sides(backend: Backend) {
    let Some(app) = TestApp::spawn(backend, "attachments").await else {
        return;
    };
    let key = app
        .post("/v1/widget/key", &app.admin_token, json!({}))
        .await
        .body["public_key"]
        .as_str()
        .unwrap()
        .to_string();
    let (id, token) = widget_conversation(&app, &key, "Jo").await;
    let (other, other_token) = widget_conversation(&app, &key, "Max").await;
    let (_, sara) = app.person("sara@test.example", "agent").await;
    let (_, tom) = app.person("tom@test.example", "agent").await;
    for t in [&sara, &tom] {
        let res = app
            .put("/v1/agents/me/status", t, json!({"status": "busy"}))
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
    }

    // The customer sends a photo from the widget: a message whose text is the file's name.
    let sent = upload(
        &app,
        &id,
        &token,
        "../../photo of box.png",
        "image/png",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    let message = &sent.body["message"];
    assert_eq!(message["role"], "customer");
    assert_eq!(message["text"], "photo of box.png");
    let png = &message["attachment"];
    assert_eq!(png["filename"], "photo of box.png");
    assert_eq!(png["content_type"], "image/png");
    assert_eq!(png["size"], PNG.len());
    let png_id = png["id"].as_str().unwrap().to_string();
    assert!(png_id.starts_with("att_"), "{png_id}");
    // `application/octet-stream` leaves the type to the content.
    let again = upload(
        &app,
        &id,
        &token,
        "",
        "application/octet-stream",
        PNG.to_vec(),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.body["message"]["attachment"]["filename"], "file.png");

    // A retried upload with the same Idempotency-Key (a file larger than JSON bodies may be)
    // stores it once.
    let mut photo = PNG.to_vec();
    photo.resize(300 * 1024, 0);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let resp = app
            .client
            .post(app.url(&format!(
                "/v1/conversations/{id}/attachments?filename=big.png"
            )))
            .bearer_auth(&token)
            .header(CONTENT_TYPE, "image/png")
            .header("Idempotency-Key", "photo-1")
            .body(photo.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let body: serde_json::Value = resp.json().await.unwrap();
        ids.push(
            body["message"]["attachment"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(ids[0], ids[1]);
    // Another file under a key is a reuse, not the same request, even when the two differ
    // only in bytes that are not text (the fingerprint is of the bytes themselves).
    let upload_keyed = |file: Vec<u8>| {
        let app = &app;
        let token = token.clone();
        let id = id.clone();
        async move {
            let resp = app
                .client
                .post(app.url(&format!(
                    "/v1/conversations/{id}/attachments?filename=odd.png"
                )))
                .bearer_auth(&token)
                .header(CONTENT_TYPE, "image/png")
                .header("Idempotency-Key", "photo-2")
                .body(file)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json().await.unwrap();
            (status, body)
        }
    };
    let mut first = PNG.to_vec();
    first.push(0xfe);
    let mut second = PNG.to_vec();
    second.push(0xff);
    let (status, body) = upload_keyed(first).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = upload_keyed(second).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "idempotency_key_reused", "{body}");

    // The customer downloads it with their token: the type found at upload, shown inline,
    // sandboxed and never sniffed.
    let (status, headers, bytes) = download(&app, &id, &png_id, &token).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, PNG);
    assert_eq!(headers[CONTENT_TYPE], "image/png");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("inline;"), "{disposition}");
    assert!(
        disposition.contains("photo%20of%20box.png"),
        "{disposition}"
    );
    // The widget reads it from customers' sites.
    assert_eq!(headers["access-control-allow-origin"], "*");

    // Only images and PDFs, told by their content whatever the name and type claim.
    let html = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    upload(&app, &id, &token, "photo.png", "image/png", html.clone())
        .await
        .assert_error(415, "unsupported_attachment_type");
    upload(&app, &id, &token, "page.html", "text/html", html)
        .await
        .assert_error(415, "unsupported_attachment_type");
    let exe = b"MZ\x90\x00\x03\x00\x00\x00 This program cannot be run in DOS mode".to_vec();
    upload(&app, &id, &token, "invoice.pdf", "application/pdf", exe)
        .await
        .assert_error(415, "unsupported_attachment_type");
    upload(&app, &id, &token, "x.pdf", "application/pdf", PNG.to_vec())
        .await
        .assert_error(415, "attachment_type_mismatch");
    upload(&app, &id, &token, "empty.png", "image/png", Vec::new())
        .await
        .assert_error(422, "empty_file");
    // At most 10 MiB.
    let mut big = PNG.to_vec();
    big.resize(10 * 1024 * 1024 + 1, 0);
    upload(&app, &id, &token, "big.png", "image/png", big)
        .await
        .assert_error(413, "payload_too_large");

    // Sara takes the conversation and sends a PDF back; Tom, who does not own it, cannot.
    app.post(
        &format!("/v1/conversations/{id}/handoff"),
        &token,
        json!({"reason": "customer_request"}),
    )
    .await;
    let claimed = app
        .post(&format!("/v1/conversations/{id}/claim"), &sara, json!({}))
        .await;
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    let sent = upload(
        &app,
        &id,
        &sara,
        "label.pdf",
        "application/pdf",
        PDF.to_vec(),
    )
    .await;
    assert_eq!(sent.status, 201, "{}", sent.body);
    assert_eq!(sent.body["message"]["role"], "agent");
    let pdf_id = sent.body["message"]["attachment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = upload(&app, &id, &tom, "x.pdf", "application/pdf", PDF.to_vec()).await;
    assert!(
        matches!(res.status.as_u16(), 404 | 409),
        "{}: {}",
        res.status,
        res.body
    );
    // Integrations post text, not files.
    upload(
        &app,
        &id,
        &app.api_key,
        "x.pdf",
        "application/pdf",
        PDF.to_vec(),
    )
    .await
    .assert_error(403, "forbidden");

    // Both sides see the files in the transcript.
    for t in [&token, &sara, &app.admin_token] {
        let transcript = app
            .get(&format!("/v1/conversations/{id}/messages"), t)
            .await;
        assert_eq!(transcript.status, 200, "{}", transcript.body);
        let files: Vec<&str> = transcript.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["attachment"]["content_type"].as_str())
            .collect();
        assert_eq!(
            files,
            [
                "image/png",
                "image/png",
                "image/png",
                "image/png",
                "application/pdf"
            ],
            "{}",
            transcript.body
        );
    }
    let (status, headers, bytes) = download(&app, &id, &pdf_id, &token).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, PDF);
    assert_eq!(headers[CONTENT_TYPE], "application/pdf");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert_eq!(download(&app, &id, &pdf_id, &sara).await.0, 200);

    // Nobody else: another customer's token, another conversation's path, another tenant,
    // an unknown id.
    assert_eq!(download(&app, &id, &png_id, &other_token).await.0, 403);
    upload(&app, &id, &other_token, "x.png", "image/png", PNG.to_vec())
        .await
        .assert_error(403, "forbidden");
    assert_eq!(
        download(&app, &other, &png_id, &app.admin_token).await.0,
        404
    );
    assert_eq!(download(&app, &id, "att_nothing", &token).await.0, 404);
    let (_, _, stranger_email) = create_tenant(app.instance.store.as_ref(), "Other Co").await;
    let login = send(
        &app.client,
        Method::POST,
        &app.url("/v1/auth/login"),
        None,
        Some(json!({"email": stranger_email, "password": PASSWORD})),
    )
    .await;
    let stranger = login.body["token"].as_str().unwrap().to_string();
    assert_eq!(download(&app, &id, &png_id, &stranger).await.0, 404);
    upload(&app, &id, &stranger, "x.png", "image/png", PNG.to_vec())
        .await
        .assert_error(404, "not_found");

    // Erasing the customer removes their files with their text.
    let closed = app
        .post(
            &format!("/v1/conversations/{id}/close"),
            &sara,
            json!({"resolution": "resolved"}),
        )
        .await;
    assert!(closed.status.is_success(), "{}", closed.body);
    let customer = app
        .get(&format!("/v1/conversations/{id}"), &app.admin_token)
        .await
        .body["customer_id"]
        .as_str()
        .unwrap()
        .to_string();
    let erased = app
        .post(
            &format!("/v1/customers/{customer}/erase"),
            &app.admin_token,
            json!({}),
        )
        .await;
    assert_eq!(erased.status, 200, "{}", erased.body);
    for file in [&png_id, &pdf_id] {
        assert_eq!(download(&app, &id, file, &app.admin_token).await.0, 404);
    }
    let transcript = app
        .get(
            &format!("/v1/conversations/{id}/messages"),
            &app.admin_token,
        )
        .await;
    let text = transcript.body.to_string();
    assert!(
        !text.contains("photo of box") && !text.contains("label.pdf"),
        "{text}"
    );
    let events = app
        .get(
            &format!("/v1/conversations/{id}/events?limit=500"),
            &app.admin_token,
        )
        .await;
    assert!(
        !events.body.to_string().contains("photo of box"),
        "{}",
        events.body
    );
    let _ = other;
}
