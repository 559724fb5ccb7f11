//! The built binary run as a process: a server, or one command.

use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// An `opsdesk` process started from the built binary, killed when dropped.
pub struct ServerProcess {
    pub child: Child,
    pub url: String,
}

impl ServerProcess {
    /// Starts `opsdesk serve` on a free port with `args` and waits until `/healthz` answers.
    pub async fn start(binary: &str, args: &[String]) -> Self {
        Self::start_with_env(binary, args, &[]).await
    }

    /// Like [`ServerProcess::start`], with extra environment variables (`OPSDESK_NODE_NAME`…).
    pub async fn start_with_env(binary: &str, args: &[String], env: &[(&str, &str)]) -> Self {
        Self::start_within(binary, args, env, Duration::from_secs(15)).await
    }

    /// Like [`ServerProcess::start_with_env`], for a server with work to do before it
    /// listens (loading `--demo` data), allowed `timeout` to answer.
    pub async fn start_within(
        binary: &str,
        args: &[String],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(binary)
            .arg("serve")
            .arg("--listen")
            .arg(&listen)
            .args(args)
            .env("OPSDESK_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // Owned from here on, so that a failed start still kills the process when dropped.
        let mut process = Self {
            child,
            url: format!("http://{listen}"),
        };
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Ok(response) = client.get(format!("{}/healthz", process.url)).send().await
                && response.status().is_success()
            {
                return process;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("opsdesk serve exited ({status}) before answering /healthz");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("opsdesk serve did not answer /healthz within {timeout:?}");
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs an `opsdesk` command to completion and returns its stdout; panics on failure.
pub fn run_command(binary: &str, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("OPSDESK_LOG", "warn")
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "opsdesk {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs an `opsdesk` command and returns how it ended, whether it succeeded or not; kills
/// it (and panics) if it has not finished within three minutes — generous, because the
/// host agent runs the machine's package tools at the lowest priority, which a busy CI
/// machine starves.
pub async fn run_command_output(binary: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(binary)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("OPSDESK_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("opsdesk {args:?} did not finish within 180 s"))
        .unwrap()
}
