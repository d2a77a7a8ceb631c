//! The scheduler's wake-ups to the microsecond. tokio's timers fire on a 1-ms grid, and its
//! reactor sleeps whole milliseconds, so a sleep ends up to ~2 ms after its instant: lateness
//! that no step asked for. On Linux the scheduler sleeps on a timerfd (nanosecond deadline,
//! woken by the kernel's high-resolution timer through the same reactor); elsewhere, or if a
//! timerfd cannot be made, on tokio's timer.

use tokio::time::Instant;

/// A one-shot timer that can be re-armed.
pub struct Clock {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl Default for Clock {
    /// A precise clock where the platform has one, else tokio's (inside a runtime).
    fn default() -> Self {
        Self {
            #[cfg(target_os = "linux")]
            fd: linux::timerfd()
                .inspect_err(|e| tracing::debug!("no timerfd ({e}): tokio's timer paces the steps"))
                .ok(),
        }
    }
}

impl Clock {
    /// Sleeps until `at`.
    pub async fn sleep_until(&mut self, at: Instant) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            match linux::sleep_until(fd, at).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::debug!("timerfd failed ({e}): tokio's timer paces the steps");
                    self.fd = None;
                }
            }
        }
        tokio::time::sleep_until(at).await;
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::OwnedFd;

    use rustix::time::{
        Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec, timerfd_create,
        timerfd_settime,
    };
    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;
    use tokio::time::Instant;

    pub fn timerfd() -> io::Result<AsyncFd<OwnedFd>> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: an OwnedFd is the same open descriptor for as long as it lives, and the
        // AsyncFd owns it (I/O safety, as tokio asks).
        unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
    }

    /// Arms the timer for `at` and waits for it to expire.
    pub async fn sleep_until(fd: &AsyncFd<OwnedFd>, at: Instant) -> io::Result<()> {
        let ahead = at.saturating_duration_since(Instant::now());
        if ahead.is_zero() {
            return Ok(());
        }
        // Relative to now (the same clock `Instant` reads): no sum that could overflow.
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: i64::try_from(ahead.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(ahead.subsec_nanos()),
            },
        };
        timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        loop {
            let mut guard = fd.readable().await?;
            let mut expirations = [0u8; 8];
            match rustix::io::read(fd.get_ref(), &mut expirations) {
                Ok(8) => {
                    // The next expiry is a new edge: nothing stale is left to wake the next
                    // sleep.
                    guard.clear_ready();
                    return Ok(());
                }
                Ok(_) | Err(rustix::io::Errno::AGAIN) => {
                    guard.clear_ready();
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;
    use std::time::Duration;

    /// The clock never wakes before its instant, and re-arms (a sleep dropped half-way leaves
    /// no expiry behind that would end the next one early).
    #[tokio::test]
    async fn wakes_at_or_after_the_instant_and_rearms() {
        let mut c = Clock::default();
        for ms in [3u64, 1, 5] {
            let at = tokio::time::Instant::now() + Duration::from_millis(ms);
            c.sleep_until(at).await;
            assert!(tokio::time::Instant::now() >= at);
        }
        let at = tokio::time::Instant::now() + Duration::from_millis(2);
        let _ = tokio::time::timeout(Duration::from_micros(100), c.sleep_until(at)).await;
        let later = tokio::time::Instant::now() + Duration::from_millis(4);
        c.sleep_until(later).await;
        assert!(tokio::time::Instant::now() >= later);
        // An instant already past returns at once.
        c.sleep_until(tokio::time::Instant::now()).await;
    }
}
