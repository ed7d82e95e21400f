//! The LLM bot: any OpenAI-compatible chat-completions endpoint (OpenAI, Azure-style proxies,
//! vLLM, Ollama, llama.cpp server...).
//!
//! Baton posts `{base_url}/chat/completions` with the model, a system message (the tenant's
//! prompt or Baton's default, plus the best knowledge-base articles as context), the recent
//! transcript as `user` (customer) and `assistant` (bot, agent) turns, and one tool,
//! `handoff_to_human(reason)`. A tool call becomes a handoff with the reason `llm:<reason>` (the
//! model's words, made a token; the full text is the handoff note). While the conversation
//! already waits for a person the tool is not offered and the model is asked to help meanwhile.
//!
//! Confidence: a completion carries none, so Baton reports `0.6 + 0.4 × c`, where `c` is the
//! knowledge-base confidence of the context it retrieved ([`baton_kb::confidence`]): 0.6 for an
//! answer without grounding (above the detector's default low-confidence threshold of 0.5,
//! since the model decides itself when to hand over), up to 1 for a well-grounded one. Errors,
//! timeouts, refusals to answer and malformed responses hand the conversation to a person
//! (`bot_unavailable`).

use super::runner::TurnContext;
use super::{
    BotOutcome, BotReply, HandoffRequest, KbSettings, LlmSettings, describe, read_limited,
    to_token, truncate,
};
use crate::Engine;
use baton_core::MessageRole;
use serde_json::{Value, json};
use std::time::Duration;

/// Name of the handoff tool.
pub const HANDOFF_TOOL: &str = "handoff_to_human";
/// Confidence of an answer without knowledge-base grounding.
pub const BASE_CONFIDENCE: f64 = 0.6;
/// Largest response read, in bytes.
const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;
/// Characters of each article body given as context.
const ARTICLE_CONTEXT_CHARS: usize = 2_000;

/// Baton's default instructions.
pub const DEFAULT_PROMPT: &str = "You are a friendly, concise customer support assistant. \
Answer from the knowledge base articles below when they cover the question, and never invent \
policies, prices or order details. If the customer asks for a person, is upset, or you cannot \
help, call the handoff_to_human tool with a short reason instead of guessing.";

const WAITING_NOTE: &str = "The customer is waiting for a human agent, who will join soon. \
Keep helping meanwhile and collect details the agent will need (order number, email, what \
they already tried). Do not promise what only the agent can decide.";

/// The `tools` array sent with each request.
pub fn tools() -> Value {
    json!([{
        "type": "function",
        "function": {
            "name": HANDOFF_TOOL,
            "description": "Hand the conversation to a human support agent. Use it when the customer asks for a person, is upset, or when you cannot help.",
            "parameters": {
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "Why a person should take over, in a few words."}},
                "required": ["reason"]
            }
        }
    }])
}

/// The request body for a turn, given the knowledge-base context.
pub fn request_body(
    settings: &LlmSettings,
    ctx: &TurnContext,
    context: &[(String, String, String)],
) -> Value {
    let mut system = settings
        .system_prompt
        .clone()
        .unwrap_or_else(|| DEFAULT_PROMPT.to_string());
    if let Some(lang) = ctx.language() {
        system.push_str(&format!(
            "\n\nThe customer's language is '{lang}'; answer in it."
        ));
    }
    if context.is_empty() {
        system.push_str("\n\nNo knowledge base article matched the question.");
    } else {
        system.push_str("\n\nKnowledge base articles:");
        for (i, (id, title, body)) in context.iter().enumerate() {
            system.push_str(&format!("\n\n[{}] {title} (id: {id})\n{body}", i + 1));
        }
    }
    if ctx.waiting() {
        system.push_str("\n\n");
        system.push_str(WAITING_NOTE);
    }
    let mut messages = vec![json!({"role": "system", "content": system})];
    for m in &ctx.transcript {
        let role = match m.role {
            MessageRole::Customer => "user",
            MessageRole::Bot | MessageRole::Agent => "assistant",
            _ => continue,
        };
        messages.push(json!({"role": role, "content": m.text}));
    }
    let mut body = json!({"model": settings.model, "messages": messages});
    if !ctx.waiting() {
        body["tools"] = tools();
        body["tool_choice"] = json!("auto");
    }
    if let Some(t) = settings.temperature {
        body["temperature"] = json!(t);
    }
    body
}

/// Reads a chat-completions response; `kb_confidence` is the grounding of the context.
pub fn parse_response(body: &[u8], kb_confidence: f64) -> Result<BotOutcome, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("invalid response JSON: {e}"))?;
    let message = value
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"))
        .ok_or("the response has no choices[0].message")?;
    let text = match message.get("content") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        // Content parts: [{"type": "text", "text": "..."}].
        Some(Value::Array(parts)) => {
            let joined: String = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            Some(joined.trim().to_string()).filter(|s| !s.is_empty())
        }
        Some(_) => return Err("choices[0].message.content is not text".into()),
    };
    let mut handoff = None;
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let function = call.get("function").ok_or("a tool call without function")?;
        if function.get("name").and_then(Value::as_str) != Some(HANDOFF_TOOL) {
            continue;
        }
        // `arguments` is a JSON string; be lenient with objects and unparsable strings.
        let reason = match function.get("arguments") {
            Some(Value::String(s)) => serde_json::from_str::<Value>(s)
                .ok()
                .and_then(|v| v.get("reason").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_default(),
            Some(v) => v
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        };
        let token = to_token(&reason, 90);
        handoff = Some(HandoffRequest {
            reason: format!("llm:{}", if token.is_empty() { "handoff" } else { &token }),
            queue: None,
            note: Some(reason).filter(|r| !r.trim().is_empty()),
        });
        break;
    }
    if text.is_none() && handoff.is_none() {
        return Err("the model returned neither text nor a handoff".into());
    }
    let confidence =
        (BASE_CONFIDENCE + (1.0 - BASE_CONFIDENCE) * kb_confidence.clamp(0.0, 1.0)).clamp(0.0, 1.0);
    Ok(BotOutcome::Reply(BotReply {
        text,
        confidence: Some((confidence * 1000.0).round() / 1000.0),
        intent: handoff.is_some().then(|| HANDOFF_TOOL.to_string()),
        fallback: false,
        handoff,
    }))
}

