//! A yamux echo server: accepts every stream, echoes it, and half-closes
//! after the peer's FIN.
//!
//! Usage: `cargo run -p yamux --example echo_server -- 127.0.0.1:7777`
//! (port 0 picks a free port; the bound address is printed).

use std::io::Write;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use yamux::{Config, Session, Stream};

async fn echo(mut stream: Stream) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).await?;
    }
    stream.shutdown().await
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = match std::env::args().nth(1) {
        Some(a) => a,
        None => {
            eprintln!("usage: echo_server LISTEN_ADDR (e.g. 127.0.0.1:7777)");
            std::process::exit(2);
        }
    };
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    std::io::stdout().flush()?;
    loop {
        let (sock, peer) = listener.accept().await?;
        sock.set_nodelay(true)?;
        tokio::spawn(async move {
            let session = Session::server(sock, Config::default());
            loop {
                match session.accept().await {
                    Ok(stream) => {
                        tokio::spawn(async move {
                            if let Err(e) = echo(stream).await {
                                // Errors of the whole session are reported once, below.
                                let session_level = matches!(
                                    e.get_ref().and_then(|s| s.downcast_ref::<yamux::Error>()),
                                    Some(yamux::Error::Io(_))
                                        | Some(yamux::Error::SessionClosed)
                                        | Some(yamux::Error::GoAway(_))
                                        | Some(yamux::Error::Protocol(_))
                                );
                                if !session_level {
                                    eprintln!("{peer}: stream: {e}");
                                }
                            }
                        });
                    }
                    Err(e) => {
                        eprintln!("{peer}: session ended: {e}");
                        break;
                    }
                }
            }
        });
    }
}
