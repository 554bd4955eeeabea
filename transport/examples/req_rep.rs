//! Request-reply: a REP server answers a REQ client.
//!
//! `cargo run -p zmtp-transport --example req_rep`

use zmtp_transport::{Message, Result, Socket, SocketType};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let server = Socket::new(SocketType::Rep);
    let endpoint = server
        .bind("ipc://@zmtp-example-req-rep")
        .await?
        .to_string();
    tokio::spawn(async move {
        while let Ok(request) = server.recv().await {
            let mut reply = Message::from("echo");
            for frame in request.frames() {
                reply.push(frame.clone());
            }
            if server.send(reply).await.is_err() {
                break;
            }
        }
    });

    let client = Socket::new(SocketType::Req);
    client.connect(&endpoint).await?;
    for question in ["hello", "world"] {
        client.send(question).await?;
        let reply = client.recv().await?;
        let frames: Vec<_> = reply
            .frames()
            .iter()
            .map(|f| String::from_utf8_lossy(f))
            .collect();
        println!("{question} -> {frames:?}");
    }
    Ok(())
}
