//! Demo data for a first run: an admin, the seeds' store (id 12, "Tech Store") and an API key,
//! made only on a database without admins, with their tokens printed once.

use chat_domain::usecases::NewStore;
use chat_domain::Principal;

use crate::app::AppState;

/// Creates the demo data if the database has no admin yet, and prints how to use it.
///
/// # Errors
/// When the database fails.
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    if state.postgres.has_admins().await? {
        return Ok(());
    }
    let access = &state.access;
    let (admin, admin_token) = access
        .create_admin("Demo Admin", "admin@example.com")
        .await?;
    let store = NewStore {
        id: 12,
        name: "Tech Store".to_owned(),
        email: "store@example.com".to_owned(),
        logo_url: "https://example.com/logo.jpg".to_owned(),
    };
    let (store, _) = access.put_store(&store).await?;
    let store_token = access.issue_token(Principal::Store(store.id)).await?;
    let (_, api_key) = access.create_api_key("Demo integration").await?;
    let base = format!("http://{}", state.settings.bind_addr);
    println!(
        "\nDemo data created (shown once; run `chat-server create-token` for more):\n\
         \x20 admin #{admin_id} token: {admin}\n\
         \x20 store #{store_id} token: {store_tok}\n\
         \x20 API key:           {key}\n\n\
         Try it:\n\
         \x20 curl -X POST \"{base}/v1/chat/store/message/send/\" -H \"Content-Type: application/json\" \
         -H \"Authorization: Token {store_tok}\" -d '{{\"content\": \"I need help with shipping\"}}'\n\
         \x20 curl -X GET \"{base}/v1/chat/admin/sessions/open/\" -H \"Authorization: Token {admin}\"\n",
        admin_id = admin.id,
        admin = admin_token.expose(),
        store_id = store.id,
        store_tok = store_token.expose(),
        key = api_key.expose(),
    );
    Ok(())
}
