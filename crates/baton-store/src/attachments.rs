//! Files (images and PDFs) attached to messages, stored in the database on both backends.
//! One is written with the message that carries it ([`crate::Tx::insert_attachment`], in the
//! transaction of [`crate::service::post_attachment`]) and read back whole for download.

use crate::StoreResult;
use async_trait::async_trait;
use baton_core::{Actor, AttachmentId, ConversationId, MessageId, TenantId, Timestamp};

/// An attachment's record, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its id.
    pub id: AttachmentId,
    /// Its tenant.
    pub tenant: TenantId,
    /// Its conversation.
    pub conversation: ConversationId,
    /// The message that carries it.
    pub message: MessageId,
    /// Who uploaded it.
    pub uploader: Actor,
    /// The file's name as uploaded (sanitised by the caller).
    pub filename: String,
    /// Its media type, as found in its content.
    pub content_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    /// When it was stored.
    pub created_at: Timestamp,
}

/// Reading attachments back.
#[async_trait]
pub trait Attachments {
    /// One attachment of a conversation with its bytes; `None` when there is no such
    /// attachment in that conversation of that tenant (or it was erased).
    async fn attachment(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        id: &AttachmentId,
    ) -> StoreResult<Option<(Attachment, Vec<u8>)>>;
}
