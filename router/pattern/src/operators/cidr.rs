//! `cidr`: IPv4 and IPv6 ranges, and the IP-aware equality of exact strings.
//!
//! An address is its family plus 128 bits: IPv6 as itself, IPv4 in the low 32 bits. An IPv4-mapped
//! IPv6 text (`::ffff:10.0.0.1`) is the IPv4 address 10.0.0.1, as Java's `InetAddress` (and so
//! event-ruler) reads it. Ranges hold addresses of their own family only, as in event-ruler: an IPv4
//! address is never inside an IPv6 block such as `::/0`. Event values must be IP literals: IPv4 as a strict dotted quad
//! without leading zeros, IPv6 in any text form (compressed, hex in either case, embedded IPv4),
//! without zone ids. Mask bits follow event-ruler: IPv4 0-31, IPv6 0-127.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::error::{PatternError, Pointer};

/// An inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpRange {
    pub(crate) first: Ip,
    pub(crate) last: Ip,
}

/// An address: IPv4 addresses sort below every IPv6 address, so a range never spans both families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Ip {
    V4(u32),
    V6(u128),
}

/// Parses an IP literal.
pub(crate) fn parse_ip(text: &[u8]) -> Option<Ip> {
    // Shortest IP literal is "::" (2 bytes); longest IPv6 text form is 45 bytes.
    if text.len() < 2 || text.len() > 45 {
        return None;
    }
    let text = std::str::from_utf8(text).ok()?;
    if text.contains(':') {
        let address: Ipv6Addr = text.parse().ok()?;
        Some(match address.to_ipv4_mapped() {
            Some(v4) => Ip::V4(u32::from(v4)),
            None => Ip::V6(u128::from(address)),
        })
    } else {
        let address: Ipv4Addr = text.parse().ok()?;
        Some(Ip::V4(u32::from(address)))
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
        let invalid = || error(format!("Invalid IP address: {address}"));
        if address.contains(':') {
            let ip = u128::from(address.parse::<Ipv6Addr>().map_err(|_| invalid())?);
            if bits >= 128 {
                return Err(error("IPv6 mask bits must be < 128".to_string()));
            }
            let host_mask = u128::MAX.checked_shr(bits as u32).unwrap_or(0);
            Ok(IpRange { first: Ip::V6(ip & !host_mask), last: Ip::V6(ip | host_mask) })
        } else {
            let ip = u32::from(address.parse::<Ipv4Addr>().map_err(|_| invalid())?);
            if bits >= 32 {
                return Err(error("IPv4 mask bits must be < 32".to_string()));
            }
            let host_mask = u32::MAX.checked_shr(bits as u32).unwrap_or(0);
            Ok(IpRange { first: Ip::V4(ip & !host_mask), last: Ip::V4(ip | host_mask) })
        }
    }

    pub(crate) fn contains(&self, ip: Ip) -> bool {
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
        // Families never mix, as in event-ruler.
        assert!(!range("::/0").unwrap().contains(parse_ip(b"10.0.0.1").unwrap()));
        assert!(!range("::/0").unwrap().contains(parse_ip(b"::ffff:10.0.0.1").unwrap()));
        assert!(!range("0.0.0.0/0").unwrap().contains(parse_ip(b"::1").unwrap()));
    }
}
