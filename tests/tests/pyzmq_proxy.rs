//! Our XSUB/XPUB proxy between a libzmq publisher and a libzmq subscriber
//! (pyzmq processes): the subscription travels upstream through the proxy
//! (a libzmq PUB filters at the source, so nothing flows until it arrives),
//! and data comes down.

#![allow(clippy::unwrap_used)]

use zmtp_tests::Peer;
use zmtp_transport::proxy::Proxy;
use zmtp_transport::{Socket, SocketType};

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_proxy_between_pyzmq_publisher_and_subscriber() {
    let frontend = Socket::new(SocketType::Xsub);
    let publishers = frontend
        .bind("tcp://127.0.0.1:*")
        .await
        .unwrap()
        .to_string();
    let backend = Socket::new(SocketType::Xpub);
    let subscribers = backend.bind("tcp://127.0.0.1:*").await.unwrap().to_string();
    let (proxy, task) = Proxy::new(frontend, backend, None).spawn();

    let sub_topic = format!("sub:{}", hex("news."));
    let warmup = format!("warmup:{}", hex("news.warm"));
    let Some(mut sub) = Peer::spawn(
        "socket_peer.py",
        &[
            "sub",
            "connect",
            &subscribers,
            &sub_topic,
            &warmup,
            "recv:1",
        ],
    ) else {
        return;
    };
    let publish = format!("publish-until-told:{}", hex("news.warm"));
    let filtered = format!("send:{}", hex("sport.x"));
    let real = format!("send:{}|{}", hex("news.real"), hex("payload"));
    let mut publisher = Peer::spawn_interactive(
        "socket_peer.py",
        &["pub", "connect", &publishers, &publish, &filtered, &real],
    )
    .unwrap();

    // The subscriber hears the warm-up only once its subscription went
    // through our XPUB, our proxy and our XSUB to the libzmq PUB.
    assert_eq!(sub.line(), "warm");
    publisher.tell("go");
    assert_eq!(
        sub.line(),
        format!("{}|{}", hex("news.real"), hex("payload"))
    );
    sub.finish();
    publisher.finish();

    let stats = proxy.statistics();
    assert!(
        stats.backend.messages_in >= 1,
        "the subscription went upstream: {stats:?}"
    );
    assert!(stats.frontend.messages_in >= 2, "data came down: {stats:?}");
    proxy.terminate();
    task.await.unwrap().unwrap();
}
