//! Asynchronous request-reply: a ROUTER serves two DEALERs by routing id.
//!
//! `cargo run -p zmtp-transport --example router_dealer`

use zmtp_transport::{Message, Options, Result, Socket, SocketType};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let router = Socket::new(SocketType::Router);
    let endpoint = router.bind("tcp://127.0.0.1:*").await?.to_string();

    let mut clients = Vec::new();
    for name in ["alice", "bob"] {
        let mut options = Options::new(SocketType::Dealer);
        options.routing_id = name.into();
        let dealer = Socket::with_options(SocketType::Dealer, options);
        dealer.connect(&endpoint).await?;
        dealer.send(format!("hello from {name}")).await?;
        clients.push(dealer);
    }
    for _ in 0..2 {
        let request = router.recv().await?;
        let id = request.frames()[0].clone();
        println!(
            "router: {:?} says {:?}",
            String::from_utf8_lossy(&id),
            String::from_utf8_lossy(&request.frames()[1])
        );
        let mut reply = Message::new();
        reply.push(id.clone());
        reply.push(format!("welcome, {}", String::from_utf8_lossy(&id)));
        router.send(reply).await?;
    }
    for dealer in &clients {
        let reply = dealer.recv().await?;
        println!(
            "dealer got {:?}",
            String::from_utf8_lossy(&reply.frames()[0])
        );
    }
    Ok(())
}
