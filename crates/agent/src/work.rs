//! The work the server hands this agent: approved runbook scripts to run here, and
//! diagnostics to run from here. The agent asks for it (no port is opened on the host),
//! checks each script against the hash its approval names, runs it with a timeout and an
//! output limit, and answers with the outcome.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use opsdesk_domain::agent_work::{Job, Work, WorkOutcome, WorkResult};
use opsdesk_domain::knowledge::{ScriptLanguage, script_hash};
use opsdesk_network::diagnose::Diagnoser;
use tokio::io::AsyncReadExt;

use crate::AgentError;
use crate::client::{SendError, ServerClient};

/// How long to wait before asking for work again when the server is away, in seconds.
const UNAVAILABLE_WAIT_SECONDS: u64 = 30;

/// The agent error for a failed request.
fn stopped(error: SendError) -> AgentError {
    match error {
        SendError::CredentialRefused => AgentError::CredentialRefused,
        SendError::Rejected { status, detail } => AgentError::ReportRejected { status, detail },
        SendError::Unavailable { detail, .. } => AgentError::Unavailable { detail },
    }
}

/// Runs pieces of work.
pub(crate) struct Worker {
    client: ServerClient,
    diagnoser: Option<Diagnoser>,
    /// Where scripts are written before they run.
    scratch: std::path::PathBuf,
}

impl Worker {
    /// Does the work waiting now, asking again until none is left. Only a refused
    /// credential is an error: the report went through, and work waits for the next run.
    pub(crate) async fn drain(&self) -> Result<(), AgentError> {
        loop {
            match self.poll_once().await {
                Ok((true, _)) => continue,
                Ok((false, _)) => return Ok(()),
                Err(SendError::CredentialRefused) => return Err(AgentError::CredentialRefused),
                Err(error) => {
                    tracing::warn!(error = %stopped(error), "cannot ask for work");
                    return Ok(());
                }
            }
        }
    }

    /// Asks for work on the server's schedule for ever; returns only when the credential
    /// is refused.
    pub(crate) async fn poll_on_schedule(&self) -> Result<(), AgentError> {
        loop {
            let wait = match self.poll_once().await {
                Ok((true, _)) => continue,
                Ok((false, seconds)) => u64::from(seconds),
                Err(SendError::CredentialRefused) => return Err(AgentError::CredentialRefused),
                Err(error) => {
                    tracing::warn!(error = %stopped(error), "cannot ask for work");
                    UNAVAILABLE_WAIT_SECONDS
                }
            };
            tokio::time::sleep(Duration::from_secs(wait)).await;
        }
    }

    pub(crate) fn new(client: ServerClient, state_dir: &Path) -> Self {
        Self {
            client,
            diagnoser: Diagnoser::new()
                .map_err(|error| tracing::warn!(%error, "diagnostics cannot run from this host"))
                .ok(),
            scratch: state_dir.join("work"),
        }
    }

    /// Asks for work and does all of it: whether there was any, and the seconds until the
    /// next ask. A refused credential ends the agent like a refused report does.
    pub(crate) async fn poll_once(&self) -> Result<(bool, u32), SendError> {
        let reply = self.client.fetch_work().await?;
        let had_work = !reply.work.is_empty();
        for work in reply.work {
            let id = work.id;
            let result = self.run(work).await;
            tracing::info!(work = id, outcome = %result.outcome, "work done");
            if let Err(error) = self.client.answer(id, &result).await {
                match error {
                    SendError::CredentialRefused => return Err(error),
                    SendError::Rejected { detail, .. } | SendError::Unavailable { detail, .. } => {
                        // Unanswered work times out on the server; the note says so.
                        tracing::warn!(work = id, %detail, "cannot answer the work");
                    }
                }
            }
        }
        Ok((had_work, reply.poll_every_seconds.max(1)))
    }

    async fn run(&self, work: Work) -> WorkResult {
        match work.job {
            Job::Script {
                language,
                script,
                hash,
                timeout_seconds,
                output_limit_bytes,
            } => {
                if script_hash(language, &script) != hash {
                    return WorkResult::refused(
                        "the script does not match the approved version's hash",
                    );
                }
                run_script(
                    &self.scratch,
                    work.id,
                    language,
                    &script,
                    Duration::from_secs(u64::from(timeout_seconds.max(1))),
                    output_limit_bytes,
                )
                .await
            }
            Job::Diagnostic { diagnostic, target } => match &self.diagnoser {
                Some(diagnoser) => {
                    let outcome = diagnoser.run(diagnostic, &target).await;
                    WorkResult {
                        outcome: if outcome.ok {
                            WorkOutcome::Succeeded
                        } else {
                            WorkOutcome::Failed
                        },
                        exit_code: None,
                        output: String::new(),
                        truncated: false,
                        duration_ms: outcome.duration_ms,
                        diagnostic: Some(outcome),
                        detail: None,
                    }
                }
                None => WorkResult::refused("diagnostics cannot run from this host"),
            },
        }
    }
}

