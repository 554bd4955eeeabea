//! Publish-subscribe with a prefix filter, through an XSUB/XPUB proxy.
//!
//! `cargo run -p zmtp-transport --example pub_sub`

use std::time::Duration;

use zmtp_transport::proxy::Proxy;
use zmtp_transport::{Message, Result, Socket, SocketType};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let frontend = Socket::new(SocketType::Xsub);
    let publishers_ep = frontend.bind("tcp://127.0.0.1:*").await?.to_string();
    let backend = Socket::new(SocketType::Xpub);
    let subscribers_ep = backend.bind("tcp://127.0.0.1:*").await?.to_string();
    let (proxy, _task) = Proxy::new(frontend, backend, None).spawn();

    let publisher = Socket::new(SocketType::Pub);
    publisher.connect(&publishers_ep).await?;
    let subscriber = Socket::new(SocketType::Sub);
    subscriber.subscribe("weather.")?;
    subscriber.connect(&subscribers_ep).await?;

    // Subscriptions travel upstream asynchronously (the "slow joiner"):
    // publish until the first update gets through.
    let first = loop {
        let update: Message = ["weather.paris", "12 C"].into_iter().collect();
        publisher.send(update).await?;
        publisher.send(Message::from("sports.tennis")).await?;
        if let Ok(m) = tokio::time::timeout(Duration::from_millis(20), subscriber.recv()).await {
            break m?;
        }
    };
    let frames: Vec<_> = first
        .frames()
        .iter()
        .map(|f| String::from_utf8_lossy(f))
        .collect();
    println!("subscriber got {frames:?} (sports were filtered out)");
    println!("proxy statistics: {:?}", proxy.statistics());
    proxy.terminate();
    Ok(())
}
