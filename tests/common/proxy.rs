//! A TCP proxy on 127.0.0.1 in front of the test's PostgreSQL server, which cuts a connection
//! the moment the client has sent bytes containing a marker: the server receives the whole
//! message and goes on (a statement outside a transaction commits), but its answer never reaches
//! the client, whose connection dies. That is a network failure during a commit, on a real
//! server, at a chosen statement.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Proxy {
    port: u16,
    marker: Arc<Mutex<Option<Vec<u8>>>>,
    cuts: Arc<AtomicUsize>,
}

impl Proxy {
    /// A proxy in front of the server `url` names (libpq `host=... port=...` parameters).
    pub async fn start(url: &str) -> Proxy {
        let part = |name: &str| {
            url.split_whitespace()
                .find_map(|p| p.strip_prefix(&format!("{name}=")))
                .unwrap()
                .to_owned()
        };
        let upstream: SocketAddr = format!("{}:{}", part("host"), part("port"))
            .parse()
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let marker = Arc::new(Mutex::new(None::<Vec<u8>>));
        let cuts = Arc::new(AtomicUsize::new(0));
        let (armed, counted) = (marker.clone(), cuts.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, armed.clone(), counted.clone()));
            }
        });
        Proxy { port, marker, cuts }
    }

    /// `url` with its port the proxy's.
    pub fn url(&self, url: &str) -> String {
        url.split_whitespace()
            .map(|part| {
                if part.starts_with("port=") {
                    format!("port={}", self.port)
                } else {
                    part.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Cuts the next connection that sends `marker`, after the server has it.
    pub fn cut_after(&self, marker: &[u8]) {
        *self.marker.lock().unwrap() = Some(marker.to_vec());
    }

    /// How many connections were cut.
    pub fn cuts(&self) -> usize {
        self.cuts.load(Ordering::SeqCst)
    }
}

/// Relays one connection both ways until either side closes, or until the client sends the
/// marker: then the client's side is closed at once, and the server's a while later (so the
/// server finishes the statement it was sent), its answer dropped.
async fn relay(
    client: TcpStream,
    server: TcpStream,
    marker: Arc<Mutex<Option<Vec<u8>>>>,
    cuts: Arc<AtomicUsize>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let (cut_tx, mut cut_rx) = tokio::sync::watch::channel(false);
    let upstream = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut tail: Vec<u8> = Vec::new();
        loop {
            let Ok(n) = client_read.read(&mut buffer).await else {
                return;
            };
            if n == 0 {
                return;
            }
            let mut seen = std::mem::take(&mut tail);
            seen.extend_from_slice(&buffer[..n]);
            let hit = {
                let mut armed = marker.lock().unwrap();
                let hit = armed
                    .as_ref()
                    .is_some_and(|m| seen.windows(m.len()).any(|window| window == m.as_slice()));
                if hit {
                    *armed = None;
                }
                hit
            };
            if hit {
                // The client hears nothing more, and the server gets the message whole.
                cuts.fetch_add(1, Ordering::SeqCst);
                let _ = cut_tx.send(true);
            }
            if server_write.write_all(&buffer[..n]).await.is_err() {
                return;
            }
            if hit {
                // Hold the server's side open while it finishes, then let it go.
                tokio::time::sleep(Duration::from_secs(2)).await;
                return;
            }
            tail = seen.split_off(seen.len().saturating_sub(256));
        }
    });
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            read = server_read.read(&mut buffer) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if *cut_rx.borrow() {
                        break;
                    }
                    if client_write.write_all(&buffer[..n]).await.is_err() {
                        break;
                    }
                }
            },
            _ = cut_rx.changed() => break,
        }
    }
    // The client's connection ends here, without the server's answer.
    let _ = client_write.shutdown().await;
    drop(client_write);
    let _ = upstream.await;
}