/// The program and its arguments that run a script file in `language`.
fn interpreter(language: ScriptLanguage) -> (&'static str, &'static [&'static str]) {
    match language {
        ScriptLanguage::Shell => ("/bin/sh", &[]),
        ScriptLanguage::Python => ("python3", &[]),
        ScriptLanguage::Powershell => ("pwsh", &["-NoProfile", "-NonInteractive", "-File"]),
    }
}

/// Runs `script` from a file in `scratch`, in its own process group so that a timeout
/// stops everything it started; standard output and error are kept together, in the order
/// they came, up to `limit` bytes.
async fn run_script(
    scratch: &Path,
    id: i64,
    language: ScriptLanguage,
    script: &str,
    timeout: Duration,
    limit: usize,
) -> WorkResult {
    let started = Instant::now();
    if let Err(error) = std::fs::create_dir_all(scratch) {
        return WorkResult::refused(format!("cannot create {}: {error}", scratch.display()));
    }
    let file = scratch.join(format!("script-{id}"));
    if let Err(error) = std::fs::write(&file, script) {
        return WorkResult::refused(format!("cannot write {}: {error}", file.display()));
    }
    let (program, options) = interpreter(language);
    let mut command = tokio::process::Command::new(program);
    command
        .args(options)
        .arg(&file)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let _ = std::fs::remove_file(&file);
            return WorkResult::refused(format!("{program} is not installed on this host"));
        }
        Err(error) => {
            let _ = std::fs::remove_file(&file);
            return WorkResult::refused(format!("cannot start {program}: {error}"));
        }
    };
    let (output_tx, mut output_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let sender = output_tx.clone();
        tokio::spawn(async move {
            let mut stream = stream;
            let mut buffer = vec![0; 8192];
            while let Ok(read) = stream.read(&mut buffer).await {
                if read == 0 || sender.send(buffer[..read].to_vec()).await.is_err() {
                    break;
                }
            }
        });
    }
    drop(output_tx);
    let mut output = Vec::new();
    let mut truncated = false;
    let collect = async {
        while let Some(chunk) = output_rx.recv().await {
            let room = limit.saturating_sub(output.len());
            if chunk.len() > room {
                truncated = true;
            }
            output.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        child.wait().await
    };
    let status = tokio::time::timeout(timeout, collect).await;
    let outcome = match status {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(error)) => Err(format!("cannot wait for the script: {error}")),
        Err(_) => {
            if let Some(pid) = child.id() {
                // The whole group: the script and whatever it started.
                // SAFETY: kill(2) with a negative pid signals the process group it names.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
            let _ = child.wait().await;
            Err(String::new())
        }
    };
    let _ = std::fs::remove_file(&file);
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let output = String::from_utf8_lossy(&output).into_owned();
    match outcome {
        Ok(status) => WorkResult {
            outcome: if status.success() {
                WorkOutcome::Succeeded
            } else {
                WorkOutcome::Failed
            },
            exit_code: status.code(),
            output,
            truncated,
            duration_ms,
            diagnostic: None,
            detail: None,
        },
        Err(detail) if detail.is_empty() => WorkResult {
            outcome: WorkOutcome::TimedOut,
            exit_code: None,
            output,
            truncated,
            duration_ms,
            diagnostic: None,
            detail: Some(format!("stopped after {} s", timeout.as_secs())),
        },
        Err(detail) => WorkResult {
            output,
            ..WorkResult::refused(detail)
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[tokio::test]
    async fn a_script_runs_with_its_output_kept_and_cut_at_the_limit() {
        let scratch = tempfile::tempdir().unwrap();
        let done = run_script(
            scratch.path(),
            1,
            ScriptLanguage::Shell,
            "echo out; echo err >&2; exit 3",
            Duration::from_secs(10),
            1024,
        )
        .await;
        assert_eq!(done.outcome, WorkOutcome::Failed);
        assert_eq!(done.exit_code, Some(3));
        assert!(
            done.output.contains("out") && done.output.contains("err"),
            "{done:?}"
        );
        let long = run_script(
            scratch.path(),
            2,
            ScriptLanguage::Shell,
            "yes x | head -c 100000",
            Duration::from_secs(10),
            1000,
        )
        .await;
        assert_eq!(long.outcome, WorkOutcome::Succeeded);
        assert_eq!(long.output.len(), 1000);
        assert!(long.truncated);
        // The script file does not stay behind.
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_script_past_its_timeout_is_stopped_with_what_it_started() {
        let scratch = tempfile::tempdir().unwrap();
        let done = run_script(
            scratch.path(),
            3,
            ScriptLanguage::Shell,
            "echo started; sleep 30 & sleep 30",
            Duration::from_secs(1),
            1024,
        )
        .await;
        assert_eq!(done.outcome, WorkOutcome::TimedOut);
        assert!(done.output.contains("started"), "{done:?}");
        // Far below the 30 s the group's sleeps would take: they were stopped too.
        assert!(done.duration_ms < 25_000, "{done:?}");
    }
}