/// The LLM bot's turn.
pub async fn call(
    engine: &Engine,
    settings: &LlmSettings,
    kb: &KbSettings,
    ctx: &TurnContext,
) -> BotOutcome {
    let (hits, kb_confidence) = match super::kb::retrieve(engine, kb, ctx).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(conversation = %ctx.conversation.id, error = %e, "knowledge base search failed; asking the model without context");
            (Vec::new(), 0.0)
        }
    };
    let mut context = Vec::with_capacity(hits.len());
    for hit in &hits {
        let body = match engine.store.kb_article(&ctx.tenant, &hit.id).await {
            Ok(Some(a)) => truncate(&baton_kb::markdown_to_text(&a.body), ARTICLE_CONTEXT_CHARS),
            _ => hit.snippet.clone(),
        };
        context.push((hit.id.clone(), hit.title.clone(), body));
    }
    let body = request_body(settings, ctx, &context);
    let url = format!(
        "{}/chat/completions",
        settings.base_url.trim_end_matches('/')
    );
    let mut request = engine
        .bots
        .http()
        .post(url)
        .timeout(Duration::from_millis(settings.timeout_ms))
        .json(&body);
    if let Some(key) = &settings.api_key {
        request = request.bearer_auth(key);
    }
    let resp = match request.send().await {
        Ok(r) => r,
        Err(e) => return BotOutcome::Failed(format!("LLM: {}", describe(&e))),
    };
    let status = resp.status();
    if !status.is_success() {
        return BotOutcome::Failed(format!("LLM answered HTTP {}", status.as_u16()));
    }
    match read_limited(resp, MAX_RESPONSE_BYTES)
        .await
        .and_then(|b| parse_response(&b, kb_confidence))
    {
        Ok(outcome) => outcome,
        Err(e) => BotOutcome::Failed(format!("LLM: {e}")),
    }
}

/// One plain completion (no tools) for agent-facing text: the brief's summary and copilot
/// drafts. Returns the model's text, or why there is none.
pub async fn complete(
    engine: &Engine,
    settings: &LlmSettings,
    system: &str,
    user: &str,
) -> Result<String, String> {
    let mut body = json!({
        "model": settings.model,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    });
    if let Some(t) = settings.temperature {
        body["temperature"] = json!(t);
    }
    let url = format!(
        "{}/chat/completions",
        settings.base_url.trim_end_matches('/')
    );
    let mut request = engine
        .bots
        .http()
        .post(url)
        .timeout(Duration::from_millis(settings.timeout_ms))
        .json(&body);
    if let Some(key) = &settings.api_key {
        request = request.bearer_auth(key);
    }
    let resp = request
        .send()
        .await
        .map_err(|e| format!("LLM: {}", describe(&e)))?;
    if !resp.status().is_success() {
        return Err(format!("LLM answered HTTP {}", resp.status().as_u16()));
    }
    let bytes = read_limited(resp, MAX_RESPONSE_BYTES).await?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| format!("LLM: {e}"))?;
    value["choices"][0]["message"]["content"]
        .as_str()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .ok_or_else(|| "LLM: the answer has no text".to_string())
}

/// The transcript as plain lines for an agent-facing prompt (notes left out).
pub fn transcript_text(messages: &[baton_store::Message], max_chars: usize) -> String {
    let mut lines: Vec<String> = messages
        .iter()
        .filter(|m| m.role != MessageRole::Note)
        .map(|m| match &m.attachment {
            Some(file) => format!("{}: (sent a file: {})", m.role.as_str(), file.filename),
            None => format!("{}: {}", m.role.as_str(), m.text),
        })
        .collect();
    // Keep the most recent turns within the budget.
    let mut total = 0;
    let mut start = lines.len();
    while start > 0 && total + lines[start - 1].len() <= max_chars {
        total += lines[start - 1].len();
        start -= 1;
    }
    lines.drain(..start);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_become_handoffs() {
        let body = json!({"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "handoff_to_human", "arguments": "{\"reason\": \"Customer is angry\"}"}}
        ]}, "finish_reason": "tool_calls"}]});
        let BotOutcome::Reply(r) = parse_response(body.to_string().as_bytes(), 0.0).unwrap() else {
            panic!()
        };
        let h = r.handoff.unwrap();
        assert_eq!(h.reason, "llm:customer_is_angry");
        assert_eq!(h.note.as_deref(), Some("Customer is angry"));
        assert_eq!(r.text, None);
    }

    #[test]
    fn plain_answers_and_confidence() {
        let body = json!({"choices": [{"message": {"role": "assistant", "content": "Sure!"}}]});
        let BotOutcome::Reply(r) = parse_response(body.to_string().as_bytes(), 0.5).unwrap() else {
            panic!()
        };
        assert_eq!(r.text.as_deref(), Some("Sure!"));
        assert_eq!(r.confidence, Some(0.8));
        assert!(parse_response(b"{\"choices\": []}", 0.0).is_err());
        assert!(parse_response(b"nope", 0.0).is_err());
        let empty = json!({"choices": [{"message": {"role": "assistant", "content": ""}}]});
        assert!(parse_response(empty.to_string().as_bytes(), 0.0).is_err());
    }
}
