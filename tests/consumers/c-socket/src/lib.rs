//! Tries to open a TCP connection to config `addr` (default `127.0.0.1:9`), first with wasi:sockets
//! directly, then with `std::net`. A consumer has no network: both should be refused, and the
//! handler then fails permanently with both errors. If either connects it succeeds.

use std::net::{SocketAddr, TcpStream};

use switchyard_guest::{Delivery, Failure, Result, config, info};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress};
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

fn connect_wasi(addr: SocketAddr) -> core::result::Result<(), ErrorCode> {
    let (family, remote) = match addr {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            (IpAddressFamily::Ipv4, IpSocketAddress::Ipv4(Ipv4SocketAddress { port: v4.port(), address: (a, b, c, d) }))
        }
        SocketAddr::V6(v6) => {
            let [a, b, c, d, e, f, g, h] = v6.ip().segments();
            let address = (a, b, c, d, e, f, g, h);
            let remote =
                Ipv6SocketAddress { port: v6.port(), flow_info: v6.flowinfo(), address, scope_id: v6.scope_id() };
            (IpAddressFamily::Ipv6, IpSocketAddress::Ipv6(remote))
        }
    };
    let network = instance_network();
    let socket = create_tcp_socket(family)?;
    socket.start_connect(&network, remote)?;
    let ready = socket.subscribe();
    loop {
        match socket.finish_connect() {
            Ok((input, output)) => {
                drop((input, output));
                return Ok(());
            }
            Err(ErrorCode::WouldBlock) => ready.block(),
            Err(error) => return Err(error),
        }
    }
}

fn handle(_delivery: Delivery) -> Result {
    let text = config::get("addr").unwrap_or_else(|| "127.0.0.1:9".to_string());
    let addr: SocketAddr =
        text.parse().map_err(|error| Failure::permanent(format!("config `addr` = `{text}`: {error}")))?;

    let wasi = connect_wasi(addr);
    if wasi.is_ok() {
        info!("wasi:sockets connected to {addr}");
    }
    let std = TcpStream::connect(addr);
    if std.is_ok() {
        info!("std::net connected to {addr}");
    }
    match (wasi, std) {
        (Err(wasi), Err(std)) => {
            Err(Failure::permanent(format!("no connection to {addr}: wasi:sockets: {wasi:?}; std::net: {std}")))
        }
        _ => Ok(()),
    }
}

switchyard_guest::export!(handle);
