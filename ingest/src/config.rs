//! Command-line flags (each also a `CROSSCHAT_*` environment variable) and logging setup.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use shm_layout::Platform;

use crate::connectors::endpoints::{self, Endpoints, KickProtocol, Secret};
use crate::writer::WritePolicy;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// CrossChat ingest: normalises one platform's chat messages into the shared-memory ring.
///
/// Producers (the gateway's producer routes, or any local tool) connect to the Unix socket
/// <runtime-dir>/ingest-<platform>.sock and send newline-delimited JSON requests
/// {"streamerId","user","text","isVip"?,"isSub"?,"isMod"?,"color"?}; each gets exactly one reply
/// line, in order: {"ok":true,"id":"<uuid>"} or
/// {"ok":false,"code":"invalid|too_large|queue_full|unavailable","error":"<sentence>"}.
/// With --stdin the same requests are read from standard input and answered on standard output.
///
/// Logs go to standard error; RUST_LOG filters them (default "info").
#[derive(Debug, Clone, Parser)]
#[command(name = "ingest", version, verbatim_doc_comment)]
pub struct Cli {
    /// Platform this process serves: stamped on every message (never taken from the payload)
    /// and part of the socket's name.
    #[arg(
        long,
        env = "CROSSCHAT_PLATFORM",
        value_enum,
        ignore_case = true,
        required_unless_present = "list_platforms"
    )]
    pub platform: Option<Platform>,

    /// POSIX shared-memory segment to write into (a leading '/', no other '/'); created when
    /// absent, so ingest and gateway may start in any order.
    #[arg(long, env = "CROSSCHAT_SHM_NAME", default_value = shm_layout::DEFAULT_NAME)]
    pub shm_name: String,

    /// Directory of the producer socket ingest-<platform>.sock (created with mode 0700 when
    /// absent), and of the YouTube ingest's quota count, youtube-quota-<hash of the key>.json.
    #[arg(long, env = "CROSSCHAT_RUNTIME_DIR", default_value = "./data/run")]
    pub runtime_dir: PathBuf,

    /// Read requests from standard input instead of a socket, answer on standard output, print
    /// a one-line summary on standard error; the exit status is 1 if any line was refused.
    #[arg(long, env = "CROSSCHAT_STDIN")]
    pub stdin: bool,

    /// How long a message waits for space while the ring is full (counted from when it was
    /// read) before it is answered "queue_full".
    #[arg(
        long,
        env = "CROSSCHAT_FULL_WAIT_MS",
        default_value_t = 2000,
        value_name = "MS"
    )]
    pub full_wait_ms: u64,

    /// Most producer connections served at once; further ones wait in the socket's backlog.
    #[arg(long, env = "CROSSCHAT_MAX_CONNECTIONS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Log format: "text" for people, "json" for one JSON object per line.
    #[arg(long, env = "CROSSCHAT_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Twitch IRC endpoint: wss://host:port, ws://host:port, ircs://host:port (TLS) or
    /// irc://host:port (plain TCP).
    #[arg(long, env = "CROSSCHAT_TWITCH_IRC_URL", default_value = endpoints::TWITCH_IRC_URL)]
    pub twitch_irc_url: String,

    /// Kick website, for the channel lookup (GET /api/v2/channels/<slug>).
    #[arg(long, env = "CROSSCHAT_KICK_WEB_URL", default_value = endpoints::KICK_WEB_URL)]
    pub kick_web_url: String,

    /// Kick realtime API (connection token and websocket URL).
    #[arg(long, env = "CROSSCHAT_KICK_REALTIME_API_URL", default_value = endpoints::KICK_REALTIME_API_URL)]
    pub kick_realtime_api_url: String,

    /// Kick feed: "centrifugo" (the site's current feed) or "pusher" (the legacy one).
    #[arg(long, env = "CROSSCHAT_KICK_PROTOCOL", value_enum, default_value_t = KickProtocolArg::Centrifugo)]
    pub kick_protocol: KickProtocolArg,

    /// Kick's legacy Pusher websocket URL (with --kick-protocol pusher).
    #[arg(long, env = "CROSSCHAT_KICK_PUSHER_URL", default_value = endpoints::KICK_PUSHER_URL)]
    pub kick_pusher_url: String,

    /// YouTube Data API v3 key (never logged). Without it, linked YouTube channels show an error.
    #[arg(
        long,
        env = "CROSSCHAT_YOUTUBE_API_KEY",
        default_value = "",
        hide_default_value = true,
        hide_env_values = true
    )]
    pub youtube_api_key: String,

    /// YouTube Data API base URL.
    #[arg(long, env = "CROSSCHAT_YOUTUBE_API_URL", default_value = endpoints::YOUTUBE_API_URL)]
    pub youtube_api_url: String,

    /// YouTube quota units per day for the key (Google's default is 10000).
    #[arg(long, env = "CROSSCHAT_YOUTUBE_DAILY_QUOTA", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub youtube_daily_quota: u64,

    /// Hours the quota left must last at least, at the pace of the polls (1–24; 24: until the
    /// reset at midnight Pacific). The reset ends the span when it comes sooner.
    #[arg(long, env = "CROSSCHAT_YOUTUBE_QUOTA_HOURS", default_value_t = 6,
          value_name = "HOURS", value_parser = clap::value_parser!(u64).range(1..=24))]
    pub youtube_quota_hours: u64,

    /// Shortest interval between two live-chat polls of one stream, in ms.
    #[arg(
        long,
        env = "CROSSCHAT_YOUTUBE_MIN_POLL_MS",
        default_value_t = 5_000,
        value_name = "MS"
    )]
    pub youtube_min_poll_ms: u64,

    /// Print the platform slugs, one per line, and exit (scripts read the list from here).
    /// Every other flag is ignored: not `exclusive`, since clap would then refuse the
    /// `CROSSCHAT_*` variables a launch script has already exported.
    #[arg(long)]
    pub list_platforms: bool,
}

