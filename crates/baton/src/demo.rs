//! Tenant creation for operators, and the seeded demo tenant of `baton demo`.

use baton_core::conversation::{Actor, BotTurn, Command, HandoffSource};
use baton_core::{CsatScore, MessageRole, Priority, QueueId, Role, Timestamp};
use baton_engine::service::{self, CustomerInput, NewAgent, NewMessage};
use baton_server::auth::hash_password_blocking;
use baton_store::{Queue, Skill, Store, Tenant};
use std::path::Path;
use std::sync::Arc;

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
    /// The web widget's public key (set up with the tenant so the widget works at once).
    pub widget_key: String,
    /// The queue every handoff waits in until there are others.
    pub queue: QueueId,
}

/// The queue a new tenant starts with: handoffs wait here, and every agent who lists no queue
/// works it (it is the tenant's default queue).
pub const FIRST_QUEUE: &str = "support";

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
    let password = baton_store::ids::new_secret("")[..20].to_string();
    let hash = hash_password_blocking(&password).map_err(anyhow::Error::msg)?;
    let created = service::create_tenant(store, name, &email, &hash, now()).await?;
    let tenant = created.tenant.id.clone();
    // What the first conversation needs: a queue to wait in and a widget key to start from.
    let queue = Queue {
        id: QueueId::parse(FIRST_QUEUE)?,
        tenant: tenant.clone(),
        name: "Support".into(),
        skills: vec![],
        languages: vec![],
        strategy: "longest_idle".into(),
        offer_timeout_secs: 30,
        settings: serde_json::json!({}),
        created_at: now(),
    };
    let admin = Actor::Agent {
        id: created.admin.id.clone(),
    };
    service::save_queue(store, &queue, &admin, now()).await?;
    let widget_key = baton_server::rotate_widget_key(store, &tenant)
        .await
        .map_err(|e| anyhow::anyhow!("creating the widget key: {e}"))?;
    Ok(CreatedTenant {
        tenant: created.tenant,
        admin_email: email,
        admin_password: password,
        api_key: created.api_key_secret,
        widget_key,
        queue: queue.id,
    })
}

/// What a new tenant's admin does next, for `baton tenant create`'s human output.
pub fn next_steps(created: &CreatedTenant, public_url: &str) -> String {
    format!(
        "Next steps:\n\
         \x20 1. Start the server (`baton serve`), log in at {public_url}/console as {email} and set\n\
         \x20    yourself 'available': while nobody is, handoffs are deferred (the widget asks for an email).\n\
         \x20 2. Add your team in the console (Admin > Agents) or with POST /v1/agents; everyone works\n\
         \x20    the '{queue}' queue until you add queues with skills.\n\
         \x20 3. Choose who answers first: PUT /v1/bot (the knowledge-base bot, your webhook, an LLM; see\n\
         \x20    docs/bots.md). Until then your integration posts the bot's turns itself.\n\
         \x20 4. Put the widget on your site:\n\
         \x20    <script src=\"{public_url}/widget.js\" data-key=\"{widget}\" async></script>\n\
         \x20    or connect a channel with the API key (docs/channels.md).",
        email = created.admin_email,
        queue = created.queue,
        widget = created.widget_key,
    )
}

/// The demo admin's login.
pub const DEMO_ADMIN: &str = "admin@demo.baton.dev";
/// Setting written once the demo tenant is fully seeded.
const SEEDED: &str = "demo_seeded";
/// Every demo person's password.
pub const DEMO_PASSWORD: &str = "baton-demo";

/// The file in the demo's data folder that keeps its integration key, so that every start
/// prints the same key (the database keeps only its hash).
const KEY_FILE: &str = "demo-api-key";

/// Removes the demo's database (and its key file) from `data_dir`, for `baton demo --reset`.
pub fn reset(data_dir: &Path) -> anyhow::Result<()> {
    for name in ["baton.db", "baton.db-wal", "baton.db-shm", KEY_FILE] {
        let path = data_dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(anyhow::anyhow!("cannot remove {}: {e}", path.display())),
        }
    }
    Ok(())
}

