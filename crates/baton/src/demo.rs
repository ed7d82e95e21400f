//! Tenant creation for operators, and the seeded demo tenant of `baton demo`.

use baton_core::conversation::{Actor, BotTurn, Command, HandoffSource};
use baton_core::{CsatScore, MessageRole, Priority, QueueId, Role, Timestamp};
use baton_server::auth::hash_password_blocking;
use baton_store::service::{self, CustomerInput, NewAgent, NewMessage};
use baton_store::{Queue, Skill, Store, Tenant};

/// A created tenant with the secrets to show once.
#[derive(Debug)]
pub struct CreatedTenant {
    /// The tenant.
    pub tenant: Tenant,
    /// Admin login email.
    pub admin_email: String,
    /// Admin password (generated).
    pub admin_password: String,
    /// API key secret.
    pub api_key: String,
}

fn now() -> Timestamp {
    baton_server::now()
}

/// Creates a tenant with a generated admin password.
pub async fn create_tenant(
    store: &dyn Store,
    name: &str,
    admin_email: &str,
) -> anyhow::Result<CreatedTenant> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        anyhow::bail!("the tenant name must be 1-100 characters");
    }
    let email = admin_email.trim().to_ascii_lowercase();
    if !email.contains('@') || email.contains(char::is_whitespace) {
        anyhow::bail!("--admin-email '{admin_email}' is not an email address");
    }
    // Emails are unique per tenant: the same person may administer several tenants.
    let password = service::new_secret("")[..20].to_string();
    let hash = hash_password_blocking(&password).map_err(anyhow::Error::msg)?;
    let created = service::create_tenant(store, name, &email, &hash, now()).await?;
    Ok(CreatedTenant {
        tenant: created.tenant,
        admin_email: email,
        admin_password: password,
        api_key: created.api_key_secret,
    })
}

/// The demo admin's login.
pub const DEMO_ADMIN: &str = "admin@demo.baton.dev";
/// Setting written once the demo tenant is fully seeded.
const SEEDED: &str = "demo_seeded";
/// Every demo person's password.
pub const DEMO_PASSWORD: &str = "baton-demo";

/// Seeds the demo tenant (once; later runs reuse it) and returns the banner to print, with
/// `{base}` standing for the server's URL.
pub async fn seed(store: &dyn Store) -> anyhow::Result<String> {
    let hash = hash_password_blocking(DEMO_PASSWORD).map_err(anyhow::Error::msg)?;
    let tenant = match store.agent_for_login(DEMO_ADMIN).await? {
        // Seeding takes many transactions; only a run that finished set the marker.
        Some((admin, _)) if store.setting(&admin.tenant, SEEDED).await?.is_some() => admin.tenant,
        Some(_) => anyhow::bail!(
            "this demo database was left half-seeded (an earlier `baton demo` was interrupted, or \
             {DEMO_ADMIN} was created by hand); delete the demo data directory and run `baton demo` again"
        ),
        None => seed_new(store, &hash).await?,
    };
    let admin = store
        .agent_for_login(DEMO_ADMIN)
        .await?
        .map(|(a, _)| a)
        .expect("seeded admin");
    let actor = Actor::Agent {
        id: admin.id.clone(),
    };
    let (_, key) = service::create_api_key(store, &tenant, "demo run", &actor, now()).await?;
    let public_key = match baton_server::widget_key(store, &tenant)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        Some(k) => k,
        None => baton_server::rotate_widget_key(store, &tenant)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    Ok(format!(
        "\nBaton demo is running at {{base}}\n\n\
         Log in (POST {{base}}/v1/auth/login) as any of, password '{DEMO_PASSWORD}':\n\
         \x20 sara@demo.baton.dev  (agent: billing, en/es)\n\
         \x20 tom@demo.baton.dev   (agent: technical, en/de)\n\
         \x20 ana@demo.baton.dev   (agent: general, pt/es/en)\n\
         \x20 sam@demo.baton.dev   (supervisor)\n\
         \x20 {DEMO_ADMIN} (admin)\n\n\
         Everyone starts offline: log in to the console and set your status to 'available'\n\
         to get offers (while nobody is available or busy, handoffs are deferred and the\n\
         widget asks for an email).\n\n\
         Agent console: {{base}}/console\n\
         Customer widget demo page: {{base}}/demo?key={public_key}\n\
         Widget embed: <script src=\"{{base}}/widget.js\" data-key=\"{public_key}\" async></script>\n\n\
         Integration API key (bots, channels): {key}\n\n\
         Try it:\n\
         \x20 curl -s -X POST {{base}}/v1/conversations -H 'Authorization: Bearer {key}' \\\n\
         \x20   -H 'Content-Type: application/json' -d '{{\"customer\": {{\"name\": \"Jo\"}}, \"channel\": \"web\"}}'\n\
         API description: {{base}}/openapi.json   Health: {{base}}/healthz   Metrics: {{base}}/metrics\n\
         Tenant: {tenant}\n\n\
         Note: the demo allows private targets (allow_private_targets): webhooks, bots and\n\
         channels may reach this machine and internal networks; `baton serve` refuses them.\n"
    ))
}

