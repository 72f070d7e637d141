//! Section `[http]`: where the health and metrics endpoint listens, if it is on.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use serde::Deserialize;

use super::error::{invalid, ConfigError};

const DEFAULT_HTTP_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9797));

/// Section `[http]`: the health and metrics endpoint, off unless enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self { enabled: false, listen: DEFAULT_HTTP_LISTEN }
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
pub(super) struct RawHttp {
    enabled: bool,
    listen: Option<String>,
}

impl RawHttp {
    /// The endpoint shows counts and relay URLs, no secrets; still, an address other than
    /// loopback is something the operator must have meant.
    pub(super) fn validate(self, warnings: &mut Vec<String>) -> Result<HttpSettings, ConfigError> {
        let listen = match self.listen {
            Some(text) => text.trim().parse::<SocketAddr>().map_err(|_| {
                invalid("http.listen", format!("`{}` is not an address and port (e.g. 127.0.0.1:9797)", text.trim()))
            })?,
            None => DEFAULT_HTTP_LISTEN,
        };
        if self.enabled && !listen.ip().is_loopback() {
            warnings.push(format!(
                "http.listen = {listen} is not a loopback address: /health and /metrics are reachable from the network"
            ));
        }
        Ok(HttpSettings { enabled: self.enabled, listen })
    }
}
