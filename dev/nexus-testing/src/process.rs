//! A program under test as a child process: its output lines (stdout and stderr, in the order
//! they arrive), waiting for a line, and a bounded SIGTERM shutdown. Used by the binary's
//! end-to-end tests.

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// A child process: its output lines and its exit. Killed when dropped while still running.
pub struct Child {
    pid: u32,
    lines: Arc<Mutex<Vec<String>>>,
    changed: tokio::sync::watch::Receiver<u64>,
    exit: mpsc::Receiver<ExitStatus>,
    exited: Option<ExitStatus>,
}

impl Child {
    /// Starts `command` with a cleared environment plus `env` and `NO_COLOR=1`, capturing its
    /// output.
    pub fn spawn(command: &mut Command, env: &[(&str, &str)]) -> Self {
        command
            .env_clear()
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn nexus-operator");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, changed) = tokio::sync::watch::channel(0u64);
        let tx = Arc::new(tx);
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
            let lines = lines.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                let mut buf = Vec::new();
                while reader.read_until(b'\n', &mut buf).unwrap_or(0) > 0 {
                    let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                    lines.lock().expect("lines").push(line);
                    tx.send_modify(|n| *n += 1);
                    buf.clear();
                }
            });
        }
        let pid = child.id();
        let (exit_tx, exit) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = exit_tx.send(status);
            }
        });
        Self {
            pid,
            lines,
            changed,
            exit,
            exited: None,
        }
    }

    /// Everything printed so far, one line per line.
    pub fn output(&self) -> String {
        self.lines.lock().expect("lines").join("\n")
    }

    /// Waits (at most `timeout`) until a line containing `needle` was printed; panics with the
    /// output otherwise.
    pub async fn wait_for_line(&mut self, needle: &str, timeout: Duration) {
        let found = tokio::time::timeout(timeout, async {
            loop {
                self.changed.borrow_and_update();
                if self
                    .lines
                    .lock()
                    .expect("lines")
                    .iter()
                    .any(|l| l.contains(needle))
                {
                    return;
                }
                if self.changed.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        assert!(
            found.is_ok() && self.output().contains(needle),
            "the child never printed {needle:?}; output:\n{}",
            self.output()
        );
    }

    /// Whether the process has exited (and how), without waiting.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.exit.try_recv().ok();
        }
        self.exited
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit; needs a multi-threaded runtime.
    pub async fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "SIGTERM delivered");
        let started = std::time::Instant::now();
        let status =
            tokio::task::block_in_place(|| self.exit.recv_timeout(Duration::from_secs(30)))
                .unwrap_or_else(|_| {
                    panic!("no exit within 30s of SIGTERM; output:\n{}", self.output())
                });
        println!("exited {:?} after SIGTERM", started.elapsed());
        self.exited = Some(status);
        // Let the readers drain what the child printed last.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.changed.changed().await.is_ok() {}
        })
        .await;
        status
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.exited.is_none() && self.exit.try_recv().is_err() {
            let _ = Command::new("kill")
                .args(["-KILL", &self.pid.to_string()])
                .status();
        }
    }
}