fn skill(name: &str, level: u8) -> Skill {
    Skill {
        name: name.into(),
        level,
    }
}

async fn seed_new(store: &dyn Store, hash: &str) -> anyhow::Result<baton_core::TenantId> {
    let created =
        service::create_tenant(store, "Acme Support (demo)", DEMO_ADMIN, hash, now()).await?;
    let tenant = created.tenant.id.clone();
    let admin = Actor::Agent {
        id: created.admin.id.clone(),
    };
    let queues = [
        ("general", "General support", vec![], vec![]),
        (
            "billing",
            "Billing & refunds",
            vec![skill("billing", 3)],
            vec![],
        ),
        (
            "technical",
            "Technical support",
            vec![skill("technical", 3)],
            vec!["en".to_string()],
        ),
    ];
    for (id, name, skills, languages) in queues {
        let queue = Queue {
            id: QueueId::parse(id)?,
            tenant: tenant.clone(),
            name: name.into(),
            skills,
            languages,
            strategy: "longest_idle".into(),
            offer_timeout_secs: 30,
            settings: serde_json::json!({}),
            created_at: now(),
        };
        service::save_queue(store, &queue, &admin, now()).await?;
    }
    let people = [
        (
            "sara@demo.baton.dev",
            "Sara Lopez",
            Role::Agent,
            vec![skill("billing", 8), skill("general", 6)],
            vec!["en", "es"],
            vec!["billing", "general"],
        ),
        (
            "tom@demo.baton.dev",
            "Tom Weber",
            Role::Agent,
            vec![skill("technical", 9), skill("general", 5)],
            vec!["en", "de"],
            vec!["technical", "general"],
        ),
        (
            "ana@demo.baton.dev",
            "Ana Souza",
            Role::Agent,
            vec![skill("general", 7), skill("billing", 4)],
            vec!["pt", "es", "en"],
            vec!["general", "billing"],
        ),
        (
            "sam@demo.baton.dev",
            "Sam Okafor",
            Role::Supervisor,
            vec![skill("general", 8)],
            vec!["en"],
            vec!["general", "billing", "technical"],
        ),
    ];
    let mut agents = Vec::new();
    for (email, name, role, skills, languages, queues) in people {
        let new = NewAgent {
            email: email.into(),
            name: name.into(),
            role,
            skills,
            languages: languages.into_iter().map(String::from).collect(),
            queues: queues
                .into_iter()
                .map(QueueId::parse)
                .collect::<Result<_, _>>()?,
            capacity: 3,
        };
        agents.push(service::create_agent(store, &tenant, new, hash, &admin, now()).await?);
    }
    // Everyone stays offline until they log in and set themselves available: an agent
    // marked available with nobody at a console would take offers nobody sees.
    let sara = agents[0].id.clone();

    let api = Actor::ApiKey {
        id: created.api_key.id.clone(),
    };
    let customer =
        |ext: &str, name: &str, email: &str, tier: Option<&str>, lang: &str| CustomerInput {
            external_id: Some(ext.into()),
            name: Some(name.into()),
            email: Some(email.into()),
            language: Some(lang.into()),
            tier: tier.map(String::from),
            ..Default::default()
        };
    let say = |role: MessageRole, text: &str, confidence: Option<f64>| NewMessage {
        role,
        text: text.into(),
        external_id: None,
        bot: (role == MessageRole::Bot).then_some(BotTurn {
            confidence,
            intent: None,
            fallback: false,
        }),
    };
    let actor_for = |role: MessageRole| {
        if role == MessageRole::Customer {
            Actor::Customer
        } else {
            Actor::Bot
        }
    };

    // A conversation the bot is handling.
    let (c1, _) = service::start_conversation(
        store,
        &tenant,
        customer("cust-1001", "John Miller", "john@example.com", None, "en"),
        "web".into(),
        serde_json::Map::new(),
        &api,
        now(),
    )
    .await?;
    for (role, text, conf) in [
        (
            MessageRole::Customer,
            "Hi, where is my order #A-1234? It was due yesterday.",
            None,
        ),
        (
            MessageRole::Bot,
            "Order A-1234 shipped on Monday with tracking 1Z999AA10123456784; it is out for delivery today.",
            Some(0.86),
        ),
    ] {
        service::post_message(
            store,
            &tenant,
            &c1.conversation.id,
            say(role, text, conf),
            &actor_for(role),
            now(),
            None,
        )
        .await?;
    }

    // A VIP customer waiting in the billing queue.
    let (c2, _) = service::start_conversation(
        store,
        &tenant,
        customer(
            "cust-2002",
            "Priya Shah",
            "priya@example.com",
            Some("vip"),
            "en",
        ),
        "web".into(),
        serde_json::Map::new(),
        &api,
        now(),
    )
    .await?;
    for (role, text, conf) in [
        (
            MessageRole::Customer,
            "I was charged twice for my subscription this month, $49.99 each time.",
            None,
        ),
        (
            MessageRole::Bot,
            "I'm sorry about that. Duplicate charges are usually refunded automatically within 5 days.",
            Some(0.41),
        ),
        (
            MessageRole::Customer,
            "That's not good enough, I want a refund now. Can I talk to a person?",
            None,
        ),
    ] {
        service::post_message(
            store,
            &tenant,
            &c2.conversation.id,
            say(role, text, conf),
            &actor_for(role),
            now(),
            None,
        )
        .await?;
    }
    service::run_command(
        store,
        &tenant,
        &c2.conversation.id,
        &Command::RequestHandoff {
            reason: "customer_request".into(),
            source: HandoffSource::Customer,
            queue: Some(QueueId::parse("billing")?),
            priority: Some(Priority::new(80)?),
            note: Some("VIP, double charge of $49.99".into()),
        },
        &Actor::Customer,
        now(),
    )
    .await?;

    // One Sara is handling.
    let (c3, _) = service::start_conversation(
        store,
        &tenant,
        customer("cust-3003", "Lucía García", "lucia@example.com", None, "es"),
        "whatsapp".into(),
        serde_json::Map::new(),
        &api,
        now(),
    )
    .await?;
    service::post_message(
        store,
        &tenant,
        &c3.conversation.id,
        say(
            MessageRole::Customer,
            "Quiero cancelar mi suscripción, por favor.",
            None,
        ),
        &Actor::Customer,
        now(),
        None,
    )
    .await?;
    service::run_command(
        store,
        &tenant,
        &c3.conversation.id,
        &Command::RequestHandoff {
            reason: "sensitive_topic:cancellation".into(),
            source: HandoffSource::Rule,
            queue: Some(QueueId::parse("billing")?),
            priority: None,
            note: None,
        },
        &Actor::System,
        now(),
    )
    .await?;
    let sara_actor = Actor::Agent { id: sara.clone() };
    service::run_command(
        store,
        &tenant,
        &c3.conversation.id,
        &Command::Claim,
        &sara_actor,
        now(),
    )
    .await?;
    service::post_message(
        store,
        &tenant,
        &c3.conversation.id,
        NewMessage {
            role: MessageRole::Agent,
            text: "¡Hola Lucía! Soy Sara. Te ayudo con la cancelación.".into(),
            external_id: None,
            bot: None,
        },
        &sara_actor,
        now(),
        None,
    )
    .await?;

    // A closed, rated one.
    let (c4, _) = service::start_conversation(
        store,
        &tenant,
        customer("cust-4004", "Ken Ito", "ken@example.com", None, "en"),
        "api".into(),
        serde_json::Map::new(),
        &api,
        now(),
    )
    .await?;
    service::post_message(
        store,
        &tenant,
        &c4.conversation.id,
        say(MessageRole::Customer, "How do I reset my password?", None),
        &Actor::Customer,
        now(),
        None,
    )
    .await?;
    service::post_message(
        store,
        &tenant,
        &c4.conversation.id,
        say(
            MessageRole::Bot,
            "Use 'Forgot password' on the sign-in page; the link is valid for 1 hour.",
            Some(0.93),
        ),
        &Actor::Bot,
        now(),
        None,
    )
    .await?;
    service::run_command(
        store,
        &tenant,
        &c4.conversation.id,
        &Command::Close {
            resolution: Some("resolved_by_bot".into()),
            override_owner: false,
        },
        &api,
        now(),
    )
    .await?;
    service::run_command(
        store,
        &tenant,
        &c4.conversation.id,
        &Command::RecordCsat {
            score: CsatScore::new(5)?,
            comment: Some("Quick!".into()),
        },
        &api,
        now(),
    )
    .await?;
    crate::kb::seed_knowledge_and_bot(store, &tenant, &admin).await?;
    // Canned responses for the reply box's "/" picker.
    service::put_settings(
        store,
        &tenant,
        &[(
            // The setting `GET /v1/canned-responses` reads.
            "canned_responses",
            serde_json::json!([
                {"id": "greeting", "title": "Greeting",
                 "text": "Hi {{customer.first_name}}, I'm {{agent.first_name}} from the support team. Let me look into this for you.",
                 "tags": ["hello", "hi"]},
                {"id": "refund-issued", "title": "Refund issued",
                 "text": "I've issued your refund, {{customer.first_name}}. It shows on your statement within 5 business days.",
                 "tags": ["refund", "charge", "money"]},
                {"id": "order-status", "title": "Checking the order",
                 "text": "Thanks for your patience. I'm checking your order with the warehouse now and will update you here shortly.",
                 "tags": ["order", "shipping", "parcel", "delivery"]},
                {"id": "follow-up-email", "title": "Follow up by email",
                 "text": "I'll follow up by email at {{customer.email}} as soon as I have an answer. — {{agent.name}}",
                 "tags": ["email", "later"]},
                {"id": "closing", "title": "Anything else?",
                 "text": "Is there anything else I can help you with today, {{customer.first_name}}?",
                 "tags": ["bye", "thanks"]}
            ]),
        )],
        &Actor::System,
        now(),
    )
    .await?;
    // Last: marks the seed complete (see `seed`).
    service::put_settings(
        store,
        &tenant,
        &[(SEEDED, serde_json::json!(true))],
        &Actor::System,
        now(),
    )
    .await?;
    Ok(tenant)
}
