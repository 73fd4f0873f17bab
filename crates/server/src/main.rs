//! `chat-server`: the support chat service, and its management command line.

mod app;
mod cli;
mod demo;
mod http;
mod settings;

use std::net::TcpListener;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::app::AppState;
use crate::cli::{Cli, Command, ServeArgs};
use crate::settings::{LogFormat, Settings};

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

async fn serve(state: AppState, args: ServeArgs) -> anyhow::Result<()> {
    state.migrate().await?;
    if args.demo {
        demo::seed(&state).await?;
    }
    let addr = state.settings.bind_addr();
    let listener = TcpListener::bind(addr)?;
    tracing::info!(%addr, "listening");
    http::server(state, listener)?.await?;
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
    let state = AppState::new(settings);
    let result = actix_web::rt::System::new().block_on(async move {
        match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
            Command::Serve(args) => serve(state, args).await.map(|()| None),
            command => cli::run(&state, command).await.map(Some),
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
