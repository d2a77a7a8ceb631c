//! The executor's lean send path: `eth_sendRawTransaction` batches written straight onto
//! kept-alive connections, HTTP/1.1 to a plain-http endpoint or a spawned anvil's IPC socket
//! (no TCP stack on either side: the loopback TCP write was about a tenth of loadrun's CPU per
//! transaction at 1,000/s), and the answers parsed in place (`frame`). No request builder,
//! connection pool task or boxed retry future per send (those were about a third of loadrun's
//! CPU at 1,000 transfers/s). It knows only the good path: any other answer
//! (a status other than 200, a body it cannot read, a "busy" JSON-RPC error, a closed
//! connection, a timeout) comes back as `Err`, and the caller sends the same batch again
//! through the full client (`tx::send_batch`: retries, pacing, node-down detection). Sending the
//! same signed bytes twice is harmless: the second answer is "already known", resolved by hash.
//!
//! Connections are not registered with the runtime's reactor while they wait for an answer:
//! the caller says when its thread wakes next anyway (the scheduler's next gather), and the
//! answer is read then, in that wake-up, instead of waking the thread on its own. Only an
//! answer not there by then (or no wake-up planned soon) is waited for through the reactor.

mod frame;

use std::io::{Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
#[cfg(unix)]
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use alloy::primitives::{B256, Bytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::rpc::RpcPolicy;
pub use frame::Answers;
use frame::{Fault, Framing, MAX_ANSWER, answers};

/// Connections kept open between requests at most (more are opened while the node is slow to
/// answer; past this many they are closed once answered).
const MAX_IDLE: usize = 128;

/// Set to `0` or `off` to send through the full client only (to compare the two).
pub const ENV: &str = "LOADRUN_WIRE";

/// Kept-alive connections to one endpoint.
#[derive(Debug)]
pub struct Wire {
    target: Target,
    framing: Framing,
    /// Open connections (not registered with any reactor) and since when they are idle.
    idle: Mutex<Vec<(Conn, Instant)>>,
    timeout: Duration,
    /// JSON-RPC ids of the next request (answers are matched to them).
    next_id: AtomicU64,
    /// Until when (ms since `born`) the full client alone sends: `BACK_OFF` past a transient
    /// failure (its retries pace a node that is busy or down); for good (`u64::MAX`) once an
    /// answer came in a form this path does not read.
    not_before_ms: AtomicU64,
    born: Instant,
}

/// How long the lean path stays out of the way after a transient failure.
const BACK_OFF: Duration = Duration::from_secs(1);
/// A connection idle longer than this is checked before reuse (servers close idle ones).
const STALE_AFTER: Duration = Duration::from_secs(1);

/// Where connections go.
#[derive(Debug)]
enum Target {
    /// The endpoint's addresses, and which of them answered last.
    Tcp {
        addrs: Vec<SocketAddr>,
        prefer: AtomicUsize,
    },
    /// A Unix socket's path.
    #[cfg(unix)]
    Unix(PathBuf),
}

/// An open connection, non-blocking, off the reactor.
#[derive(Debug)]
enum Conn {
    Tcp(std::net::TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.write(buf),
        }
    }
}

/// Set unless `LOADRUN_WIRE` turns the lean path off, or a cap on calls per second needs the
/// full client.
pub fn allowed(policy: &RpcPolicy) -> bool {
    policy.max_rps.is_none()
        && !std::env::var(ENV).is_ok_and(|v| matches!(v.trim(), "0" | "off" | "false"))
}

impl Wire {
    /// A wire to `url` when it is plain `http://` with no user part and no client-side cap on
    /// calls per second (those need the full client), unless `LOADRUN_WIRE` turns it off.
    pub fn new(url: &str, policy: &RpcPolicy) -> Option<Self> {
        if !allowed(policy) {
            return None;
        }
        let url = alloy::transports::http::reqwest::Url::parse(url).ok()?;
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        // Resolved once, at connect (a name that stops resolving mid-run keeps its addresses).
        let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().ok()?.collect();
        if addrs.is_empty() {
            return None;
        }
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        Some(Self::to(
            Target::Tcp {
                addrs,
                prefer: AtomicUsize::new(0),
            },
            Framing::http(&target, &authority),
            policy,
        ))
    }

    /// A wire to a node's IPC socket at `path` (a spawned anvil's), on the same terms as `new`.
    #[cfg(unix)]
    pub fn ipc(path: PathBuf, policy: &RpcPolicy) -> Option<Self> {
        allowed(policy).then(|| Self::to(Target::Unix(path), Framing::Ipc, policy))
    }

    fn to(target: Target, framing: Framing, policy: &RpcPolicy) -> Self {
        Self {
            target,
            framing,
            idle: Mutex::default(),
            timeout: policy.attempt_timeout,
            next_id: AtomicU64::new(1),
            not_before_ms: AtomicU64::new(0),
            born: Instant::now(),
        }
    }

    /// Whether sends should try this path first.
    pub fn is_on(&self) -> bool {
        self.born.elapsed().as_millis() as u64 >= self.not_before_ms.load(Ordering::Relaxed)
    }

    /// Sends `txs` in one request (a lone transaction as a plain call); `Err` says why the
    /// batch must go the full way. `wake`: ends when the calling thread wakes next anyway (the
    /// answer is looked for then first, off the reactor).
    pub async fn send(
        &self,
        txs: &[(B256, Bytes)],
        wake: Option<impl Future<Output = ()>>,
    ) -> Result<Answers, String> {
        let first_id = self.next_id.fetch_add(txs.len() as u64, Ordering::Relaxed);
        let request = self.framing.request(txs, first_id);
        let result = self.exchange(&request, txs.len(), first_id, wake).await;
        match result {
            Ok(answers) => Ok(answers),
            Err(Fault::Transient(e)) => {
                let until = (self.born.elapsed() + BACK_OFF).as_millis() as u64;
                self.not_before_ms.fetch_max(until, Ordering::Relaxed);
                Err(e)
            }
            Err(Fault::Unreadable(e)) => Err(self.turn_off(e)),
        }
    }

    /// One JSON-RPC request of the caller's (`json`: a call or a batch, any method) on this
    /// path's connections: the answer's body, or why there is none (the caller decides what a
    /// failure means; nothing is sent again here).
    pub async fn request(&self, json: Vec<u8>) -> Result<Vec<u8>, String> {
        let request = self.framing.wrap(json);
        let text = |f: Fault| match f {
            Fault::Transient(e) | Fault::Unreadable(e) => e,
        };
        let conn = self.connection().await.map_err(text)?;
        let no_wake: Option<std::future::Ready<()>> = None;
        let (body, keep, conn) = self
            .round_trip(conn, &request, no_wake)
            .await
            .map_err(text)?;
        if keep
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push((conn, Instant::now()));
        }
        Ok(body)
    }

    async fn exchange(
        &self,
        request: &[u8],
        n: usize,
        first_id: u64,
        wake: Option<impl Future<Output = ()>>,
    ) -> Result<Answers, Fault> {
        let conn = self.connection().await?;
        let (body, keep, conn) = self.round_trip(conn, request, wake).await?;
        if keep
            && let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE
        {
            idle.push((conn, Instant::now()));
        }
        answers(&body, n, first_id)
    }

    /// An idle connection that is still clean (a long-idle one is checked: closed by the
    /// server, or holding bytes nobody asked for, it is dropped), else a new one.
    async fn connection(&self) -> Result<Conn, Fault> {
        loop {
            let Some((mut conn, since)) = self.idle.lock().ok().and_then(|mut v| v.pop()) else {
                break;
            };
            if since.elapsed() < STALE_AFTER {
                return Ok(conn);
            }
            match conn.read(&mut [0u8; 1]) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(conn),
                _ => continue,
            }
        }
        let connect = |e: std::io::Error| Fault::Transient(format!("connect: {e}"));
        let (addrs, prefer) = match &self.target {
            #[cfg(unix)]
            Target::Unix(path) => {
                let c = tokio::time::timeout(self.timeout, tokio::net::UnixStream::connect(path))
                    .await
                    .map_err(|_| Fault::Transient("connect timed out".into()))?
                    .map_err(connect)?;
                // Non-blocking, off the reactor until an answer must be waited for.
                return c.into_std().map(Conn::Unix).map_err(connect);
            }
            Target::Tcp { addrs, prefer } => (addrs, prefer),
        };
        let first = prefer.load(Ordering::Relaxed);
        let mut last = String::new();
        for k in 0..addrs.len() {
            let i = (first + k) % addrs.len();
            match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(addrs[i])).await
            {
                Ok(Ok(c)) => {
                    prefer.store(i, Ordering::Relaxed);
                    let _ = c.set_nodelay(true);
                    return c.into_std().map(Conn::Tcp).map_err(connect);
                }
                Ok(Err(e)) => last = format!("connect: {e}"),
                Err(_) => last = "connect timed out".into(),
            }
        }
        Err(Fault::Transient(last))
    }

    /// Writes `request`, reads one answer: its body, whether the connection stays open, and
    /// the connection. The answer is looked for once `wake` ends (the caller bounds it),
    /// without the reactor; only when it is not complete by then is the connection registered
    /// and the rest awaited, for at most the attempt timeout (no timer is armed on the first
    /// way, the common one).
    async fn round_trip(
        &self,
        mut conn: Conn,
        request: &[u8],
        wake: Option<impl Future<Output = ()>>,
    ) -> Result<(Vec<u8>, bool, Conn), Fault> {
        let io = |e: std::io::Error| Fault::Transient(e.to_string());
        let written = write_now(&mut conn, request).map_err(io)?;
        let mut buf = Vec::with_capacity(4096);
        if written == request.len() {
            if let Some(wake) = wake {
                wake.await;
            }
            loop {
                match read_now(&mut conn, &mut buf)? {
                    Got::Some => {
                        if let Some((body, keep)) = self.framing.parse(&buf)? {
                            return Ok((body, keep, conn));
                        }
                    }
                    Got::None => break,
                    Got::Closed => {
                        return match self.framing.parse(&buf)? {
                            Some((body, _)) => Ok((body, false, conn)),
                            None => Err(Fault::Transient(
                                "connection closed before the answer".into(),
                            )),
                        };
                    }
                }
            }
        }
        let rest = &request[written..];
        let rest = async {
            Ok(match conn {
                Conn::Tcp(s) => {
                    let mut t = tokio::net::TcpStream::from_std(s).map_err(io)?;
                    let (body, keep) = self.finish(&mut t, rest, buf).await?;
                    (body, keep, Conn::Tcp(t.into_std().map_err(io)?))
                }
                #[cfg(unix)]
                Conn::Unix(s) => {
                    let mut t = tokio::net::UnixStream::from_std(s).map_err(io)?;
                    let (body, keep) = self.finish(&mut t, rest, buf).await?;
                    (body, keep, Conn::Unix(t.into_std().map_err(io)?))
                }
            })
        };
        tokio::time::timeout(self.timeout, rest)
            .await
            .unwrap_or_else(|_| {
                Err(Fault::Transient(
                    "no answer within the attempt timeout".into(),
                ))
            })
    }

    /// The rest of a round trip on the reactor: writes `rest`, reads until an answer is whole.
    async fn finish<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        s: &mut S,
        rest: &[u8],
        mut buf: Vec<u8>,
    ) -> Result<(Vec<u8>, bool), Fault> {
        s.write_all(rest)
            .await
            .map_err(|e| Fault::Transient(e.to_string()))?;
        loop {
            if let Some(answer) = self.framing.parse(&buf)? {
                return Ok(answer);
            }
            read_more(s, &mut buf).await?;
        }
    }

    fn turn_off(&self, why: String) -> String {
        if self.not_before_ms.swap(u64::MAX, Ordering::Relaxed) != u64::MAX {
            tracing::debug!("lean send path off ({why}): the full client sends from now on");
        }
        why
    }
}

