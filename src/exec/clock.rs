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
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    use tokio::io::Interest;
    use tokio::io::unix::AsyncFd;
    use tokio::time::Instant;

    pub fn timerfd() -> io::Result<AsyncFd<OwnedFd>> {
        // SAFETY: plain syscall; the returned descriptor is checked and then owned.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor nobody else owns.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: an OwnedFd is open for as long as it lives, always the same descriptor.
        unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)
    }

    /// Arms the timer for `at` and waits for it to expire.
    pub async fn sleep_until(fd: &AsyncFd<OwnedFd>, at: Instant) -> io::Result<()> {
        let ahead = at.saturating_duration_since(Instant::now());
        if ahead.is_zero() {
            return Ok(());
        }
        // Relative to now (the same clock `Instant` reads): no sum that could overflow.
        let when = libc::timespec {
            tv_sec: libc::time_t::try_from(ahead.as_secs()).unwrap_or(libc::time_t::MAX),
            tv_nsec: ahead.subsec_nanos() as libc::c_long,
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: when,
        };
        // SAFETY: valid descriptor and pointers; a relative one-shot deadline.
        let r = unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            let mut guard = fd.readable().await?;
            let mut expirations = [0u8; 8];
            // SAFETY: reads 8 bytes into a buffer of 8.
            let n = unsafe {
                libc::read(
                    fd.as_raw_fd(),
                    expirations.as_mut_ptr().cast(),
                    expirations.len(),
                )
            };
            if n == 8 {
                // The next expiry is a new edge: nothing stale is left to wake the next sleep.
                guard.clear_ready();
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                guard.clear_ready();
                continue;
            }
            return Err(e);
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
