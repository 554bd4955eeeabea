//! The bridge's sockets: one ROUTER for the peers that connect to us, one
//! DEALER per configured peer, with the options the protocol relies on.

use zmtp_transport::{Endpoint, Options, Socket, SocketType};

use crate::config::BridgeConfig;
use crate::error::BridgeError;

/// The listening ROUTER (if any endpoints) and one DEALER per peer.
pub(crate) async fn open_sockets(
    config: &BridgeConfig,
) -> Result<(Option<Socket>, Vec<Socket>, Vec<Endpoint>), BridgeError> {
    let socket_error = |endpoint: &str| {
        let endpoint = endpoint.to_owned();
        move |source| BridgeError::Socket { endpoint, source }
    };
    let mut bound = Vec::new();
    let router = if config.listen.is_empty() {
        None
    } else {
        let mut options = link_options(config);
        options.router_mandatory = true;
        // A restarted node reconnects under its old name before its old
        // link is noticed dead; the new link takes over.
        options.router_handover = true;
        let router = Socket::with_options(SocketType::Router, options);
        for endpoint in &config.listen {
            bound.push(
                router
                    .bind(endpoint)
                    .await
                    .map_err(socket_error(endpoint))?,
            );
        }
        Some(router)
    };
    let mut dealers = Vec::new();
    for peer in &config.peers {
        let dealer = Socket::with_options(SocketType::Dealer, dealer_options(config));
        dealer
            .connect(&peer.endpoint)
            .await
            .map_err(socket_error(&peer.endpoint))?;
        dealers.push(dealer);
    }
    Ok((router, dealers, bound))
}

/// A DEALER to one configured peer: our node name as routing id, and
/// nothing queued for a link that is not up (a chunk belongs to its link's
/// epoch).
pub(crate) fn dealer_options(config: &BridgeConfig) -> Options {
    let mut options = link_options(config);
    options.routing_id = config.node.clone().into();
    options.immediate = true;
    options
}

/// The configured socket options, with the link notices the driver needs.
///
/// Unless the caller set one, `maxmsgsize` is the hard byte cap: no honest
/// peer sends a chunk longer than that (its `write` refuses them as
/// `TooLarge`), so the transport refuses a longer frame as it arrives
/// instead of buffering it whole before the session could object.
fn link_options(config: &BridgeConfig) -> Options {
    let mut options = config.socket.clone();
    options.link_notify = true;
    if options.maxmsgsize.is_none() {
        options.maxmsgsize = Some(config.caps.hard_bytes as u64);
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_longer_than_the_hard_byte_cap_are_refused_by_default() {
        let mut config = BridgeConfig::new("n");
        config.caps.hard_bytes = 1 << 20;
        assert_eq!(link_options(&config).maxmsgsize, Some(1 << 20));
        assert_eq!(dealer_options(&config).maxmsgsize, Some(1 << 20));
        config.socket.maxmsgsize = Some(4096);
        assert_eq!(link_options(&config).maxmsgsize, Some(4096));
    }
}
