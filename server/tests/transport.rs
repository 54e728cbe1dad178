//! The server's TCP transport, seen from inside the process that serves: socket options of the
//! connections `server::http::router::serve` accepts.
#![allow(clippy::unwrap_used, clippy::cast_possible_truncation)] // a panic is the test's failure report

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::RawFd;

use common::TestApp;

/// The address a socket is bound to (`peer = false`) or connected to (`peer = true`), IPv4 only.
fn socket_addr(fd: RawFd, peer: bool) -> Option<SocketAddr> {
    // SAFETY: `sockaddr_in` is plain data; the kernel writes at most `len` bytes into it.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let ptr = (&mut addr as *mut libc::sockaddr_in).cast::<libc::sockaddr>();
    // SAFETY: `ptr` and `len` describe `addr`; a fd that is not a socket just fails.
    let rc = unsafe {
        if peer {
            libc::getpeername(fd, ptr, &mut len)
        } else {
            libc::getsockname(fd, ptr, &mut len)
        }
    };
    if rc != 0 || i32::from(addr.sin_family) != libc::AF_INET {
        return None;
    }
    let ip = std::net::Ipv4Addr::from(u32::from_be(addr.sin_addr.s_addr));
    Some(SocketAddr::from((ip, u16::from_be(addr.sin_port))))
}

fn tcp_nodelay(fd: RawFd) -> bool {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` describe a c_int, as TCP_NODELAY's value is.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt(TCP_NODELAY) on fd {fd}");
    value != 0
}

/// The server side of the connection from `client`: the socket of this process bound to
/// `server` and connected to `client`.
fn accepted_socket(server: SocketAddr, client: SocketAddr) -> Option<RawFd> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .find(|&fd| socket_addr(fd, false) == Some(server) && socket_addr(fd, true) == Some(client))
}

/// A page leaves in several writes; with Nagle's algorithm on, a kept-alive connection waited for
/// the client's delayed ACK (≈ 40 ms) on every response.
#[tokio::test]
async fn accepted_connections_have_nagle_off() {
    let app = TestApp::spawn().await;
    let server: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let (client, fd) = tokio::task::spawn_blocking(move || {
        let mut client = TcpStream::connect(server).unwrap();
        // One full exchange on a kept-alive connection: by its answer the server has accepted it.
        client
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 512];
        let n = client.read(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "{}",
            String::from_utf8_lossy(&buf[..n])
        );
        let fd = accepted_socket(server, client.local_addr().unwrap());
        (client, fd)
    })
    .await
    .unwrap();
    let fd = fd.expect("the server's socket for this connection");
    assert!(tcp_nodelay(fd), "TCP_NODELAY on the accepted socket");
    drop(client);
}
