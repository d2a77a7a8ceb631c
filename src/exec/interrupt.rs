//! Ctrl-C (SIGINT) and SIGTERM: handlers installed before any work starts, so an early signal
//! is never lost. The first signal asks work to stop cleanly (stop firing, wait the grace
//! period, write results, kill anvil); a second one cuts the grace period short.

use tokio::sync::watch;

/// A cloneable count of the signals received so far.
#[derive(Debug, Clone)]
pub struct Interrupt {
    rx: watch::Receiver<u8>,
}

impl Interrupt {
    /// Installs the handlers now (must be called inside a runtime).
    pub fn install() -> std::io::Result<Self> {
        let (tx, rx) = watch::channel(0u8);
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let mut int = signal(SignalKind::interrupt())?;
            let mut term = signal(SignalKind::terminate())?;
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = int.recv() => {},
                        _ = term.recv() => {},
                    }
                    tx.send_modify(|n| *n = n.saturating_add(1));
                }
            });
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                tx.send_modify(|n| *n = n.saturating_add(1));
            }
        });
        Ok(Self { rx })
    }

    /// Resolves at the first signal.
    pub async fn wait(&self) {
        self.wait_for(1).await;
    }

    /// Whether a first signal came.
    pub fn is_set(&self) -> bool {
        *self.rx.borrow() >= 1
    }

    /// Resolves at the second signal.
    pub async fn wait_forced(&self) {
        self.wait_for(2).await;
    }

    async fn wait_for(&self, n: u8) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|v| *v >= n).await;
    }
}
