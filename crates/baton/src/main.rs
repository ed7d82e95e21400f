//! The `baton` command.

/// jemalloc, not the system allocator: it gives freed memory back to the system, so resident
/// memory follows what the server holds (BENCHMARKS.md, session 10).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

mod audit;
mod backup;
mod bench;
mod customer;
mod demo;
mod demo_history;
mod demo_kb;
mod doctor;
mod eval;
mod kb;
mod rules;
mod serve;
mod simulate;

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Baton: hand customer conversations from an AI assistant to human agents.
#[derive(Debug, Parser)]
#[command(name = "baton", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where to find configuration and the database.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "BATON_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB (overrides the config file).
    #[arg(long)]
    database: Option<String>,
}

impl ConfigArgs {
    fn load(&self) -> anyhow::Result<baton_server::Config> {
        let mut config = baton_server::Config::load(self.config.as_deref(), std::env::vars())?;
        if let Some(url) = &self.database {
            config.database_url = Some(url.clone());
        }
        Ok(config)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[command(flatten)]
        config: ConfigArgs,
        /// Address to listen on, e.g. 127.0.0.1:8080 (overrides the config file).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Copy a SQLite database to a new file while servers keep running (a consistent online
    /// backup); restore by starting Baton on the copy. PostgreSQL: use pg_dump.
    Backup {
        /// The new file to write, e.g. backups/baton-2026-12-06.db.
        dest: PathBuf,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Check configuration, the database and its migrations, the clock, SMTP and the public
    /// URL; say what to fix. Exits non-zero when a check fails.
    Doctor {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// A customer's data: erase it on request.
    Customer {
        #[command(subcommand)]
        command: CustomerCommand,
    },
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage a tenant's knowledge base.
    Kb {
        #[command(subcommand)]
        command: KbCommand,
    },
    /// Measure the escalation detector on labelled data (`text<TAB>label` files).
    Eval(eval::EvalArgs),
    /// Check escalation rules from a TOML or JSON file, or seed a tenant with them.
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// Simulate a contact centre with the real router: waits, abandonment, utilisation.
    Simulate(simulate::SimulateArgs),
    /// Check the event log's integrity.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Maintain and benchmark the analytics.
    Analytics {
        #[command(subcommand)]
        command: AnalyticsCommand,
    },
    /// Benchmarks of Baton as users run it.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Run a server with a ready demo tenant on the embedded database.
    Demo {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Directory for the demo database.
        #[arg(long, default_value = "data/demo")]
        data_dir: PathBuf,
        /// Start over: delete the demo database (and its key) and seed a new one.
        #[arg(long)]
        reset: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CustomerCommand {
    /// Erase one customer's personal data (profile, message text, notes, escalation signals,
    /// briefs); `baton audit verify` still passes and the audit trail records who erased what
    /// and when. Their conversations must be closed.
    Erase {
        /// The customer's id (cus_...).
        customer: String,
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        /// Login email of the tenant admin who asked for it (recorded as the actor).
        #[arg(long)]
        by: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute every event's hash from its chain; exits non-zero naming the first event that
    /// was changed, removed or reordered.
    Verify {
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AnalyticsCommand {
    /// Rebuild the per-conversation analytics facts from the event log.
    Rebuild {
        /// Only this tenant's conversations.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Write synthetic history through the store and time the main report (use a scratch
    /// database: it adds a tenant named Bench).
    Bench {
        /// About how many events to write.
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        /// How many times to run the report.
        #[arg(long, default_value_t = 7)]
        runs: usize,
        /// Only time the report over this tenant (written by an earlier bench run).
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
enum KbCommand {
    /// Import (create or replace) a folder of Markdown articles; front matter may give title,
    /// tags, language and id (default: the file name's slug).
    Import {
        /// The folder of `.md` files.
        dir: PathBuf,
        /// The tenant's id.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant with an admin and an API key; prints the admin's password and the key.
    Create {
        /// The tenant's display name.
        name: String,
        /// The first admin's login email.
        #[arg(long)]
        admin_email: String,
        /// Print one JSON object for scripts.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config, listen } => {
            let mut config = config.load()?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            serve::init_tracing(&config.log);
            let store = serve::open_store(&config).await?;
            serve::run(config, store, None).await
        }
        Command::Migrate { config } => {
            let config = config.load()?;
            let store = serve::open_store(&config).await?;
            drop(store);
            println!(
                "migrations applied to {}",
                baton_server::config::redact_url(&config.database_url())
            );
            Ok(())
        }
        Command::Backup { dest, config } => backup::run(&config.load()?, &dest).await,
        Command::Doctor { json, config } => doctor::run(config.load(), json).await,
        Command::Customer {
            command:
                CustomerCommand::Erase {
                    customer,
                    tenant,
                    by,
                    json,
                    config,
                },
        } => {
            let store = serve::open_store(&config.load()?).await?;
            customer::erase(store.as_ref(), &tenant, &customer, &by, json).await
        }
        Command::Tenant {
            command:
                TenantCommand::Create {
                    name,
                    admin_email,
                    json,
                    config,
                },
        } => {
            let config = config.load()?;
            // With --json, stdout and stderr carry nothing but the JSON object.
            let store = serve::open_store_quietly(&config, json).await?;
            let created = demo::create_tenant(store.as_ref(), &name, &admin_email)
                .await
                .context("creating the tenant")?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "tenant_id": created.tenant.id,
                        "api_key": created.api_key,
                        "admin": { "email": created.admin_email, "password": created.admin_password },
                        "widget_key": created.widget_key,
                        "queue": created.queue,
                    })
                );
            } else {
                let public_url = config
                    .public_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}", config.listen));
                println!("Created tenant '{}' ({})", name.trim(), created.tenant.id);
                println!(
                    "  admin login:  {} / {}",
                    created.admin_email, created.admin_password
                );
                println!("  API key:      {}", created.api_key);
                println!("  widget key:   {}", created.widget_key);
                println!("  queue:        {} (Support)", created.queue);
                println!("Store these now: the password and the key are not shown again.\n");
                println!(
                    "{}",
                    demo::next_steps(&created, public_url.trim_end_matches('/'))
                );
            }
            Ok(())
        }
        Command::Kb {
            command:
                KbCommand::Import {
                    dir,
                    tenant,
                    config,
                },
        } => {
            let config = config.load()?;
            let store = serve::open_store(&config).await?;
            let tenant = baton_core::TenantId::parse(tenant.as_str())
                .map_err(|_| anyhow::anyhow!("'{tenant}' is not a tenant id"))?;
            let count = kb::import_dir(store.as_ref(), &tenant, &dir)
                .await
                .with_context(|| format!("importing {}", dir.display()))?;
            println!("Imported {count} articles into {tenant}.");
            Ok(())
        }
        Command::Audit {
            command: AuditCommand::Verify { config },
        } => {
            let store = serve::open_store(&config.load()?).await?;
            audit::verify(store.as_ref()).await
        }
        Command::Analytics { command } => match command {
            AnalyticsCommand::Rebuild { tenant, config } => {
                let store = serve::open_store(&config.load()?).await?;
                audit::rebuild(store.as_ref(), tenant.as_deref()).await
            }
            AnalyticsCommand::Bench {
                events,
                runs,
                tenant,
                config,
            } => {
                anyhow::ensure!(runs > 0, "--runs must be at least 1");
                let store = serve::open_store(&config.load()?).await?;
                audit::bench(store.as_ref(), events, runs, tenant.as_deref()).await
            }
        },
        Command::Eval(args) => eval::run(&args),
        Command::Rules { command } => rules::run(command).await,
        Command::Simulate(args) => simulate::run(&args),
        Command::Bench { command } => bench::run(command).await,
        Command::Demo {
            listen,
            data_dir,
            reset,
        } => {
            if reset {
                demo::reset(&data_dir)?;
                eprintln!("baton: demo data in {} removed", data_dir.display());
            }
            let config = baton_server::Config {
                listen,
                data_dir: data_dir.clone(),
                log: std::env::var("BATON_LOG").unwrap_or_else(|_| "info".into()),
                // The demo's bots and webhooks may point at servers on this machine.
                allow_private_targets: true,
                ..Default::default()
            };
            serve::init_tracing(&config.log);
            let store = serve::open_store(&config).await?;
            let banner = demo::seed(store.clone(), &data_dir)
                .await
                .context("seeding the demo tenant")?;
            serve::run(config, store, Some(banner)).await
        }
    }
}
