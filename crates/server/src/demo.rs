//! Demo data for a first run, shaped after the product docs: an admin, the stores "Tech Store"
//! (id 12) and "Fashion Boutique" (id 15) each with an open session, and an API key. Made only
//! on a database without admins; the tokens are printed once, with ready `curl` lines. Every
//! run prints links that open the console as the demo admin and the chat as Tech Store, with
//! tokens minted for that run.

use chat_domain::ids::StoreId;
use chat_domain::usecases::{Draft, NewStore};
use chat_domain::Principal;

use crate::state::AppState;

/// The demo admin's address, by which a later run finds it.
const DEMO_ADMIN_EMAIL: &str = "admin@example.com";
/// The demo store the chat link signs in as.
const DEMO_STORE: i64 = 12;

/// Creates the demo data if the database has no admin yet, and prints how to use it; on a
/// database that has the demo data, prints fresh links to the pages.
///
/// # Errors
/// When the database fails.
pub async fn seed(state: &AppState) -> anyhow::Result<()> {
    if state.postgres.has_admins().await? {
        return print_links(state).await;
    }
    let access = &state.access;
    let (admin, admin_token) = access
        .create_admin("Demo Admin", DEMO_ADMIN_EMAIL, None)
        .await?;
    let mut store_tokens = Vec::new();
    let mut sessions = Vec::new();
    for (id, name, email, logo, first_message) in [
        (
            12,
            "Tech Store",
            "store@example.com",
            "https://example.com/logo.jpg",
            "I need help with shipping",
        ),
        (
            15,
            "Fashion Boutique",
            "info@fashionboutique.com",
            "https://example.com/logo2.jpg",
            "Hello?",
        ),
    ] {
        let store = NewStore {
            id,
            name: name.to_owned(),
            email: email.to_owned(),
            logo_url: logo.to_owned(),
        };
        let (store, _) = access.put_store(&store).await?;
        let token = access.issue_token(Principal::Store(store.id)).await?;
        let draft = Draft {
            content: first_message.to_owned(),
            ..Draft::default()
        };
        let sent = state.chat.send_as_store(store.id, &draft).await?;
        sessions.push(sent.message.session_id);
        store_tokens.push((store.id, token));
    }
    let (_, api_key) = access.create_api_key("Demo integration").await?;
    let base = format!("http://{}", state.settings.bind_addr);
    let admin_token = admin_token.expose();
    let store_token = store_tokens[0].1.expose();
    println!(
        "\nDemo data created. The tokens are shown once (mint more with `chat-server create-token`):\n\
         \x20 {admin_label:<28} {admin_token}\n\
         \x20 {s12_label:<28} {store_token}\n\
         \x20 {s15_label:<28} {fashion}\n\
         \x20 {key_label:<28} {key}\n\n\
         Open sessions: #{first} (Tech Store) and #{second} (Fashion Boutique). Try:\n\n\
         curl -X GET \"{base}/v1/chat/admin/sessions/open/\" -H \"Authorization: Token {admin_token}\"\n\n\
         curl -X POST \"{base}/v1/chat/admin/session/claim/\" -H \"Content-Type: application/json\" \
         -H \"Authorization: Token {admin_token}\" -d '{{\"session_id\": {first}}}'\n\n\
         curl -X POST \"{base}/v1/chat/store/message/send/\" -H \"Content-Type: application/json\" \
         -H \"Authorization: Token {store_token}\" -d '{{\"content\": \"Any news?\"}}'\n\n\
         curl -X GET \"{base}/api/public/conversations/\" -H \"Authorization: Token {key}\"\n",
        admin_label = format!("admin #{} (Demo Admin)", admin.id),
        s12_label = format!("store #{} (Tech Store)", store_tokens[0].0),
        s15_label = format!("store #{} (Fashion Boutique)", store_tokens[1].0),
        key_label = "API key",
        fashion = store_tokens[1].1.expose(),
        key = api_key.expose(),
        first = sessions[0],
        second = sessions[1],
    );
    print_links(state).await
}

/// Prints links that open the console as the demo admin and the chat as the demo store, with
/// tokens minted now. The token is in the fragment (`#token=`), which never reaches the server.
async fn print_links(state: &AppState) -> anyhow::Result<()> {
    let Some(admin) = state.postgres.admin_by_email(DEMO_ADMIN_EMAIL).await? else {
        return Ok(());
    };
    let store = StoreId::parse(DEMO_STORE)?;
    let admin_token = state.access.issue_token(Principal::Admin(admin)).await?;
    let Ok(store_token) = state.access.issue_token(Principal::Store(store)).await else {
        return Ok(());
    };
    // A service listening on every interface is reached on this machine through loopback.
    let host = state.settings.bind_addr.replace("0.0.0.0:", "127.0.0.1:");
    let base = format!("http://{host}");
    println!(
        "\nOpen the agent console (Demo Admin):\n  {base}/console/#token={admin}\n\
         Open the store chat (Tech Store):\n  {base}/chat/#token={store}\n",
        admin = admin_token.expose(),
        store = store_token.expose(),
    );
    Ok(())
}
