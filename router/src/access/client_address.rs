//! The client's address behind trusted proxies.

use std::net::IpAddr;

/// Parses `10.0.0.0/8` or a single address (`10.0.0.7`).
pub(super) fn parse_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("trusted_proxies: {text:?} is neither an IP address nor a CIDR range"))
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy; then the
/// right-most address of `X-Forwarded-For` that is not a trusted proxy (the left part of the
/// header is whatever the client wrote, so only what our proxies appended counts).
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: &[&str],
    trusted: &[ipnet::IpNet],
) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let mut client = peer;
    for hop in forwarded_for
        .iter()
        .rev()
        .flat_map(|value| value.rsplit(','))
    {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return Some(ip),
            // A garbled entry: nothing to its left can be believed.
            Err(_) => return Some(client),
        }
    }
    Some(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let trusted = [
            parse_proxy("10.0.0.0/8").unwrap(),
            parse_proxy("192.168.1.1").unwrap(),
        ];
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        // A client talking to the router directly cannot choose its address.
        assert_eq!(
            client_address(Some(ip("203.0.113.9")), &["1.2.3.4"], &trusted),
            Some(ip("203.0.113.9"))
        );
        // Behind our balancer: the address it appended, not what the client wrote before it.
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &["1.2.3.4, 198.51.100.7"], &trusted),
            Some(ip("198.51.100.7"))
        );
        // Two proxies of ours, one header each.
        assert_eq!(
            client_address(
                Some(ip("10.0.0.2")),
                &["198.51.100.7", "192.168.1.1"],
                &trusted
            ),
            Some(ip("198.51.100.7"))
        );
        // A trusted peer without the header, or with garbage: the nearest known hop.
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &[], &trusted),
            Some(ip("10.0.0.2"))
        );
        assert_eq!(
            client_address(Some(ip("10.0.0.2")), &["nonsense"], &trusted),
            Some(ip("10.0.0.2"))
        );
        assert!(parse_proxy("not an ip").is_err());
    }
}
