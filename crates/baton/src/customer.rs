//! `baton customer erase`: erasing one customer's personal data from the command line, on
//! behalf of a named admin of the tenant (the audit trail records who).

use anyhow::Context;
use baton_core::conversation::Actor;
use baton_core::{CustomerId, Role, TenantId, Timestamp};
use baton_store::Store;

/// Erases the customer's personal data as `by` (an admin's login email) and prints what was
/// erased.
pub async fn erase(
    store: &dyn Store,
    tenant: &str,
    customer: &str,
    by: &str,
    json: bool,
) -> anyhow::Result<()> {
    let tenant =
        TenantId::parse(tenant).map_err(|_| anyhow::anyhow!("'{tenant}' is not a tenant id"))?;
    let customer = CustomerId::parse(customer)
        .map_err(|_| anyhow::anyhow!("'{customer}' is not a customer id (cus_...)"))?;
    let wanted = by.trim().to_ascii_lowercase();
    let admin = store
        .agents(&tenant)
        .await?
        .into_iter()
        .find(|a| a.email == wanted && a.role == Role::Admin)
        .with_context(|| {
            format!("{by} is not an admin of tenant {tenant}: --by names the admin who asked for the erasure")
        })?;
    let now = Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64,
    );
    let erased = store
        .erase_customer(&tenant, &customer, &Actor::Agent { id: admin.id }, now)
        .await
        .with_context(|| format!("erasing customer {customer}"))?;
    if json {
        println!("{}", serde_json::to_string(&erased)?);
    } else {
        println!(
            "erased customer {}: profile, {} messages and {} events in {} conversations; \
             recorded as event seq {} (customer_erased) by {}",
            erased.customer,
            erased.messages,
            erased.events,
            erased.conversations.len(),
            erased.event_seq,
            wanted
        );
    }
    Ok(())
}
