//! Pipeline: a PUSH ventilator spreads work over two PULL workers.
//!
//! `cargo run -p zmtp-transport --example push_pull`

use zmtp_transport::{Result, Socket, SocketType};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let ventilator = Socket::new(SocketType::Push);
    let endpoint = ventilator.bind("tcp://127.0.0.1:*").await?.to_string();

    let mut workers = Vec::new();
    for name in ["worker-a", "worker-b"] {
        let pull = Socket::new(SocketType::Pull);
        pull.connect(&endpoint).await?;
        workers.push((name, pull));
    }
    // Round-robin needs both workers connected; wait for the second one.
    while ventilator.stats().peers < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    for task in 0..6 {
        ventilator.send(format!("task {task}")).await?;
    }
    for (name, pull) in &workers {
        for _ in 0..3 {
            let m = pull.recv().await?;
            println!("{name} got {}", String::from_utf8_lossy(&m.frames()[0]));
        }
    }
    Ok(())
}
