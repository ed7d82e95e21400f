use super::*;

#[track_caller]
fn rejects(json: &str, path: &str, msg: &str) {
    let e = RuleSet::from_json(json).unwrap_err();
    assert_eq!(e.path, path, "{e}");
    assert!(e.message.contains(msg), "{e}");
}

#[test]
fn default_rules_parse_and_round_trip() {
    let r = RuleSet::from_json(DEFAULT_RULES).unwrap();
    assert!(r.rules().len() >= 10);
    let again = RuleSet::from_value(&r.to_json()).unwrap();
    assert_eq!(again.to_json(), r.to_json());
    assert_eq!(RuleSet::default_rules().rules().len(), r.rules().len());
}

#[test]
fn errors_point_at_the_problem() {
    rejects("{", "/", "invalid JSON");
    rejects("42", "/", "expected an object");
    rejects(r#"{"rulez": []}"#, "/rulez", "unknown field");
    rejects(
        r#"{"rules": [{"name": "x"}]}"#,
        "/rules/0/id",
        "missing rule id",
    );
    rejects(
        r#"{"rules": [{"id": "Bad Id", "when": {"signal": "vip"}, "actions": ["escalate"]}]}"#,
        "/rules/0/id",
        "a-z",
    );
    let ok = r#"{"id": "a", "when": {"signal": "vip"}, "actions": ["escalate"]}"#;
    rejects(
        &format!(r#"{{"rules": [{ok}, {ok}]}}"#),
        "/rules/1/id",
        "duplicate",
    );
    let rule = |id: &str| {
        format!(r#"{{"id": "{id}", "when": {{"signal": "vip"}}, "actions": ["escalate"]}}"#)
    };
    let bad = r#"{"id": "d", "when": {"any": [{"topic": "refund"}, {"signal": "anger"}]}, "actions": ["escalate"]}"#;
    rejects(
        &format!(
            r#"{{"rules": [{}, {}, {}, {bad}]}}"#,
            rule("a"),
            rule("b"),
            rule("c")
        ),
        "/rules/3/when/any/1/signal",
        "unknown signal 'anger'",
    );
    rejects(
        r#"[{"id": "a", "when": {"signal": "frustration", "op": "~", "value": 1}, "actions": ["escalate"]}]"#,
        "/0/when/op",
        "unknown operator",
    );
    rejects(
        r#"[{"id": "a", "when": {"text_matches": "(unclosed"}, "actions": ["escalate"]}]"#,
        "/0/when/text_matches",
        "invalid regular expression",
    );
    rejects(
        r#"[{"id": "a", "when": {"all": [{"not": {"business_hours": "maybe"}}]}, "actions": ["escalate"]}]"#,
        "/0/when/all/0/not/business_hours",
        "open",
    );
    rejects(
        r#"[{"id": "a", "when": {"signal": "vip", "topic": "refund"}, "actions": ["escalate"]}]"#,
        "/0/when",
        "exactly one",
    );
    rejects(
        r#"[{"id": "a", "when": {}, "actions": ["escalate"]}]"#,
        "/0/when",
        "needs one of",
    );
    rejects(
        r#"[{"id": "a", "when": {"signal": "vip"}, "actions": []}]"#,
        "/0/actions",
        "at least one",
    );
    rejects(
        r#"[{"id": "a", "when": {"signal": "vip"}, "actions": [{"type": "priority", "value": 101}]}]"#,
        "/0/actions/0/value",
        "between 0 and 100",
    );
    rejects(
        r#"[{"id": "a", "when": {"signal": "vip"}, "actions": [{"type": "route"}]}]"#,
        "/0/actions/0/queue",
        "non-empty",
    );
    rejects(
        r#"[{"id": "a", "when": {"signal": "vip"}, "actions": [{"type": "explode"}]}]"#,
        "/0/actions/0/type",
        "unknown action",
    );
    rejects(
        r#"[{"id": "a", "when": {"customer": "tier", "op": "in", "value": "vip"}, "actions": ["escalate"]}]"#,
        "/0/when/value",
        "array",
    );
    rejects(
        r#"[{"id": "a", "when": {"conversation": "channel"}, "actions": ["escalate"]}]"#,
        "/0/when/value",
        "missing value",
    );
}

#[test]
fn accepts_every_condition_kind() {
    let json = r#"{"rules": [{"id": "all-kinds", "name": "everything", "enabled": false, "order": 5, "reason": "custom",
      "when": {"all": [
        {"any": [{"signal": "frustration", "op": ">=", "value": 0.6}, {"signal": "human_request", "value": true}]},
        {"not": {"business_hours": "closed"}},
        {"text_matches": "\\bcheckout\\b"},
        {"customer": "tier", "op": "eq", "value": "vip"},
        {"customer": "attributes.plan", "op": "in", "value": ["pro", "enterprise"]},
        {"conversation": "attributes.page_url", "op": "contains", "value": "/checkout"},
        {"conversation": "channel", "op": "exists"},
        {"topic": "refund"},
        {"role": "customer"}
      ]},
      "actions": ["escalate", {"type": "offer_human"}, {"type": "defer", "capture_email": false},
        {"type": "route", "queue": "billing"}, {"type": "priority", "value": 90},
        {"type": "tag", "tag": "checkout"}, {"type": "notify", "team": "payments"}]}]}"#;
    let r = RuleSet::from_json(json).unwrap();
    let rule = &r.rules()[0];
    assert!(!rule.enabled);
    assert_eq!(rule.reason, "custom");
    assert_eq!(rule.actions.len(), 7);
    assert_eq!(
        r.topic_refs(),
        vec![(
            "/rules/0/when/all/7/topic".to_string(),
            "refund".to_string()
        )]
    );
}

#[test]
fn orders_rules() {
    let r = RuleSet::from_json(r#"[{"id": "b", "order": 20, "when": {"signal": "vip"}, "actions": ["escalate"]},
                                   {"id": "a", "order": 10, "when": {"signal": "vip"}, "actions": ["escalate"]}]"#)
    .unwrap();
    assert_eq!(r.rules()[0].id, "a");
}