/// The demo's integration key: the one kept in `data_dir` while it still authenticates for
/// this tenant, else a new one (kept for the next start).
async fn demo_key(
    store: &dyn Store,
    tenant: &baton_core::TenantId,
    admin: &Actor,
    data_dir: &Path,
) -> anyhow::Result<String> {
    let file = data_dir.join(KEY_FILE);
    if let Ok(kept) = std::fs::read_to_string(&file) {
        let kept = kept.trim().to_string();
        if let Some(key) = store
            .api_key_by_hash(&baton_store::ids::hash_secret(&kept))
            .await?
            && &key.tenant == tenant
            && key.revoked_at.is_none()
        {
            return Ok(kept);
        }
    }
    let (_, key) = service::create_api_key(store, tenant, "demo", admin, now()).await?;
    std::fs::write(&file, format!("{key}\n"))
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", file.display()))?;
    Ok(key)
}

/// Seeds the demo tenant (once; later runs reuse it) and returns the banner to print, with
/// `{base}` standing for the server's URL.
pub async fn seed(store: Arc<dyn Store>, data_dir: &Path) -> anyhow::Result<String> {
    let hash = hash_password_blocking(DEMO_PASSWORD).map_err(anyhow::Error::msg)?;
    let shared = store.clone();
    let store = store.as_ref();
    let tenant = match store.agent_for_login(DEMO_ADMIN).await? {
        // Seeding takes many transactions; only a run that finished set the marker.
        Some((admin, _)) if store.setting(&admin.tenant, SEEDED).await?.is_some() => admin.tenant,
        Some(_) => anyhow::bail!(
            "this demo database was left half-seeded (an earlier `baton demo` was interrupted, or \
             {DEMO_ADMIN} was created by hand); delete the demo data directory and run `baton demo` again"
        ),
        None => seed_new(shared, &hash).await?,
    };
    let admin = store
        .agent_for_login(DEMO_ADMIN)
        .await?
        .map(|(a, _)| a)
        .expect("seeded admin");
    let actor = Actor::Agent {
        id: admin.id.clone(),
    };
    let key = demo_key(store, &tenant, &actor, data_dir).await?;
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

async fn seed_new(shared: Arc<dyn Store>, hash: &str) -> anyhow::Result<baton_core::TenantId> {
    let store = shared.as_ref();
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
    // A month of past traffic for the analytics, answered by the people above.
    let id = |i: usize| agents[i].id.clone();
    let team = crate::demo_history::Team {
        by_queue: vec![
            (QueueId::parse("general")?, vec![id(2), id(0), id(1), id(3)]),
            (QueueId::parse("billing")?, vec![id(0), id(2)]),
            (QueueId::parse("technical")?, vec![id(1)]),
        ],
    };
    let api_actor = Actor::ApiKey {
        id: created.api_key.id.clone(),
    };
    crate::demo_history::seed(shared.clone(), &tenant, &team, &api_actor, now()).await?;
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
    // One waiting for the team to come back: deferred, the customer left her email.
    let (c5, _) = service::start_conversation(
        store,
        &tenant,
        customer("cust-5005", "Marta Novak", "marta@example.com", None, "en"),
        "web".into(),
        serde_json::Map::new(),
        &api,
        now(),
    )
    .await?;
    service::post_message(
        store,
        &tenant,
        &c5.conversation.id,
        say(
            MessageRole::Customer,
            "My invoice shows the wrong company name, can someone fix it? I need a person.",
            None,
        ),
        &Actor::Customer,
        now(),
        None,
    )
    .await?;
    for command in [
        Command::RequestHandoff {
            reason: "customer_request".into(),
            source: HandoffSource::Customer,
            queue: Some(QueueId::parse("billing")?),
            priority: None,
            note: None,
        },
        Command::Defer {
            reason: "no_agent_available".into(),
            back_at: None,
        },
    ] {
        let actor = match command {
            Command::Defer { .. } => Actor::System,
            _ => Actor::Customer,
        };
        service::run_command(store, &tenant, &c5.conversation.id, &command, &actor, now()).await?;
    }
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
                 "tags": ["bye", "thanks"]},
                {"id": "es-reembolso", "title": "Reembolso emitido", "language": "es",
                 "text": "Ya he emitido tu reembolso, {{customer.first_name}}. Lo verás en tu extracto en un plazo de 5 días hábiles.",
                 "tags": ["reembolso", "cobro", "cargo", "dinero"]},
                {"id": "es-pedido", "title": "Revisando el pedido", "language": "es",
                 "text": "Gracias por tu paciencia. Estoy revisando tu pedido con el almacén y te escribo por aquí en cuanto sepa algo.",
                 "tags": ["pedido", "envío", "paquete", "entrega"]}
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
