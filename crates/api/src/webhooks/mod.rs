//! Webhook delivery: Standard Webhooks signatures (`signature`), where shiplog may send
//! (`destination`, the SSRF guard) and the background worker that sends (`worker`). The
//! administration endpoints are `native::webhooks`; the stored state is `shiplog_storage`'s.

pub mod destination;
pub mod signature;
pub mod worker;

pub use worker::WebhookSettings;
