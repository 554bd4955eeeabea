//! The bridge over secured links: CURVE (with an allow-list of the
//! workers' keys) and TLS with mutual certificates, the way Zeek clusters
//! and the old Bro links secured them. Chunks flow in order both ways, and a
//! worker the manager does not know is refused before any chunk moves.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use serializer_bridge::{BridgeConfig, Chunk, Event, PeerConfig, PeerManager};
use zmtp_transport::{CurveAllowList, CurveKeyPair, Security, TlsConfig, TlsIdentity, TlsRoots};

const WAIT: Duration = Duration::from_secs(10);

fn wait_for(m: &PeerManager, want: impl Fn(&Event) -> bool) -> Option<Event> {
    wait_within(m, WAIT, want)
}

fn wait_within(m: &PeerManager, wait: Duration, want: impl Fn(&Event) -> bool) -> Option<Event> {
    let deadline = Instant::now() + wait;
    while let Some(e) = m.wait_event(deadline.saturating_duration_since(Instant::now())) {
        if want(&e) {
            return Some(e);
        }
    }
    None
}

/// Sends 500 chunks each way and checks they arrive in order.
fn exchange(manager: &PeerManager, worker: &PeerManager) {
    let Some(Event::PeerUp {
        peer: to_manager,
        epoch,
        ..
    }) = wait_for(worker, |e| matches!(e, Event::PeerUp { .. }))
    else {
        panic!("the worker's link never came up")
    };
    let Some(Event::PeerUp {
        peer: to_worker, ..
    }) = wait_for(manager, |e| matches!(e, Event::PeerUp { .. }))
    else {
        panic!("the manager never saw the worker")
    };
    for n in 0..500u32 {
        worker
            .write(to_manager, Chunk::serial(epoch, n.to_be_bytes().to_vec()))
            .unwrap();
        manager
            .write(to_worker, Chunk::serial(epoch, n.to_be_bytes().to_vec()))
            .unwrap();
    }
    for m in [manager, worker] {
        for n in 0..500u32 {
            let Some(Event::Chunk { chunk, .. }) =
                wait_for(m, |e| matches!(e, Event::Chunk { .. }))
            else {
                panic!("chunk {n} missing")
            };
            assert_eq!(chunk.data[..], n.to_be_bytes());
        }
    }
}

#[test]
fn chunks_over_curve_with_an_allow_list() {
    let manager_keys = CurveKeyPair::generate();
    let worker_keys = CurveKeyPair::generate();
    let mut config = BridgeConfig::new("manager");
    config.listen.push("tcp://127.0.0.1:*".into());
    config.socket.security = Security::CurveServer {
        keys: manager_keys.clone(),
    };
    config.socket.authenticator = Some(Arc::new(CurveAllowList::new().with(*worker_keys.public())));
    let manager = PeerManager::start(config).unwrap();
    let endpoint = manager.bound_endpoints()[0].to_string();

    let worker_with = |name: &str, keys: &CurveKeyPair| {
        let mut config = BridgeConfig::new(name);
        config.peers.push(PeerConfig {
            name: "manager".into(),
            endpoint: endpoint.clone(),
        });
        config.socket.security = Security::CurveClient {
            keys: keys.clone(),
            server_key: *manager_keys.public(),
        };
        PeerManager::start(config).unwrap()
    };
    let worker = worker_with("worker", &worker_keys);
    exchange(&manager, &worker);

    // A key outside the allow-list never gets a link up.
    let intruder = worker_with("intruder", &CurveKeyPair::generate());
    let up = wait_within(&intruder, Duration::from_secs(2), |e| {
        matches!(e, Event::PeerUp { .. })
    });
    assert!(up.is_none(), "an unknown key got a link: {up:?}");
    assert!(manager.peer_id("intruder").is_none());
}

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn issue(&self, cn: &str) -> TlsIdentity {
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        TlsIdentity::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap()
    }

    fn roots(&self) -> TlsRoots {
        TlsRoots::from_pem(self.pem.as_bytes()).unwrap()
    }
}

#[test]
fn chunks_over_mutual_tls() {
    let ca = Ca::new("cluster CA");
    let mut config = BridgeConfig::new("manager");
    config.listen.push("tls://127.0.0.1:*".into());
    config.socket.tls =
        Some(TlsConfig::server(ca.issue("manager")).require_client_certs(ca.roots()));
    let manager = PeerManager::start(config).unwrap();
    let endpoint = manager.bound_endpoints()[0].to_string();

    let worker_with = |name: &str, identity: TlsIdentity| {
        let mut config = BridgeConfig::new(name);
        config.peers.push(PeerConfig {
            name: "manager".into(),
            endpoint: endpoint.clone(),
        });
        config.socket.tls = Some(TlsConfig::client(ca.roots()).with_identity(identity));
        PeerManager::start(config).unwrap()
    };
    let worker = worker_with("worker", ca.issue("worker"));
    exchange(&manager, &worker);

    // A certificate from another CA is refused at the TLS handshake.
    let stranger = worker_with("stranger", Ca::new("rogue CA").issue("stranger"));
    let up = wait_within(&stranger, Duration::from_secs(2), |e| {
        matches!(e, Event::PeerUp { .. })
    });
    assert!(up.is_none(), "a foreign certificate got a link: {up:?}");
}
