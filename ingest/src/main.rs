//! `ingest`: thin binary over the `ingest` library — flags, logging, signals, exit status.

use std::process::ExitCode;

use clap::Parser;
use ingest::{Cli, Config};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list_platforms {
        for p in shm_layout::Platform::ALL {
            println!("{}", p.slug());
        }
        return ExitCode::SUCCESS;
    }
    ingest::config::init_logging(cli.log_format);
    let config = Config::from(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .thread_name("ingest-io")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ingest: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(async {
        let shutdown = match shutdown_signal() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ingest: could not install the SIGTERM/SIGINT handlers: {e}");
                return ExitCode::FAILURE;
            }
        };
        if cli.stdin {
            match ingest::run_stdin(config, shutdown).await {
                Ok(tally) => {
                    eprintln!("{}", tally.summary());
                    if tally.refused_total() == 0 {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("ingest: {e}");
                    ExitCode::FAILURE
                }
            }
        } else {
            match ingest::run_socket(config, shutdown).await {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ingest: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    });
    // Tokio's stdin reader may sit in a blocking read() that never returns: do not wait for it.
    runtime.shutdown_background();
    code
}

/// Completes on the first SIGTERM or SIGINT. Installed before the socket is bound, so a signal
/// that arrives while starting is not lost.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM received"),
            _ = int.recv() => tracing::info!("SIGINT received"),
        }
    })
}
