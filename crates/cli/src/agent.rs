//! `opsdesk agent`: enrol this machine with a server and report its inventory. The work is
//! in the `opsdesk-agent` crate; this maps its errors to the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use opsdesk_agent::{DEFAULT_STATE_DIR, RunOptions};

#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// Enrol this machine with a server, using a one-time token an admin made.
    #[command(after_help = "Example:\n  \
        sudo opsdesk agent enrol --server https://desk.example.com --token oda_enrol_…\n  \
        sudo systemctl enable --now opsdesk-agent")]
    Enrol {
        /// The server's URL (https://; plain http:// only to this machine).
        #[arg(long, value_name = "URL")]
        server: String,
        /// The enrolment token.
        #[arg(
            long,
            value_name = "TOKEN",
            env = "OPSDESK_AGENT_TOKEN",
            hide_env_values = true
        )]
        token: String,
        /// Where the agent keeps its identity and spool.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// A PEM file of private CA certificates to trust for the server.
        #[arg(long, value_name = "FILE")]
        ca_file: Option<PathBuf>,
    },
    /// Report this machine's inventory to the server it enrolled with, on the server's
    /// schedule (or once).
    Run {
        /// Send one report now and exit.
        #[arg(long)]
        once: bool,
        /// Where the agent keeps its identity and spool.
        #[arg(long, value_name = "DIR", default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
}

/// The exit status when only a new enrolment helps (sysexits.h `EX_CONFIG`); the systemd
/// unit does not restart the agent after it.
const NEEDS_ENROLMENT: u8 = 78;

pub(crate) async fn run(command: AgentCommand) -> anyhow::Result<ExitCode> {
    init_logging();
    match command {
        AgentCommand::Enrol {
            server,
            token,
            state_dir,
            ca_file,
        } => {
            let agent = opsdesk_agent::enrol(&server, &token, &state_dir, ca_file.as_deref())
                .await
                .context("could not enrol")?;
            println!(
                "enrolled as agent {} (configuration item {}); reporting every {} s once \
                 `opsdesk agent run` starts; identity kept in {}",
                agent.agent,
                agent.ci,
                agent.report_every_seconds,
                state_dir.join("agent.json").display()
            );
        }
        AgentCommand::Run { once, state_dir } => {
            match opsdesk_agent::run(RunOptions { state_dir, once }).await {
                Ok(()) => {}
                Err(error) if error.needs_enrolment() => {
                    eprintln!("error: the agent stopped: {error}");
                    return Ok(ExitCode::from(NEEDS_ENROLMENT));
                }
                Err(error) => return Err(error).context("the agent stopped"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Log lines on standard error (the journal, under systemd); `RUST_LOG` may change the level.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}
