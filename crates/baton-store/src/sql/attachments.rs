//! Attachments for both databases: bytes as `BLOB` (SQLite) or `BYTEA` (PostgreSQL).

use super::SqlStore;
use crate::attachments::{Attachment, Attachments};
use crate::{StoreError, StoreResult};
use async_trait::async_trait;
use baton_core::{AttachmentId, ConversationId, TenantId, Timestamp};
use sqlx::{Postgres, Sqlite};

/// The columns [`AttachmentRow`] reads.
macro_rules! attachment_cols {
    () => {
        "id, tenant, conversation, message, uploader, filename, content_type, size, sha256, \
         bytes, created_at"
    };
}

/// The SQL that stores one attachment (both databases), bound in [`attachment_cols`]' order.
pub(super) const INSERT_ATTACHMENT: &str = concat!(
    "INSERT INTO attachments (",
    attachment_cols!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
);

#[derive(sqlx::FromRow)]
struct AttachmentRow {
    id: String,
    tenant: String,
    conversation: String,
    message: String,
    uploader: String,
    filename: String,
    content_type: String,
    size: i64,
    sha256: String,
    bytes: Vec<u8>,
    created_at: i64,
}

fn corrupt(what: &str) -> impl Fn(baton_core::ids::IdError) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("attachment {what}: {e}"))
}

impl AttachmentRow {
    fn into_model(self) -> StoreResult<(Attachment, Vec<u8>)> {
        let attachment = Attachment {
            id: AttachmentId::parse(self.id).map_err(corrupt("id"))?,
            tenant: TenantId::parse(self.tenant).map_err(corrupt("tenant"))?,
            conversation: ConversationId::parse(self.conversation)
                .map_err(corrupt("conversation"))?,
            message: baton_core::MessageId::parse(self.message).map_err(corrupt("message"))?,
            uploader: serde_json::from_str(&self.uploader)?,
            filename: self.filename,
            content_type: self.content_type,
            size: u64::try_from(self.size)
                .map_err(|_| StoreError::Corrupt(format!("attachment size {}", self.size)))?,
            sha256: self.sha256,
            created_at: Timestamp::from_millis(self.created_at),
        };
        Ok((attachment, self.bytes))
    }
}

macro_rules! attachments_backend {
    ($db:ty) => {
        #[async_trait]
        impl Attachments for SqlStore<$db> {
            async fn attachment(
                &self,
                tenant: &TenantId,
                conversation: &ConversationId,
                id: &AttachmentId,
            ) -> StoreResult<Option<(Attachment, Vec<u8>)>> {
                sqlx::query_as::<_, AttachmentRow>(concat!(
                    "SELECT ",
                    attachment_cols!(),
                    " FROM attachments WHERE tenant = $1 AND conversation = $2 AND id = $3"
                ))
                .bind(tenant.as_str())
                .bind(conversation.as_str())
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .map(AttachmentRow::into_model)
                .transpose()
            }
        }
    };
}

attachments_backend!(Sqlite);
attachments_backend!(Postgres);
