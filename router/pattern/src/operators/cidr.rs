//! `cidr`: IPv4 and IPv6 ranges, and the IP-aware equality of exact strings.
//!
//! Every address lives in one 128-bit space: IPv6 as itself, IPv4 as its IPv4-mapped IPv6 form
//! (`::ffff:a.b.c.d`), so `::ffff:10.0.0.1` is the IPv4 address 10.0.0.1, as Java's `InetAddress`
//! (and so event-ruler) reads it. Event values must be IP literals: IPv4 as a strict dotted quad
//! without leading zeros, IPv6 in any text form (compressed, hex in either case, embedded IPv4),
//! without zone ids. Mask bits follow event-ruler: IPv4 0-31, IPv6 0-127.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{PatternError, Pointer};

/// An inclusive range of addresses in the shared 128-bit space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpRange {
    pub(crate) first: u128,
    pub(crate) last: u128,
}

const V4_MAPPED: u128 = 0xffff << 32;

/// Parses an IP literal into the shared 128-bit space.
pub(crate) fn parse_ip(text: &[u8]) -> Option<u128> {
    // Shortest IP literal is "::" (2 bytes); longest IPv6 text form is 45 bytes.
    if text.len() < 2 || text.len() > 45 {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    if text.contains(':') {
        let address: Ipv6Addr = text.parse().ok()?;
        Some(u128::from(address))
    } else {
        let address: Ipv4Addr = text.parse().ok()?;
        Some(V4_MAPPED | u128::from(u32::from(address)))
    }
}

impl IpRange {
    pub(crate) fn parse(text: &str, pointer: &Pointer) -> Result<IpRange, PatternError> {
        let error = |message: String| PatternError::new(pointer, message);
        let mut parts = text.split('/');
        let (Some(address), Some(bits), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(error("Malformed CIDR, one '/' required".to_string()));
        };
        let bits: i64 = bits.parse().map_err(|_| error("Malformed CIDR, mask bits must be an integer".into()))?;
        if bits < 0 {
            return Err(error("Malformed CIDR, mask bits must not be negative".to_string()));
        }
        let is_v6 = address.contains(':');
        let ip = parse_ip(address.as_bytes()).ok_or_else(|| error(format!("Invalid IP address: {address}")))?;
        let host_bits = if is_v6 {
            if bits >= 128 {
                return Err(error("IPv6 mask bits must be < 128".to_string()));
            }
            128 - bits as u32
        } else {
            if bits >= 32 {
                return Err(error("IPv4 mask bits must be < 32".to_string()));
            }
            32 - bits as u32
        };
        let host_mask: u128 = if host_bits >= 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
        Ok(IpRange { first: ip & !host_mask, last: ip | host_mask })
    }

    pub(crate) fn contains(&self, ip: u128) -> bool {
        self.first <= ip && ip <= self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> Result<IpRange, String> {
        IpRange::parse(text, &Pointer::default()).map_err(|e| e.message().to_string())
    }

    #[test]
    fn ranges() {
        let net = range("10.0.0.7/24").unwrap();
        assert!(net.contains(parse_ip(b"10.0.0.255").unwrap()));
        assert!(net.contains(parse_ip(b"::ffff:10.0.0.1").unwrap()));
        assert!(!net.contains(parse_ip(b"10.0.1.0").unwrap()));
        let net = range("2001:db8::/32").unwrap();
        assert!(net.contains(parse_ip(b"2001:DB8:0:0:0:0:0:1").unwrap()));
        assert!(parse_ip(b"10.0.0.256").is_none());
        assert!(parse_ip(b"010.0.0.1").is_none());
        assert!(parse_ip(b"fe80::1%eth0").is_none());
        assert_eq!(range("10.0.0.0/32").unwrap_err(), "IPv4 mask bits must be < 32");
        assert_eq!(range("::/128").unwrap_err(), "IPv6 mask bits must be < 128");
        assert_eq!(range("10.0.0.0").unwrap_err(), "Malformed CIDR, one '/' required");
        assert_eq!(range("10.0.0.0/x").unwrap_err(), "Malformed CIDR, mask bits must be an integer");
        assert_eq!(range("10.0.0.0/-1").unwrap_err(), "Malformed CIDR, mask bits must not be negative");
        assert_eq!(range("10.0.0.300/8").unwrap_err(), "Invalid IP address: 10.0.0.300");
        assert!(range("0.0.0.0/0").unwrap().contains(parse_ip(b"255.255.255.255").unwrap()));
    }
}
