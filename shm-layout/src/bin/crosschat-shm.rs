//! `crosschat-shm`: create, inspect, peek into and remove the CrossChat segment.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shm_layout::{OpenError, Segment, DEFAULT_NAME};

/// Operator tool for CrossChat's shared-memory segment (the ring between ingest and gateway).
#[derive(Debug, Parser)]
#[command(name = "crosschat-shm", version)]
struct Cli {
    /// POSIX shared-memory name of the segment (a leading '/', no other '/').
    #[arg(long, env = "CROSSCHAT_SHM_NAME", default_value = DEFAULT_NAME, global = true)]
    shm_name: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create and initialise the segment; succeeds if a valid one already exists.
    Create,
    /// Print the header, ring position, lock owner and counters.
    Inspect {
        /// Print one JSON object (for scripts and monitoring) instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print up to N queued messages as JSON lines, oldest first, without consuming them.
    Peek {
        /// How many messages at most.
        #[arg(default_value_t = 10)]
        count: usize,
    },
    /// Unlink the segment. Running processes keep their mapping; the next start creates a new one.
    Remove,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crosschat-shm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), OpenError> {
    let name = cli.shm_name.as_str();
    match cli.command {
        Command::Create => {
            let seg = Segment::open_or_create(name)?;
            if seg.created() {
                println!(
                    "created segment {name} ({} bytes)",
                    shm_layout::SEGMENT_SIZE
                );
            } else {
                println!("segment {name} already exists and is valid");
            }
        }
        Command::Inspect { json } => {
            let snap = Segment::open_existing(name)?.snapshot();
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&snap).expect("a snapshot serialises")
                );
            } else {
                let opt = |v: Option<u32>, alive: Option<bool>| match (v, alive) {
                    (Some(pid), Some(true)) => format!("pid {pid} (alive)"),
                    (Some(pid), _) => format!("pid {pid} (DEAD)"),
                    (None, _) => "none".to_string(),
                };
                println!(
                    "segment     {} (layout version {})",
                    snap.name, snap.version
                );
                println!(
                    "geometry    {} slots x {} bytes",
                    snap.slot_count, snap.slot_size
                );
                println!(
                    "created     by pid {} at {} ms",
                    snap.creator_pid, snap.created_ms
                );
                println!(
                    "ring        head {}  tail {}  length {}",
                    snap.head, snap.tail, snap.length
                );
                println!(
                    "lock owner  {}",
                    opt(snap.lock_owner, snap.lock_owner_alive)
                );
                println!("reader      {}", opt(snap.reader_pid, snap.reader_alive));
                for (k, v) in &snap.counters {
                    println!("{k:<19} {v}");
                }
            }
        }
        Command::Peek { count } => {
            let seg = Segment::open_existing(name)?;
            seg.peek_unclaimed(count, |seq, slot| match slot {
                Ok(bytes) => println!("{}", String::from_utf8_lossy(bytes)),
                Err(e) => eprintln!("crosschat-shm: skipping slot {seq}: {e}"),
            });
        }
        Command::Remove => {
            shm_layout::remove(name)?;
            println!("removed segment {name}");
        }
    }
    Ok(())
}