/// Writes what the socket takes now; how much that was.
fn write_now(conn: &mut Conn, request: &[u8]) -> std::io::Result<usize> {
    let mut at = 0;
    while at < request.len() {
        match conn.write(&request[at..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

/// What one read without waiting gave.
enum Got {
    Some,
    /// Nothing has arrived.
    None,
    /// The peer closed the connection.
    Closed,
}

/// Reads once what has arrived into `buf`, without waiting.
fn read_now(conn: &mut Conn, buf: &mut Vec<u8>) -> Result<Got, Fault> {
    if buf.len() > MAX_ANSWER {
        return Err(Fault::Unreadable("an answer over 64 MiB".into()));
    }
    let mut chunk = [0u8; 16 << 10];
    loop {
        match conn.read(&mut chunk) {
            Ok(0) => return Ok(Got::Closed),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(Got::Some);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(Got::None),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Fault::Transient(e.to_string())),
        }
    }
}

async fn read_more<S: AsyncRead + Unpin>(conn: &mut S, buf: &mut Vec<u8>) -> Result<(), Fault> {
    if buf.len() > MAX_ANSWER {
        return Err(Fault::Unreadable("an answer over 64 MiB".into()));
    }
    buf.reserve(4096);
    match conn.read_buf(buf).await {
        Ok(0) => Err(Fault::Transient(
            "connection closed before the answer".into(),
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(Fault::Transient(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_without_a_cap_on_calls() {
        let policy = RpcPolicy::default();
        assert!(Wire::new("http://127.0.0.1:8545/k?x=1", &policy).is_some());
        for no in ["https://127.0.0.1:8545", "http://u:p@127.0.0.1:8545"] {
            assert!(Wire::new(no, &policy).is_none(), "{no}");
        }
        let capped = RpcPolicy {
            max_rps: Some(10.0),
            ..policy
        };
        assert!(Wire::new("http://127.0.0.1:8545", &capped).is_none());
        #[cfg(unix)]
        {
            assert!(Wire::ipc("/tmp/x.ipc".into(), &capped).is_none());
            assert!(Wire::ipc("/tmp/x.ipc".into(), &policy).is_some());
        }
    }

    /// A real HTTP/1.1 peer on loopback answering two requests on one connection: the first
    /// chunked, the second with a length.
    #[tokio::test]
    async fn chunked_and_sized_answers_on_one_kept_alive_connection() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let (a, b, sized) = (
                r#"{"id":1,"re"#,
                r#"sult":"0x01","x":0}"#,
                r#"{"id":2,"result":"0x02"}"#,
            );
            let chunked = format!(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                a.len(),
                b.len()
            );
            let sized = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{sized}",
                sized.len()
            );
            for answer in [chunked, sized] {
                let mut req = vec![0u8; 4096];
                let n = s.read(&mut req).await.unwrap();
                seen.push(String::from_utf8_lossy(&req[..n]).to_string());
                s.write_all(answer.as_bytes()).await.unwrap();
            }
            seen
        });
        let w = Wire::new(&format!("http://127.0.0.1:{port}"), &RpcPolicy::default()).unwrap();
        let tx = [(B256::ZERO, Bytes::from_static(&[1]))];
        let now = None::<std::future::Ready<()>>;
        assert_eq!(w.send(&tx, now).await, Ok(vec![Ok(())]));
        // Looked for at a wake-up first.
        let soon = tokio::time::sleep(Duration::from_millis(1));
        assert_eq!(w.send(&tx, Some(soon)).await, Ok(vec![Ok(())]));
        let seen = server.await.unwrap();
        assert!(
            seen[0].contains(r#""id":1,"#) && seen[1].contains(r#""id":2,"#),
            "{seen:?}"
        );
        assert!(w.is_on());
    }

    /// A real Unix-socket peer answering one line per request: at once, later (the answer is
    /// then awaited on the reactor), and not at all (the connection closes: a transient fault
    /// that puts the full client in charge for a while).
    #[cfg(unix)]
    #[tokio::test]
    async fn ipc_answers_now_later_or_never() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.ipc");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut req = vec![0u8; 4096];
            for (id, delay) in [(1, 0), (2, 30)] {
                let n = s.read(&mut req).await.unwrap();
                assert!(String::from_utf8_lossy(&req[..n]).contains(&format!(r#""id":{id},"#)));
                tokio::time::sleep(Duration::from_millis(delay)).await;
                let line = format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":\"0x01\"}}\n");
                s.write_all(line.as_bytes()).await.unwrap();
            }
            // The third request is read, then the connection closes unanswered.
            let _ = s.read(&mut req).await.unwrap();
        });
        let w = Wire::ipc(path, &RpcPolicy::default()).unwrap();
        let tx = [(B256::ZERO, Bytes::from_static(&[1]))];
        let soon = || Some(tokio::time::sleep(Duration::from_millis(5)));
        assert_eq!(w.send(&tx, soon()).await, Ok(vec![Ok(())]));
        assert_eq!(w.send(&tx, soon()).await, Ok(vec![Ok(())]));
        let closed = w.send(&tx, soon()).await.unwrap_err();
        assert!(closed.contains("closed"), "{closed}");
        assert!(
            !w.is_on(),
            "the full client sends for a while after a transient fault"
        );
        server.await.unwrap();
    }
}
