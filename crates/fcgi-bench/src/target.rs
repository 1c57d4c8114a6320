//! Where to connect or listen: `unix:/path` (or any value with a `/`) or `host:port`.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

#[derive(Clone, Debug)]
pub enum Target {
    Unix(PathBuf),
    Tcp(String),
}

pub type ReadHalf = Pin<Box<dyn AsyncRead + Send>>;
pub type WriteHalf = Pin<Box<dyn AsyncWrite + Send>>;

impl Target {
    pub fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            return Ok(Self::Unix(path.into()));
        }
        if text.contains('/') {
            return Ok(Self::Unix(text.into()));
        }
        if text
            .rsplit_once(':')
            .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
        {
            return Ok(Self::Tcp(text.to_string()));
        }
        Err(format!(
            "target must be unix:/path or host:port, got {text:?}"
        ))
    }

    pub fn is_unix(&self) -> bool {
        matches!(self, Self::Unix(_))
    }

    /// Connects; TCP gets TCP_NODELAY, as nginx and wrk set it.
    pub async fn connect(&self) -> io::Result<(ReadHalf, WriteHalf)> {
        match self {
            Self::Unix(path) => {
                let (r, w) = UnixStream::connect(path).await?.into_split();
                Ok((Box::pin(r), Box::pin(w)))
            }
            Self::Tcp(address) => {
                let stream = TcpStream::connect(address).await?;
                stream.set_nodelay(true)?;
                let (r, w) = stream.into_split();
                Ok((Box::pin(r), Box::pin(w)))
            }
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
            Self::Tcp(address) => f.write_str(address),
        }
    }
}
