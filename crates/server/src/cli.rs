//! The management command line: each command prints one JSON object on stdout.

use chat_domain::ids::{AdminId, StoreId};
use chat_domain::usecases::NewStore;
use chat_domain::Principal;
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};

use crate::state::AppState;
use crate::wire;

/// The support chat service and its management tool.
#[derive(Debug, Parser)]
#[command(name = "chat-server", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP and WebSocket server (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Create an admin and its first token.
    CreateAdmin {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Email address, unique among admins.
        #[arg(long)]
        email: String,
    },
    /// Create (or update) a store with the marketplace's id, and mint a token for it.
    CreateStore {
        /// The marketplace's id of the store.
        #[arg(long)]
        id: i64,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Contact email.
        #[arg(long)]
        email: String,
        /// Logo URL.
        #[arg(long, default_value = "")]
        logo_url: String,
    },
    /// Mint a new token for an existing admin or store.
    CreateToken(TokenOwner),
    /// Create an API key for an integration.
    CreateApiKey {
        /// What the key is for.
        #[arg(long)]
        name: String,
    },
    /// Revoke a token or API key at once.
    RevokeToken {
        /// The token to revoke.
        token: String,
    },
}

/// Options of `serve`.
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// On a database without admins, create a demo admin, store and API key and print their
    /// tokens once.
    #[arg(long)]
    pub demo: bool,
}

/// The owner of a new token.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct TokenOwner {
    /// An admin's id.
    #[arg(long)]
    admin: Option<i64>,
    /// A store's id.
    #[arg(long)]
    store: Option<i64>,
}

/// Runs a management command and returns the JSON object to print.
///
/// # Errors
/// The command's failure, with a message for people.
pub async fn run(state: &AppState, command: Command) -> anyhow::Result<Value> {
    state.migrate().await?;
    let access = &state.access;
    Ok(match command {
        Command::Serve(_) => unreachable!("serve is not a management command"),
        Command::Migrate => json!({ "migrated": true }),
        Command::CreateAdmin { name, email } => {
            let (admin, token) = access.create_admin(&name, &email, None).await?;
            serde_json::to_value(wire::ProvisionedAdmin {
                admin: (&admin).into(),
                token: token.expose(),
            })?
        }
        Command::CreateStore {
            id,
            name,
            email,
            logo_url,
        } => {
            let new = NewStore {
                id,
                name,
                email,
                logo_url,
            };
            let (store, _) = access.put_store(&new).await?;
            let token = access.issue_token(Principal::Store(store.id)).await?;
            let mut provisioned = serde_json::to_value(wire::ProvisionedStore::from(&store))?;
            provisioned["token"] = token.expose().into();
            provisioned
        }
        Command::CreateToken(owner) => {
            let principal = match (owner.admin, owner.store) {
                (Some(id), _) => Principal::Admin(AdminId::parse(id)?),
                (_, Some(id)) => Principal::Store(StoreId::parse(id)?),
                (None, None) => anyhow::bail!("give --admin ID or --store ID"),
            };
            let token = access.issue_token(principal).await?;
            serde_json::to_value(wire::MintedToken {
                token: token.expose(),
            })?
        }
        Command::CreateApiKey { name } => {
            let (key, secret) = access.create_api_key(&name).await?;
            json!({ "id": key.id.get(), "name": key.name.as_str(), "key": secret.expose() })
        }
        Command::RevokeToken { token } => {
            access.revoke(&token).await?;
            json!({ "revoked": true })
        }
    })
}
