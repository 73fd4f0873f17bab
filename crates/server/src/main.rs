//! `chat-server`: the support chat service, and its management command line.

use std::process::ExitCode;

use chat_server::cli::{self, Cli, Command, ServeArgs};
use chat_server::settings::{LogFormat, Settings};
use chat_server::{demo, Application};
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// jemalloc, whose background thread returns freed memory to the system about a second after it
/// was freed (`.cargo/config.toml` sets its decay): after a flood of connections closes, the
/// service shrinks back. glibc's malloc keeps what its per-thread arenas once held.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn init_tracing(settings: &Settings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

async fn serve(settings: Settings, args: ServeArgs) -> anyhow::Result<()> {
    let app = Application::build(settings).await?;
    if args.demo {
        demo::seed(app.state()).await?;
    }
    tracing::info!(addr = %app.addr(), "listening");
    app.run_until_stopped().await?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(&Settings::config_dir()) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&settings);
    let result = actix_web::rt::System::new().block_on(async move {
        match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
            Command::Serve(args) => serve(settings, args).await.map(|()| None),
            command => {
                // A command opens connections only when it asks for one. A pool that keeps
                // idle connections would open them in the background, and a connection still
                // being opened when the process exits can abort it in libpq's Kerberos code.
                let mut settings = settings;
                settings.database.min_idle = 0;
                match chat_server::AppState::new(settings) {
                    Ok(state) => cli::run(&state, command).await.map(Some),
                    Err(err) => Err(err),
                }
            }
        }
    });
    match result {
        Ok(Some(output)) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(err) => {
            let message = format!("{err:#}");
            eprintln!("{}", serde_json::json!({ "error": message }));
            ExitCode::FAILURE
        }
    }
}
