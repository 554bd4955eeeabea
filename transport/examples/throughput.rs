//! A quick in-process throughput check: PUSH to PULL over tcp loopback.
//!
//! `cargo run --release -p zmtp-transport --example throughput -- [SIZE] [COUNT]`

use std::time::Instant;

use zmtp_transport::{Message, Result, Socket, SocketType};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let count: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let pull = Socket::new(SocketType::Pull);
    let endpoint = pull.bind("tcp://127.0.0.1:*").await?.to_string();
    let push = Socket::new(SocketType::Push);
    push.connect(&endpoint).await?;
    let message = Message::from(vec![0u8; size]);
    let sender = tokio::spawn(async move {
        for _ in 0..count {
            push.send(message.clone()).await?;
        }
        push.close().await;
        Ok::<_, zmtp_transport::Error>(())
    });
    pull.recv().await?;
    let start = Instant::now();
    for _ in 1..count {
        pull.recv().await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    sender.await.expect("sender task")?;
    println!(
        "{size} B x {count}: {:.0} msg/s, {:.1} MB/s",
        (count - 1) as f64 / elapsed,
        (count - 1) as f64 * size as f64 / elapsed / 1e6
    );
    Ok(())
}