/// The Kick feeds, as typed on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KickProtocolArg {
    /// Centrifugo (current).
    Centrifugo,
    /// Pusher (legacy).
    Pusher,
}

/// What [`crate::run_socket`] and [`crate::run_stdin`] need (tests build it directly).
#[derive(Debug, Clone)]
pub struct Config {
    /// The platform served.
    pub platform: Platform,
    /// Segment name.
    pub shm_name: String,
    /// Runtime directory of the socket.
    pub runtime_dir: PathBuf,
    /// Most connections at once.
    pub max_connections: usize,
    /// Lock and ring-full policy.
    pub policy: WritePolicy,
    /// The connectors' outside endpoints and secrets.
    pub endpoints: Endpoints,
    /// Whether the platform connector runs (off in `--stdin` mode and in-process socket tests).
    pub connector: bool,
}

impl From<&Cli> for Config {
    fn from(cli: &Cli) -> Config {
        Config {
            platform: cli.platform.unwrap_or(Platform::ALL[0]),
            shm_name: cli.shm_name.clone(),
            runtime_dir: cli.runtime_dir.clone(),
            max_connections: cli.max_connections as usize,
            policy: WritePolicy {
                full_wait: Duration::from_millis(cli.full_wait_ms),
                ..WritePolicy::default()
            },
            endpoints: Endpoints {
                twitch_irc_url: cli.twitch_irc_url.clone(),
                kick_web_url: cli.kick_web_url.clone(),
                kick_realtime_api_url: cli.kick_realtime_api_url.clone(),
                kick_protocol: match cli.kick_protocol {
                    KickProtocolArg::Centrifugo => KickProtocol::Centrifugo,
                    KickProtocolArg::Pusher => KickProtocol::Pusher,
                },
                kick_pusher_url: cli.kick_pusher_url.clone(),
                youtube_api_key: Secret::new(cli.youtube_api_key.clone()),
                youtube_api_url: cli.youtube_api_url.clone(),
                youtube_daily_quota: cli.youtube_daily_quota,
                youtube_quota_hours: cli.youtube_quota_hours,
                youtube_min_poll_ms: cli.youtube_min_poll_ms,
                youtube_quota_dir: Some(cli.runtime_dir.clone()),
            },
            connector: !cli.stdin,
        }
    }
}

/// Installs the global `tracing` subscriber: `RUST_LOG` filter (default `info`), to standard
/// error (standard output carries replies in `--stdin` mode), text or JSON lines.
pub fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, never into a journal or a file.
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn an_unknown_platform_lists_the_known_ones() {
        let err = Cli::try_parse_from(["ingest", "--platform", "myspace"]).unwrap_err();
        let text = err.to_string();
        for p in Platform::ALL {
            assert!(text.contains(p.slug()), "{text}");
        }
    }

    #[test]
    fn list_platforms_takes_the_other_flags_a_script_sets() {
        let cli = Cli::try_parse_from(["ingest", "--list-platforms", "--shm-name", "/x"]).unwrap();
        assert!(cli.list_platforms);
    }

    #[test]
    fn defaults() {
        let cli = Cli::try_parse_from(["ingest", "--platform", "youtube"]).unwrap();
        let cfg = Config::from(&cli);
        assert_eq!(cfg.platform, Platform::YouTube);
        assert_eq!(cli.log_format, LogFormat::Text);
        assert!(!cli.stdin);
        assert_eq!(cfg.policy.full_wait, Duration::from_millis(2000));
        assert_eq!(cfg.policy.lock_attempts, 5);
    }
}
