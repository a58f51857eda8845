//! Body errors from a real transport (reqwest over a socket), classified at
//! the provider seam: a body cut by the server is a truncated stream, a read
//! time-out is a time-out. The server here is a raw TCP listener, so the
//! bytes on the wire (chunked framing, `content-length`) are exactly as written.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower_ai::error::TimeoutKind;
use tower_ai::provider::openai::OpenAi;
use tower_ai::provider::{HttpProviderBuilder, Provider};
use tower_ai::transport::Transport;
use tower_ai::types::{ChatRequest, RequestMeta};
use tower_ai::Error;

use crate::support::Collected;

const EVENT: &str = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n";

/// Serves one connection: reads the request head and body, writes `head`
/// and `body`, then either closes the socket or (with `stall`) keeps it open.
async fn serve_once(head: String, body: Vec<u8>, stall: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        // Read until the request's JSON body has arrived (it ends with `}`).
        while !(seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.ends_with(b"}")) {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                return;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body).await.unwrap();
        socket.flush().await.unwrap();
        if stall {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        // Dropping the socket closes the connection mid-body.
    });
    format!("http://{addr}/v1")
}

fn provider(base_url: &str, client: reqwest::Client) -> OpenAi {
    OpenAi::builder()
        .api_key("sk-test")
        .base_url(base_url)
        .transport(Transport::reqwest(client))
        .build()
        .unwrap()
}

async fn stream_from(base_url: &str, client: reqwest::Client) -> Collected {
    let request = ChatRequest::new("m").user("hi");
    let stream = provider(base_url, client)
        .chat_stream(&request, &RequestMeta::new())
        .await
        .expect("the head arrives");
    Collected::read(stream).await
}

#[tokio::test]
async fn a_chunked_stream_cut_by_the_server_is_truncated() {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    // One whole chunk, and no terminating zero-length chunk.
    let body = format!("{:x}\r\n{EVENT}\r\n", EVENT.len()).into_bytes();
    let url = serve_once(head.into(), body, false).await;
    let collected = stream_from(&url, reqwest::Client::new()).await;
    assert_eq!(collected.text(), "Hel", "what came before the cut is delivered");
    let error = collected.error.expect("the stream ends with an error");
    assert!(
        matches!(error, Error::StreamTruncated { ref provider } if provider == "openai"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_stream_shorter_than_its_content_length_is_truncated() {
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\n\r\n",
        EVENT.len() + 500
    );
    let url = serve_once(head, EVENT.as_bytes().to_vec(), false).await;
    let collected = stream_from(&url, reqwest::Client::new()).await;
    assert_eq!(collected.text(), "Hel");
    let error = collected.error.expect("the stream ends with an error");
    assert!(matches!(error, Error::StreamTruncated { .. }), "{error:?}");
}

#[tokio::test]
async fn a_read_timeout_of_the_transport_is_a_timeout() {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
    let body = format!("{:x}\r\n{EVENT}\r\n", EVENT.len()).into_bytes();
    let url = serve_once(head.into(), body, true).await;
    let client = reqwest::Client::builder()
        .read_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let collected = stream_from(&url, client).await;
    assert_eq!(collected.text(), "Hel");
    let error = collected.error.expect("the stream ends with an error");
    assert!(
        matches!(
            error,
            Error::Timeout {
                kind: TimeoutKind::Idle,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_complete_reply_cut_short_is_a_transport_error_naming_the_cut() {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n";
    let url = serve_once(head.into(), b"{\"id\": \"chatcmpl-1\", ".to_vec(), false).await;
    let request = ChatRequest::new("m").user("hi");
    let error = provider(&url, reqwest::Client::new())
        .chat(&request, &RequestMeta::new())
        .await
        .unwrap_err();
    assert!(matches!(error, Error::Transport { .. }), "{error:?}");
    let host = url.trim_start_matches("http://").trim_end_matches("/v1");
    assert_eq!(
        error.to_string(),
        format!("openai: the connection to {host} closed before the reply was complete")
    );
}
