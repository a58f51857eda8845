//! A `redis-server` of the test's own, on a free port of 127.0.0.1, with
//! no persistence, in a temporary directory; killed when dropped.
//!
//! When the binary is missing, [`RedisServer::start`] prints one line and
//! answers `None`, so the test returns; with `TOWER_AI_REQUIRE_REDIS=1`
//! (as in CI) it panics instead.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server, or answers `None` (after saying so) when
    /// `redis-server` is not installed and not required.
    pub fn start() -> Option<Self> {
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let dir = std::env::temp_dir().join(format!("tower-ai-redis-{}-{port}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("a temporary directory for redis-server");
            let spawned = Command::new("redis-server")
                .args(["--port", &port.to_string()])
                .args(["--bind", "127.0.0.1"])
                .args(["--save", ""])
                .args(["--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let child = match spawned {
                Ok(child) => child,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    let _ = std::fs::remove_dir_all(&dir);
                    if required() {
                        panic!("redis-server not found, and TOWER_AI_REQUIRE_REDIS=1");
                    }
                    println!("skipping: redis-server not found");
                    return None;
                }
                Err(err) => panic!("cannot start redis-server: {err}"),
            };
            let mut server = RedisServer { child, port, dir };
            match server.wait_until_it_answers() {
                Ok(()) => return Some(server),
                // Most likely another process took the port first: another one.
                Err(err) => last = err,
            }
        }
        panic!("redis-server did not answer: {last}");
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn wait_until_it_answers(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("redis-server exited: {status}"));
            }
            if ping(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("no PONG within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn required() -> bool {
    std::env::var("TOWER_AI_REQUIRE_REDIS").is_ok_and(|v| v == "1")
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}
